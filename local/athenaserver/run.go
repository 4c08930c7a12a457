package athenaserver

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/athenausage/athena-usage/local/sqlengine"
	"github.com/athenausage/athena-usage/pkg/s3uri"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// run takes a query from QUEUED through RUNNING to its final state.
func (s *Server) run(ctx context.Context, id, database, sql, location string) {
	defer s.wg.Done()
	submittedAt := s.opts.Now()
	s.mu.Lock()
	if t := s.execs[id].q.Status.SubmissionDateTime; t != nil {
		submittedAt = *t
	}
	s.mu.Unlock()

	if err := s.queue(ctx); err != nil {
		s.finish(id, outcome{err: err, submitted: submittedAt})
		return
	}
	defer func() { <-s.slots }()
	o := outcome{submitted: submittedAt, started: s.opts.Now()}
	if !s.setRunning(id, o.started) {
		return // stopped while queued
	}
	s.mu.Lock()
	rf := &resultFile{dir: s.opts.Dir, stmt: string(s.execs[id].q.StatementType)}
	s.mu.Unlock()
	defer rf.discard()
	o.res, o.err = s.opts.Engine.ExecuteTo(ctx, database, sql, rf)
	o.engineDone = s.opts.Now()
	err := rf.err
	if err == nil && o.err == nil {
		err = s.writeResults(ctx, id, location, o.res, rf)
	}
	if err != nil {
		o.err = &sqlengine.Error{Category: 1, Type: errTypeS3Results, Msg: "Error writing query results to " + location + ": " + err.Error()}
		o.res = nil
	}
	o.done = s.opts.Now()
	s.finish(id, o)
}

