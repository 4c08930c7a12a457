package batchget

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// adaptiveLimiter is a token bucket whose rate backs off when the service throttles and creeps
// back up while calls succeed (AIMD, as TCP does): halving reacts to a quota shared with other
// clients within a few calls, and additive recovery avoids throttling again at once.
type adaptiveLimiter struct {
	lim      *rate.Limiter
	max, min float64
	step     float64
	factor   float64

	mu           sync.Mutex
	current      float64
	lastDecrease time.Time
}

func newAdaptiveLimiter(o Options) *adaptiveLimiter {
	return &adaptiveLimiter{
		lim:     rate.NewLimiter(rate.Limit(o.Rate), o.Burst),
		max:     o.Rate,
		min:     min(o.MinRate, o.Rate),
		step:    o.RecoveryStep,
		factor:  o.DecreaseFactor,
		current: o.Rate,
	}
}

// wait blocks until the limiter allows one more call, or until ctx is done. Unlike
// rate.Limiter.Wait it does not give up early on a delay past ctx's deadline: the caller sees
// only the context's own error, never one it would take for a transient failure.
func (l *adaptiveLimiter) wait(ctx context.Context) error {
	r := l.lim.Reserve()
	d := r.Delay()
	if d <= 0 {
		return nil
	}
	if err := sleep(ctx, d); err != nil {
		r.Cancel()
		return err
	}
	return nil
}

// throttled slows the limiter down for a call sent at sent that the service throttled. Calls
// sent before (or at) the last decrease were paced by the old rate, so they don't count again: a burst
// of throttled calls halves the rate once, not once per call.
func (l *adaptiveLimiter) throttled(sent time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.lastDecrease.IsZero() && !sent.After(l.lastDecrease) {
		return
	}
	l.lastDecrease = time.Now()
	l.current = max(l.min, l.current*l.factor)
	l.lim.SetLimitAt(l.lastDecrease, rate.Limit(l.current))
}

// succeeded lets the rate recover by one step, up to the configured rate.
func (l *adaptiveLimiter) succeeded() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.current >= l.max {
		return
	}
	l.current = min(l.max, l.current+l.step)
	l.lim.SetLimit(rate.Limit(l.current))
}

// rate is the current rate in calls per second.
func (l *adaptiveLimiter) rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.current
}
