package batchget

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// adaptiveLimiter paces calls with a token bucket whose rate finds the account's quota: it probes
// upward while calls succeed and backs off when Athena throttles, then holds Headroom under the
// quota it found. docs/design.md ("Throughput") gives the measurements behind each rule.
//
// Throttles are judged per window, one round trip of calls: the calls sent after the last
// decision. A window decides at most once, so a burst of throttles in flight counts once. The
// rate falls in proportion to the share of the window's calls throttled beyond the background
// share (throttles that come whatever our rate, such as another client's or Athena's own), so
// sporadic throttling does not collapse it: after a decrease to the quota actually left to us, the
// next window sees no more excess throttling.
type adaptiveLimiter struct {
	lim      *rate.Limiter
	max, min float64
	headroom float64
	probe    float64

	mu      sync.Mutex
	current float64
	// ceiling is the quota left to us, as found by the last excess throttling; 0 while unknown.
	ceiling float64
	// background is the share of calls throttled whatever the rate (an average over windows).
	background float64
	// checking is set by a decrease: the next window tells, by whether throttling fell,
	// how much of it comes whatever our rate.
	checking bool
	// learned counts the windows averaged into background, up to backgroundWindows.
	learned int
	// win is the window being counted: calls sent at or after its start.
	winStart, winEnd time.Time
	winCalls         int
	winThrottled     int
	lastGrow         time.Time
	// okTimes are when the calls of the last meterSpan succeeded, oldest first: what got
	// through, the quota left to us once throttling starts.
	okTimes []time.Time
	// latency is a smoothed call latency and latencyDev its mean deviation, for concurrency.
	latency, latencyDev time.Duration
}

// Tuning of the limiter that is not an option: each value is explained in docs/design.md.
const (
	// slowStartGrowth is the rate's growth per second while no quota is known (as TCP's slow
	// start): from DefaultStartRate to 200/s in about 3.5 s.
	slowStartGrowth = 0.7
	// catchUpGrowth is the growth per second back up to (1-Headroom) × the known quota.
	catchUpGrowth = 0.5
	// windowCalls is the fewest calls a window counts before it ends, so that one throttle
	// out of a few calls is not read as a share.
	windowCalls = 16
	// earlyThrottles significant throttles end a window early.
	earlyThrottles = 4
	// staleCeiling: probing this far above the known quota without excess throttling means the
	// quota was raised or a co-tenant left; the limiter forgets it and starts slowly again.
	staleCeiling = 2
	// meterSpan is how far back the rate of successful calls is measured.
	meterSpan = time.Second
	// maxDecrease is the largest cut one window makes.
	maxDecrease = 0.8
	// backgroundWindows is how many windows the background throttle share averages over.
	backgroundWindows = 16
)

