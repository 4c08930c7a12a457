package batchget

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/athenausage/athena-usage/pkg/apioutput"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// fakeAthena answers BatchGetQueryExecution with batchGet and records every call's IDs.
type fakeAthena struct {
	mu       sync.Mutex
	batchGet func(n int, ids []string) (*athena.BatchGetQueryExecutionOutput, error)
	calls    [][]string
}

func (f *fakeAthena) BatchGetQueryExecution(ctx context.Context, in *athena.BatchGetQueryExecutionInput, _ ...func(*athena.Options)) (*athena.BatchGetQueryExecutionOutput, error) {
	f.mu.Lock()
	n := len(f.calls)
	f.calls = append(f.calls, slices.Clone(in.QueryExecutionIds))
	f.mu.Unlock()
	return f.batchGet(n, in.QueryExecutionIds)
}

func (f *fakeAthena) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// execution is what Athena returns for a found query in these tests.
func execution(id string) types.QueryExecution {
	return types.QueryExecution{
		QueryExecutionId: aws.String(id),
		WorkGroup:        aws.String("primary"),
		Status:           &types.QueryExecutionStatus{State: types.QueryExecutionStateSucceeded},
		Statistics:       &types.QueryExecutionStatistics{DataScannedInBytes: aws.Int64(int64(len(id)))},
	}
}

// found answers every ID as found.
func found(ids []string) *athena.BatchGetQueryExecutionOutput {
	out := &athena.BatchGetQueryExecutionOutput{}
	for _, id := range ids {
		out.QueryExecutions = append(out.QueryExecutions, execution(id))
	}
	return out
}

func unprocessed(id, code string) types.UnprocessedQueryExecutionId {
	u := types.UnprocessedQueryExecutionId{QueryExecutionId: aws.String(id)}
	if code != "" {
		u.ErrorCode = aws.String(code)
	}
	return u
}

func apiError(code string) error {
	return &smithy.GenericAPIError{Code: code, Message: "test"}
}

// newTestEngine returns an Engine fast enough that its limiter never holds a test up.
func newTestEngine(client BatchGetter, optFns ...func(*Options)) *Engine {
	opts := append([]func(*Options){func(o *Options) {
		o.Rate = 1e6
		o.Burst = 100
	}}, optFns...)
	return New(client, opts...)
}

func makeIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
	}
	return ids
}

// checkRows fails unless rows holds one row per ID, in order.
func checkRows(t *testing.T, ids []string, rows []apioutput.Row) {
	t.Helper()
	if len(rows) != len(ids) {
		t.Fatalf("Lookup returned %d rows, want %d", len(rows), len(ids))
	}
	for i, id := range ids {
		if rows[i].QueryID != id {
			t.Fatalf("row %d: QueryID = %q, want %q", i, rows[i].QueryID, id)
		}
	}
}

func TestLookupBatching(t *testing.T) {
	for _, n := range []int{0, 1, 49, 50, 51, 100001} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeAthena{batchGet: func(_ int, ids []string) (*athena.BatchGetQueryExecutionOutput, error) {
					return found(ids), nil
				}}
				e := newTestEngine(f)
				ids := makeIDs(n)
				rows, stats, err := e.Lookup(context.Background(), ids)
				if err != nil {
					t.Fatalf("Lookup: %v", err)
				}
				checkRows(t, ids, rows)
				for i, r := range rows {
					if r.Status != "SUCCEEDED" || r.LookupError != "" {
						t.Fatalf("row %d = %+v, want a found execution", i, r)
					}
				}
				wantCalls := (n + MaxBatchSize - 1) / MaxBatchSize
				checkAskedOnce(t, f.calls, ids, wantCalls)
				if want := (Stats{Calls: int64(wantCalls), Found: int64(n)}); stats != want || e.Totals().Stats != want {
					t.Errorf("Lookup() stats = %+v, Totals() = %+v, want %+v", stats, e.Totals(), want)
				}
			})
		})
	}
}

