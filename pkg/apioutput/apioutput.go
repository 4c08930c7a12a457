// Package apioutput writes and reads the rows of the athena_api_output table: one line per query ID
// in the text format of the table's SerDe (see package hivetext), with the columns in Columns order.
package apioutput

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/athenausage/athena-usage/pkg/hivetext"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
)

// Columns are the table's columns in file order. The first seven are the original design's.
var Columns = []string{
	"queryid", "querydatabase", "executiontime", "datascanned", "status",
	"submissiondatetime", "completiondatetime",
	"workgroup", "statement_type", "substatement_type", "total_execution_ms", "queue_ms",
	"planning_ms", "service_processing_ms", "result_reused", "engine_version",
	"error_category", "error_type", "error_message", "catalog",
	"lookup_error",
}

// TimeLayout is how submission and completion times are written: ISO 8601 in UTC with
// milliseconds, which Athena's from_iso8601_timestamp reads.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// Row is one query's statistics, or the error that kept Athena from returning them.
// Nil pointers and empty strings are written as NULL.
type Row struct {
	QueryID             string
	Database            string
	EngineExecutionMS   *int64
	DataScannedBytes    *int64
	Status              string
	SubmissionTime      *time.Time
	CompletionTime      *time.Time
	Workgroup           string
	StatementType       string
	SubstatementType    string
	TotalExecutionMS    *int64
	QueueMS             *int64
	PlanningMS          *int64
	ServiceProcessingMS *int64
	ResultReused        *bool
	EngineVersion       string
	ErrorCategory       *int32
	ErrorType           *int32
	ErrorMessage        string
	Catalog             string
	LookupError         string
}

// FromExecution converts one result of BatchGetQueryExecution.
func FromExecution(q types.QueryExecution) Row {
	r := Row{
		QueryID:          deref(q.QueryExecutionId),
		Workgroup:        deref(q.WorkGroup),
		StatementType:    string(q.StatementType),
		SubstatementType: deref(q.SubstatementType),
	}
	if c := q.QueryExecutionContext; c != nil {
		r.Database = deref(c.Database)
		r.Catalog = deref(c.Catalog)
	}
	if s := q.Statistics; s != nil {
		r.EngineExecutionMS = s.EngineExecutionTimeInMillis
		r.DataScannedBytes = s.DataScannedInBytes
		r.TotalExecutionMS = s.TotalExecutionTimeInMillis
		r.QueueMS = s.QueryQueueTimeInMillis
		r.PlanningMS = s.QueryPlanningTimeInMillis
		r.ServiceProcessingMS = s.ServiceProcessingTimeInMillis
		if s.ResultReuseInformation != nil {
			reused := s.ResultReuseInformation.ReusedPreviousResult
			r.ResultReused = &reused
		}
	}
	if s := q.Status; s != nil {
		r.Status = string(s.State)
		r.SubmissionTime = s.SubmissionDateTime
		r.CompletionTime = s.CompletionDateTime
		if e := s.AthenaError; e != nil {
			r.ErrorCategory = e.ErrorCategory
			r.ErrorType = e.ErrorType
			r.ErrorMessage = deref(e.ErrorMessage)
		}
		if r.ErrorMessage == "" && s.State == types.QueryExecutionStateFailed {
			r.ErrorMessage = deref(s.StateChangeReason)
		}
	}
	if v := q.EngineVersion; v != nil {
		r.EngineVersion = deref(v.EffectiveEngineVersion)
		if r.EngineVersion == "" {
			r.EngineVersion = deref(v.SelectedEngineVersion)
		}
	}
	return r
}

// Unprocessed is the row for an ID that Athena could not return; code is the ErrorCode it gave.
func Unprocessed(id, code string) Row {
	return Row{QueryID: id, LookupError: code}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Writer writes rows, one line each. Call Flush when done.
type Writer struct {
	w   *bufio.Writer
	buf []byte
}

// NewWriter returns a Writer that writes to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: bufio.NewWriterSize(w, 64<<10)}
}

// Write writes one row.
func (w *Writer) Write(r Row) error {
	b := w.buf[:0]
	b = appendString(b, r.QueryID)
	b = appendString(append(b, ','), r.Database)
	b = appendInt(append(b, ','), r.EngineExecutionMS)
	b = appendInt(append(b, ','), r.DataScannedBytes)
	b = appendString(append(b, ','), r.Status)
	b = appendTime(append(b, ','), r.SubmissionTime)
	b = appendTime(append(b, ','), r.CompletionTime)
	b = appendString(append(b, ','), r.Workgroup)
	b = appendString(append(b, ','), r.StatementType)
	b = appendString(append(b, ','), r.SubstatementType)
	b = appendInt(append(b, ','), r.TotalExecutionMS)
	b = appendInt(append(b, ','), r.QueueMS)
	b = appendInt(append(b, ','), r.PlanningMS)
	b = appendInt(append(b, ','), r.ServiceProcessingMS)
	b = append(b, ',')
	if r.ResultReused == nil {
		b = hivetext.AppendNull(b)
	} else {
		b = strconv.AppendBool(b, *r.ResultReused)
	}
	b = appendString(append(b, ','), r.EngineVersion)
	b = appendInt32(append(b, ','), r.ErrorCategory)
	b = appendInt32(append(b, ','), r.ErrorType)
	b = appendString(append(b, ','), r.ErrorMessage)
	b = appendString(append(b, ','), r.Catalog)
	b = appendString(append(b, ','), r.LookupError)
	b = append(b, '\n')
	w.buf = b
	_, err := w.w.Write(b)
	return err
}

