package batchget

import (
	"context"
	"testing"
	"time"
)

func TestAdaptiveLimiter(t *testing.T) {
	clock := newFakeClock()
	l := newAdaptiveLimiter(Options{
		Rate: 16, Burst: 1, MinRate: 1, DecreaseFactor: 0.5, RecoveryStep: 4,
		Now: clock.Now, Sleep: clock.Sleep,
	})
	step := func() time.Time {
		if err := clock.Sleep(context.Background(), time.Millisecond); err != nil {
			t.Fatal(err)
		}
		return clock.Now()
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
}

// TestAdaptiveLimiterPaces checks that the limiter really spaces calls at its rate.
func TestAdaptiveLimiterPaces(t *testing.T) {
	clock := newFakeClock()
	l := newAdaptiveLimiter(Options{Rate: 10, Burst: 1, MinRate: 1, DecreaseFactor: 0.5, RecoveryStep: 1, Now: clock.Now, Sleep: clock.Sleep})
	start := clock.Now()
	for range 21 {
		if err := l.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := clock.Now().Sub(start), 2*time.Second; got != want {
		t.Errorf("21 calls at 10/s, burst 1, took %v, want %v", got, want)
	}
	l.throttled(clock.Now())
	start = clock.Now()
	for range 10 {
		if err := l.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := clock.Now().Sub(start), 2*time.Second; got != want {
		t.Errorf("10 calls after halving to 5/s took %v, want %v", got, want)
	}
}