// checkAskedOnce fails unless calls are wantCalls batches of 1 to MaxBatchSize IDs that ask for
// each of ids exactly once.
func checkAskedOnce(t *testing.T, calls [][]string, ids []string, wantCalls int) {
	t.Helper()
	if got := len(calls); got != wantCalls {
		t.Errorf("calls = %d, want %d", got, wantCalls)
	}
	asked := map[string]int{}
	for _, c := range calls {
		if len(c) == 0 || len(c) > MaxBatchSize {
			t.Fatalf("batch of %d IDs, want 1 to %d", len(c), MaxBatchSize)
		}
		for _, id := range c {
			asked[id]++
		}
	}
	for _, id := range ids {
		if asked[id] != 1 {
			t.Fatalf("ID %s asked %d times, want 1", id, asked[id])
		}
	}
}

func TestLookupThrottling(t *testing.T) {
	for _, code := range []string{"ThrottlingException", "TooManyRequestsException"} {
		t.Run(code, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { testThrottling(t, code) })
		})
	}
}

// testThrottling throttles the first calls with code and checks the limiter's rate and the
// backoff between the attempts, on synctest's clock.
func testThrottling(t *testing.T, code string) {
	const throttledCalls = 2*earlyThrottles + 1
	var e *Engine
	var rates []float64
	var sent []time.Time
	f := &fakeAthena{}
	f.batchGet = func(n int, ids []string) (*athena.BatchGetQueryExecutionOutput, error) {
		rates = append(rates, e.Totals().Rate)
		sent = append(sent, time.Now())
		if n < throttledCalls {
			return nil, fmt.Errorf("operation error Athena: BatchGetQueryExecution: %w", apiError(code))
		}
		return found(ids), nil
	}
	e = newTestEngine(f, func(o *Options) { o.Rate = 100 })
	ids := makeIDs(30)
	rows, s, err := e.Lookup(context.Background(), ids)
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	checkRows(t, ids, rows)
	if s.Throttled != throttledCalls || s.Retries != throttledCalls || s.Calls != throttledCalls+1 {
		t.Errorf("Lookup() stats = %+v, want %d throttled, %d retries, %d calls", s, throttledCalls, throttledCalls, throttledCalls+1)
	}
	// Each earlyThrottles throttled calls are a window's evidence: the rate brakes to MinRate for
	// the round trip the overshoot's calls take to come back (pause; TestAdaptiveLimiterDecreasesOncePerWindow
	// sees the brake itself). The first window's few calls measure nothing, and the run's start
	// rate comes back; the second's are believed: the rate settles under the quota that window
	// measured (at most maxDecrease under the start), and is not cut again.
	start := min(DefaultStartRate, 100.0)
	for n, r := range rates[:earlyThrottles] {
		if r != start {
			t.Errorf("rate at throttled call %d = %v, want the start rate %v (rates %v)", n, r, start, rates)
		}
	}
	if !slices.Contains(rates, DefaultMinRate) {
		t.Errorf("rates %v, want a brake to MinRate %v", rates, DefaultMinRate)
	}
	// The headroom is a share of the account's quota, which is never under the default.
	quota := start * (1 - maxDecrease)
	want := (quota - DefaultHeadroom*defaultQuota) * (1 - recoverCut)
	if got := rates[throttledCalls]; math.Abs(got-want) > 1e-9 {
		t.Errorf("rate at the call that succeeded = %v, want %v (rates %v)", got, want, rates)
	}
	if r := e.Totals().Rate; r < rates[throttledCalls] {
		t.Errorf("rate after one success = %v, want no further cut from %v", r, rates[throttledCalls])
	}
	// The first retry goes back to the limiter at once: the limiter is what paces a throttled
	// call, and here it has a token to spare. Then the backoff doubles, up to its cap: the n-th
	// wait is at least half of base×2^(n-2).
	if d := sent[1].Sub(sent[0]); d != 0 {
		t.Errorf("wait before the first retry = %v, want none", d)
	}
	for n := 2; n <= throttledCalls; n++ {
		d := sent[n].Sub(sent[n-1])
		hi := min(DefaultBackoffBase<<(n-2), DefaultBackoffMax)
		if lo := hi / 2; d < lo || d > hi {
			t.Errorf("backoff %d = %v, want %v to %v", n-1, d, lo, hi)
		}
	}
}

