package sqlengine

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/athenausage/athena-usage/local/cloudtrail"
	"github.com/athenausage/athena-usage/pkg/hivetext"
)

// decoder transcodes one object (decompressed), read from r, into NDJSON rows with the table's
// columns on w, each value already of the column's type or null.
type decoder func(r io.Reader, w io.Writer) error

// newDecoder returns the decoder of t's SerDe.
func newDecoder(t *tableDef) (decoder, error) {
	skip := 0
	if s := t.Props["skip.header.line.count"]; s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return nil, userError(fmt.Sprintf("skip.header.line.count %q is not a count", s))
		}
		skip = n
	}
	// The input format splits the file into records, so it decides how a CloudTrail file is
	// read; both SerDes that AWS has documented for CloudTrail decode the records as JSON.
	if t.InputFormat == cloudTrailInputFormat || t.SerDe == cloudTrailSerDe {
		switch t.SerDe {
		case cloudTrailSerDe, hiveJSONSerDe, openXJSONSerDe:
			return func(r io.Reader, w io.Writer) error { return decodeCloudTrail(r, t.Columns, w) }, nil
		}
		return nil, userError(fmt.Sprintf("SerDe %s cannot decode CloudTrail records (input format %s)", t.SerDe, cloudTrailInputFormat))
	}
	switch t.SerDe {
	case openXJSONSerDe, hiveJSONSerDe:
		return func(r io.Reader, w io.Writer) error { return decodeJSONLines(r, t.Columns, w) }, nil
	case openCSVSerDe:
		sep, quote, esc := prop(t.SerDeProps, "separatorChar", ','), prop(t.SerDeProps, "quoteChar", '"'), prop(t.SerDeProps, "escapeChar", '"')
		return func(r io.Reader, w io.Writer) error {
			return eachLine(r, skip, func(line string) error {
				return writeRow(w, t.Columns, openCSVLine(line, sep, quote, esc), func(s string, typ *hiveType) any {
					if typ.Kind == "string" || typ.Kind == "varchar" || typ.Kind == "char" {
						return s // OpenCSVSerde reads an empty field as an empty string, not NULL
					}
					return textValue(s, typ)
				})
			})
		}, nil
	case lazySimpleSerDe:
		return lazySimple(t, skip)
	}
	return nil, userError(fmt.Sprintf("SerDe %s is not supported by the local engine", t.SerDe))
}

func prop(m map[string]string, key string, def byte) byte {
	if s := m[key]; s != "" {
		return s[0]
	}
	return def
}

// lazySimple decodes Hive's LazySimpleSerDe text; the comma-and-backslash variant that
// athena_api_output uses is read with package hivetext.
func lazySimple(t *tableDef, skip int) (decoder, error) {
	for _, c := range t.Columns {
		switch c.Type.Kind {
		case "struct", "array", "map":
			return nil, userError(fmt.Sprintf("LazySimpleSerDe column %s of type %s is not supported by the local engine", c.Name, c.Type))
		}
	}
	delim := t.SerDeProps["field.delim"]
	if delim == "" {
		delim = t.SerDeProps["serialization.format"]
	}
	if delim == "" {
		delim = "\x01"
	}
	esc := t.SerDeProps["escape.delim"]
	nullFormat, hasNull := t.SerDeProps["serialization.null.format"]
	if !hasNull {
		nullFormat = hivetext.Null
	}
	var split func(string) ([]hivetext.Field, error)
	switch {
	case delim == string(hivetext.Delim) && esc == string(hivetext.Escape):
		split = hivetext.Split
	case esc == "":
		split = func(line string) ([]hivetext.Field, error) {
			parts := strings.Split(line, delim)
			fs := make([]hivetext.Field, len(parts))
			for i, p := range parts {
				fs[i] = hivetext.Field{Value: p, Null: p == hivetext.Null}
			}
			return fs, nil
		}
	default:
		return nil, userError(fmt.Sprintf("LazySimpleSerDe with field.delim %q and escape.delim %q is not supported by the local engine", delim, esc))
	}
	return func(r io.Reader, w io.Writer) error {
		n := 0
		return eachLine(r, skip, func(line string) error {
			n++
			fields, err := split(line)
			if err != nil {
				return fmt.Errorf("line %d: %w", n+skip, err)
			}
			vals := make([]*string, len(fields))
			for i, f := range fields {
				null := f.Null
				if nullFormat != hivetext.Null {
					null = f.Value == nullFormat
				}
				if !null {
					vals[i] = &f.Value
				}
			}
			return writeRow(w, t.Columns, vals, textValue)
		})
	}, nil
}

