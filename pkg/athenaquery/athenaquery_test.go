package athenaquery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
)

// fakeAthena hands out scripted states, one per GetQueryExecution call.
type fakeAthena struct {
	mu      sync.Mutex
	states  []types.QueryExecutionState
	reason  string
	starts  []*athena.StartQueryExecutionInput
	gets    int
	startFn func(*athena.StartQueryExecutionInput) error
}

func (f *fakeAthena) StartQueryExecution(_ context.Context, in *athena.StartQueryExecutionInput, _ ...func(*athena.Options)) (*athena.StartQueryExecutionOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts = append(f.starts, in)
	if f.startFn != nil {
		if err := f.startFn(in); err != nil {
			return nil, err
		}
	}
	return &athena.StartQueryExecutionOutput{QueryExecutionId: aws.String("q-1")}, nil
}

func (f *fakeAthena) GetQueryExecution(_ context.Context, in *athena.GetQueryExecutionInput, _ ...func(*athena.Options)) (*athena.GetQueryExecutionOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	state := f.states[min(f.gets, len(f.states)-1)]
	f.gets++
	status := &types.QueryExecutionStatus{State: state}
	if f.reason != "" {
		status.StateChangeReason = aws.String(f.reason)
		status.AthenaError = &types.AthenaError{ErrorCategory: aws.Int32(2), ErrorType: aws.Int32(1006)}
	}
	return &athena.GetQueryExecutionOutput{QueryExecution: &types.QueryExecution{
		QueryExecutionId: in.QueryExecutionId,
		Status:           status,
	}}, nil
}

func newRunner(f *fakeAthena, waits *[]time.Duration) *Runner {
	return New(f, func(o *Options) {
		o.Workgroup = "wg"
		o.Sleep = func(ctx context.Context, d time.Duration) error {
			*waits = append(*waits, d)
			return ctx.Err()
		}
	})
}

func TestRunSucceedsWithBackoff(t *testing.T) {
	f := &fakeAthena{states: []types.QueryExecutionState{"QUEUED", "RUNNING", "RUNNING", "RUNNING", "RUNNING", "RUNNING", "SUCCEEDED"}}
	var waits []time.Duration
	q, err := newRunner(f, &waits).Run(context.Background(), Query{SQL: "SELECT 1", Database: "db", Token: Token("a", "b")})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := aws.ToString(q.QueryExecutionId); got != "q-1" {
		t.Errorf("Run() id = %q, want q-1", got)
	}
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	if len(waits) != len(want) {
		t.Fatalf("waits = %v, want %v", waits, want)
	}
	for i := range want {
		if waits[i] != want[i] {
			t.Errorf("wait %d = %v, want %v", i, waits[i], want[i])
		}
	}
	in := f.starts[0]
	if aws.ToString(in.WorkGroup) != "wg" || aws.ToString(in.QueryExecutionContext.Database) != "db" || len(aws.ToString(in.ClientRequestToken)) != 64 {
		t.Errorf("start input = %+v, want workgroup wg, database db and a 64-character token", in)
	}
}

func TestRunFailedCarriesReason(t *testing.T) {
	for _, state := range []types.QueryExecutionState{"FAILED", "CANCELLED"} {
		t.Run(string(state), func(t *testing.T) {
			f := &fakeAthena{states: []types.QueryExecutionState{"RUNNING", state}, reason: "TABLE_NOT_FOUND: line 1:15: Table 'db.t' does not exist"}
			var waits []time.Duration
			_, err := newRunner(f, &waits).Run(context.Background(), Query{SQL: "SELECT * FROM t"})
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("Run() error = %v, want *Error", err)
			}
			if qe.State != state || !strings.Contains(err.Error(), "TABLE_NOT_FOUND") || qe.Category != 2 {
				t.Errorf("Run() error = %+v, want state %s with Athena's reason and category", qe, state)
			}
		})
	}
}

func TestRunRespectsDeadline(t *testing.T) {
	f := &fakeAthena{states: []types.QueryExecutionState{"RUNNING"}}
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	r := New(f, func(o *Options) {
		o.Sleep = func(ctx context.Context, d time.Duration) error {
			calls++
			if calls == 3 {
				cancel()
			}
			return ctx.Err()
		}
	})
	_, err := r.Run(ctx, Query{SQL: "SELECT 1"})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "q-1") {
		t.Errorf("Run() error = %v, want context.Canceled naming the query", err)
	}
}