// Flush writes any buffered data to the underlying writer.
func (w *Writer) Flush() error { return w.w.Flush() }

func appendString(b []byte, s string) []byte {
	if s == "" {
		return hivetext.AppendNull(b)
	}
	return hivetext.AppendField(b, s)
}

func appendInt(b []byte, v *int64) []byte {
	if v == nil {
		return hivetext.AppendNull(b)
	}
	return strconv.AppendInt(b, *v, 10)
}

func appendInt32(b []byte, v *int32) []byte {
	if v == nil {
		return hivetext.AppendNull(b)
	}
	return strconv.AppendInt(b, int64(*v), 10)
}

func appendTime(b []byte, t *time.Time) []byte {
	if t == nil {
		return hivetext.AppendNull(b)
	}
	return t.UTC().AppendFormat(b, TimeLayout)
}

// Reader reads rows written by Writer.
type Reader struct {
	s    *bufio.Scanner
	line int
}

// NewReader returns a Reader that reads from r.
func NewReader(r io.Reader) *Reader {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 64<<10), 16<<20)
	return &Reader{s: s}
}

// Read returns the next row, or io.EOF after the last.
func (r *Reader) Read() (Row, error) {
	if !r.s.Scan() {
		if err := r.s.Err(); err != nil {
			return Row{}, fmt.Errorf("line %d: %w", r.line+1, err)
		}
		return Row{}, io.EOF
	}
	r.line++
	row, err := ParseLine(r.s.Text())
	if err != nil {
		return Row{}, fmt.Errorf("line %d: %w", r.line, err)
	}
	return row, nil
}

// ParseLine decodes one line.
func ParseLine(line string) (Row, error) {
	f, err := hivetext.Split(line)
	if err != nil {
		return Row{}, err
	}
	if len(f) != len(Columns) {
		return Row{}, fmt.Errorf("got %d fields, want %d", len(f), len(Columns))
	}
	p := parser{f: f}
	r := Row{
		QueryID:             p.str(0),
		Database:            p.str(1),
		EngineExecutionMS:   p.int(2),
		DataScannedBytes:    p.int(3),
		Status:              p.str(4),
		SubmissionTime:      p.time(5),
		CompletionTime:      p.time(6),
		Workgroup:           p.str(7),
		StatementType:       p.str(8),
		SubstatementType:    p.str(9),
		TotalExecutionMS:    p.int(10),
		QueueMS:             p.int(11),
		PlanningMS:          p.int(12),
		ServiceProcessingMS: p.int(13),
		ResultReused:        p.bool(14),
		EngineVersion:       p.str(15),
		ErrorCategory:       p.int32(16),
		ErrorType:           p.int32(17),
		ErrorMessage:        p.str(18),
		Catalog:             p.str(19),
		LookupError:         p.str(20),
	}
	return r, p.err
}

type parser struct {
	f   []hivetext.Field
	err error
}

func (p *parser) fail(i int, err error) {
	if p.err == nil {
		p.err = fmt.Errorf("column %s: %w", Columns[i], err)
	}
}

func (p *parser) str(i int) string { return p.f[i].Value }

func (p *parser) int(i int) *int64 {
	if p.f[i].Null {
		return nil
	}
	v, err := strconv.ParseInt(p.f[i].Value, 10, 64)
	if err != nil {
		p.fail(i, err)
		return nil
	}
	return &v
}

func (p *parser) int32(i int) *int32 {
	v := p.int(i)
	if v == nil {
		return nil
	}
	n := int32(*v)
	return &n
}

func (p *parser) bool(i int) *bool {
	if p.f[i].Null {
		return nil
	}
	v, err := strconv.ParseBool(p.f[i].Value)
	if err != nil {
		p.fail(i, err)
		return nil
	}
	return &v
}

func (p *parser) time(i int) *time.Time {
	if p.f[i].Null {
		return nil
	}
	t, err := time.Parse(TimeLayout, p.f[i].Value)
	if err != nil {
		p.fail(i, err)
		return nil
	}
	return &t
}