// maxLineBytes bounds a line of a line-based SerDe's object, so that an object without line
// breaks is refused instead of read whole into memory.
const maxLineBytes = 64 << 20

// eachLine calls fn for each line of r after the first skip, ending lines at \n, \r\n or \r as
// Hadoop's LineReader does. It reads a line at a time: the objects of a large day (the
// extraction's result, a million rows) are never held whole.
func eachLine(r io.Reader, skip int, fn func(string) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	n := 0
	emit := func(line string) error {
		if n++; n <= skip {
			return nil
		}
		return fn(line)
	}
	var chunk []byte
	for {
		// A chunk runs to the next \n; a \r inside it ends a line too, unless the \n follows.
		part, err := br.ReadSlice('\n')
		chunk = append(chunk, part...)
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(chunk) > maxLineBytes {
				return fmt.Errorf("line %d is over the %d-byte limit on a line", n+1, maxLineBytes)
			}
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		s := strings.TrimSuffix(string(chunk), "\n")
		ended := len(s) < len(chunk)
		s = strings.TrimSuffix(s, "\r")
		if !ended && len(s) < len(chunk) {
			ended = true // a last line ending in \r alone
		}
		for {
			i := strings.IndexByte(s, '\r')
			if i < 0 {
				break
			}
			if err := emit(s[:i]); err != nil {
				return err
			}
			s = s[i+1:]
		}
		if ended || s != "" {
			if err := emit(s); err != nil {
				return err
			}
		}
		if err != nil {
			return nil // io.EOF
		}
		chunk = chunk[:0]
	}
}

// writeRow writes one NDJSON row; vals[i] nil or missing is NULL.
func writeRow(w io.Writer, cols []tableColumn, vals []*string, conv func(string, *hiveType) any) error {
	row := make(map[string]any, len(cols))
	for i, c := range cols {
		if i < len(vals) && vals[i] != nil {
			row[c.Name] = conv(*vals[i], c.Type)
		} else {
			row[c.Name] = nil
		}
	}
	return writeJSON(w, row)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// textValue converts a field's text to the column's type; text that does not parse is NULL,
// as Hive reads it.
func textValue(s string, t *hiveType) any {
	switch t.Kind {
	case "string", "varchar", "char":
		if t.Kind == "varchar" && len(t.Params) == 1 && len([]rune(s)) > t.Params[0] {
			return string([]rune(s)[:t.Params[0]])
		}
		return s
	case "bigint", "int", "smallint", "tinyint":
		bits := map[string]int{"bigint": 64, "int": 32, "smallint": 16, "tinyint": 8}[t.Kind]
		v, err := strconv.ParseInt(strings.TrimSpace(s), 10, bits)
		if err != nil {
			return nil
		}
		return v
	case "double", "float":
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return nil
		}
		return json.Number(strconv.FormatFloat(v, 'g', -1, 64))
	case "decimal":
		if _, ok := new(big.Float).SetString(strings.TrimSpace(s)); !ok {
			return nil
		}
		return json.Number(strings.TrimSpace(s))
	case "boolean":
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true":
			return true
		case "false":
			return false
		}
		return nil
	case "timestamp":
		for _, layout := range []string{"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999Z07:00", "2006-01-02"} {
			if ts, err := time.Parse(layout, strings.TrimSpace(s)); err == nil {
				return ts.UTC().Format("2006-01-02 15:04:05.999999")
			}
		}
		return nil
	case "date":
		if d, err := time.Parse("2006-01-02", strings.TrimSpace(s)); err == nil {
			return d.Format("2006-01-02")
		}
		return nil
	}
	return nil
}