// queue waits out QueueTime and then for a free slot.
func (s *Server) queue(ctx context.Context) error {
	if d := s.opts.QueueTime; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	select {
	case s.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Server) setRunning(id string, at time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.execs[id]
	if terminal(e.q) {
		return false
	}
	st := *e.q.Status
	st.State = types.QueryExecutionStateRunning
	e.q.Status = &st
	e.q.Statistics = &types.QueryExecutionStatistics{QueryQueueTimeInMillis: durationMS(at.Sub(*st.SubmissionDateTime))}
	if err := s.save(e); err != nil {
		s.opts.Logger.Error("save running query", "query_execution_id", id, "error", err)
	}
	return true
}

// outcome is how a run ended, with its timings.
type outcome struct {
	res                                  *sqlengine.Result
	err                                  error
	submitted, started, engineDone, done time.Time
}

func (s *Server) finish(id string, o outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.execs[id]
	e.cancel = nil
	st := *e.q.Status
	stopped := st.State == types.QueryExecutionStateCancelled
	if !o.started.IsZero() {
		// Athena's total is queue + engine + service processing (here, writing the results).
		e.q.Statistics = &types.QueryExecutionStatistics{
			QueryQueueTimeInMillis:           durationMS(o.started.Sub(o.submitted)),
			ServicePreProcessingTimeInMillis: aws.Int64(0),
			QueryPlanningTimeInMillis:        aws.Int64(0),
			EngineExecutionTimeInMillis:      durationMS(o.engineDone.Sub(o.started)),
			ServiceProcessingTimeInMillis:    durationMS(o.done.Sub(o.engineDone)),
			TotalExecutionTimeInMillis:       durationMS(o.done.Sub(o.submitted)),
			DataScannedInBytes:               aws.Int64(0),
			ResultReuseInformation:           &types.ResultReuseInformation{},
		}
	}
	switch {
	case stopped:
		// StopQueryExecution already set CANCELLED; keep it.
	case o.err != nil && s.ctx.Err() != nil:
		now := s.opts.Now()
		st.State = types.QueryExecutionStateFailed
		st.CompletionDateTime = &now
		st.StateChangeReason = aws.String(reasonShutDown)
		st.AthenaError = &types.AthenaError{ErrorCategory: aws.Int32(1), ErrorType: aws.Int32(100), Retryable: true, ErrorMessage: st.StateChangeReason}
	case o.err != nil:
		qe := &sqlengine.Error{Category: 1, Type: errTypeEngine, Msg: o.err.Error()}
		errors.As(o.err, &qe)
		st.State = types.QueryExecutionStateFailed
		st.CompletionDateTime = &o.done
		st.StateChangeReason = aws.String(qe.Error())
		st.AthenaError = &types.AthenaError{
			ErrorCategory: aws.Int32(qe.Category),
			ErrorType:     aws.Int32(qe.Type),
			Retryable:     qe.Category == 1,
			ErrorMessage:  aws.String(qe.Error()),
		}
	default:
		st.State = types.QueryExecutionStateSucceeded
		st.CompletionDateTime = &o.done
		if o.res.StatementType != "" {
			e.q.StatementType = types.StatementType(o.res.StatementType)
		}
		if o.res.SubstatementType != "" {
			e.q.SubstatementType = aws.String(o.res.SubstatementType)
		}
		e.q.Statistics.DataScannedInBytes = aws.Int64(o.res.DataScannedBytes)
		e.cols = o.res.Columns
	}
	e.q.Status = &st
	if err := s.save(e); err != nil {
		s.opts.Logger.Error("save finished query", "query_execution_id", id, "error", err)
	}
}

// resultLocation is where Athena writes a query's results: <id>.csv, or <id>.txt for DDL.
func resultLocation(location, id, stmt string) string {
	ext := ".csv"
	if stmt == string(types.StatementTypeDdl) {
		ext = ".txt"
	}
	if !strings.HasSuffix(location, "/") {
		location += "/"
	}
	return location + id + ext
}

// resultFile spools a result, as the engine hands it over, to a temporary file in Athena's
// result format (CSV, or text for DDL), so that no result is held in memory.
type resultFile struct {
	dir  string // "" for the system's temporary directory
	stmt string // the statement type; the execution's until Header says
	f    *os.File
	bw   *bufio.Writer
	buf  []byte
	size int64
	err  error // the first failure to write, which fails the query as Athena's S3 error does
}

// Header starts the file.
func (r *resultFile) Header(statementType string, cols []sqlengine.Column) error {
	if statementType != "" {
		r.stmt = statementType
	}
	if r.f != nil {
		return r.fail(errors.New("result header written twice"))
	}
	f, err := os.CreateTemp(r.dir, ".result-*.tmp")
	if err != nil {
		return r.fail(err)
	}
	r.f, r.bw = f, bufio.NewWriterSize(f, 64<<10)
	if r.text() {
		return nil
	}
	return r.write(appendCSVHeader(r.buf[:0], cols))
}

// Row appends one row.
func (r *resultFile) Row(values []*string) error {
	if r.text() {
		return r.write(appendTextRow(r.buf[:0], values))
	}
	return r.write(appendCSVRow(r.buf[:0], values))
}

func (r *resultFile) text() bool { return r.stmt == string(types.StatementTypeDdl) }

func (r *resultFile) write(b []byte) error {
	r.buf = b
	if r.err != nil {
		return r.err
	}
	n, err := r.bw.Write(b)
	r.size += int64(n)
	if err != nil {
		return r.fail(err)
	}
	return nil
}

func (r *resultFile) fail(err error) error {
	if r.err == nil {
		r.err = fmt.Errorf("spool result: %w", err)
	}
	return r.err
}

// body flushes the file and returns it from its start.
func (r *resultFile) body() (io.Reader, error) {
	if err := r.bw.Flush(); err != nil {
		return nil, r.fail(err)
	}
	if _, err := r.f.Seek(0, io.SeekStart); err != nil {
		return nil, r.fail(err)
	}
	return r.f, nil
}

// discard removes the file.
func (r *resultFile) discard() {
	if r.f != nil {
		r.f.Close()
		os.Remove(r.f.Name())
	}
}

// writeResults puts the result file where Athena would, with the statement type the engine
// reported; the execution's OutputLocation follows it.
func (s *Server) writeResults(ctx context.Context, id, location string, res *sqlengine.Result, rf *resultFile) error {
	if rf.f == nil {
		// An engine that reported no header: the result is empty.
		if err := res.Send(rf); err != nil {
			return err
		}
	}
	uri := resultLocation(location, id, rf.stmt)
	s.mu.Lock()
	s.execs[id].q.ResultConfiguration = &types.ResultConfiguration{OutputLocation: aws.String(uri)}
	s.mu.Unlock()

	contentType := "text/csv"
	if rf.text() {
		contentType = "text/plain"
	}
	bucket, key, err := s3uri.Parse(uri)
	if err != nil {
		return err
	}
	body, err := rf.body()
	if err != nil {
		return err
	}
	_, err = s.opts.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(bucket),
		Key:           aws.String(key),
		Body:          body,
		ContentLength: aws.Int64(rf.size),
		ContentType:   aws.String(contentType),
	})
	if err != nil {
		return fmt.Errorf("put object: %w", err)
	}
	return nil
}