func TestRunStartError(t *testing.T) {
	f := &fakeAthena{startFn: func(*athena.StartQueryExecutionInput) error {
		return &types.InvalidRequestException{Message: aws.String("bad")}
	}}
	var waits []time.Duration
	_, err := newRunner(f, &waits).Run(context.Background(), Query{SQL: "SELECT"})
	var ire *types.InvalidRequestException
	if !errors.As(err, &ire) {
		t.Errorf("Run() error = %v, want *types.InvalidRequestException", err)
	}
}

func TestToken(t *testing.T) {
	a, b := Token("2024-03-05", "SELECT 1"), Token("2024-03-06", "SELECT 1")
	if a == b || a != Token("2024-03-05", "SELECT 1") {
		t.Errorf("Token is not a function of its parts: %s %s", a, b)
	}
	if Token("ab", "c") == Token("a", "bc") {
		t.Error("Token(ab, c) = Token(a, bc), want parts kept apart")
	}
}

// tokenAthena remembers executions by token, as Athena does, and finishes each at once with the
// state and completion time its script gives.
type tokenAthena struct {
	mu     sync.Mutex
	byTok  map[string]string
	final  map[string]types.QueryExecutionStatus
	script func(n int) types.QueryExecutionStatus
	starts []string
}

func (f *tokenAthena) StartQueryExecution(_ context.Context, in *athena.StartQueryExecutionInput, _ ...func(*athena.Options)) (*athena.StartQueryExecutionOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tok := aws.ToString(in.ClientRequestToken)
	f.starts = append(f.starts, tok)
	if id, ok := f.byTok[tok]; ok {
		return &athena.StartQueryExecutionOutput{QueryExecutionId: aws.String(id)}, nil
	}
	id := fmt.Sprintf("q-%d", len(f.byTok)+1)
	f.byTok[tok] = id
	f.final[id] = f.script(len(f.byTok))
	return &athena.StartQueryExecutionOutput{QueryExecutionId: aws.String(id)}, nil
}

func (f *tokenAthena) GetQueryExecution(_ context.Context, in *athena.GetQueryExecutionInput, _ ...func(*athena.Options)) (*athena.GetQueryExecutionOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.final[aws.ToString(in.QueryExecutionId)]
	return &athena.GetQueryExecutionOutput{QueryExecution: &types.QueryExecution{QueryExecutionId: in.QueryExecutionId, Status: &st}}, nil
}

func TestRunRetriesAFailureFromAnEarlierCall(t *testing.T) {
	now := time.Date(2024, 3, 6, 2, 0, 0, 0, time.UTC)
	earlier, later := now.Add(-time.Minute), now.Add(time.Second)
	failed := func(at time.Time) types.QueryExecutionStatus {
		return types.QueryExecutionStatus{State: types.QueryExecutionStateFailed, CompletionDateTime: &at, StateChangeReason: aws.String("GENERIC_INTERNAL_ERROR: S3 SlowDown")}
	}
	succeeded := types.QueryExecutionStatus{State: types.QueryExecutionStateSucceeded, CompletionDateTime: &later}
	tests := []struct {
		name      string
		script    func(n int) types.QueryExecutionStatus
		wantID    string
		wantErr   bool
		wantStart int
	}{
		{"failed before this call: started again", func(n int) types.QueryExecutionStatus {
			if n == 1 {
				return failed(earlier)
			}
			return succeeded
		}, "q-2", false, 2},
		{"failed during this call: reported", func(int) types.QueryExecutionStatus { return failed(later) }, "q-1", true, 1},
		{"fails again: reported once", func(int) types.QueryExecutionStatus { return failed(earlier) }, "q-2", true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &tokenAthena{byTok: map[string]string{}, final: map[string]types.QueryExecutionStatus{}, script: tt.script}
			r := New(f, func(o *Options) {
				o.Now = func() time.Time { return now }
				o.Sleep = func(context.Context, time.Duration) error { return nil }
			})
			q, err := r.Run(context.Background(), Query{SQL: "SELECT 1", Token: Token("day")})
			if (err != nil) != tt.wantErr || aws.ToString(q.QueryExecutionId) != tt.wantID || len(f.starts) != tt.wantStart {
				t.Errorf("Run() = %s, %v after %d starts, want %s, error %v after %d", aws.ToString(q.QueryExecutionId), err, len(f.starts), tt.wantID, tt.wantErr, tt.wantStart)
			}
			if len(f.starts) == 2 && f.starts[1] == f.starts[0] {
				t.Error("second start reused the first token, want a new one")
			}
		})
	}
}