// unprocessedTest is a Lookup of the IDs a, b and c against an Athena that leaves some of them
// unprocessed.
type unprocessedTest struct {
	name        string
	maxAttempts int
	// answer answers call n (0, 1, ...) for the IDs asked.
	answer     func(n int, ids []string) *athena.BatchGetQueryExecutionOutput
	wantErrors map[string]string // ID -> lookup_error; the others must be found
	wantCalls  int
	// retried are the IDs a call after the first may ask for: only those not done yet.
	retried []string
}

func (tt unprocessedTest) run(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeAthena{batchGet: func(n int, ids []string) (*athena.BatchGetQueryExecutionOutput, error) {
			return tt.answer(n, ids), nil
		}}
		e := newTestEngine(f, func(o *Options) { o.MaxAttempts = tt.maxAttempts })
		ids := []string{"a", "b", "c"}
		rows, _, err := e.Lookup(context.Background(), ids)
		if err != nil {
			t.Fatalf("Lookup: %v", err)
		}
		checkRows(t, ids, rows)
		for _, r := range rows {
			want := tt.wantErrors[r.QueryID]
			if r.LookupError != want {
				t.Errorf("row %s: LookupError = %q, want %q", r.QueryID, r.LookupError, want)
			}
			if want == "" && r.Status != "SUCCEEDED" {
				t.Errorf("row %s: Status = %q, want SUCCEEDED", r.QueryID, r.Status)
			}
		}
		if got := len(f.calls); got != tt.wantCalls {
			t.Errorf("calls = %d (%v), want %d", got, f.calls, tt.wantCalls)
		}
		for _, c := range f.calls[1:] {
			for _, id := range c {
				if !slices.Contains(tt.retried, id) {
					t.Errorf("retry asked for %s, want only %v", id, tt.retried)
				}
			}
		}
	})
}

// without answers every ID asked but those in left, and nothing for those.
func without(ids []string, left ...string) *athena.BatchGetQueryExecutionOutput {
	return found(slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return slices.Contains(left, id) }))
}

func TestLookupUnprocessedTransient(t *testing.T) {
	for _, tt := range []unprocessedTest{
		{
			name: "transient then found",
			answer: func(n int, ids []string) *athena.BatchGetQueryExecutionOutput {
				if n > 0 {
					return found(ids)
				}
				out := without(ids, "b")
				out.UnprocessedQueryExecutionIds = []types.UnprocessedQueryExecutionId{unprocessed("b", "InternalServerException")}
				return out
			},
			wantCalls: 2, retried: []string{"b"},
		},
		{
			name: "transient that never clears", maxAttempts: 3,
			answer: func(n int, ids []string) *athena.BatchGetQueryExecutionOutput {
				out := without(ids, "c")
				out.UnprocessedQueryExecutionIds = []types.UnprocessedQueryExecutionId{unprocessed("c", "ThrottlingException")}
				return out
			},
			wantErrors: map[string]string{"c": "ThrottlingException"}, wantCalls: 3, retried: []string{"c"},
		},
		{
			name: "left out every time", maxAttempts: 2,
			answer:     func(n int, ids []string) *athena.BatchGetQueryExecutionOutput { return without(ids, "a") },
			wantErrors: map[string]string{"a": CodeMissing}, wantCalls: 2, retried: []string{"a"},
		},
		{
			name: "left out once",
			answer: func(n int, ids []string) *athena.BatchGetQueryExecutionOutput {
				if n == 0 {
					return without(ids, "a")
				}
				return found(ids)
			},
			wantCalls: 2, retried: []string{"a"},
		},
		{
			name: "no error code", maxAttempts: 2,
			answer: func(n int, ids []string) *athena.BatchGetQueryExecutionOutput {
				out := without(ids, "c")
				out.UnprocessedQueryExecutionIds = []types.UnprocessedQueryExecutionId{unprocessed("c", "")}
				return out
			},
			wantErrors: map[string]string{"c": CodeUnknown}, wantCalls: 2, retried: []string{"c"},
		},
	} {
		t.Run(tt.name, tt.run)
	}
}

