package athenaserver

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/athenausage/athena-usage/local/sqlengine"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
)

func loadTestHistory(t *testing.T, s *Server) {
	t.Helper()
	f, err := os.Open("testdata/history.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, problems := s.LoadHistory(f, "history.jsonl")
	if n != 3 {
		t.Errorf("LoadHistory loaded %d executions, want 3", n)
	}
	if len(problems) != 1 || !strings.Contains(problems[0].Error(), "history.jsonl:3") {
		t.Errorf("LoadHistory problems = %v, want one naming history.jsonl:3", problems)
	}
}

func TestLoadHistory(t *testing.T) {
	s, c := start(t, Options{DisableQuotas: true}, noRetries)
	loadTestHistory(t, s)
	ctx := context.Background()

	got, err := c.GetQueryExecution(ctx, &athena.GetQueryExecutionInput{QueryExecutionId: aws.String("11111111-1111-4111-8111-111111111111")})
	if err != nil {
		t.Fatalf("GetQueryExecution: %v", err)
	}
	q := got.QueryExecution
	if want := time.Date(2026, 1, 1, 0, 0, 0, 500e6, time.UTC); !q.Status.SubmissionDateTime.Equal(want) {
		t.Errorf("SubmissionDateTime (epoch seconds) = %v, want %v", q.Status.SubmissionDateTime, want)
	}
	if got := aws.ToInt64(q.Statistics.DataScannedInBytes); got != 1073741824 {
		t.Errorf("DataScannedInBytes = %d, want 1073741824", got)
	}
	if got := aws.ToInt64(q.Statistics.QueryPlanningTimeInMillis); got != 900 {
		t.Errorf("QueryPlanningTimeInMillis = %d, want 900", got)
	}

	batch, err := c.BatchGetQueryExecution(ctx, &athena.BatchGetQueryExecutionInput{QueryExecutionIds: []string{
		"22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333", "44444444-4444-4444-8444-444444444444",
	}})
	if err != nil {
		t.Fatalf("BatchGetQueryExecution: %v", err)
	}
	if len(batch.QueryExecutions) != 2 || len(batch.UnprocessedQueryExecutionIds) != 1 {
		t.Fatalf("BatchGetQueryExecution = %d executions, %d unprocessed; want 2 and the bad line's ID", len(batch.QueryExecutions), len(batch.UnprocessedQueryExecutionIds))
	}
	failed := batch.QueryExecutions[0]
	if want := time.Date(2026, 1, 1, 1, 0, 1, 500e6, time.UTC); !failed.Status.CompletionDateTime.Equal(want) {
		t.Errorf("CompletionDateTime (ISO 8601) = %v, want %v", failed.Status.CompletionDateTime, want)
	}
	if ae := failed.Status.AthenaError; ae == nil || aws.ToInt32(ae.ErrorType) != 1301 {
		t.Errorf("AthenaError = %+v, want ErrorType 1301", ae)
	}

	list, err := c.ListQueryExecutions(ctx, &athena.ListQueryExecutionsInput{WorkGroup: aws.String("analysts")})
	if err != nil {
		t.Fatalf("ListQueryExecutions(analysts): %v", err)
	}
	if got := strings.Join(list.QueryExecutionIds, ","); got != "44444444-4444-4444-8444-444444444444" {
		t.Errorf("ListQueryExecutions(analysts) = %s, want the CLI-wrapped execution", got)
	}
	list, err = c.ListQueryExecutions(ctx, &athena.ListQueryExecutionsInput{})
	if err != nil {
		t.Fatalf("ListQueryExecutions: %v", err)
	}
	if got, want := strings.Join(list.QueryExecutionIds, ","), "22222222-2222-4222-8222-222222222222,11111111-1111-4111-8111-111111111111"; got != want {
		t.Errorf("ListQueryExecutions(primary) = %s, want %s (newest first)", got, want)
	}
}

func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	fs3 := newFakeS3()
	slowRunning := make(chan struct{})
	engine := &fakeEngine{execute: func(ctx context.Context, _, sql string) (*sqlengine.Result, error) {
		if sql == "SELECT slow()" {
			close(slowRunning)
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return selectResult(5), nil
	}}
	token := strings.Repeat("t", 40)

	s1, c1 := start(t, Options{Dir: dir, S3: fs3, Engine: engine, DisableQuotas: true}, noRetries)
	ctx := context.Background()
	out, err := c1.StartQueryExecution(ctx, &athena.StartQueryExecutionInput{QueryString: aws.String("SELECT name, n FROM t"), ClientRequestToken: aws.String(token)})
	if err != nil {
		t.Fatalf("StartQueryExecution: %v", err)
	}
	id := aws.ToString(out.QueryExecutionId)
	before := wait(t, c1, id)
	slow := startQuery(t, c1, "SELECT slow()")
	<-slowRunning // the engine has it: Close must fail it, not find it still queued
	loadTestHistory(t, s1)
	if err := s1.Close(); err != nil { // the slow query is still running
		t.Fatalf("Close: %v", err)
	}

	_, c2 := start(t, Options{Dir: dir, S3: fs3, Engine: engine, DisableQuotas: true}, noRetries)
	got, err := c2.GetQueryExecution(ctx, &athena.GetQueryExecutionInput{QueryExecutionId: aws.String(id)})
	if err != nil {
		t.Fatalf("GetQueryExecution after restart: %v", err)
	}
	after := got.QueryExecution
	if after.Status.State != types.QueryExecutionStateSucceeded || !after.Status.CompletionDateTime.Equal(*before.Status.CompletionDateTime) ||
		aws.ToInt64(after.Statistics.DataScannedInBytes) != aws.ToInt64(before.Statistics.DataScannedInBytes) {
		t.Errorf("after restart: %s completed %v scanned %d; before: %s %v %d", after.Status.State, after.Status.CompletionDateTime, aws.ToInt64(after.Statistics.DataScannedInBytes),
			before.Status.State, before.Status.CompletionDateTime, aws.ToInt64(before.Statistics.DataScannedInBytes))
	}

	if q := wait(t, c2, slow); q.Status.State != types.QueryExecutionStateFailed || aws.ToString(q.Status.StateChangeReason) != reasonShutDown {
		t.Errorf("query running at shutdown: %s %q, want FAILED %q", q.Status.State, aws.ToString(q.Status.StateChangeReason), reasonShutDown)
	}

	// The results come back from the result file, with the column types saved.
	res, err := c2.GetQueryResults(ctx, &athena.GetQueryResultsInput{QueryExecutionId: aws.String(id)})
	if err != nil {
		t.Fatalf("GetQueryResults after restart: %v", err)
	}
	rows := res.ResultSet.Rows
	if len(rows) != 6 || aws.ToString(rows[0].Data[1].VarCharValue) != "n" || rows[1].Data[0].VarCharValue != nil || aws.ToString(rows[2].Data[0].VarCharValue) != `row "1", ok` {
		t.Errorf("GetQueryResults after restart = %d rows: %s", len(rows), renderRows(rows))
	}
	if typ := aws.ToString(res.ResultSet.ResultSetMetadata.ColumnInfo[1].Type); typ != "bigint" {
		t.Errorf("column n type after restart = %q, want bigint", typ)
	}

	again, err := c2.StartQueryExecution(ctx, &athena.StartQueryExecutionInput{QueryString: aws.String("SELECT name, n FROM t"), ClientRequestToken: aws.String(token)})
	if err != nil || aws.ToString(again.QueryExecutionId) != id {
		t.Errorf("token reused after restart: %v, %v; want %s", again, err, id)
	}

	if _, err := c2.GetQueryExecution(ctx, &athena.GetQueryExecutionInput{QueryExecutionId: aws.String("44444444-4444-4444-8444-444444444444")}); err != nil {
		t.Errorf("history execution after restart: %v", err)
	}
	if n := engine.callCount(); n != 2 {
		t.Errorf("engine ran %d times, want 2 (nothing re-run after restart)", n)
	}
}

func renderRows(rows []types.Row) string {
	var b strings.Builder
	for _, r := range rows {
		for _, d := range r.Data {
			if d.VarCharValue == nil {
				b.WriteString("NULL|")
			} else {
				b.WriteString(*d.VarCharValue + "|")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestStateFileErrors(t *testing.T) {
	tests := []struct {
		name, content string
		wantErr       string // "" when New must succeed
		wantIDs       int
	}{
		{"torn last line", `{"QueryExecution":{"QueryExecutionId":"a","Status":{"State":"SUCCEEDED"}}}` + "\n" + `{"QueryExecution":{"Quer`, "", 1},
		{"bad middle line", "{\n" + `{"QueryExecution":{"QueryExecutionId":"a"}}` + "\n", "executions.jsonl:1", 0},
		{"no ID", `{"QueryExecution":{"Query":"SELECT 1"}}` + "\n", "executions.jsonl:1: no QueryExecutionId", 0},
		{"last line wins", `{"QueryExecution":{"QueryExecutionId":"a","Status":{"State":"RUNNING"}}}` + "\n" + `{"QueryExecution":{"QueryExecutionId":"a","Status":{"State":"SUCCEEDED"}}}` + "\n", "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, stateFile), []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := New(Options{Dir: dir, S3: newFakeS3(), Engine: &fakeEngine{}})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("New = %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer s.Close()
			// Executions from a history are served from the state file (s.hist), the others
			// held in memory (s.execs).
			var ids []string
			for id := range s.execs {
				ids = append(ids, id)
			}
			for id := range s.hist {
				ids = append(ids, id)
			}
			if len(ids) != tt.wantIDs {
				t.Errorf("New loaded %d executions, want %d", len(ids), tt.wantIDs)
			}
			for _, id := range ids {
				e, ok, err := s.exec(id)
				if !ok || err != nil {
					t.Fatalf("exec(%s) = %v, %v; want the execution", id, ok, err)
				}
				if e.q.Status.State != types.QueryExecutionStateSucceeded {
					t.Errorf("execution %s state = %s, want SUCCEEDED", id, e.q.Status.State)
				}
			}
		})
	}
}

func TestNewOptionErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no engine", Options{S3: newFakeS3()}, "no Engine"},
		{"no S3", Options{Engine: &fakeEngine{}}, "no S3"},
		{"bad workgroup location", Options{Engine: &fakeEngine{}, S3: newFakeS3(), Workgroups: []Workgroup{{Name: "w", OutputLocation: "bucket/x"}}}, "workgroup w"},
	}
	for _, tt := range tests {
		_, err := New(tt.opts)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%s) = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

// TestHistoryServedFromState checks that history executions are not held in memory but read
// back from the state file, by this Server and by a later one on the same Dir.
func TestHistoryServedFromState(t *testing.T) {
	dir := t.TempDir()
	for round := range 2 {
		s, c := start(t, Options{Dir: dir, DisableQuotas: true}, noRetries)
		if round == 0 {
			loadTestHistory(t, s)
		}
		s.mu.Lock()
		held, indexed := len(s.execs), len(s.hist)
		s.mu.Unlock()
		if held != 0 || indexed != 3 {
			t.Errorf("round %d: %d executions held, %d indexed; want 0 and 3", round, held, indexed)
		}
		id := "11111111-1111-4111-8111-111111111111"
		got, err := c.GetQueryExecution(context.Background(), &athena.GetQueryExecutionInput{QueryExecutionId: aws.String(id)})
		if err != nil {
			t.Fatalf("round %d: GetQueryExecution: %v", round, err)
		}
		if got := aws.ToInt64(got.QueryExecution.Statistics.DataScannedInBytes); got != 1073741824 {
			t.Errorf("round %d: DataScannedInBytes = %d, want 1073741824", round, got)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
