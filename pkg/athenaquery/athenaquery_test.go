package athenaquery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// fakeAthena answers each call through its function field and records it, with the time it
// came: under synctest, the bubble's fake clock.
type fakeAthena struct {
	mu sync.Mutex
	// startFn returns the new execution's ID; nil starts every query as q-1.
	startFn func(in *athena.StartQueryExecutionInput) (string, error)
	// getFn answers the nth GetQueryExecution (from 0).
	getFn  func(id string, n int) (types.QueryExecutionStatus, error)
	stopFn func(id string) error

	starts []*athena.StartQueryExecutionInput
	gets   []time.Time
	stops  []stopCall
}

// stopCall is one StopQueryExecution: the query, whether its context was already done, and the
// time its deadline left it.
type stopCall struct {
	id     string
	ctxErr error
	left   time.Duration
}

var _ API = (*fakeAthena)(nil)

func (f *fakeAthena) StartQueryExecution(_ context.Context, in *athena.StartQueryExecutionInput, _ ...func(*athena.Options)) (*athena.StartQueryExecutionOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts = append(f.starts, in)
	id := "q-1"
	if f.startFn != nil {
		var err error
		if id, err = f.startFn(in); err != nil {
			return nil, err
		}
	}
	return &athena.StartQueryExecutionOutput{QueryExecutionId: aws.String(id)}, nil
}

func (f *fakeAthena) GetQueryExecution(_ context.Context, in *athena.GetQueryExecutionInput, _ ...func(*athena.Options)) (*athena.GetQueryExecutionOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets = append(f.gets, time.Now())
	st, err := f.getFn(aws.ToString(in.QueryExecutionId), len(f.gets)-1)
	if err != nil {
		return nil, err
	}
	return &athena.GetQueryExecutionOutput{QueryExecution: &types.QueryExecution{
		QueryExecutionId: in.QueryExecutionId,
		Status:           &st,
	}}, nil
}

func (f *fakeAthena) StopQueryExecution(ctx context.Context, in *athena.StopQueryExecutionInput, _ ...func(*athena.Options)) (*athena.StopQueryExecutionOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := stopCall{id: aws.ToString(in.QueryExecutionId), ctxErr: ctx.Err()}
	if d, ok := ctx.Deadline(); ok {
		c.left = time.Until(d)
	}
	f.stops = append(f.stops, c)
	if f.stopFn != nil {
		return nil, f.stopFn(c.id)
	}
	return &athena.StopQueryExecutionOutput{}, nil
}

// waits are the intervals before each GetQueryExecution, the first measured from start.
func (f *fakeAthena) waits(start time.Time) []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	var w []time.Duration
	for _, t := range f.gets {
		w = append(w, t.Sub(start))
		start = t
	}
	return w
}

// states answers the polls with the given states in turn, the last one from then on.
func states(ss ...types.QueryExecutionState) func(string, int) (types.QueryExecutionStatus, error) {
	return func(_ string, n int) (types.QueryExecutionStatus, error) {
		return types.QueryExecutionStatus{State: ss[min(n, len(ss)-1)]}, nil
	}
}

func withWorkgroup(o *Options) { o.Workgroup = "wg" }

func TestRunPollsWithBackoff(t *testing.T) {
	ms := time.Millisecond
	defaults := []time.Duration{250 * ms, 500 * ms, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	tests := []struct {
		name string
		opts func(*Options)
		want []time.Duration
	}{
		{"defaults", func(*Options) {}, defaults},
		{"zero means default", func(o *Options) { o.FirstPoll, o.MaxPoll = 0, 0 }, defaults},
		{"tuned", func(o *Options) { o.FirstPoll, o.MaxPoll = 10*ms, 40*ms }, []time.Duration{10 * ms, 20 * ms, 40 * ms, 40 * ms, 40 * ms, 40 * ms, 40 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeAthena{getFn: states("QUEUED", "RUNNING", "RUNNING", "RUNNING", "RUNNING", "RUNNING", "SUCCEEDED")}
				start := time.Now()
				q, err := New(f, withWorkgroup, tt.opts).Run(context.Background(), Query{SQL: "SELECT 1", Database: "db", Token: Token("a", "b")})
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				if got := aws.ToString(q.QueryExecutionId); got != "q-1" {
					t.Errorf("Run() id = %q, want q-1", got)
				}
				if got := f.waits(start); fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Errorf("waits = %v, want %v", got, tt.want)
				}
				in := f.starts[0]
				if aws.ToString(in.WorkGroup) != "wg" || aws.ToString(in.QueryExecutionContext.Database) != "db" || len(aws.ToString(in.ClientRequestToken)) != 64 {
					t.Errorf("start input = %+v, want workgroup wg, database db and a 64-character token", in)
				}
			})
		})
	}
}

