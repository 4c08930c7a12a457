package batchget

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

func TestAdaptiveLimiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newAdaptiveLimiter(Options{Rate: 16, Burst: 1, MinRate: 1, DecreaseFactor: 0.5, RecoveryStep: 4})
		// step moves synctest's clock on, so that each call is sent after the last decrease.
		step := func() time.Time {
			time.Sleep(time.Millisecond)
			return time.Now()
		}

		sent := step()
		step()
		l.throttled(sent)
		if got := l.rate(); got != 8 {
			t.Fatalf("rate after one throttle = %v, want 8", got)
		}
		// A call sent before that decrease was paced by the old rate: no second decrease.
		l.throttled(sent)
		if got := l.rate(); got != 8 {
			t.Errorf("rate after a throttle of an older call = %v, want 8", got)
		}
		for range 10 {
			l.throttled(step())
		}
		if got := l.rate(); got != 1 {
			t.Errorf("rate after many throttles = %v, want the floor 1", got)
		}
		l.succeeded()
		if got := l.rate(); got != 5 {
			t.Errorf("rate after one success = %v, want 5", got)
		}
		for range 10 {
			l.succeeded()
		}
		if got := l.rate(); got != 16 {
			t.Errorf("rate after many successes = %v, want the configured 16", got)
		}
	})
}

// TestAdaptiveLimiterPaces checks that the limiter really spaces calls at its rate.
func TestAdaptiveLimiterPaces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newAdaptiveLimiter(Options{Rate: 10, Burst: 1, MinRate: 1, DecreaseFactor: 0.5, RecoveryStep: 1})
		start := time.Now()
		for range 21 {
			if err := l.wait(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if got, want := time.Since(start), 2*time.Second; got != want {
			t.Errorf("21 calls at 10/s, burst 1, took %v, want %v", got, want)
		}
		l.throttled(time.Now())
		start = time.Now()
		for range 10 {
			if err := l.wait(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if got, want := time.Since(start), 2*time.Second; got != want {
			t.Errorf("10 calls after halving to 5/s took %v, want %v", got, want)
		}
	})
}

// TestAdaptiveLimiterCanceled checks that a wait cut short by its context gives the context's
// error and hands its reservation back.
func TestAdaptiveLimiterCanceled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newAdaptiveLimiter(Options{Rate: 1, Burst: 1, MinRate: 1, DecreaseFactor: 0.5, RecoveryStep: 1})
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