func TestLookupUnprocessedPermanent(t *testing.T) {
	for _, tt := range []unprocessedTest{
		{
			name: "permanent",
			answer: func(n int, ids []string) *athena.BatchGetQueryExecutionOutput {
				out := found([]string{"a", "c"})
				out.UnprocessedQueryExecutionIds = []types.UnprocessedQueryExecutionId{unprocessed("b", "InvalidRequestException")}
				return out
			},
			wantErrors: map[string]string{"b": "InvalidRequestException"}, wantCalls: 1,
		},
		{
			name: "found and unprocessed, and one not asked for",
			answer: func(n int, ids []string) *athena.BatchGetQueryExecutionOutput {
				out := found(append(slices.Clone(ids), "zzz"))
				out.UnprocessedQueryExecutionIds = []types.UnprocessedQueryExecutionId{unprocessed("a", "InvalidRequestException"), unprocessed("yyy", "InvalidRequestException")}
				return out
			},
			wantCalls: 1,
		},
	} {
		t.Run(tt.name, tt.run)
	}
}

func TestLookupSplitsInvalidBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bad := map[string]bool{"bad-1": true, "bad-2": true}
		f := &fakeAthena{batchGet: func(_ int, ids []string) (*athena.BatchGetQueryExecutionOutput, error) {
			for _, id := range ids {
				if bad[id] {
					return nil, apiError(CodeInvalidRequest)
				}
			}
			return found(ids), nil
		}}
		e := newTestEngine(f)
		ids := makeIDs(150)
		ids[7], ids[120] = "bad-1", "bad-2"
		rows, s, err := e.Lookup(context.Background(), ids)
		if err != nil {
			t.Fatalf("Lookup: %v", err)
		}
		checkRows(t, ids, rows)
		for _, r := range rows {
			want := ""
			if bad[r.QueryID] {
				want = CodeInvalidRequest
			}
			if r.LookupError != want {
				t.Errorf("row %s: LookupError = %q, want %q", r.QueryID, r.LookupError, want)
			}
		}
		if s.Splits == 0 || s.Found != 148 || s.UnprocessedPermanent != 2 {
			t.Errorf("Lookup() stats = %+v, want splits, 148 found, 2 permanent", s)
		}
	})
}

func TestLookupCallFailures(t *testing.T) {
	tests := []struct {
		name      string
		err       func(n int) error // the error of call n, nil for success
		wantErr   string
		wantCalls int
	}{
		{"access denied is not retried", func(int) error { return apiError("AccessDeniedException") }, "AccessDeniedException", 1},
		{"server errors exhaust the attempts", func(int) error { return apiError("InternalServerException") }, "3 attempts", 3},
		{"throttling exhausts the attempts", func(int) error { return apiError("ThrottlingException") }, "3 attempts", 3},
		{"network error then success", func(n int) error {
			if n == 0 {
				return errors.New("read tcp: connection reset by peer")
			}
			return nil
		}, "", 2},
		{"HTTP 503 then success", func(n int) error {
			if n < 2 {
				return &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusServiceUnavailable}}, Err: errors.New("unavailable")}
			}
			return nil
		}, "", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeAthena{batchGet: func(n int, ids []string) (*athena.BatchGetQueryExecutionOutput, error) {
					if err := tt.err(n); err != nil {
						return nil, err
					}
					return found(ids), nil
				}}
				e := newTestEngine(f, func(o *Options) { o.MaxAttempts = 3 })
				ids := makeIDs(10)
				rows, s, err := e.Lookup(context.Background(), ids)
				if tt.wantErr == "" {
					if err != nil {
						t.Fatalf("Lookup: %v", err)
					}
					checkRows(t, ids, rows)
				} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Lookup error = %v, want one containing %q", err, tt.wantErr)
				}
				if got := f.callCount(); got != tt.wantCalls || s.Calls != int64(tt.wantCalls) {
					t.Errorf("calls = %d (stats %d), want %d", got, s.Calls, tt.wantCalls)
				}
			})
		})
	}
}

