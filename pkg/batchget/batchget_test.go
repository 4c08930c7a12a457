package batchget

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
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

// fakeClock is a clock whose Sleep returns at once, advancing the time.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	slept []time.Duration
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.slept = append(c.slept, d)
	c.mu.Unlock()
	return ctx.Err()
}

// newTestEngine returns an Engine on a fake clock, fast enough that tests never wait.
func newTestEngine(client BatchGetter, clock *fakeClock, optFns ...func(*Options)) *Engine {
	opts := append([]func(*Options){func(o *Options) {
		o.Rate = 1e6
		o.Burst = 100
		o.Now = clock.Now
		o.Sleep = clock.Sleep
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
			f := &fakeAthena{batchGet: func(_ int, ids []string) (*athena.BatchGetQueryExecutionOutput, error) {
				return found(ids), nil
			}}
			e := newTestEngine(f, newFakeClock())
			ids := makeIDs(n)
			rows, err := e.Lookup(context.Background(), ids)
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
			if got := len(f.calls); got != wantCalls {
				t.Errorf("calls = %d, want %d", got, wantCalls)
			}
			asked := map[string]int{}
			for _, c := range f.calls {
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
			if s := e.Stats(); s.Calls != int64(wantCalls) || s.Found != int64(n) {
				t.Errorf("Stats() = %+v, want %d calls and %d found", s, wantCalls, n)
			}
		})
	}
}

func TestLookupThrottling(t *testing.T) {
	for _, code := range []string{"ThrottlingException", "TooManyRequestsException"} {
		t.Run(code, func(t *testing.T) {
			const throttledCalls = 4
			clock := newFakeClock()
			var e *Engine
			var rates []float64
			f := &fakeAthena{}
			f.batchGet = func(n int, ids []string) (*athena.BatchGetQueryExecutionOutput, error) {
				rates = append(rates, e.Stats().Rate)
				if n < throttledCalls {
					return nil, fmt.Errorf("operation error Athena: BatchGetQueryExecution: %w", apiError(code))
				}
				return found(ids), nil
			}
			e = newTestEngine(f, clock, func(o *Options) { o.Rate = 100 })
			ids := makeIDs(30)
			rows, err := e.Lookup(context.Background(), ids)
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			checkRows(t, ids, rows)
			s := e.Stats()
			if s.Throttled != throttledCalls || s.Retries != throttledCalls || s.Calls != throttledCalls+1 {
				t.Errorf("Stats() = %+v, want %d throttled, %d retries, %d calls", s, throttledCalls, throttledCalls, throttledCalls+1)
			}
			// Each throttled call halves the rate: the last attempt went out at 100/2^4.
			if got, want := rates[throttledCalls], 100.0/16; got != want {
				t.Errorf("rate at the successful call = %v, want %v (rates %v)", got, want, rates)
			}
			if s.Rate <= rates[throttledCalls] || s.Rate >= 100 {
				t.Errorf("rate after one success = %v, want a step up from %v", s.Rate, rates[throttledCalls])
			}
			// The backoff doubles: the n-th wait is at least half of base×2^(n-1).
			var backoffs []time.Duration
			for _, d := range clock.slept {
				if d >= DefaultBackoffBase/2 {
					backoffs = append(backoffs, d)
				}
			}
			if len(backoffs) != throttledCalls {
				t.Fatalf("backoffs = %v, want %d of them", backoffs, throttledCalls)
			}
			for n, d := range backoffs {
				if lo, hi := DefaultBackoffBase<<n/2, DefaultBackoffBase<<n; d < lo || d > hi {
					t.Errorf("backoff %d = %v, want %v to %v", n+1, d, lo, hi)
				}
			}
		})
	}
}

func TestLookupUnprocessed(t *testing.T) {
	tests := []struct {
		name        string
		maxAttempts int
		// answer answers call n (0, 1, ...) for the IDs asked.
		answer     func(n int, ids []string) *athena.BatchGetQueryExecutionOutput
		wantErrors map[string]string // ID -> lookup_error; the others must be found
		wantCalls  int
	}{
		{
			name: "transient then found",
			answer: func(n int, ids []string) *athena.BatchGetQueryExecutionOutput {
				if n == 0 {
					out := found(slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == "b" }))
					out.UnprocessedQueryExecutionIds = []types.UnprocessedQueryExecutionId{unprocessed("b", "InternalServerException")}
					return out
				}
				return found(ids)
			},
			wantCalls: 2,
		},
		{
			name: "permanent",
			answer: func(n int, ids []string) *athena.BatchGetQueryExecutionOutput {
				out := found([]string{"a", "c"})
				out.UnprocessedQueryExecutionIds = []types.UnprocessedQueryExecutionId{unprocessed("b", "InvalidRequestException")}
				return out
			},
			wantErrors: map[string]string{"b": "InvalidRequestException"},
			wantCalls:  1,
		},
		{
			name:        "transient that never clears",
			maxAttempts: 3,
			answer: func(n int, ids []string) *athena.BatchGetQueryExecutionOutput {
				out := found(slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == "c" }))
				out.UnprocessedQueryExecutionIds = []types.UnprocessedQueryExecutionId{unprocessed("c", "ThrottlingException")}
				return out
			},
			wantErrors: map[string]string{"c": "ThrottlingException"},
			wantCalls:  3,
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
		{
			name:        "left out every time",
			maxAttempts: 2,
			answer: func(n int, ids []string) *athena.BatchGetQueryExecutionOutput {
				return found(slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == "a" }))
			},
			wantErrors: map[string]string{"a": CodeMissing},
			wantCalls:  2,
		},
		{
			name: "left out once",
			answer: func(n int, ids []string) *athena.BatchGetQueryExecutionOutput {
				if n == 0 {
					return found(ids[1:])
				}
				return found(ids)
			},
			wantCalls: 2,
		},
		{
			name:        "no error code",
			maxAttempts: 2,
			answer: func(n int, ids []string) *athena.BatchGetQueryExecutionOutput {
				out := found([]string{"a", "b"})
				out.UnprocessedQueryExecutionIds = []types.UnprocessedQueryExecutionId{unprocessed("c", "")}
				return out
			},
			wantErrors: map[string]string{"c": CodeUnknown},
			wantCalls:  2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAthena{batchGet: func(n int, ids []string) (*athena.BatchGetQueryExecutionOutput, error) {
				return tt.answer(n, ids), nil
			}}
			e := newTestEngine(f, newFakeClock(), func(o *Options) {
				if tt.maxAttempts > 0 {
					o.MaxAttempts = tt.maxAttempts
				}
			})
			ids := []string{"a", "b", "c"}
			rows, err := e.Lookup(context.Background(), ids)
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
			// A retry asks only for the IDs still missing.
			for _, c := range f.calls[1:] {
				for _, id := range c {
					if _, ok := tt.wantErrors[id]; !ok && tt.name != "transient then found" && tt.name != "left out once" {
						t.Errorf("retry asked for %s, which was already done", id)
					}
				}
			}
		})
	}
}

