package cloudtrail

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// EachRecord reads a decompressed log file from r and calls fn with each entry of its
// "Records" array, in order, a record at a time: a file may decompress to
// MaxDecompressedBytes, and the whole file is never held. An entry over MaxRecordBytes is an
// error. The array must be under the key "Records" exactly, as Athena's CloudTrail SerDe reads
// it; a null array holds no records. Errors give the line and column.
func EachRecord(r io.Reader, fn func(i int, raw json.RawMessage) error) error {
	lc := &lineCounter{r: r}
	d := json.NewDecoder(lc)
	fail := func(err error) error { return lc.describe(err) }
	if tok, err := d.Token(); err != nil {
		return fail(err)
	} else if tok != json.Delim('{') {
		return fmt.Errorf("%s: not a CloudTrail log file (want an object with a \"Records\" array)", lc.at(d.InputOffset()))
	}
	found, other := false, ""
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return fail(err)
		}
		key, _ := tok.(string)
		if key != "Records" {
			if other == "" && strings.EqualFold(key, "Records") {
				other = key
			}
			var skip json.RawMessage
			if err := decode(d, lc, &skip); err != nil {
				return err
			}
			continue
		}
		found = true
		if err := eachEntry(d, lc, fn); err != nil {
			return err
		}
	}
	if _, err := d.Token(); err != nil { // the closing brace
		return fail(err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: data after the top-level object", lc.at(d.InputOffset()))
	}
	switch {
	case found:
		return nil
	case other != "":
		return fmt.Errorf("the array is under %q, not \"Records\": Athena reads no records from it", other)
	}
	return errors.New("no \"Records\" array: not a CloudTrail log file")
}

// eachEntry reads the value of "Records": an array, or null.
func eachEntry(d *json.Decoder, lc *lineCounter, fn func(int, json.RawMessage) error) error {
	start := d.InputOffset()
	tok, err := d.Token()
	if err != nil {
		return lc.describe(err)
	}
	switch tok.(type) {
	case nil:
		return nil
	case json.Delim:
		if tok == json.Delim('[') {
			break
		}
		return fmt.Errorf("%s: \"Records\" is a JSON object, want an array", lc.line(start))
	default:
		return fmt.Errorf("%s: \"Records\" is a JSON %s, want an array", lc.line(start), jsonKind(tok))
	}
	for i := 0; d.More(); i++ {
		var raw json.RawMessage
		if err := decode(d, lc, &raw); err != nil {
			return err
		}
		if len(raw) > MaxRecordBytes {
			return fmt.Errorf("record %d is %d bytes, over the %d-byte limit", i, len(raw), MaxRecordBytes)
		}
		if err := fn(i, raw); err != nil {
			return err
		}
	}
	if _, err := d.Token(); err != nil { // the closing bracket
		return lc.describe(err)
	}
	return nil
}

// decode reads the next value. A syntax error's offset from Decode counts the bytes its
// scanner has seen over every call, not the stream's, so the failed value, which the decoder
// still holds from where it starts, is scanned again on its own to place the error.
func decode(d *json.Decoder, lc *lineCounter, v *json.RawMessage) error {
	err := d.Decode(v)
	var se *json.SyntaxError
	if errors.As(err, &se) && lc.err == nil {
		start := d.InputOffset()
		var again json.RawMessage
		if rerr := json.NewDecoder(d.Buffered()).Decode(&again); errors.As(rerr, &se) {
			return fmt.Errorf("%s: %w", lc.at(start+se.Offset-1), err)
		}
	}
	if err != nil {
		return lc.describe(err)
	}
	return nil
}

func jsonKind(tok json.Token) string {
	switch tok.(type) {
	case string:
		return "string"
	case bool:
		return "bool"
	}
	return "number"
}

// lineCounter remembers where the lines of what it reads start, so that an offset in the
// stream can be given as a line and column.
type lineCounter struct {
	r     io.Reader
	n     int64
	lines []int64 // offsets just after each newline
	err   error   // the input's error, other than io.EOF
}

func (l *lineCounter) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		l.err = err
	}
	for i, c := range p[:n] {
		if c == '\n' {
			l.lines = append(l.lines, l.n+int64(i)+1)
		}
	}
	l.n += int64(n)
	return n, err
}

// position gives the line and column of offset.
func (l *lineCounter) position(offset int64) (line int, col int64) {
	i := sort.Search(len(l.lines), func(i int) bool { return l.lines[i] > offset })
	lineStart := int64(0)
	if i > 0 {
		lineStart = l.lines[i-1]
	}
	return i + 1, offset - lineStart + 1
}

// line gives the line of offset.
func (l *lineCounter) line(offset int64) string {
	line, _ := l.position(offset)
	return fmt.Sprintf("line %d", line)
}

// at gives the line and column of offset.
func (l *lineCounter) at(offset int64) string {
	line, col := l.position(offset)
	return fmt.Sprintf("line %d, column %d", line, col)
}

// describe adds the line and column of a syntax error; other errors (the input's own, such
// as a file over the decompression limit) pass as they are.
func (l *lineCounter) describe(err error) error {
	var se *json.SyntaxError
	switch {
	case l.err != nil:
		return fmt.Errorf("read: %w", l.err)
	case errors.As(err, &se):
		return fmt.Errorf("%s: %w", l.at(se.Offset), err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%s: unexpected end of the file", l.at(l.n))
	}
	return err
}
