package lookup

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/athenausage/athena-usage/pkg/apioutput"
	"github.com/athenausage/athena-usage/pkg/config"
)

// Columns of the athena_queries CSV that the lookup reads; it finds them by name.
const (
	ColumnQueryID = "query_id"
	ColumnAccount = "account_id"
	ColumnRegion  = "aws_region"
	// ColumnBadRecord, ColumnSourceFile and ColumnSourceRecord name a bad record that the
	// extraction left out of the day: its kind, its CloudTrail file and its eventID (or rank in
	// the file). They are optional: a CSV from before them has none.
	ColumnBadRecord    = "bad_record"
	ColumnSourceFile   = "source_file"
	ColumnSourceRecord = "source_record"
)

// header is where the lookup's columns are in a record; -1 for an optional column it lacks.
type header struct {
	id, account, region, fields int
	bad, file, record           int
}

// parseHeader finds the columns in the header record of Athena's result CSV.
func parseHeader(rec []string) (header, error) {
	h := header{id: -1, account: -1, region: -1, fields: len(rec), bad: -1, file: -1, record: -1}
	for i, name := range rec {
		switch strings.TrimPrefix(name, "\ufeff") {
		case ColumnQueryID:
			h.id = i
		case ColumnAccount:
			h.account = i
		case ColumnRegion:
			h.region = i
		case ColumnBadRecord:
			h.bad = i
		case ColumnSourceFile:
			h.file = i
		case ColumnSourceRecord:
			h.record = i
		}
	}
	var missing []string
	for _, c := range []struct {
		name string
		i    int
	}{{ColumnQueryID, h.id}, {ColumnAccount, h.account}, {ColumnRegion, h.region}} {
		if c.i < 0 {
			missing = append(missing, fmt.Sprintf("%q", c.name))
		}
	}
	if len(missing) > 0 {
		return header{}, fmt.Errorf("header: no column %s in %q", strings.Join(missing, " or "), rec)
	}
	return h, nil
}

// readHeader reads the header record at the start of r.
func readHeader(r io.Reader) (header, error) {
	c := csv.NewReader(r)
	rec, err := c.Read()
	if errors.Is(err, io.EOF) {
		return header{}, errors.New("header: file is empty")
	}
	if err != nil {
		return header{}, fmt.Errorf("header: %w", err)
	}
	return parseHeader(rec)
}

// idRecord is the first record of one distinct query ID.
type idRecord struct {
	id, account, region string
	// offset is where the record starts in the object.
	offset int64
}

// idReader reads the distinct query IDs of Athena's result CSV, in order. The file is sorted
// by query_id, so a duplicate is always next to its original and one previous ID is all the
// memory deduplication needs; rows without a query ID (refused submissions) are skipped.
type idReader struct {
	c    *csv.Reader
	h    header
	base int64
	prev string
	// names interns account IDs and region names, of which there are few, so that IDs don't
	// each hold a copy.
	names map[string]string
	// invalid, when set, is told of the first record of each account or region that is not
	// valid.
	invalid func(column, value, id string, line int)
	checked map[string]bool
	// bad, when set, is told of each bad record the extraction named: rows without a query ID,
	// which come after every ID.
	bad func(badRecord)
}

// badRecord is a CloudTrail record that the extraction left out of the day.
type badRecord struct {
	Kind   string `json:"kind"`
	File   string `json:"file"`
	Record string `json:"record"`
}

// newIDReader reads IDs from r, which starts at byte base of the object. At base 0, r starts
// with the header; otherwise h is the header, read separately.
func newIDReader(r io.Reader, base int64, h *header) (*idReader, error) {
	c := csv.NewReader(r)
	c.ReuseRecord = true
	ir := &idReader{c: c, base: base, names: map[string]string{}}
	if h == nil {
		rec, err := c.Read()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("header: file is empty")
		}
		if err != nil {
			return nil, fmt.Errorf("header: %w", err)
		}
		hh, err := parseHeader(rec)
		if err != nil {
			return nil, err
		}
		h = &hh
	}
	ir.h = *h
	c.FieldsPerRecord = h.fields
	return ir, nil
}

