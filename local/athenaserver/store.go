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

// persister appends records to the state file, and reads back the lines of the executions
// served from it (histEntry).
type persister struct {
	f    *os.File
	w    *bufio.Writer
	size int64 // the file's length, where the next record starts
}

// openPersister compacts the state file in dir to one line per execution (the last for each
// ID), calls keep with each kept record and where its line lies in the compacted file, and opens
// it for appending. It streams the file twice, so that a state of a million executions is never
// held whole. A torn last line (a crash while writing) is dropped; any other bad line is an
// error naming it.
func openPersister(dir string, keep func(r record, off int64, n int)) (*persister, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	path := filepath.Join(dir, stateFile)
	kept, err := lastLines(path)
	if err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return nil, fmt.Errorf("rewrite state: %w", err)
	}
	w := bufio.NewWriter(f)
	var size int64
	err = scanState(path, func(i int, line []byte, _ bool) error {
		if !kept[i] {
			return nil
		}
		var r record
		if err := decodeStrict(line, &r); err != nil {
			return err // lastLines decoded it
		}
		keep(r, size, len(line))
		n, err := w.Write(append(line, '\n'))
		size += int64(n)
		return err
	})
	if err := errors.Join(err, w.Flush(), f.Close()); err != nil {
		return nil, fmt.Errorf("rewrite state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("rewrite state: %w", err)
	}
	f, err = os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open state: %w", err)
	}
	return &persister{f: f, w: bufio.NewWriter(f), size: size}, nil
}

// lastLines returns the numbers of the lines of the state file to keep: the last for each ID.
func lastLines(path string) ([]bool, error) {
	last := map[string]int{}
	lines := 0
	err := scanState(path, func(i int, line []byte, torn bool) error {
		lines = i
		var r record
		if err := decodeStrict(line, &r); err != nil {
			if torn {
				return nil // torn write: the line never got its newline
			}
			return fmt.Errorf("%s:%d: %w", path, i, err)
		}
		id := aws.ToString(r.QueryExecution.QueryExecutionId)
		if id == "" {
			return fmt.Errorf("%s:%d: no QueryExecutionId", path, i)
		}
		last[id] = i
		return nil
	})
	if err != nil {
		return nil, err
	}
	kept := make([]bool, lines+1)
	for _, i := range last {
		kept[i] = true
	}
	return kept, nil
}

// scanState calls fn with each non-blank line of the state file (numbered from 1, without its
// newline); torn is set for a last line with no newline. A missing file has no lines.
func scanState(path string, fn func(i int, line []byte, torn bool) error) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read state: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 256<<10)
	for i := 1; ; i++ {
		line, err := br.ReadBytes('\n')
		torn := err == io.EOF
		if err != nil && !torn {
			return fmt.Errorf("read state: %w", err)
		}
		if t := bytes.TrimSpace(line); len(t) > 0 {
			if err := fn(i, bytes.TrimSuffix(line, []byte("\n")), torn); err != nil {
				return err
			}
		}
		if torn {
			return nil
		}
	}
}

// append writes one record and flushes it, so that a crash loses at most the line being written.
// It returns where the line starts and its length without the newline.
func (p *persister) append(r record) (off int64, n int, err error) {
	b, err := json.Marshal(r)
	if err != nil {
		return 0, 0, fmt.Errorf("save execution: %w", err)
	}
	if _, err := p.w.Write(append(b, '\n')); err != nil {
		return 0, 0, fmt.Errorf("save execution: %w", err)
	}
	if err := p.w.Flush(); err != nil {
		return 0, 0, fmt.Errorf("save execution: %w", err)
	}
	off = p.size
	p.size += int64(len(b)) + 1
	return off, len(b), nil
}

