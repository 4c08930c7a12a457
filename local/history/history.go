// Package history reads and writes Athena query executions as JSON Lines: one QueryExecution
// per line, in the API's JSON shape (the members the AWS CLI prints for get-query-execution).
// The local Athena stand-in answers BatchGetQueryExecution from such a file, and the synthetic
// data generator writes one. MarshalExecution and UnmarshalExecution are the package's one
// mapping between types.QueryExecution and that shape; the stand-in uses them for its responses.
package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/athena/types"
)

// TimeLayout is how Writer writes timestamps: ISO 8601 in UTC with milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// TimeFormat is how MarshalExecution writes timestamps. Both keep milliseconds, as Athena does.
type TimeFormat int

const (
	// ISO writes strings in TimeLayout, as the AWS CLI prints them and Writer writes them.
	ISO TimeFormat = iota
	// Epoch writes epoch seconds as a number, as the Athena API sends them to the SDK.
	Epoch
)

// MaxErrors caps the errors Read returns one by one, so that a file that is not a history at all
// yields a short report; the rest are counted in one OmittedError, and reading goes on.
const MaxErrors = 100

// OmittedError is Read's last error when more than MaxErrors entries were bad: how many more.
type OmittedError struct {
	Name  string
	Count int
}

func (e *OmittedError) Error() string {
	return fmt.Sprintf("%s: %d more bad entries not shown", e.Name, e.Count)
}

// Read parses r; name is used in error messages. It takes the AWS CLI's output as it is:
// JSON Lines or pretty-printed JSON (a value whose first line is a lone "{" or "[" runs to its
// closing line), with or without a UTF-8 byte order mark. A value is a QueryExecution, an AWS
// CLI response holding one ({"QueryExecution": {...}}) or several ({"QueryExecutions": [...]}),
// or an array of these. Blank lines are skipped. Each bad entry is reported as an error naming
// name:line and the reason, up to MaxErrors and then an OmittedError; the executions of the
// other entries are returned.
func Read(r io.Reader, name string) ([]types.QueryExecution, []error) {
	var out []types.QueryExecution
	errs := ReadFunc(r, name, func(q types.QueryExecution) { out = append(out, q) })
	return out, errs
}

// ReadFunc is Read calling fn with each execution in turn instead of returning them all, so
// that a history of a million executions is never held whole: JSON Lines stream line by line
// (a pretty-printed value is still read whole, as it must be to parse it).
func ReadFunc(r io.Reader, name string, fn func(types.QueryExecution)) []error {
	rd := reader{name: name, emit: fn}
	br := bufio.NewReaderSize(r, 64<<10)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
	} else if len(bom) >= 2 && (bom[0] == 0xff && bom[1] == 0xfe || bom[0] == 0xfe && bom[1] == 0xff) {
		return []error{fmt.Errorf("%s: UTF-16 text (as PowerShell's > writes it): save it as UTF-8", name)}
	}
	var (
		val   []byte
		first int
		depth nesting
	)
	for n := 1; ; n++ {
		// ReadBytes rather than a Scanner: a CLI response with 50 long queries makes lines of
		// megabytes, and a line limit would reject real exports.
		line, err := br.ReadBytes('\n')
		switch trimmed := bytes.TrimSpace(line); {
		case len(val) > 0:
			val = append(val, line...)
			if depth.feed(line) {
				rd.value(val, first)
				val = val[:0]
			}
		case len(trimmed) == 0:
		case string(trimmed) == "{" || string(trimmed) == "[":
			// The first line of a pretty-printed value: read on to its end.
			first, depth = n, nesting{}
			depth.feed(line)
			val = append(val, line...)
		default:
			rd.value(line, n)
		}
		if err == io.EOF {
			if len(val) > 0 {
				rd.fail(first, fmt.Errorf("JSON value is not closed by the end of the file (line %d)", n))
			}
			return rd.errors()
		}
		if err != nil {
			rd.fail(n, err)
			return rd.errors()
		}
	}
}

// reader hands on what ReadFunc finds.
type reader struct {
	name    string
	emit    func(types.QueryExecution)
	errs    []error
	omitted int
}

func (rd *reader) fail(line int, err error) {
	if len(rd.errs) == MaxErrors {
		rd.omitted++
		return
	}
	rd.errs = append(rd.errs, fmt.Errorf("%s:%d: %w", rd.name, line, err))
}

func (rd *reader) errors() []error {
	if rd.omitted > 0 {
		return append(rd.errs, &OmittedError{Name: rd.name, Count: rd.omitted})
	}
	return rd.errs
}

