package lookup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/athenausage/athena-usage/pkg/batchget"
	"github.com/athenausage/athena-usage/pkg/emf"
)

// samples checks every line of out against the EMF specification and the Stack dimension, and
// returns the samples by metric name, each under its dimensions other than Stack.
func samples(t *testing.T, out string) map[string][]emf.Sample {
	t.Helper()
	got := map[string][]emf.Sample{}
	for _, line := range strings.SplitAfter(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		doc, err := emf.Parse([]byte(line))
		if err != nil {
			t.Fatalf("emf.Parse(%s) = %v, want a valid EMF line", line, err)
		}
		for _, s := range doc.Samples() {
			if s.Namespace != emf.DefaultNamespace || len(s.Dimensions) == 0 || s.Dimensions[0] != (emf.Dimension{Name: emf.StackDimension, Value: "usage-test"}) {
				t.Errorf("line %s: sample %+v, want namespace %s and the dimension %s first", line, s, emf.DefaultNamespace, emf.StackDimension)
			}
			s.Dimensions = s.Dimensions[1:]
			got[s.Name] = append(got[s.Name], s)
		}
	}
	return got
}

// sum is the total of a metric's values, and how many there are.
func sum(ss []emf.Sample) (total float64, n int) {
	for _, s := range ss {
		total += s.Value
	}
	return total, len(ss)
}

// byCode sums MetricUnprocessedIDs by its error code.
func byCode(t *testing.T, ss []emf.Sample) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, s := range ss {
		if len(s.Dimensions) != 1 || s.Dimensions[0].Name != DimensionErrorCode || s.Unit != emf.Count {
			t.Errorf("%s sample %+v, want a count under the dimension %s", MetricUnprocessedIDs, s, DimensionErrorCode)
			continue
		}
		out[s.Dimensions[0].Value] += s.Value
	}
	return out
}

func withMetrics(w *bytes.Buffer) func(*Options) {
	return func(o *Options) { o.Metrics = emf.New(w, emf.ForStack("usage-test")) }
}

// TestHandleMetrics handles a day of 13 IDs in parts of 5: 8 found, 2 that Athena does not know,
// 3 of another account without a role; Athena throttles the first call. The day ended six
// hours before, on synctest's clock.
func TestHandleMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rows []queryRow
		for i := range 8 {
			rows = append(rows, queryRow{id: fmt.Sprintf("%08x-1111-4222-8333-%012x", i, i), account: testAccount, region: "us-east-1"})
		}
		for _, id := range []string{"gone-1", "gone-2"} {
			rows = append(rows, queryRow{id: id, account: testAccount, region: "us-east-1"})
		}
		for i := range 3 {
			rows = append(rows, queryRow{id: fmt.Sprintf("other-%d", i), account: "444455556666", region: "us-east-1"})
		}
		out := &bytes.Buffer{}
		e := newEnv(t, rows, 5, withMetrics(out))
		e.throttle = 1
		time.Sleep(time.Until(testDayTime.Add(30 * time.Hour)))
		if _, err := e.handler.Handle(context.Background(), e.event()); err != nil {
			t.Fatalf("Handle: %v", err)
		}
		lag := time.Since(testDayTime.AddDate(0, 0, 1)).Seconds()
		got := samples(t, out.String())

		for _, tt := range []struct {
			name   string
			unit   emf.Unit
			total  float64
			values int
		}{
			{MetricQueriesLookedUp, emf.Count, 13, 3},
			{MetricBatchGetCalls, emf.Count, 3, 1}, // two batches, one of them again after the throttle
			{MetricThrottles, emf.Count, 1, 1},
			{MetricDayComplete, emf.Count, 1, 1},
			{MetricDayLag, emf.Seconds, lag, 1},
		} {
			if total, n := sum(got[tt.name]); total != tt.total || n != tt.values || got[tt.name][0].Unit != tt.unit {
				t.Errorf("%s = %+v, want %d values in %s adding up to %v", tt.name, got[tt.name], tt.values, tt.unit, tt.total)
			}
		}
		if lag < 6*3600 {
			t.Errorf("%s = %v, want at least six hours in seconds", MetricDayLag, lag)
		}
		if _, n := sum(got[MetricPartDuration]); n != 3 || got[MetricPartDuration][0].Unit != emf.Milliseconds {
			t.Errorf("%s = %+v, want one value in milliseconds per part", MetricPartDuration, got[MetricPartDuration])
		}
		want := map[string]float64{batchget.CodeInvalidRequest: 2, LookupErrorOtherAccount: 3}
		if got := byCode(t, got[MetricUnprocessedIDs]); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s by %s = %v, want %v", MetricUnprocessedIDs, DimensionErrorCode, got, want)
		}
	})
}

// TestHandleMetricsContinued runs a day through three invocations, as TestHandleContinuation
// does: each writes its parts' and calls' metrics, and only the last one the day's completion.
func TestHandleMetricsContinued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rows := dayRows(47, "us-east-1", "eu-west-1")
		out := &bytes.Buffer{}
		// Two parts in flight, as the invocations counted below assume.
		e := newEnv(t, rows, 5, withMetrics(out), func(o *Options) { o.PartsInFlight = 2 })
		e.s3.onUpload = func(string) { time.Sleep(time.Minute) }
		results := runAll(t, e, e.event(), func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 5*time.Minute+30*time.Second)
		})
		got := samples(t, out.String())

		if len(results) != 3 {
			t.Fatalf("%d invocations, want 3", len(results))
		}
		calls := 0
		for _, f := range e.athena {
			calls += len(f.calls)
		}
		for _, tt := range []struct {
			name   string
			total  float64
			values int
		}{
			{MetricQueriesLookedUp, float64(len(distinctIDs(rows))), 10},
			{MetricBatchGetCalls, float64(calls), 3},
			{MetricThrottles, 0, 3},
			{MetricDayComplete, 1, 1},
			{MetricUnprocessedIDs, 0, 0},
		} {
			if total, n := sum(got[tt.name]); total != tt.total || n != tt.values {
				t.Errorf("%s = %+v, want %d values adding up to %v", tt.name, got[tt.name], tt.values, tt.total)
			}
		}
		// Lookups take no time on the fake clock; each upload takes a minute.
		for _, s := range got[MetricPartDuration] {
			if s.Value != 60000 {
				t.Errorf("%s = %v ms, want 60000 (the upload's minute)", MetricPartDuration, s.Value)
			}
		}
	})
}

// failingWriter refuses every write, as a closed standard output would.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("closed") }

// TestHandleMetricsNotWritten checks that metrics that cannot be written cost the day nothing
// but warnings.
func TestHandleMetricsNotWritten(t *testing.T) {
	logs := &bytes.Buffer{}
	e := newEnv(t, dayRows(7), 5, func(o *Options) {
		o.Metrics = emf.New(failingWriter{})
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	res, err := e.handler.Handle(context.Background(), e.event())
	if err != nil || res.Parts != 2 {
		t.Fatalf("Handle = %+v, %v, want the day's two parts written", res, err)
	}
	// Two parts, the day's completion and the calls.
	if n := strings.Count(logs.String(), `level=WARN msg="metrics not written"`); n != 4 {
		t.Errorf("logged %d warnings that metrics were not written, want 4:\n%s", n, logs)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("logs = %s, want no error", logs)
	}
}