func TestLookupOneFailingBatchFailsAll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeAthena{batchGet: func(_ int, ids []string) (*athena.BatchGetQueryExecutionOutput, error) {
			if slices.Contains(ids, "poison") {
				return nil, apiError("InternalServerException")
			}
			return found(ids), nil
		}}
		e := newTestEngine(f, func(o *Options) { o.MaxAttempts = 2 })
		ids := makeIDs(200)
		ids[199] = "poison"
		if rows, _, err := e.Lookup(context.Background(), ids); err == nil || rows != nil {
			t.Fatalf("Lookup() = %d rows, %v, want no rows and an error", len(rows), err)
		}
	})
}

func TestLookupDuplicateIDs(t *testing.T) {
	e := newTestEngine(&fakeAthena{})
	_, _, err := e.Lookup(context.Background(), []string{"a", "b", "a"})
	if err == nil || !strings.Contains(err.Error(), `"a"`) {
		t.Errorf("Lookup(a, b, a) error = %v, want one naming \"a\"", err)
	}
}

// TestConcurrencyShared checks that concurrent Lookup calls share one bound on calls in flight.
func TestConcurrencyShared(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		inFlight, peak := 0, 0
		f := &fakeAthena{batchGet: func(_ int, ids []string) (*athena.BatchGetQueryExecutionOutput, error) {
			mu.Lock()
			inFlight++
			peak = max(peak, inFlight)
			mu.Unlock()
			// A call's latency, on synctest's clock: the calls in flight overlap.
			time.Sleep(2 * time.Millisecond)
			mu.Lock()
			inFlight--
			mu.Unlock()
			return found(ids), nil
		}}
		e := New(f, func(o *Options) { o.Rate = 1e6; o.Burst = 1000; o.Concurrency = 3 })
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Go(func() {
				if _, _, err := e.Lookup(context.Background(), prefixed(fmt.Sprint(i), makeIDs(500))); err != nil {
					t.Errorf("Lookup: %v", err)
				}
			})
		}
		wg.Wait()
		if peak != 3 {
			t.Errorf("peak calls in flight = %d, want 3", peak)
		}
	})
}

func prefixed(prefix string, ids []string) []string {
	for i := range ids {
		ids[i] = prefix + ids[i]
	}
	return ids
}

// TestLookupStatsPerCall runs two Lookup calls on one Engine at once, each with its own
// unprocessed IDs: each call's Stats count only its own, and the totals both.
func TestLookupStatsPerCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Both calls' first batches wait for each other, so that the calls overlap.
		var arrived sync.WaitGroup
		arrived.Add(2)
		f := &fakeAthena{batchGet: func(n int, ids []string) (*athena.BatchGetQueryExecutionOutput, error) {
			if n < 2 {
				arrived.Done()
				arrived.Wait()
			}
			// IDs starting with "u" come back unprocessed the first time they are asked for.
			var left []string
			for _, id := range ids {
				if strings.HasPrefix(id, "u") && n < 2 {
					left = append(left, id)
				}
			}
			out := without(ids, left...)
			for _, id := range left {
				out.UnprocessedQueryExecutionIds = append(out.UnprocessedQueryExecutionIds, unprocessed(id, "InternalServerException"))
			}
			return out, nil
		}}
		e := newTestEngine(f)
		calls := [][]string{{"a1", "u1"}, {"a2", "u2", "u3", "u4"}}
		got := make([]Stats, len(calls))
		var wg sync.WaitGroup
		for i, ids := range calls {
			wg.Go(func() {
				var err error
				if _, got[i], err = e.Lookup(context.Background(), ids); err != nil {
					t.Errorf("Lookup(%v): %v", ids, err)
				}
			})
		}
		wg.Wait()
		want := []Stats{
			{Calls: 2, Found: 2, UnprocessedTransient: 1},
			{Calls: 2, Found: 4, UnprocessedTransient: 3},
		}
		var total Stats
		for i := range calls {
			if got[i] != want[i] {
				t.Errorf("Lookup(%v) stats = %+v, want %+v", calls[i], got[i], want[i])
			}
			total.Add(want[i])
		}
		if e.Totals().Stats != total {
			t.Errorf("Totals() = %+v, want %+v", e.Totals().Stats, total)
		}
	})
}

func TestLookupCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeAthena{batchGet: func(_ int, ids []string) (*athena.BatchGetQueryExecutionOutput, error) {
		cancel()
		return nil, context.Canceled
	}}
	e := newTestEngine(f)
	if _, _, err := e.Lookup(ctx, makeIDs(120)); !errors.Is(err, context.Canceled) {
		t.Errorf("Lookup error = %v, want context.Canceled", err)
	}
}

func TestClassify(t *testing.T) {
	status := func(code int) error {
		return &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: code}}, Err: errors.New("x")}
	}
	tests := []struct {
		name string
		err  error
		want errorKind
	}{
		{"throttling", apiError("ThrottlingException"), errThrottled},
		{"too many requests", fmt.Errorf("wrapped: %w", apiError("TooManyRequestsException")), errThrottled},
		{"HTTP 429", status(429), errThrottled},
		{"internal server", apiError("InternalServerException"), errTransient},
		{"HTTP 500", status(500), errTransient},
		{"network", errors.New("dial tcp: i/o timeout"), errTransient},
		{"invalid request", apiError("InvalidRequestException"), errInvalid},
		{"access denied", apiError("AccessDeniedException"), errFatal},
		{"HTTP 403", status(403), errFatal},
		{"unreadable 200", status(200), errTransient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, _ := classify(context.Background(), tt.err); got != tt.want {
				t.Errorf("classify(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got, _ := classify(ctx, errors.New("any")); got != errFatal {
		t.Errorf("classify(canceled context) = %v, want %v", got, errFatal)
	}
}

func TestIsTransientCode(t *testing.T) {
	for code, want := range map[string]bool{
		"ThrottlingException": true, "InternalServerException": true, "InternalFailure": true,
		"ServiceUnavailable": true, CodeMissing: true, "InvalidRequestException": false, "AccessDenied": false,
	} {
		if got := IsTransientCode(code); got != want {
			t.Errorf("IsTransientCode(%q) = %v, want %v", code, got, want)
		}
	}
}

// TestLookupUnprocessedRetryTiming checks that IDs left unprocessed with a transient code are
// asked for again at once the first time, then after their attempt's backoff, on synctest's
// clock (the engine's limiter has tokens to spare).
func TestLookupUnprocessedRetryTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var sent []time.Time
		f := &fakeAthena{}
		f.batchGet = func(n int, ids []string) (*athena.BatchGetQueryExecutionOutput, error) {
			sent = append(sent, time.Now())
			if n < 2 {
				out := &athena.BatchGetQueryExecutionOutput{}
				for _, id := range ids {
					out.UnprocessedQueryExecutionIds = append(out.UnprocessedQueryExecutionIds, unprocessed(id, "InternalServerException"))
				}
				return out, nil
			}
			return found(ids), nil
		}
		e := newTestEngine(f)
		ids := makeIDs(3)
		rows, _, err := e.Lookup(context.Background(), ids)
		if err != nil {
			t.Fatalf("Lookup: %v", err)
		}
		checkRows(t, ids, rows)
		if len(sent) != 3 {
			t.Fatalf("calls = %d, want 3", len(sent))
		}
		if d := sent[1].Sub(sent[0]); d != 0 {
			t.Errorf("wait before the second attempt = %v, want none", d)
		}
		if d, lo, hi := sent[2].Sub(sent[1]), DefaultBackoffBase/2, DefaultBackoffBase; d < lo || d > hi {
			t.Errorf("wait before the third attempt = %v, want %v to %v", d, lo, hi)
		}
	})
}
