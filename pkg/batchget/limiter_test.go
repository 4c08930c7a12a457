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

// TestAdaptiveLimiterDecreasesOncePerWindow checks that a window of throttled calls brakes the
// rate once, that calls sent before the brake don't cut again, and that once the overshoot's calls
// are back the rate settles under the quota the window measured.
func TestAdaptiveLimiterDecreasesOncePerWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := testLimiterOptions()
		l := newAdaptiveLimiter(o)
		sent := time.Now()
		time.Sleep(100 * time.Millisecond)
		// Every other call throttled, and the last: with the prior background of 10 % (from 40
		// calls, a measure too), 5 throttles of 8 calls are beyond chance (4 standard
		// deviations), and the window decides; 4 of 7 were not.
		for i := range 8 {
			l.done(sent, i%2 == 0 || i == 7)
		}
		if got := l.rate(); got != o.MinRate {
			t.Fatalf("rate after a window half throttled = %v, want the brake, MinRate %v", got, o.MinRate)
		}
		// Calls sent before the brake were paced by the old rate.
		for range windowCalls {
			l.done(sent, true)
		}
		if got := l.rate(); got != o.MinRate {
			t.Errorf("rate after throttles of older calls = %v, want still %v", got, o.MinRate)
		}
		// A round trip later the overshoot is back: too few calls to measure it, so the window's
		// own estimate stands, the calls sent less those throttled beyond the background.
		time.Sleep(time.Second)
		l.done(time.Now(), false)
		estimate := 10 * (1 - 5.0/8) / (1 - bgPriorShare)
		want := estimate * (1 - o.Headroom) * (1 - recoverCut)
		if got := l.rate(); math.Abs(got-want) > 1e-9 {
			t.Errorf("rate once the overshoot is back = %v, want %v", got, want)
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
		if l.background() < 0.1 || l.background() > 0.15 {
			t.Errorf("background = %v, want about 1/8", l.background())
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