// appendCSV writes results as Athena's result CSV: a header row, every value in double quotes
// with quotes doubled, NULL as an empty unquoted field, "\n" after every row.
func appendCSV(b []byte, cols []sqlengine.Column, rows [][]*string) []byte {
	b = appendCSVHeader(b, cols)
	for _, row := range rows {
		b = appendCSVRow(b, row)
	}
	return b
}

func appendCSVHeader(b []byte, cols []sqlengine.Column) []byte {
	for i, c := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendQuoted(b, c.Name)
	}
	if len(cols) > 0 {
		b = append(b, '\n')
	}
	return b
}

func appendCSVRow(b []byte, row []*string) []byte {
	for i, v := range row {
		if i > 0 {
			b = append(b, ',')
		}
		if v != nil {
			b = appendQuoted(b, *v)
		}
	}
	return append(b, '\n')
}

func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// appendTextRow writes a row of a DDL result as Athena does: no header, values separated by
// tabs.
func appendTextRow(b []byte, row []*string) []byte {
	for i, v := range row {
		if i > 0 {
			b = append(b, '\t')
		}
		if v != nil {
			b = append(b, *v...)
		}
	}
	return append(b, '\n')
}

// resultMeta is what GetQueryResults needs of a SUCCEEDED query to read its result file.
type resultMeta struct {
	cols []sqlengine.Column // nil for a result from query history: the file's header names them
	stmt string
	uri  string
}

// results returns where a SUCCEEDED query's result is, and its columns.
func (s *Server) results(id string) (resultMeta, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok, err := s.exec(id)
	if err != nil {
		return resultMeta{}, internalError(err.Error())
	}
	if !ok {
		return resultMeta{}, notFound(id)
	}
	state := types.QueryExecutionState("")
	if e.q.Status != nil {
		state = e.q.Status.State
	}
	switch state {
	case types.QueryExecutionStateSucceeded:
	case types.QueryExecutionStateQueued, types.QueryExecutionStateRunning:
		return resultMeta{}, invalidRequest("Query has not yet finished. Current state: %s", state)
	default:
		return resultMeta{}, invalidRequest("Query did not finish successfully. Final query state: %s", state)
	}
	m := resultMeta{cols: e.cols, stmt: string(e.q.StatementType)}
	if c := e.q.ResultConfiguration; c != nil {
		m.uri = aws.ToString(c.OutputLocation)
	}
	return m, nil
}

// resultReader reads a result file row by row from an offset, counting the bytes it reads.
type resultReader struct {
	body io.Closer
	br   *bufio.Reader
	off  int64 // offset in the file of the next unread byte
	line int   // line number, for errors, counted from where the reading started
	text bool
}