func newAdaptiveLimiter(o Options) *adaptiveLimiter {
	start := min(o.StartRate, o.Rate)
	now := time.Now()
	return &adaptiveLimiter{
		lim:      rate.NewLimiter(rate.Limit(start), o.Burst),
		max:      o.Rate,
		min:      min(o.MinRate, start),
		headroom: o.Headroom,
		probe:    o.Probe,
		current:  start,
		winStart: now,
		lastGrow: now,
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

// done records the outcome of a call sent at sent: throttled or not. Calls that failed otherwise
// are not counted: they say nothing about the quota.
func (l *adaptiveLimiter) done(sent time.Time, throttled bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	l.observe(now.Sub(sent))
	if sent.Before(l.winStart) {
		// Paced by a rate already decided on.
		return
	}
	l.winCalls++
	if throttled {
		l.winThrottled++
	} else {
		l.okTimes = append(l.okTimes, now)
	}
	cut := 0
	for cut < len(l.okTimes) && now.Sub(l.okTimes[cut]) > meterSpan {
		cut++
	}
	l.okTimes = l.okTimes[cut:]
	if l.winEnd.IsZero() {
		// The window ends with the calls sent one round trip after it started.
		l.winEnd = l.winStart.Add(l.roundTrip())
	}
	excess, significant := l.excess()
	if l.checking {
		significant = false
	}
	switch {
	case significant && (l.winThrottled >= earlyThrottles || !sent.Before(l.winEnd)):
		// Throttled beyond chance: decide now, not after more calls into an empty bucket.
		l.decrease(now, excess)
	case l.winCalls < windowCalls || sent.Before(l.winEnd):
		if !throttled && l.winThrottled == 0 {
			l.grow(now)
		}
	default:
		l.learn()
		l.grow(now)
		l.winStart, l.winEnd = now, time.Time{}
		l.winCalls, l.winThrottled = 0, 0
	}
}

// excess is the window's share of throttled calls beyond the background share, and whether it is
// more than chance explains: three standard deviations of a binomial share over the window, two
// while probing above the quota found (with at least half a call of background, so that one
// throttle in a window is not read as the quota).
func (l *adaptiveLimiter) excess() (float64, bool) {
	if l.winThrottled == 0 {
		return 0, false
	}
	n := float64(l.winCalls)
	share := float64(l.winThrottled) / n
	p := max(l.background, 0.5/n)
	excess := share - l.background
	sds := 3.0
	if l.ceiling != 0 && l.current > l.ceiling*(1-l.headroom) {
		// Probing above the quota found: throttling is expected soon, so less evidence will do.
		sds = 2
	}
	return excess, excess > sds*math.Sqrt(p*(1-p)/n)
}

// decrease sets the rate to (1-Headroom) × what got through, the quota left to us, and starts a
// new window. One window cuts the rate by at most maxDecrease, so that a few unlucky calls
// cannot floor it.
func (l *adaptiveLimiter) decrease(now time.Time, excess float64) {
	// What got through is the quota left to us: the rate of calls that succeeded over the last
	// meterSpan, or the rate less the excess share if that is more. Both can overshoot (the
	// quota's burst lets more through for a while), which the next window corrects; an
	// undershoot would cost minutes of probing.
	got := float64(len(l.okTimes)) / meterSpan.Seconds()
	l.ceiling = max(got, l.current*max(1-excess, 1-maxDecrease))
	l.setRate(now, l.ceiling*(1-l.headroom))
	// Calls already waiting hold reservations made at the old rate and go out within about a
	// latency (the engine keeps about twice rate × latency in flight): they don't count again.
	l.winStart, l.winEnd = now.Add(l.latency), time.Time{}
	l.winCalls, l.winThrottled = 0, 0
	l.checking = true
}

// learn folds the window's throttled share into the background share. Only windows paced under
// the quota found say what throttling comes whatever our rate: a probe above it would teach the
// limiter to take quota throttling for background.
func (l *adaptiveLimiter) learn() {
	if !l.checking && l.ceiling != 0 && l.current > l.ceiling*(1-l.headroom)*1.01 {
		return
	}
	l.checking = false
	share := float64(l.winThrottled) / float64(l.winCalls)
	l.learned = min(l.learned+1, backgroundWindows)
	l.background += (share - l.background) / float64(l.learned)
}

// grow raises the rate for the time since it last grew: fast while no quota is known, back up to
// (1-Headroom) × the quota it found, then slowly, by Probe per second, to find a raised one.
func (l *adaptiveLimiter) grow(now time.Time) {
	// Growth after a pause is bounded to a round trip's worth: the rate was not tested meanwhile.
	dt := min(now.Sub(l.lastGrow), l.roundTrip()).Seconds()
	l.lastGrow = now
	if l.lim.TokensAt(now) >= 1 {
		// Calls are not waiting for the limiter: its rate is not what is being tested.
		return
	}
	r := l.current
	switch target := l.ceiling * (1 - l.headroom); {
	case l.ceiling == 0:
		r *= math.Exp(slowStartGrowth * dt)
	case r < target:
		r = min(target, r*math.Exp(catchUpGrowth*dt))
	default:
		r *= math.Exp(l.probe * dt)
		if r > l.ceiling*staleCeiling {
			l.ceiling = 0
		}
	}
	l.setRate(now, r)
}

func (l *adaptiveLimiter) setRate(now time.Time, r float64) {
	l.current = min(l.max, max(l.min, r))
	l.lastGrow = now
	l.lim.SetLimitAt(now, rate.Limit(l.current))
}

// observe folds one call's latency into the smoothed latency and its deviation (as TCP's
// round-trip estimate, RFC 6298).
func (l *adaptiveLimiter) observe(d time.Duration) {
	if l.latency == 0 {
		l.latency, l.latencyDev = d, d/2
		return
	}
	dev := l.latency - d
	if dev < 0 {
		dev = -dev
	}
	l.latencyDev += (dev - l.latencyDev) / 4
	l.latency += (d - l.latency) / 8
}

// roundTrip is how long a window lasts: a latency (with its deviation, so that most of the
// window's calls are back) and at least windowCalls calls at the current rate.
func (l *adaptiveLimiter) roundTrip() time.Duration {
	rt := l.latency + 2*l.latencyDev
	return max(rt, time.Duration(float64(windowCalls)/l.current*float64(time.Second)))
}

// inFlight is the calls to keep in flight by Little's law: rate × latency, with the latency's
// deviation and a factor of two so that slow calls and waiting for a token don't starve the rate.
// No more: each call waiting holds a reservation made at the rate of its time, which a change of
// rate does not move. Before any call came back it is 0, the fewest the engine allows.
func (l *adaptiveLimiter) inFlight() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.latency == 0 {
		return 0
	}
	return int(math.Ceil(2 * l.current * (l.latency + 2*l.latencyDev).Seconds()))
}

// rate is the current rate in calls per second.
func (l *adaptiveLimiter) rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.current
}