// value parses one JSON value that starts on line first: an array of entries, or one entry.
func (rd *reader) value(b []byte, first int) {
	t := bytes.TrimSpace(b)
	if len(t) == 0 || t[0] != '[' {
		rd.entry(t, first, "")
		return
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(t, &elems); err != nil {
		rd.fail(first, describe(err))
		return
	}
	at := 0
	for i, e := range elems {
		line, next := lineOf(t, e, first, at)
		at = next
		rd.entry(e, line, fmt.Sprintf("[%d]: ", i))
	}
}

// entry parses one of the accepted object shapes; label prefixes its errors.
func (rd *reader) entry(b []byte, line int, label string) {
	var l lineJSON
	if err := json.Unmarshal(b, &l); err != nil {
		rd.fail(line, fmt.Errorf("%s%w", label, describe(err)))
		return
	}
	switch {
	case l.QueryExecution != nil:
		q, err := l.QueryExecution.toSDK()
		if err != nil {
			rd.fail(line, fmt.Errorf("%sQueryExecution: %w", label, err))
			return
		}
		rd.emit(q)
	case l.QueryExecutions != nil:
		at := 0
		for i, raw := range l.QueryExecutions {
			eline, next := lineOf(b, raw, line, at)
			at = next
			var e execution
			if err := json.Unmarshal(raw, &e); err != nil {
				rd.fail(eline, fmt.Errorf("%sQueryExecutions[%d]: %w", label, i, describe(err)))
				continue
			}
			q, err := e.toSDK()
			if err != nil {
				rd.fail(eline, fmt.Errorf("%sQueryExecutions[%d]: %w", label, i, err))
				continue
			}
			rd.emit(q)
		}
	default:
		q, err := l.execution.toSDK()
		if err != nil {
			rd.fail(line, fmt.Errorf("%s%w", label, err))
			return
		}
		rd.emit(q)
	}
}

// lineOf returns the line of elem, a value found in b at or after byte from, given that b starts
// on line first, and the byte after elem, where the search for the next element starts.
func lineOf(b, elem []byte, first, from int) (line, next int) {
	i := bytes.Index(b[from:], elem)
	if i < 0 {
		return first, from
	}
	i += from
	return first + bytes.Count(b[:i], []byte("\n")), i + len(elem)
}

// nesting follows the brackets of a pretty-printed value line by line, outside strings.
type nesting struct {
	depth          int
	inString, back bool
}

// feed reads one more line and reports whether the value is complete.
func (n *nesting) feed(line []byte) bool {
	for _, c := range line {
		switch {
		case n.back:
			n.back = false
		case n.inString && c == '\\':
			n.back = true
		case c == '"':
			n.inString = !n.inString
		case n.inString:
		case c == '{' || c == '[':
			n.depth++
		case c == '}' || c == ']':
			n.depth--
		}
	}
	return n.depth <= 0 && !n.inString
}

// lineJSON is any of the accepted object shapes; which members are set tells them apart.
type lineJSON struct {
	QueryExecution  *execution
	QueryExecutions []json.RawMessage
	execution
}

// describe turns encoding/json's errors into ones that name the member.
func describe(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		// The embedded struct's name is not part of the JSON shape.
		field := strings.TrimPrefix(te.Field, "execution.")
		return fmt.Errorf("%s: cannot use JSON %s as %s", field, te.Value, te.Type)
	}
	if errors.As(err, &te) {
		return fmt.Errorf("line is a JSON %s, want an object", te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON at byte %d: %w", se.Offset, err)
	}
	return err
}

// execution mirrors types.QueryExecution in the API's JSON shape. The SDK's types carry no JSON
// tags (its codecs are internal), so the shape is spelled out here.
type execution struct {
	QueryExecutionID         *string            `json:"QueryExecutionId,omitempty"`
	Query                    *string            `json:",omitempty"`
	StatementType            string             `json:",omitempty"`
	SubstatementType         *string            `json:",omitempty"`
	ResultConfiguration      *resultConfig      `json:",omitempty"`
	ResultReuseConfiguration *resultReuseConfig `json:",omitempty"`
	QueryExecutionContext    *executionContext  `json:",omitempty"`
	Status                   *status            `json:",omitempty"`
	Statistics               *statistics        `json:",omitempty"`
	WorkGroup                *string            `json:",omitempty"`
	EngineVersion            *engineVersion     `json:",omitempty"`
	ExecutionParameters      []string           `json:",omitempty"`
}

type resultConfig struct {
	OutputLocation      *string `json:",omitempty"`
	ExpectedBucketOwner *string `json:",omitempty"`
}

type resultReuseConfig struct {
	ResultReuseByAgeConfiguration *resultReuseByAge `json:",omitempty"`
}

type resultReuseByAge struct {
	Enabled         bool
	MaxAgeInMinutes *int32 `json:",omitempty"`
}

type executionContext struct {
	Database *string `json:",omitempty"`
	Catalog  *string `json:",omitempty"`
}

type status struct {
	State              string       `json:",omitempty"`
	StateChangeReason  *string      `json:",omitempty"`
	SubmissionDateTime *timestamp   `json:",omitempty"`
	CompletionDateTime *timestamp   `json:",omitempty"`
	AthenaError        *athenaError `json:",omitempty"`
}

type athenaError struct {
	ErrorCategory *int32 `json:",omitempty"`
	ErrorType     *int32 `json:",omitempty"`
	Retryable     bool
	ErrorMessage  *string `json:",omitempty"`
}

type statistics struct {
	EngineExecutionTimeInMillis      *int64       `json:",omitempty"`
	DataScannedInBytes               *int64       `json:",omitempty"`
	DataManifestLocation             *string      `json:",omitempty"`
	TotalExecutionTimeInMillis       *int64       `json:",omitempty"`
	QueryQueueTimeInMillis           *int64       `json:",omitempty"`
	ServicePreProcessingTimeInMillis *int64       `json:",omitempty"`
	QueryPlanningTimeInMillis        *int64       `json:",omitempty"`
	ServiceProcessingTimeInMillis    *int64       `json:",omitempty"`
	ResultReuseInformation           *resultReuse `json:",omitempty"`
	DpuCount                         *float64     `json:",omitempty"`
}

type resultReuse struct {
	ReusedPreviousResult bool
}

type engineVersion struct {
	SelectedEngineVersion  *string `json:",omitempty"`
	EffectiveEngineVersion *string `json:",omitempty"`
}

// timestamp is a time in either form AWS uses in JSON: epoch seconds as a number (the API's own
// responses, possibly fractional) or an ISO 8601 string (the AWS CLI's output). A value that is
// neither is kept in bad and reported by toSDK, which knows the member's name; encoding/json
// does not add it to an UnmarshalJSON error. epoch says which form MarshalJSON writes.
type timestamp struct {
	t     time.Time
	bad   string
	epoch bool
}

// isoLayouts are the string forms accepted, tried in order; those without a zone are UTC.
var isoLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
}

