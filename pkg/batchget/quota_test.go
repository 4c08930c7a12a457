package batchget

import (
	"context"
	"fmt"
	"os"
	"testing"
	"testing/synctest"
	"time"
)

// TestLimiterFindsQuota runs the engine, with its defaults, against quotaServer on synctest's
// clock (seconds of simulated calls take milliseconds) and logs the figures issue 10 asks for:
// IDs/s ÷ (quota × 50) and calls ÷ ceil(N/50). It asserts that no ID is lost and that the limiter
// does not collapse; the targets (0.90 and 1.02) are not all met yet (docs/design.md,
// "Throughput"), so they are logged, not asserted. LIMITER_TRACE=1 logs the limiter each second.
func TestLimiterFindsQuota(t *testing.T) {
	for _, tt := range []struct {
		quota     int
		throttle  float64
		ids       int
		wantFrac  float64 // issue 10's least IDs/s ÷ (quota × 50)
		wantCalls float64 // issue 10's most calls ÷ ceil(ids/50)
		minFrac   float64 // no collapse: asserted
	}{
		{quota: 20, ids: 30_000, wantFrac: 0.90, wantCalls: 1.02, minFrac: 0.5},
		{quota: 200, ids: 200_000, wantFrac: 0.90, wantCalls: 1.02, minFrac: 0.5},
		{quota: 20, ids: 30_000, throttle: 0.1, wantFrac: 0.65, wantCalls: 1.2, minFrac: 0.1},
		{quota: 200, ids: 200_000, throttle: 0.1, wantFrac: 0.65, wantCalls: 1.2, minFrac: 0.1},
	} {
		t.Run(fmt.Sprintf("quota=%d/throttle=%v", tt.quota, tt.throttle), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				server := newQuotaServer(tt.quota)
				server.throttle = tt.throttle
				e := New(server)
				ids := makeIDs(tt.ids)
				done := make(chan struct{})
				if os.Getenv("LIMITER_TRACE") != "" {
					go func() {
						tick := time.NewTicker(time.Second)
						defer tick.Stop()
						for {
							select {
							case <-done:
								return
							case <-tick.C:
								e.limiter.mu.Lock()
								t.Logf("rate=%.1f ceiling=%.1f background=%.3f slots=%d calls=%d throttled=%d",
									e.limiter.current, e.limiter.ceiling, e.limiter.background, e.slots.size(), server.calls.Load(), server.throttled.Load())
								e.limiter.mu.Unlock()
							}
						}
					}()
				}
				start := time.Now()
				rows, _, err := e.Lookup(context.Background(), ids)
				elapsed := time.Since(start)
				close(done)
				if err != nil {
					t.Fatalf("Lookup: %v", err)
				}
				checkRows(t, ids, rows)
				frac := float64(tt.ids) / elapsed.Seconds() / float64(tt.quota*MaxBatchSize)
				calls := float64(server.calls.Load()) / float64((tt.ids+MaxBatchSize-1)/MaxBatchSize)
				t.Logf("fraction=%.3f calls_ratio=%.3f throttled=%d rate=%.1f", frac, calls, server.throttled.Load(), e.Totals().Rate)
				if frac < tt.minFrac {
					t.Errorf("IDs/s ÷ (quota × 50) = %.3f, want >= %v", frac, tt.minFrac)
				}
				if frac < tt.wantFrac || calls > tt.wantCalls {
					t.Logf("short of issue 10's targets: fraction >= %v, calls ratio <= %v", tt.wantFrac, tt.wantCalls)
				}
			})
		})
	}
}