// openCSVLine splits a line as OpenCSV 2.3's CSVParser (the one Hive's OpenCSVSerde uses) does,
// quirks included: an escape character before anything but a quote or another escape
// character is dropped, and a field still quoted at the end of the line is lost, because the
// SerDe reads one line at a time.
func openCSVLine(line string, sep, quote, esc byte) []*string {
	var out []*string
	var sb []byte
	inQuotes, inField := false, false
	add := func(s string) { out = append(out, &s) }
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == esc && esc != quote:
			if (inQuotes || inField) && i+1 < len(line) && (line[i+1] == quote || line[i+1] == esc) {
				sb = append(sb, line[i+1])
				i++
			}
		case c == quote:
			if (inQuotes || inField) && i+1 < len(line) && line[i+1] == quote {
				sb = append(sb, quote)
				i++
			} else {
				// A quote in the middle of a field (a,bc"d"ef,g) is kept.
				if i > 2 && line[i-1] != sep && i+1 < len(line) && line[i+1] != sep {
					if len(sb) > 0 && strings.TrimSpace(string(sb)) == "" {
						sb = sb[:0]
					} else {
						sb = append(sb, c)
					}
				}
				inQuotes = !inQuotes
			}
			inField = !inField
		case c == sep && !inQuotes:
			add(string(sb))
			sb = sb[:0]
			inField = false
		default:
			sb = append(sb, c)
			inField = true
		}
	}
	if !inQuotes {
		add(string(sb))
	}
	return out
}

// The JSON SerDes.
const (
	hiveJSONSerDe  = "org.apache.hive.hcatalog.data.JsonSerDe"
	openXJSONSerDe = "org.openx.data.jsonserde.JsonSerDe"
)