func TestRunFailedCarriesReason(t *testing.T) {
	for _, state := range []types.QueryExecutionState{"FAILED", "CANCELLED"} {
		t.Run(string(state), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeAthena{getFn: func(_ string, n int) (types.QueryExecutionStatus, error) {
					st := types.QueryExecutionStatus{State: "RUNNING"}
					if n > 0 {
						st.State = state
						st.StateChangeReason = aws.String("TABLE_NOT_FOUND: line 1:15: Table 'db.t' does not exist")
						st.AthenaError = &types.AthenaError{ErrorCategory: aws.Int32(2), ErrorType: aws.Int32(1006)}
					}
					return st, nil
				}}
				_, err := New(f).Run(context.Background(), Query{SQL: "SELECT * FROM t"})
				var qe *Error
				if !errors.As(err, &qe) {
					t.Fatalf("Run() error = %v, want *Error", err)
				}
				if qe.State != state || !strings.Contains(err.Error(), "TABLE_NOT_FOUND") || qe.Category != 2 {
					t.Errorf("Run() error = %+v, want state %s with Athena's reason and category", qe, state)
				}
			})
		})
	}
}

// Errors as the SDK returns them once its own retries are spent.
var (
	errThrottled = &types.TooManyRequestsException{Message: aws.String("Rate exceeded")}
	errServer    = &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusInternalServerError}},
		Err:      &types.InternalServerException{Message: aws.String("internal error")},
	}
	errUnavailable = &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusServiceUnavailable}},
		Err:      errors.New("service unavailable"),
	}
	errNetwork = &smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	errInvalid = &types.InvalidRequestException{Message: aws.String("QueryExecution q-1 was not found")}
)

// failing fails the first n polls with err, then answers RUNNING once and SUCCEEDED after.
func failing(n int, err error) func(string, int) (types.QueryExecutionStatus, error) {
	return func(_ string, i int) (types.QueryExecutionStatus, error) {
		switch {
		case i < n:
			return types.QueryExecutionStatus{}, err
		case i == n:
			return types.QueryExecutionStatus{State: "RUNNING"}, nil
		}
		return types.QueryExecutionStatus{State: "SUCCEEDED"}, nil
	}
}

func TestRunRetriesTransientPollErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"throttled", errThrottled},
		{"internal server error", errServer},
		{"service unavailable", errUnavailable},
		{"connection refused", errNetwork},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeAthena{getFn: failing(2, tt.err)}
				start := time.Now()
				q, err := New(f).Run(context.Background(), Query{SQL: "SELECT 1"})
				if err != nil || q.Status.State != "SUCCEEDED" {
					t.Fatalf("Run() = %v, %v, want SUCCEEDED after two failed polls", q, err)
				}
				// The failed polls keep to the backoff: no faster polling while Athena struggles.
				want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second}
				if got := f.waits(start); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("waits = %v, want %v", got, want)
				}
				if len(f.stops) != 0 {
					t.Errorf("stopped %v, want the query left alone", f.stops)
				}
			})
		})
	}
}

func TestRunPollErrorsThatEndTheWait(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantGets int
	}{
		{"permanent: at once", errInvalid, 1},
		{"transient: after maxPollErrors in a row", errThrottled, maxPollErrors + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeAthena{getFn: failing(1000, tt.err)}
				_, err := New(f).Run(context.Background(), Query{SQL: "SELECT 1"})
				if !errors.Is(err, tt.err) || !strings.HasPrefix(err.Error(), "get query q-1: ") {
					t.Errorf("Run() error = %v, want get query q-1: %v", err, tt.err)
				}
				if len(f.gets) != tt.wantGets {
					t.Errorf("polls = %d, want %d", len(f.gets), tt.wantGets)
				}
			})
		})
	}
}