func (t *timestamp) UnmarshalJSON(b []byte) error {
	*t = timestamp{bad: string(b)}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		for _, layout := range isoLayouts {
			if v, err := time.Parse(layout, s); err == nil {
				*t = timestamp{t: v.UTC()}
				return nil
			}
		}
		return nil
	}
	if v, err := parseEpoch(string(b)); err == nil {
		*t = timestamp{t: v}
	}
	return nil
}

// parseEpoch reads decimal epoch seconds exactly; float64 would round 1714781035.123 to a few
// hundred nanoseconds off, and round trips would then drift by a millisecond.
func parseEpoch(s string) (time.Time, error) {
	if strings.ContainsAny(s, "eE") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return time.Time{}, err
		}
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), nil
	}
	whole, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	var nsec int64
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		n, err := strconv.ParseUint(frac, 10, 64)
		if err != nil || strings.HasPrefix(frac, "+") {
			return time.Time{}, fmt.Errorf("bad fraction %q", frac)
		}
		nsec = int64(n)
		for range 9 - len(frac) {
			nsec *= 10
		}
		if strings.HasPrefix(whole, "-") {
			nsec = -nsec
		}
	}
	return time.Unix(sec, nsec).UTC(), nil
}

func (t timestamp) MarshalJSON() ([]byte, error) {
	if t.epoch {
		// float64 holds epoch milliseconds over 1000 closely enough that the shortest form that
		// reads back as the same float64 is the exact decimal, such as 1714782235.123.
		return strconv.AppendFloat(nil, float64(t.t.UnixMilli())/1000, 'f', -1, 64), nil
	}
	b := make([]byte, 0, len(TimeLayout)+2)
	b = append(b, '"')
	b = t.t.UTC().AppendFormat(b, TimeLayout)
	return append(b, '"'), nil
}