// openResult reads the result file bucket/key from byte off.
func (s *Server) openResult(ctx context.Context, bucket, key string, off int64) (*resultReader, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if off > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", off))
	}
	out, err := s.opts.S3.GetObject(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("get object: %w", err)
	}
	r := &resultReader{body: out.Body, br: bufio.NewReaderSize(out.Body, 64<<10), line: 1, text: strings.HasSuffix(key, ".txt")}
	if off > 0 && out.ContentRange == nil {
		// A store that ignores Range sends the whole object.
		if _, err := r.br.Discard(int(off)); err != nil && !errors.Is(err, io.EOF) {
			out.Body.Close()
			return nil, fmt.Errorf("read %s: %w", key, err)
		}
	}
	r.off = off
	return r, nil
}

func (r *resultReader) Close() error { return r.body.Close() }

// more reports whether a row follows.
func (r *resultReader) more() (bool, error) {
	_, err := r.br.Peek(1)
	if errors.Is(err, io.EOF) {
		return false, nil
	}
	return err == nil, err
}

// next returns the next row, or io.EOF after the last.
func (r *resultReader) next() ([]*string, error) {
	if more, err := r.more(); err != nil || !more {
		return nil, cmp.Or(err, io.EOF)
	}
	if !r.text {
		return r.csvRow()
	}
	line, err := r.br.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	r.off += int64(len(line))
	r.line++
	var row []*string
	for v := range strings.SplitSeq(strings.TrimSuffix(line, "\n"), "\t") {
		row = append(row, aws.String(v))
	}
	return row, nil
}

// parseCSV reads Athena's result CSV whole.
func parseCSV(b []byte) ([][]*string, error) {
	r := &resultReader{br: bufio.NewReader(bytes.NewReader(b)), line: 1}
	var rows [][]*string
	for {
		row, err := r.next()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
}

// csvRow reads a row of Athena's result CSV, telling NULL (an empty unquoted field) from the
// empty string (""), which encoding/csv cannot; at least one byte is left to read.
func (r *resultReader) csvRow() ([]*string, error) {
	var row []*string
	for {
		field, err := r.csvField()
		if err != nil {
			return nil, err
		}
		row = append(row, field)
		c, err := r.br.ReadByte()
		switch {
		case errors.Is(err, io.EOF):
			return row, nil
		case err != nil:
			return nil, err
		case c == ',':
			r.off++
			if more, err := r.more(); err != nil || !more {
				return append(row, nil), err
			}
		case c == '\n':
			r.off++
			r.line++
			return row, nil
		default:
			return nil, fmt.Errorf("line %d: unexpected %q after a quoted field", r.line, c)
		}
	}
}

func (r *resultReader) csvField() (*string, error) {
	var v []byte
	if b, err := r.br.Peek(1); err == nil && b[0] == '"' {
		_, _ = r.br.ReadByte() // the byte Peek returned: it cannot fail
		r.off++
		for {
			c, err := r.br.ReadByte()
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("line %d: unterminated quoted field", r.line)
			}
			if err != nil {
				return nil, err
			}
			r.off++
			if c == '"' {
				if b, err := r.br.Peek(1); err == nil && b[0] == '"' {
					_, _ = r.br.ReadByte() // the byte Peek returned: it cannot fail
					r.off++
					v = append(v, '"')
					continue
				}
				s := string(v)
				return &s, nil
			}
			if c == '\n' {
				r.line++
			}
			v = append(v, c)
		}
	}
	for {
		b, err := r.br.Peek(1)
		if errors.Is(err, io.EOF) || (err == nil && (b[0] == ',' || b[0] == '\n')) {
			break
		}
		if err != nil {
			return nil, err
		}
		c := b[0]
		_, _ = r.br.ReadByte() // the byte Peek returned: it cannot fail
		r.off++
		v = append(v, c)
	}
	if len(v) == 0 {
		return nil, nil
	}
	s := string(v)
	return &s, nil
}