func TestRunStopsQueryWhenCallerGivesUp(t *testing.T) {
	running := states("RUNNING")
	tests := []struct {
		name    string
		timeout time.Duration // 0: cancelled at the third poll instead
		getFn   func(string, int) (types.QueryExecutionStatus, error)
		stopErr error
		want    string
		wantIs  error
		elapsed time.Duration
	}{
		{"deadline near", 10 * time.Second, running, nil,
			"wait for query q-1: context deadline exceeded; stopped it", context.DeadlineExceeded,
			8 * time.Second}, // polls at 0.25, 0.75, 1.75, 3.75, 7.75 and at the margin, 8
		{"deadline near while polls fail", 10 * time.Second, failing(1000, errThrottled), nil,
			"wait for query q-1: context deadline exceeded (after 6 failed polls, the last: TooManyRequestsException: Rate exceeded); stopped it",
			errThrottled, 8 * time.Second},
		{"cancelled", 0, running, nil,
			"wait for query q-1: context canceled; stopped it", context.Canceled, 1750 * time.Millisecond},
		{"stop fails", 10 * time.Second, running, errInvalid,
			"wait for query q-1: context deadline exceeded; stopping it failed: InvalidRequestException: QueryExecution q-1 was not found",
			errInvalid, 8 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				if tt.timeout > 0 {
					ctx, cancel = context.WithTimeout(context.Background(), tt.timeout)
				}
				defer cancel()
				f := &fakeAthena{getFn: tt.getFn, stopFn: func(string) error { return tt.stopErr }}
				if tt.timeout == 0 {
					f.getFn = func(id string, n int) (types.QueryExecutionStatus, error) {
						if n == 2 {
							cancel()
						}
						return running(id, n)
					}
				}
				start := time.Now()
				_, err := New(f).Run(ctx, Query{SQL: "SELECT 1"})
				if err == nil || err.Error() != tt.want || !errors.Is(err, tt.wantIs) {
					t.Errorf("Run() error = %v, want %s", err, tt.want)
				}
				if got := time.Since(start); got != tt.elapsed {
					t.Errorf("Run() returned after %v, want %v", got, tt.elapsed)
				}
				want := []stopCall{{id: "q-1", left: DefaultStopMargin}}
				if fmt.Sprint(f.stops) != fmt.Sprint(want) {
					t.Errorf("stops = %+v, want %+v (a fresh context, StopMargin long)", f.stops, want)
				}
			})
		})
	}
}

func TestRunStartError(t *testing.T) {
	f := &fakeAthena{startFn: func(*athena.StartQueryExecutionInput) (string, error) {
		return "", errInvalid
	}}
	_, err := New(f).Run(context.Background(), Query{SQL: "SELECT"})
	var ire *types.InvalidRequestException
	if !errors.As(err, &ire) || len(f.gets) != 0 {
		t.Errorf("Run() error = %v after %d polls, want *types.InvalidRequestException and none", err, len(f.gets))
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

// byToken makes f remember executions by token, as Athena does; each finishes at once with the
// status script gives the nth execution (from 1).
func byToken(f *fakeAthena, script func(n int) types.QueryExecutionStatus) {
	ids, final := map[string]string{}, map[string]types.QueryExecutionStatus{}
	f.startFn = func(in *athena.StartQueryExecutionInput) (string, error) {
		tok := aws.ToString(in.ClientRequestToken)
		if id, ok := ids[tok]; ok {
			return id, nil
		}
		id := fmt.Sprintf("q-%d", len(ids)+1)
		ids[tok] = id
		final[id] = script(len(ids))
		return id, nil
	}
	f.getFn = func(id string, _ int) (types.QueryExecutionStatus, error) { return final[id], nil }
}

func TestRunRetriesAFailureFromAnEarlierCall(t *testing.T) {
	tests := []struct {
		name string
		// script gives the nth execution's final state and its completion, relative to the call.
		script    func(n int) (types.QueryExecutionState, time.Duration)
		wantID    string
		wantErr   bool
		wantStart int
	}{
		{"failed before this call: started again", func(n int) (types.QueryExecutionState, time.Duration) {
			if n == 1 {
				return "FAILED", -time.Minute
			}
			return "SUCCEEDED", time.Second
		}, "q-2", false, 2},
		{"stopped before this call: started again", func(n int) (types.QueryExecutionState, time.Duration) {
			if n == 1 {
				return "CANCELLED", -time.Minute
			}
			return "SUCCEEDED", time.Second
		}, "q-2", false, 2},
		{"failed during this call: reported", func(int) (types.QueryExecutionState, time.Duration) {
			return "FAILED", time.Second
		}, "q-1", true, 1},
		{"fails again: reported once", func(int) (types.QueryExecutionState, time.Duration) {
			return "FAILED", -time.Minute
		}, "q-2", true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				called := time.Now()
				f := &fakeAthena{}
				byToken(f, func(n int) types.QueryExecutionStatus {
					state, at := tt.script(n)
					return types.QueryExecutionStatus{State: state, CompletionDateTime: aws.Time(called.Add(at)), StateChangeReason: aws.String("GENERIC_INTERNAL_ERROR: S3 SlowDown")}
				})
				q, err := New(f).Run(context.Background(), Query{SQL: "SELECT 1", Token: Token("day")})
				if (err != nil) != tt.wantErr || aws.ToString(q.QueryExecutionId) != tt.wantID || len(f.starts) != tt.wantStart {
					t.Errorf("Run() = %s, %v after %d starts, want %s, error %v after %d", aws.ToString(q.QueryExecutionId), err, len(f.starts), tt.wantID, tt.wantErr, tt.wantStart)
				}
				if len(f.starts) == 2 && aws.ToString(f.starts[1].ClientRequestToken) == aws.ToString(f.starts[0].ClientRequestToken) {
					t.Error("second start reused the first token, want a new one")
				}
			})
		})
	}
}
