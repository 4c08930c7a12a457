package athenaserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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
	o.res, o.err = s.opts.Engine.Execute(ctx, database, sql)
	o.engineDone = s.opts.Now()
	if o.err == nil {
		if err := s.writeResults(ctx, id, location, o.res); err != nil {
			o.err = &sqlengine.Error{Category: 1, Type: errTypeS3Results, Msg: "Error writing query results to " + location + ": " + err.Error()}
			o.res = nil
		}
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
		e.result = o.res
		s.cacheResult(id)
	}
	e.q.Status = &st
	if err := s.save(e); err != nil {
		s.opts.Logger.Error("save finished query", "query_execution_id", id, "error", err)
	}
}

// cacheResult records that id's result is in memory and drops the oldest beyond the cache size;
// those are read back from S3 when asked for.
func (s *Server) cacheResult(id string) {
	s.cached = append(s.cached, id)
	for len(s.cached) > resultCacheSize {
		if e, ok := s.execs[s.cached[0]]; ok {
			e.result = nil
		}
		s.cached = s.cached[1:]
	}
}

func (s *Server) dropResult(id string) {
	for i, c := range s.cached {
		if c == id {
			s.cached = append(s.cached[:i], s.cached[i+1:]...)
			return
		}
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

// writeResults puts the result file where Athena would, with the statement type the engine
// reported; the execution's OutputLocation follows it.
func (s *Server) writeResults(ctx context.Context, id, location string, res *sqlengine.Result) error {
	stmt := res.StatementType
	s.mu.Lock()
	if stmt == "" {
		stmt = string(s.execs[id].q.StatementType)
	}
	uri := resultLocation(location, id, stmt)
	s.execs[id].q.ResultConfiguration = &types.ResultConfiguration{OutputLocation: aws.String(uri)}
	s.mu.Unlock()

	var body []byte
	contentType := "text/csv"
	if stmt == string(types.StatementTypeDdl) {
		body = appendText(nil, res.Rows)
		contentType = "text/plain"
	} else {
		body = appendCSV(nil, res.Columns, res.Rows)
	}
	bucket, key, err := s3uri.Parse(uri)
	if err != nil {
		return err
	}
	_, err = s.opts.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
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
	for i, c := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendQuoted(b, c.Name)
	}
	if len(cols) > 0 {
		b = append(b, '\n')
	}
	for _, row := range rows {
		for i, v := range row {
			if i > 0 {
				b = append(b, ',')
			}
			if v != nil {
				b = appendQuoted(b, *v)
			}
		}
		b = append(b, '\n')
	}
	return b
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

// appendText writes DDL results as Athena does: no header, values separated by tabs.
func appendText(b []byte, rows [][]*string) []byte {
	for _, row := range rows {
		for i, v := range row {
			if i > 0 {
				b = append(b, '\t')
			}
			if v != nil {
				b = append(b, *v...)
			}
		}
		b = append(b, '\n')
	}
	return b
}

// results returns a SUCCEEDED query's result, from memory or read back from its result file.
func (s *Server) results(ctx context.Context, id string) (*sqlengine.Result, *apiError) {
	s.mu.Lock()
	e, ok, err := s.exec(id)
	if err != nil {
		s.mu.Unlock()
		return nil, internalError(err.Error())
	}
	if !ok {
		s.mu.Unlock()
		return nil, notFound(id)
	}
	state := types.QueryExecutionState("")
	if e.q.Status != nil {
		state = e.q.Status.State
	}
	res, cols, stmt := e.result, e.cols, string(e.q.StatementType)
	uri := ""
	if c := e.q.ResultConfiguration; c != nil {
		uri = aws.ToString(c.OutputLocation)
	}
	s.mu.Unlock()
	switch state {
	case types.QueryExecutionStateSucceeded:
	case types.QueryExecutionStateQueued, types.QueryExecutionStateRunning:
		return nil, invalidRequest("Query has not yet finished. Current state: %s", state)
	default:
		return nil, invalidRequest("Query did not finish successfully. Final query state: %s", state)
	}
	if res != nil {
		return res, nil
	}
	res, err = s.readResults(ctx, uri, stmt, cols)
	if err != nil {
		return nil, invalidRequest("results of query %s are not available: %v", id, err)
	}
	return res, nil
}

func (s *Server) readResults(ctx context.Context, uri, stmt string, cols []sqlengine.Column) (*sqlengine.Result, error) {
	bucket, key, err := s3uri.Parse(uri)
	if err != nil {
		return nil, err
	}
	out, err := s.opts.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("get object: %w", err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", uri, err)
	}
	res := &sqlengine.Result{StatementType: stmt, Columns: cols}
	if strings.HasSuffix(key, ".txt") {
		for line := range strings.SplitSeq(strings.TrimSuffix(string(body), "\n"), "\n") {
			var row []*string
			for v := range strings.SplitSeq(line, "\t") {
				row = append(row, aws.String(v))
			}
			res.Rows = append(res.Rows, row)
		}
		if len(body) == 0 {
			res.Rows = nil
		}
		return res, nil
	}
	rows, err := parseCSV(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", uri, err)
	}
	if len(rows) > 0 {
		if res.Columns == nil {
			// A result file from elsewhere (query history): its header names the columns;
			// their types are unknown.
			for _, name := range rows[0] {
				res.Columns = append(res.Columns, sqlengine.Column{Name: aws.ToString(name), Type: "varchar"})
			}
		}
		res.Rows = rows[1:]
	}
	return res, nil
}

// parseCSV reads Athena's result CSV, telling NULL (an empty unquoted field) from the empty
// string (""), which encoding/csv cannot.
func parseCSV(b []byte) ([][]*string, error) {
	var (
		rows [][]*string
		row  []*string
		line = 1
	)
	for i := 0; i < len(b); {
		var field *string
		if b[i] == '"' {
			var v []byte
			i++
			for {
				if i >= len(b) {
					return nil, fmt.Errorf("line %d: unterminated quoted field", line)
				}
				c := b[i]
				i++
				if c == '"' {
					if i < len(b) && b[i] == '"' {
						v = append(v, '"')
						i++
						continue
					}
					break
				}
				if c == '\n' {
					line++
				}
				v = append(v, c)
			}
			s := string(v)
			field = &s
		} else {
			j := i
			for j < len(b) && b[j] != ',' && b[j] != '\n' {
				j++
			}
			if j > i {
				s := string(b[i:j])
				field = &s
			}
			i = j
		}
		row = append(row, field)
		switch {
		case i >= len(b):
			rows = append(rows, row)
		case b[i] == ',':
			i++
			if i == len(b) {
				rows = append(rows, append(row, nil))
			}
		case b[i] == '\n':
			i++
			line++
			rows = append(rows, row)
			row = nil
		default:
			return nil, fmt.Errorf("line %d: unexpected %q after a quoted field", line, b[i])
		}
	}
	return rows, nil
}