func (e execution) toSDK() (types.QueryExecution, error) {
	if e.QueryExecutionID == nil || *e.QueryExecutionID == "" {
		return types.QueryExecution{}, errors.New("no QueryExecutionId")
	}
	q := types.QueryExecution{
		QueryExecutionId:    e.QueryExecutionID,
		Query:               e.Query,
		StatementType:       types.StatementType(e.StatementType),
		SubstatementType:    e.SubstatementType,
		WorkGroup:           e.WorkGroup,
		ExecutionParameters: e.ExecutionParameters,
	}
	if e.StatementType != "" && !slices.Contains(q.StatementType.Values(), q.StatementType) {
		return q, fmt.Errorf("query %s: StatementType %q: want one of %v", *e.QueryExecutionID, e.StatementType, q.StatementType.Values())
	}
	if c := e.ResultConfiguration; c != nil {
		q.ResultConfiguration = &types.ResultConfiguration{
			OutputLocation:      c.OutputLocation,
			ExpectedBucketOwner: c.ExpectedBucketOwner,
		}
	}
	if c := e.ResultReuseConfiguration; c != nil && c.ResultReuseByAgeConfiguration != nil {
		q.ResultReuseConfiguration = &types.ResultReuseConfiguration{
			ResultReuseByAgeConfiguration: &types.ResultReuseByAgeConfiguration{
				Enabled:         c.ResultReuseByAgeConfiguration.Enabled,
				MaxAgeInMinutes: c.ResultReuseByAgeConfiguration.MaxAgeInMinutes,
			},
		}
	}
	if c := e.QueryExecutionContext; c != nil {
		q.QueryExecutionContext = &types.QueryExecutionContext{Database: c.Database, Catalog: c.Catalog}
	}
	if s := e.Status; s != nil {
		st := &types.QueryExecutionStatus{
			State:             types.QueryExecutionState(s.State),
			StateChangeReason: s.StateChangeReason,
		}
		var err error
		if st.SubmissionDateTime, err = s.SubmissionDateTime.time("Status.SubmissionDateTime"); err != nil {
			return q, fmt.Errorf("query %s: %w", *e.QueryExecutionID, err)
		}
		if st.CompletionDateTime, err = s.CompletionDateTime.time("Status.CompletionDateTime"); err != nil {
			return q, fmt.Errorf("query %s: %w", *e.QueryExecutionID, err)
		}
		if s.State != "" && !slices.Contains(st.State.Values(), st.State) {
			return q, fmt.Errorf("query %s: Status.State %q: want one of %v", *e.QueryExecutionID, s.State, st.State.Values())
		}
		if a := s.AthenaError; a != nil {
			st.AthenaError = &types.AthenaError{
				ErrorCategory: a.ErrorCategory,
				ErrorType:     a.ErrorType,
				Retryable:     a.Retryable,
				ErrorMessage:  a.ErrorMessage,
			}
		}
		q.Status = st
	}
	if s := e.Statistics; s != nil {
		q.Statistics = &types.QueryExecutionStatistics{
			EngineExecutionTimeInMillis:      s.EngineExecutionTimeInMillis,
			DataScannedInBytes:               s.DataScannedInBytes,
			DataManifestLocation:             s.DataManifestLocation,
			TotalExecutionTimeInMillis:       s.TotalExecutionTimeInMillis,
			QueryQueueTimeInMillis:           s.QueryQueueTimeInMillis,
			ServicePreProcessingTimeInMillis: s.ServicePreProcessingTimeInMillis,
			QueryPlanningTimeInMillis:        s.QueryPlanningTimeInMillis,
			ServiceProcessingTimeInMillis:    s.ServiceProcessingTimeInMillis,
			DpuCount:                         s.DpuCount,
		}
		if r := s.ResultReuseInformation; r != nil {
			q.Statistics.ResultReuseInformation = &types.ResultReuseInformation{ReusedPreviousResult: r.ReusedPreviousResult}
		}
	}
	if v := e.EngineVersion; v != nil {
		q.EngineVersion = &types.EngineVersion{
			SelectedEngineVersion:  v.SelectedEngineVersion,
			EffectiveEngineVersion: v.EffectiveEngineVersion,
		}
	}
	return q, nil
}

// time returns the parsed time, nil for a missing member, or an error naming the member.
func (t *timestamp) time(member string) (*time.Time, error) {
	if t == nil {
		return nil, nil
	}
	if t.bad != "" {
		return nil, fmt.Errorf("%s %s: want ISO 8601 or epoch seconds", member, t.bad)
	}
	v := t.t
	return &v, nil
}

func stamp(t *time.Time, f TimeFormat) *timestamp {
	if t == nil {
		return nil
	}
	return &timestamp{t: *t, epoch: f == Epoch}
}

