package batchget

import (
	"context"
	"math"
	"testing"
	"testing/synctest"
	"time"
)

func testLimiterOptions() Options {
	return Options{Rate: 1000, StartRate: 10, Burst: 1, MinRate: 1, Headroom: 0.05, Probe: 0.05}
}

// TestAdaptiveLimiterDecreasesOncePerWindow checks that a window of throttled calls cuts the rate
// once, in proportion to the share throttled, and that calls sent before the cut don't cut again.
func TestAdaptiveLimiterDecreasesOncePerWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newAdaptiveLimiter(testLimiterOptions())
		sent := time.Now()
		time.Sleep(100 * time.Millisecond)
		// Every other call throttled: the window decides at its earlyThrottles-th throttle, 4
		// of 7 calls, and keeps the headroom under what got through.
		want := 10 * (1 - 4.0/7) * 0.95
		for i := range windowCalls {
			l.done(sent, i%2 == 0)
		}
		if got := l.rate(); math.Abs(got-want) > 1e-9 {
			t.Fatalf("rate after a window half throttled = %v, want %v", got, want)
		}
		// Calls sent before the cut were paced by the old rate.
		for range windowCalls {
			l.done(sent, true)
		}
		if got := l.rate(); math.Abs(got-want) > 1e-9 {
			t.Errorf("rate after throttles of older calls = %v, want %v", got, want)
		}
	})
}

// TestAdaptiveLimiterBackground checks that throttling which a lower rate does not cure is
// learned as background and stops cutting the rate.
func TestAdaptiveLimiterBackground(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newAdaptiveLimiter(testLimiterOptions())
		for range 20 {
			time.Sleep(200 * time.Millisecond)
			sent := time.Now()
			time.Sleep(200 * time.Millisecond)
			// One call in eight throttled, window after window, whatever the rate.
			for i := range 2 * windowCalls {
				l.done(sent, i%8 == 0)
			}
		}
		if got := l.rate(); got < 3 {
			t.Errorf("rate after 20 windows with 1/8 of calls throttled = %v, want no collapse (>= 3)", got)
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.background < 0.1 || l.background > 0.15 {
			t.Errorf("background = %v, want about 1/8", l.background)
		}
	})
}

// TestAdaptiveLimiterProbes checks that the rate grows while calls succeed and wait for it.
func TestAdaptiveLimiterProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newAdaptiveLimiter(testLimiterOptions())
		for range 100 {
			sent := time.Now()
			if err := l.wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			l.done(sent, false)
		}
		if got := l.rate(); got <= 10 {
			t.Errorf("rate after 100 calls that waited for it and succeeded = %v, want above the start rate 10", got)
		}
	})
}

// TestAdaptiveLimiterPaces checks that the limiter really spaces calls at its rate.
func TestAdaptiveLimiterPaces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newAdaptiveLimiter(testLimiterOptions())
		start := time.Now()
		for range 21 {
			if err := l.wait(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if got, want := time.Since(start), 2*time.Second; got != want {
			t.Errorf("21 calls at 10/s, burst 1, took %v, want %v", got, want)
		}
		l.setRate(time.Now(), 5)
		start = time.Now()
		for range 10 {
			if err := l.wait(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if got, want := time.Since(start), 2*time.Second; got != want {
			t.Errorf("10 calls after setting 5/s took %v, want %v", got, want)
		}
	})
}

// TestAdaptiveLimiterCanceled checks that a wait cut short by its context gives the context's
// error and hands its reservation back.
func TestAdaptiveLimiterCanceled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := testLimiterOptions()
		o.StartRate = 1
		l := newAdaptiveLimiter(o)
		if err := l.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := l.wait(ctx); err != context.DeadlineExceeded {
			t.Fatalf("wait(a context ending before the next token) = %v, want %v", err, context.DeadlineExceeded)
		}
		// The canceled reservation is handed back: the next call waits for one token, not two.
		start := time.Now()
		if err := l.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got, want := time.Since(start), 900*time.Millisecond; got != want {
			t.Errorf("wait after a canceled one took %v, want %v", got, want)
		}
	})
}