// next returns the next distinct ID, or io.EOF after the last.
func (r *idReader) next() (idRecord, error) {
	for {
		offset := r.base + r.c.InputOffset()
		rec, err := r.c.Read()
		if err == io.EOF {
			return idRecord{}, io.EOF
		}
		if err != nil {
			return idRecord{}, r.describe(err)
		}
		id := rec[r.h.id]
		if id == "" && r.bad != nil && r.h.bad >= 0 && rec[r.h.bad] != "" {
			r.bad(badRecord{Kind: strings.Clone(rec[r.h.bad]), File: field(rec, r.h.file), Record: field(rec, r.h.record)})
		}
		if id == "" || id == r.prev {
			continue
		}
		if id < r.prev {
			line, _ := r.c.FieldPos(r.h.id)
			return idRecord{}, r.describe(fmt.Errorf("line %d: query_id %q comes after %q: the file must be sorted by query_id", line, id, r.prev))
		}
		// Fields share the record's memory; a copy of the ID doesn't keep the whole line alive.
		id = strings.Clone(id)
		r.prev = id
		account, region := r.intern(rec[r.h.account]), r.intern(rec[r.h.region])
		r.check(ColumnAccount, account, id, config.ValidateAccountID)
		r.check(ColumnRegion, region, id, config.ValidateRegion)
		return idRecord{id: id, account: account, region: region, offset: offset}, nil
	}
}

// check validates a non-empty value of column the first time it is seen, and tells r.invalid
// about it if it is not valid. An empty value is the function's own account or region.
func (r *idReader) check(column, value, id string, validate func(string) error) {
	k := column + "\x00" + value
	if value == "" || r.invalid == nil || r.checked[k] {
		return
	}
	if r.checked == nil {
		r.checked = map[string]bool{}
	}
	r.checked[k] = true
	if validate(value) != nil {
		line, _ := r.c.FieldPos(r.h.id)
		r.invalid(column, value, id, line)
	}
}

// field returns a copy of rec[i], or "" when the column is missing (i < 0).
func field(rec []string, i int) string {
	if i < 0 {
		return ""
	}
	return strings.Clone(rec[i])
}

func (r *idReader) intern(name string) string {
	if s, ok := r.names[name]; ok {
		return s
	}
	s := strings.Clone(name)
	r.names[s] = s
	return s
}

// describe adds where the reading started, since line numbers count from there.
func (r *idReader) describe(err error) error {
	if r.base > 0 {
		return fmt.Errorf("reading from byte %d: %w", r.base, err)
	}
	return err
}

// part is the IDs of one output part.
type part struct {
	n int
	// offset is where the first record of the part's first ID starts in the object.
	offset int64
	ids    []string
	// accounts and regions are each ID's account ("" in a CSV from before the column was
	// filled: the function's own) and region.
	accounts []string
	regions  []string
	// reused holds, where its QueryID is set, an earlier run's final row of the ID.
	reused []apioutput.Row
	// oldSum is the SHA-256 of the earlier run's part n, when there is one.
	oldSum []byte
}

func (p *part) add(rec idRecord) {
	p.ids = append(p.ids, rec.id)
	p.accounts = append(p.accounts, rec.account)
	p.regions = append(p.regions, rec.region)
}

// partReader cuts the distinct IDs into parts of size IDs.
type partReader struct {
	r      *idReader
	size   int
	n      int
	peeked *idRecord
}

// read returns the next part, or ok false after the last. A part is complete once the next ID
// has been read: that ID's offset is where the following part starts.
func (p *partReader) read() (pt part, ok bool, err error) {
	first := p.peeked
	p.peeked = nil
	if first == nil {
		rec, err := p.r.next()
		if err == io.EOF {
			return part{}, false, nil
		}
		if err != nil {
			return part{}, false, err
		}
		first = &rec
	}
	pt = part{n: p.n, offset: first.offset, ids: make([]string, 0, p.size), accounts: make([]string, 0, p.size), regions: make([]string, 0, p.size)}
	pt.add(*first)
	for len(pt.ids) < p.size {
		rec, err := p.r.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return part{}, false, err
		}
		pt.add(rec)
	}
	if len(pt.ids) == p.size {
		rec, err := p.r.next()
		switch {
		case err == nil:
			p.peeked = &rec
		case err != io.EOF:
			return part{}, false, err
		}
	}
	p.n++
	return pt, true, nil
}