// decodeCloudTrail reads a CloudTrail log file, {"Records": [...]}, one row per record, a
// record at a time: a file holds up to cloudtrail.MaxDecompressedBytes, and several are read at
// once. A record that is not a JSON object (null, a number) is no event: it is read as a row of
// NULLs, which the extraction counts as a bad record, and the rest of the file is read. (AWS
// does not document what Athena's input format makes of one; a row of NULLs is what a reader
// that does not fail the file can make of it.)
func decodeCloudTrail(r io.Reader, cols []tableColumn, w io.Writer) error {
	d := json.NewDecoder(r)
	if err := expectDelim(d, '{', "an object"); err != nil {
		return fmt.Errorf("CloudTrail log file: %w", err)
	}
	var buf bytes.Buffer
	for d.More() {
		key, err := d.Token()
		if err != nil {
			return fmt.Errorf("CloudTrail log file: %w", err)
		}
		if key != "Records" {
			var skip json.RawMessage
			if err := d.Decode(&skip); err != nil {
				return fmt.Errorf("CloudTrail log file: %w", err)
			}
			continue
		}
		if err := decodeRecords(d, cols, &buf, w); err != nil {
			return err
		}
	}
	if _, err := d.Token(); err != nil { // the closing brace
		return fmt.Errorf("CloudTrail log file: %w", err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return errors.New("CloudTrail log file: invalid data after the top-level object")
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// decodeRecords reads the value of "Records", an array of records or null, writing the rows to
// w through buf.
func decodeRecords(d *json.Decoder, cols []tableColumn, buf *bytes.Buffer, w io.Writer) error {
	tok, err := d.Token()
	if err != nil {
		return fmt.Errorf("CloudTrail Records: %w", err)
	}
	if tok == nil {
		return nil
	}
	if tok != json.Delim('[') {
		return fmt.Errorf("CloudTrail Records: %v is not an array", tok)
	}
	for i := 0; d.More(); i++ {
		var rec json.RawMessage
		if err := d.Decode(&rec); err != nil {
			return fmt.Errorf("CloudTrail Records: %w", err)
		}
		if len(rec) > cloudtrail.MaxRecordBytes {
			return fmt.Errorf("record %d is %d bytes, over the %d-byte limit", i, len(rec), cloudtrail.MaxRecordBytes)
		}
		if err := writeJSONRecord(buf, rec, cols); errors.Is(err, errNotObject) {
			if err := writeJSON(buf, nullRow(cols)); err != nil {
				return fmt.Errorf("record %d: %w", i, err)
			}
		} else if err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		if buf.Len() >= 1<<16 {
			if _, err := w.Write(buf.Bytes()); err != nil {
				return err
			}
			buf.Reset()
		}
	}
	if _, err := d.Token(); err != nil { // the closing bracket
		return fmt.Errorf("CloudTrail Records: %w", err)
	}
	return nil
}

// expectDelim reads the next token, which must be delim.
func expectDelim(d *json.Decoder, delim json.Delim, what string) error {
	tok, err := d.Token()
	if err != nil {
		return err
	}
	if tok != delim {
		return fmt.Errorf("%v is not %s", tok, what)
	}
	return nil
}

// decodeJSONLines reads one JSON object per line (the JSON SerDes).
func decodeJSONLines(r io.Reader, cols []tableColumn, w io.Writer) error {
	n := 0
	return eachLine(r, 0, func(line string) error {
		n++
		if strings.TrimSpace(line) == "" {
			return nil
		}
		if err := writeJSONRecord(w, json.RawMessage(line), cols); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		return nil
	})
}

// nullRow is a row whose every column is NULL.
func nullRow(cols []tableColumn) map[string]any {
	row := make(map[string]any, len(cols))
	for _, c := range cols {
		row[c.Name] = nil
	}
	return row
}

// errNotObject is a JSON record that is not an object: null, a number, a string, an array.
var errNotObject = errors.New("not a JSON object")

func writeJSONRecord(w io.Writer, rec json.RawMessage, cols []tableColumn) error {
	if t := bytes.TrimSpace(rec); len(t) == 0 || t[0] != '{' {
		return errNotObject
	}
	fields, err := objectFields(rec)
	if err != nil {
		return err
	}
	if fields == nil {
		return errNotObject
	}
	row := make(map[string]any, len(cols))
	for _, c := range cols {
		row[c.Name] = jsonValue(fields[c.Name], c.Type)
	}
	return writeJSON(w, row)
}

// objectFields decodes a JSON object with its keys in lower case, as the SerDes match them.
func objectFields(raw json.RawMessage) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, nil
	}
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out, nil
}

// jsonValue converts a JSON value to the column's type: a string column holds the JSON text
// of an object or array, and a value of the wrong shape is NULL.
func jsonValue(raw json.RawMessage, t *hiveType) any {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	switch t.Kind {
	case "struct":
		fields, err := objectFields(raw)
		if err != nil || fields == nil {
			return nil
		}
		out := make(map[string]any, len(t.Fields))
		for _, f := range t.Fields {
			out[f.Name] = jsonValue(fields[f.Name], f.Type)
		}
		return out
	case "array":
		var elems []json.RawMessage
		if json.Unmarshal(raw, &elems) != nil {
			return nil
		}
		out := make([]any, len(elems))
		for i, e := range elems {
			out[i] = jsonValue(e, t.Elem)
		}
		return out
	case "map":
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil {
			return nil
		}
		out := make(map[string]any, len(m))
		for k, v := range m {
			out[k] = jsonValue(v, t.Elem)
		}
		return out
	}
	var text string
	switch raw[0] {
	case '"':
		if json.Unmarshal(raw, &text) != nil {
			return nil
		}
	case '{', '[':
		var b bytes.Buffer
		if json.Compact(&b, raw) != nil {
			return nil
		}
		text = b.String()
	default:
		text = string(raw)
	}
	return textValue(text, t)
}
