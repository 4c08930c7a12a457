package athenaquery

import (
	"context"
	"errors"
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
