package batchget

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/athena"
)

// quotaServer is a fake Athena with a real quota: a token bucket of rate calls/s that starts
// full at burst tokens (Athena's default is 20/s, burst 40), and a latency of 50-150 ms per call.
type quotaServer struct {
	rate, burst float64
	// throttle is the share of calls throttled at random, whatever the rate; serverError the
	// share answered with InternalServerException; unprocessed the share of IDs returned
	// unprocessed with InternalServerException. As the stand-in does, a call takes its quota
	// token before the dice are rolled.
	throttle, serverError, unprocessed float64

	mu     sync.Mutex
	tokens float64
	last   time.Time

	calls, throttled atomic.Int64
}

func newQuotaServer(rate int) *quotaServer {
	return &quotaServer{rate: float64(rate), burst: 2 * float64(rate), tokens: 2 * float64(rate), last: time.Now()}
}

func (s *quotaServer) admit() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.tokens = min(s.burst, s.tokens+now.Sub(s.last).Seconds()*s.rate)
	s.last = now
	if s.tokens < 1 {
		return false
	}
	s.tokens--
	return true
}

func (s *quotaServer) BatchGetQueryExecution(ctx context.Context, in *athena.BatchGetQueryExecutionInput, _ ...func(*athena.Options)) (*athena.BatchGetQueryExecutionOutput, error) {
	s.calls.Add(1)
	// As the stand-in does: the latency first, then the quota, so that calls reach the bucket
	// in a jittered order.
	if err := sleep(ctx, 50*time.Millisecond+rand.N(100*time.Millisecond)); err != nil {
		return nil, err
	}
	ok := s.admit()
	if !ok || rand.Float64() < s.throttle {
		s.throttled.Add(1)
		return nil, apiError("ThrottlingException")
	}
	if rand.Float64() < s.serverError {
		return nil, apiError("InternalServerException")
	}
	out := &athena.BatchGetQueryExecutionOutput{}
	for _, id := range in.QueryExecutionIds {
		if rand.Float64() < s.unprocessed {
			out.UnprocessedQueryExecutionIds = append(out.UnprocessedQueryExecutionIds, unprocessed(id, "InternalServerException"))
			continue
		}
		out.QueryExecutions = append(out.QueryExecutions, execution(id))
	}
	return out, nil
}

// BenchmarkFanout measures how close the engine gets to a quota of N calls/s (N×50 IDs/s).
func BenchmarkFanout(b *testing.B) {
	for _, bc := range []struct {
		quota, ids int
		throttle   float64
		min        float64
	}{
		{quota: 20, ids: 30_000, min: 90},   // 600 calls: 30 s at 20/s
		{quota: 200, ids: 200_000, min: 90}, // 4,000 calls: 20 s at 200/s
		{quota: 20, ids: 30_000, throttle: 0.1, min: 65},
		{quota: 200, ids: 200_000, throttle: 0.1, min: 65},
	} {
		b.Run(fmt.Sprintf("N=%d/throttle=%v", bc.quota, bc.throttle), func(b *testing.B) {
			ids := makeIDs(bc.ids)
			var elapsed time.Duration
			var finalRate float64
			var calls int64
			var done, lost int
			var throttled int64
			for b.Loop() {
				server := newQuotaServer(bc.quota)
				server.throttle = bc.throttle
				// The shipped defaults: the limiter has to find the quota by itself.
				e := New(server)
				start := time.Now()
				rows, _, err := e.Lookup(context.Background(), ids)
				elapsed += time.Since(start)
				if err != nil {
					b.Fatalf("Lookup: %v", err)
				}
				for i, id := range ids {
					if i >= len(rows) || rows[i].QueryID != id || rows[i].LookupError != "" {
						lost++
					}
				}
				done += len(ids)
				throttled += server.throttled.Load()
				calls += server.calls.Load()
				finalRate = e.Totals().Rate
			}
			idsPerSec := float64(done) / elapsed.Seconds()
			pct := idsPerSec / float64(bc.quota*MaxBatchSize) * 100
			b.ReportMetric(idsPerSec, "ids/s")
			b.ReportMetric(pct, "pct_of_quota")
			b.ReportMetric(float64(lost), "lost_ids")
			b.ReportMetric(float64(throttled), "throttled")
			b.ReportMetric(finalRate, "final_rate")
			b.ReportMetric(float64(calls)/float64(b.N*(bc.ids/MaxBatchSize)), "calls_ratio")
			if lost > 0 {
				b.Fatalf("%d IDs lost", lost)
			}
			if pct < bc.min {
				// Issue 10's target; not met by every case yet (docs/design.md, "Throughput").
				b.Logf("pct_of_quota = %.1f, short of %v", pct, bc.min)
			}
		})
	}
}