// read returns the record of the n-byte line at off.
func (p *persister) read(off int64, n int) (record, error) {
	var r record
	b := make([]byte, n)
	if _, err := p.f.ReadAt(b, off); err != nil {
		return r, fmt.Errorf("read state at %d: %w", off, err)
	}
	if err := decodeStrict(b, &r); err != nil {
		return r, fmt.Errorf("read state at %d: %w", off, err)
	}
	return r, nil
}

func (p *persister) close() error {
	return errors.Join(p.w.Flush(), p.f.Close())
}

// histEntry locates an execution loaded from a query history in the state file. Such
// executions are served from their line there rather than held in memory, since a day's history
// can hold a million; what ListQueryExecutions needs is kept beside the offset.
// An entry is 24 bytes: a million of them, with their IDs and the map, take about 100 MB.
type histEntry struct {
	off       int64
	submitted int64
	n         uint32 // a line's length: an execution is far under 4 GiB (a query's text is at most 256 KB)
	workgroup uint32 // its name is Server.wgNames[workgroup]
}

// exec returns the execution id names: one this stand-in ran, held in memory, or a history
// entry read back from the state file (a copy: history entries are not changed in place); the
// caller holds s.mu.
func (s *Server) exec(id string) (*execution, bool, error) {
	if e, ok := s.execs[id]; ok {
		return e, true, nil
	}
	h, ok := s.hist[id]
	if !ok {
		return nil, false, nil
	}
	r, err := s.persist.read(h.off, int(h.n))
	if err != nil {
		return nil, false, err
	}
	return &execution{q: types.QueryExecution(r.QueryExecution), token: r.ClientRequestToken, cols: r.Columns}, true, nil
}

// index serves q, a history execution, from its line in the state file; the caller holds s.mu.
func (s *Server) index(q types.QueryExecution, off int64, n int) {
	id := aws.ToString(q.QueryExecutionId)
	name := aws.ToString(q.WorkGroup)
	wg, ok := s.wgs[name]
	if !ok {
		wg = uint32(len(s.wgNames))
		s.wgs[name] = wg
		s.wgNames = append(s.wgNames, name)
	}
	delete(s.execs, id)
	s.hist[id] = histEntry{off: off, n: uint32(n), submitted: submitted(q), workgroup: wg}
	s.addWorkgroup(q)
}

// save persists e; the caller holds s.mu.
func (s *Server) save(e *execution) error {
	if s.persist == nil {
		return nil
	}
	off, n, err := s.persist.append(record{
		QueryExecution:     wireExecution(e.q),
		ClientRequestToken: e.token,
		Ran:                e.ran,
		Columns:            e.cols,
	})
	if err != nil {
		return err
	}
	if id := aws.ToString(e.q.QueryExecutionId); !e.ran {
		if _, held := s.execs[id]; !held {
			s.index(e.q, off, n)
		}
	}
	return nil
}

// restore adds a saved execution, found at off in the state file: one loaded from a history is
// served from there; one this stand-in was running when its process ended can never finish, so
// it is marked FAILED.
func (s *Server) restore(r record, off int64, n int) {
	if !r.Ran && r.ClientRequestToken == "" && s.opts.Dir != "" {
		s.index(types.QueryExecution(r.QueryExecution), off, n)
		return
	}
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
	var skipped []error
	problems = history.ReadFunc(r, name, func(q types.QueryExecution) {
		s.mu.Lock()
		defer s.mu.Unlock()
		id := aws.ToString(q.QueryExecutionId)
		if old, ok := s.execs[id]; ok && old.ran && !terminal(old.q) {
			skipped = append(skipped, fmt.Errorf("%s: query %s is running here; history entry skipped", name, id))
			return
		}
		e := &execution{q: q}
		if s.persist == nil {
			s.execs[id] = e
			s.addWorkgroup(q)
		} else {
			// save indexes it: served from the state file from now on.
			delete(s.execs, id)
		}
		if err := s.save(e); err != nil {
			skipped = append(skipped, fmt.Errorf("%s: query %s: %w", name, id, err))
			return
		}
		n++
	})
	return n, append(problems, skipped...)
}
