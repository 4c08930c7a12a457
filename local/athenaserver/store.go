package athenaserver

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/athenausage/athena-usage/local/history"
	"github.com/athenausage/athena-usage/local/sqlengine"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
)

// record is one line of the state file: an execution in the shape of the AWS CLI's
// get-query-execution output, plus what the stand-in needs to serve it again. The last line for
// an ID wins.
type record struct {
	QueryExecution     wireExecution      `json:"QueryExecution"`
	ClientRequestToken string             `json:"ClientRequestToken,omitempty"`
	Ran                bool               `json:"Ran,omitempty"`
	Columns            []sqlengine.Column `json:"Columns,omitempty"`
}

// persister appends records to the state file.
type persister struct {
	f *os.File
	w *bufio.Writer
}

// openPersister reads the state file in dir, rewrites it with one line per execution, and opens
// it for appending. A torn last line (a crash while writing) is dropped; any other bad line is
// an error naming it.
func openPersister(dir string) (*persister, []record, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("create state dir: %w", err)
	}
	path := filepath.Join(dir, stateFile)
	recs, err := readState(path)
	if err != nil {
		return nil, nil, err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return nil, nil, fmt.Errorf("rewrite state: %w", err)
	}
	w := bufio.NewWriter(f)
	for _, r := range recs {
		if err := writeRecord(w, r); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("rewrite state: %w", err)
		}
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		return nil, nil, fmt.Errorf("rewrite state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, nil, fmt.Errorf("rewrite state: %w", err)
	}
	f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("open state: %w", err)
	}
	return &persister{f: f, w: bufio.NewWriter(f)}, recs, nil
}

func readState(path string) ([]record, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	var (
		recs  []record
		index = map[string]int{}
		lines = bytes.Split(data, []byte("\n"))
	)
	for i, line := range lines {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r record
		if err := decodeStrict(line, &r); err != nil {
			if i == len(lines)-1 {
				break // torn write: the line never got its newline
			}
			return nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		id := aws.ToString(r.QueryExecution.QueryExecutionId)
		if id == "" {
			return nil, fmt.Errorf("%s:%d: no QueryExecutionId", path, i+1)
		}
		if j, ok := index[id]; ok {
			recs[j] = r
			continue
		}
		index[id] = len(recs)
		recs = append(recs, r)
	}
	return recs, nil
}

func writeRecord(w io.Writer, r record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// append writes one record and flushes it, so that a crash loses at most the line being written.
func (p *persister) append(r record) error {
	if err := writeRecord(p.w, r); err != nil {
		return fmt.Errorf("save execution: %w", err)
	}
	if err := p.w.Flush(); err != nil {
		return fmt.Errorf("save execution: %w", err)
	}
	return nil
}

func (p *persister) close() error {
	return errors.Join(p.w.Flush(), p.f.Close())
}

// save persists e; the caller holds s.mu.
func (s *Server) save(e *execution) error {
	if s.persist == nil {
		return nil
	}
	return s.persist.append(record{
		QueryExecution:     wireExecution(e.q),
		ClientRequestToken: e.token,
		Ran:                e.ran,
		Columns:            e.cols,
	})
}

// restore adds a saved execution. One this stand-in was running when its process ended can
// never finish, so it is marked FAILED.
func (s *Server) restore(r record) {
	e := &execution{q: types.QueryExecution(r.QueryExecution), token: r.ClientRequestToken, ran: r.Ran, cols: r.Columns}
	if e.ran && !terminal(e.q) {
		now := s.opts.Now()
		st := *e.q.Status
		st.State = types.QueryExecutionStateFailed
		st.CompletionDateTime = &now
		st.StateChangeReason = aws.String("The Athena stand-in stopped while the query was running.")
		st.AthenaError = &types.AthenaError{
			ErrorCategory: aws.Int32(1),
			ErrorType:     aws.Int32(100), // "Internal service error" in Athena's error catalog
			Retryable:     true,
			ErrorMessage:  st.StateChangeReason,
		}
		e.q.Status = &st
	}
	id := aws.ToString(e.q.QueryExecutionId)
	s.execs[id] = e
	s.addWorkgroup(e.q)
	if e.token != "" {
		s.tokens[e.token] = id
	}
}

// addWorkgroup makes the workgroup of a saved or historical execution known, so that
// ListQueryExecutions can list it; the caller holds s.mu.
func (s *Server) addWorkgroup(q types.QueryExecution) {
	if wg := aws.ToString(q.WorkGroup); wg != "" {
		if _, ok := s.workgroups[wg]; !ok {
			s.workgroups[wg] = Workgroup{Name: wg}
		}
	}
}

func terminal(q types.QueryExecution) bool {
	if q.Status == nil {
		return false
	}
	switch q.Status.State {
	case types.QueryExecutionStateSucceeded, types.QueryExecutionStateFailed, types.QueryExecutionStateCancelled:
		return true
	}
	return false
}

// LoadHistory adds the executions in a query-history file (JSON Lines of QueryExecution objects,
// see local/history) so that GetQueryExecution, BatchGetQueryExecution and
// ListQueryExecutions serve them like executions the stand-in ran, and saves them to Dir. An
// execution with the ID of one already known replaces it. It returns how many it loaded and the
// problems, each naming name:line; bad lines are skipped and the rest loaded.
func (s *Server) LoadHistory(r io.Reader, name string) (n int, problems []error) {
	qs, problems := history.Read(r, name)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range qs {
		id := aws.ToString(q.QueryExecutionId)
		if old, ok := s.execs[id]; ok && old.ran && !terminal(old.q) {
			problems = append(problems, fmt.Errorf("%s: query %s is running here; history entry skipped", name, id))
			continue
		}
		e := &execution{q: q}
		s.execs[id] = e
		s.addWorkgroup(q)
		s.dropResult(id)
		if err := s.save(e); err != nil {
			problems = append(problems, fmt.Errorf("%s: query %s: %w", name, id, err))
		}
		n++
	}
	return n, problems
}