func fromSDK(q types.QueryExecution, f TimeFormat) execution {
	e := execution{
		QueryExecutionID:    q.QueryExecutionId,
		Query:               q.Query,
		StatementType:       string(q.StatementType),
		SubstatementType:    q.SubstatementType,
		WorkGroup:           q.WorkGroup,
		ExecutionParameters: q.ExecutionParameters,
	}
	if c := q.ResultConfiguration; c != nil {
		e.ResultConfiguration = &resultConfig{OutputLocation: c.OutputLocation, ExpectedBucketOwner: c.ExpectedBucketOwner}
	}
	if c := q.ResultReuseConfiguration; c != nil && c.ResultReuseByAgeConfiguration != nil {
		e.ResultReuseConfiguration = &resultReuseConfig{ResultReuseByAgeConfiguration: &resultReuseByAge{
			Enabled:         c.ResultReuseByAgeConfiguration.Enabled,
			MaxAgeInMinutes: c.ResultReuseByAgeConfiguration.MaxAgeInMinutes,
		}}
	}
	if c := q.QueryExecutionContext; c != nil {
		e.QueryExecutionContext = &executionContext{Database: c.Database, Catalog: c.Catalog}
	}
	if s := q.Status; s != nil {
		e.Status = &status{
			State:              string(s.State),
			StateChangeReason:  s.StateChangeReason,
			SubmissionDateTime: stamp(s.SubmissionDateTime, f),
			CompletionDateTime: stamp(s.CompletionDateTime, f),
		}
		if a := s.AthenaError; a != nil {
			e.Status.AthenaError = &athenaError{
				ErrorCategory: a.ErrorCategory,
				ErrorType:     a.ErrorType,
				Retryable:     a.Retryable,
				ErrorMessage:  a.ErrorMessage,
			}
		}
	}
	if s := q.Statistics; s != nil {
		e.Statistics = &statistics{
			EngineExecutionTimeInMillis:      s.EngineExecutionTimeInMillis,
			DataScannedInBytes:               s.DataScannedInBytes,
			DataManifestLocation:             s.DataManifestLocation,
			TotalExecutionTimeInMillis:       s.TotalExecutionTimeInMillis,
			QueryQueueTimeInMillis:           s.QueryQueueTimeInMillis,
			ServicePreProcessingTimeInMillis: s.ServicePreProcessingTimeInMillis,
			QueryPlanningTimeInMillis:        s.QueryPlanningTimeInMillis,
			ServiceProcessingTimeInMillis:    s.ServiceProcessingTimeInMillis,
			DpuCount:                         s.DpuCount,
		}
		if r := s.ResultReuseInformation; r != nil {
			e.Statistics.ResultReuseInformation = &resultReuse{ReusedPreviousResult: r.ReusedPreviousResult}
		}
	}
	if v := q.EngineVersion; v != nil {
		e.EngineVersion = &engineVersion{
			SelectedEngineVersion:  v.SelectedEngineVersion,
			EffectiveEngineVersion: v.EffectiveEngineVersion,
		}
	}
	return e
}

// MarshalExecution returns q in the API's JSON shape, members in a fixed order, so the same
// execution gives the same bytes, and timestamps as f says. It leaves <, > and & unescaped, as
// queries are full of them; encoding/json escapes them again where it embeds the result.
func MarshalExecution(q types.QueryExecution, f TimeFormat) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(fromSDK(q, f)); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// UnmarshalExecution parses one QueryExecution in the API's JSON shape, with timestamps in either
// form. Like Read, it requires a QueryExecutionId and a known State and StatementType.
func UnmarshalExecution(b []byte) (types.QueryExecution, error) {
	var e execution
	if err := json.Unmarshal(b, &e); err != nil {
		return types.QueryExecution{}, describe(err)
	}
	return e.toSDK()
}

// Writer writes executions as JSON Lines, one MarshalExecution result with ISO timestamps a line.
// Call Flush when done.
type Writer struct {
	w *bufio.Writer
}

// NewWriter returns a Writer that writes to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, 64<<10)}
}

// Write writes one execution; it must have a QueryExecutionId, as Read requires one.
func (w *Writer) Write(q types.QueryExecution) error {
	if q.QueryExecutionId == nil || *q.QueryExecutionId == "" {
		return errors.New("write query execution: no QueryExecutionId")
	}
	b, err := MarshalExecution(q, ISO)
	if err == nil {
		_, err = w.w.Write(append(b, '\n'))
	}
	if err != nil {
		return fmt.Errorf("write query execution %s: %w", *q.QueryExecutionId, err)
	}
	return nil
}

// Flush writes any buffered data to the underlying writer.
func (w *Writer) Flush() error { return w.w.Flush() }
