package lookup

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/athenausage/athena-usage/pkg/apioutput"
	"github.com/athenausage/athena-usage/pkg/emf"
)

// Metric names of the lookup function, in namespace emf.DefaultNamespace with the dimension
// emf.StackDimension (and DimensionErrorCode for MetricUnprocessedIDs).
const (
	// MetricQueriesLookedUp is the number of query IDs a part was written with, one value
	// per part: the queries looked up, and those whose final row an earlier run left (reused).
	MetricQueriesLookedUp = "QueriesLookedUp"
	// MetricUnprocessedIDs is the number of a part's IDs written with a lookup_error, one
	// value per part and error code (DimensionErrorCode).
	MetricUnprocessedIDs = "UnprocessedIds"
	// MetricThrottles is the number of BatchGetQueryExecution calls Athena throttled, one
	// value per invocation, failed ones included.
	MetricThrottles = "Throttles"
	// MetricBatchGetCalls is the number of BatchGetQueryExecution calls made, retries
	// included, one value per invocation, failed ones included.
	MetricBatchGetCalls = "BatchGetCalls"
	// MetricPartDuration is the time a part took from its first lookup to its upload.
	MetricPartDuration = "PartDuration"
	// MetricDayComplete is 1 when the lookup of a day completes: its manifest is written
	// complete.
	MetricDayComplete = "DayComplete"
	// MetricDayLag is the time from the end of the day (midnight UTC after it) to its
	// completion, written with MetricDayComplete.
	MetricDayLag = "DayLag"

	// DimensionErrorCode is the dimension of MetricUnprocessedIDs: the lookup_error written,
	// Athena's ErrorCode or one of the LookupError* codes.
	DimensionErrorCode = "ErrorCode"
)

// putMetrics writes one metrics line. A line that cannot be written is logged, and costs the
// invocation nothing.
func (inv *invocation) putMetrics(ctx context.Context, dims []emf.Dimension, metrics ...emf.Metric) {
	if err := inv.h.opts.Metrics.Put(dims, metrics...); err != nil {
		inv.log.WarnContext(ctx, "metrics not written", "err", err)
	}
}

// putPartMetrics writes the metrics of a written part: its IDs and duration, and its IDs
// written with a lookup_error, by code.
func (inv *invocation) putPartMetrics(ctx context.Context, rows []apioutput.Row, took time.Duration) {
	if inv.h.opts.Metrics == nil {
		return
	}
	inv.putMetrics(ctx, nil,
		emf.Metric{Name: MetricQueriesLookedUp, Unit: emf.Count, Value: float64(len(rows))},
		emf.Metric{Name: MetricPartDuration, Unit: emf.Milliseconds, Value: float64(took) / float64(time.Millisecond)})
	codes := map[string]int{}
	for _, r := range rows {
		if r.LookupError != "" {
			codes[r.LookupError]++
		}
	}
	for _, code := range slices.Sorted(maps.Keys(codes)) {
		inv.putMetrics(ctx, []emf.Dimension{{Name: DimensionErrorCode, Value: code}},
			emf.Metric{Name: MetricUnprocessedIDs, Unit: emf.Count, Value: float64(codes[code])})
	}
}

// putCallMetrics writes the invocation's BatchGetQueryExecution calls and throttles.
func (inv *invocation) putCallMetrics(ctx context.Context) {
	inv.mu.Lock()
	calls := inv.calls
	inv.mu.Unlock()
	inv.putMetrics(ctx, nil,
		emf.Metric{Name: MetricBatchGetCalls, Unit: emf.Count, Value: float64(calls.Calls)},
		emf.Metric{Name: MetricThrottles, Unit: emf.Count, Value: float64(calls.Throttled)})
}

// putDayMetrics writes that the day is complete, and how long after its end.
func (inv *invocation) putDayMetrics(ctx context.Context) {
	end := inv.day.AddDate(0, 0, 1)
	inv.putMetrics(ctx, nil,
		emf.Metric{Name: MetricDayComplete, Unit: emf.Count, Value: 1},
		emf.Metric{Name: MetricDayLag, Unit: emf.Seconds, Value: time.Since(end).Seconds()})
}