func TestLookupPartialFailures(t *testing.T) {
	t.Run("invalid IDs split their batch", func(t *testing.T) {
		bad := map[string]bool{"bad-1": true, "bad-2": true}
		f := &fakeAthena{batchGet: func(_ int, ids []string) (*athena.BatchGetQueryExecutionOutput, error) {
			for _, id := range ids {
				if bad[id] {
					return nil, apiError(CodeInvalidRequest)
				}
			}
			return found(ids), nil
		}}
		e := newTestEngine(f, newFakeClock())
		ids := makeIDs(150)
		ids[7], ids[120] = "bad-1", "bad-2"
		rows, err := e.Lookup(context.Background(), ids)
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
		if s := e.Stats(); s.Splits == 0 || s.Found != 148 || s.UnprocessedPermanent != 2 {
			t.Errorf("Stats() = %+v, want splits, 148 found, 2 permanent", s)
		}
	})

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
			f := &fakeAthena{batchGet: func(n int, ids []string) (*athena.BatchGetQueryExecutionOutput, error) {
				if err := tt.err(n); err != nil {
					return nil, err
				}
				return found(ids), nil
			}}
			e := newTestEngine(f, newFakeClock(), func(o *Options) { o.MaxAttempts = 3 })
			ids := makeIDs(10)
			rows, err := e.Lookup(context.Background(), ids)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Lookup: %v", err)
				}
				checkRows(t, ids, rows)
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Lookup error = %v, want one containing %q", err, tt.wantErr)
			}
			if got := f.callCount(); got != tt.wantCalls {
				t.Errorf("calls = %d, want %d", got, tt.wantCalls)
			}
		})
	}

	t.Run("one failing batch fails the lookup", func(t *testing.T) {
		f := &fakeAthena{batchGet: func(_ int, ids []string) (*athena.BatchGetQueryExecutionOutput, error) {
			if slices.Contains(ids, "poison") {
				return nil, apiError("InternalServerException")
			}
			return found(ids), nil
		}}
		e := newTestEngine(f, newFakeClock(), func(o *Options) { o.MaxAttempts = 2 })
		ids := makeIDs(200)
		ids[199] = "poison"
		if _, err := e.Lookup(context.Background(), ids); err == nil {
			t.Fatal("Lookup succeeded, want an error")
		}
	})
}

func TestLookupDuplicateIDs(t *testing.T) {
	e := newTestEngine(&fakeAthena{}, newFakeClock())
	_, err := e.Lookup(context.Background(), []string{"a", "b", "a"})
	if err == nil || !strings.Contains(err.Error(), `"a"`) {
		t.Errorf("Lookup(a, b, a) error = %v, want one naming \"a\"", err)
	}
}

// TestConcurrencyShared checks that concurrent Lookup calls share one bound on calls in flight.
func TestConcurrencyShared(t *testing.T) {
	var mu sync.Mutex
	inFlight, peak := 0, 0
	f := &fakeAthena{batchGet: func(_ int, ids []string) (*athena.BatchGetQueryExecutionOutput, error) {
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		mu.Unlock()
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
			ids := makeIDs(500)
			for j := range ids {
				ids[j] = fmt.Sprint(i, ids[j])
			}
			if _, err := e.Lookup(context.Background(), ids); err != nil {
				t.Errorf("Lookup: %v", err)
			}
		})
	}
	wg.Wait()
	if peak != 3 {
		t.Errorf("peak calls in flight = %d, want 3", peak)
	}
}

func TestLookupCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeAthena{batchGet: func(_ int, ids []string) (*athena.BatchGetQueryExecutionOutput, error) {
		cancel()
		return nil, context.Canceled
	}}
	e := newTestEngine(f, newFakeClock())
	if _, err := e.Lookup(ctx, makeIDs(120)); !errors.Is(err, context.Canceled) {
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
