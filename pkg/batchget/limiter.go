package batchget

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// adaptiveLimiter paces calls with a token bucket whose rate finds the account's quota: it probes
// upward while calls succeed and backs off when Athena throttles, then holds Headroom under the
// quota it found. docs/design.md ("Throughput") gives the measurements behind each rule.
//
// Throttles are judged per window, one round trip of calls: the calls sent after the last
// decision. Its throttled share is compared with the background share, the throttling that comes
// whatever our rate (another client's, Athena's own): an excess far beyond chance within a window
// (while ramping up), or beyond chance over the last few windows pooled, is the quota. The
// limiter then stops for a round trip and measures the quota left to us: after a ramp (the run's
// start, a probe) from all the ramp's calls, as the rate whose bucket they would have emptied
// when the throttling began; while holding under a quota found, by the excess throttled share.
// It resumes once the quota's bucket has refilled a little. A decision that the calls do not
// bear out is undone.
type adaptiveLimiter struct {
	lim      *rate.Limiter
	max, min float64
	headroom float64
	probe    float64

	mu      sync.Mutex
	current float64
	// ceiling is the quota left to us, as the last excess throttling measured it; 0 while unknown.
	ceiling float64
	// bgCalls and bgThrottled count the calls of the windows learned from, with a prior, for
	// the background share.
	bgCalls, bgThrottled float64
	// win is the window being counted: calls sent at or after its start.
	win window
	// ep is the overshoot being measured after a decrease, nil when none is (measure runs on a
	// timer once its calls are back).
	ep *episode
	// lastMeasure is the last measure from an overshoot (not the drain), for decide.
	lastMeasure measured
	// pooled are the calls and throttled calls of the windows since the last decision, each
	// older one weighed down by poolDecay.
	pooled [2]float64
	// long is pooled over more windows (longDecay): a small excess that lasts, a co-tenant
	// crowded by a quota found a little too high, shows there.
	long [2]float64
	// settle: calls sent before it were paced by an older rate, or met a bucket the quota had
	// just emptied; they neither decide nor teach.
	settle time.Time
	// holdUntil: no probing above the quota found before it; hold is the next hold's length.
	holdUntil time.Time
	hold      time.Duration
	lastGrow  time.Time
	// heldAt is when the hold began; heldCalls and heldThrottled count its calls, and extended
	// is whether a quiet shared hold was extended (see quietShare).
	heldAt                   time.Time
	heldCalls, heldThrottled int
	extended                 bool
	// sends are the send times of the calls, oldest first: all those of a ramp (the run's start,
	// a probe) until its overshoot has been measured (drained, see drainEstimate), otherwise
	// those of the last sendMemory.
	sends   []time.Time
	drained bool
	// unmeasured is whether a decision that measured nothing was undone (measure).
	unmeasured bool
	// replayed is whether the ceiling was measured from a ramp's calls (drainEstimate).
	replayed bool
	// remembered is whether the ceiling is an earlier engine's (Options.Quota) that neither a
	// measure nor a whole hold has borne out yet.
	remembered bool
	// found is the quota for a later engine to start from (quota): the last a ramp measured (or
	// the one given), not a cut while holding nor a window's estimate.
	found Quota
	// outcomes are the ramp's calls back, for changePoint.
	outcomes []outcome
	// latency is a smoothed call latency and latencyDev its mean deviation, for concurrency.
	latency, latencyDev time.Duration
	// trace, if set (by tests), logs the limiter's decisions.
	trace func(format string, args ...any)
	// moved is closed, and replaced, when the rate jumps (a decrease, a measure): calls waiting
	// on reservations made at the old rate take new ones.
	moved chan struct{}
}

// outcome is a call back: when it was sent, and whether it was throttled.
type outcome struct {
	sent      time.Time
	throttled bool
}

// measured is what a measure of the quota from an overshoot saw: the rate and the throttled
// share of its calls, and the ceiling it replaced.
type measured struct {
	rate, share, calls, throttled, ceiling float64
}

type window struct {
	start, end       time.Time
	calls, throttled int
	// first and last are the earliest and latest send times of its calls; firstThrottled of its
	// throttled calls.
	first, last, firstThrottled time.Time
}

// episode measures an overshoot: the calls sent from the first throttled one to the decision
// that cut the rate. The quota's bucket was empty all along, so the rate at which the quota let
// them in is the quota left to us; once they are all back, that is a far larger sample than the
// window that decided.
type episode struct {
	from, to         time.Time
	calls, throttled int
	// estimate is the deciding window's own estimate of the ceiling; rate the rate before.
	estimate, rate float64
	// decided is what the decision saw, and the ceiling before it.
	decided measured
	// held is whether the decision came while holding under a quota found.
	held bool
}

// sendRate is the rate at which calls were sent from from to to, all of them, not only those
// back yet (the quick ones), or 0 if it cannot tell.
func (l *adaptiveLimiter) sendRate(from, to time.Time) float64 {
	span := to.Sub(from).Seconds()
	if span <= 0 {
		return 0
	}
	n := 0
	for _, t := range l.sends {
		if !t.Before(from) && !t.After(to) {
			n++
		}
	}
	if n < 2 {
		return 0
	}
	return float64(n-1) / span
}

// Tuning of the limiter that is not an option: each value is explained in docs/design.md.
const (
	// slowStartGrowth is the rate's growth per second while no quota is known (as TCP's slow
	// start), gentler under twice Athena's default quota and above slowStartHigh: from 19/s to
	// 200/s in about 2.9 s.
	slowStartGrowth = 1.0
	// slowStartHigh: from this rate on, the growth falls as the square root of the rate. A
	// ramp at slowStartGrowth meets the quota's bucket empty at 4.5 times the quota, whatever
	// the quota (its burst is 2 s of it), and throttles for a round trip at 3.5 times it: 70
	// calls at 200 calls/s. Slower from here on, it meets a quota of 200 at 3.1 times it, a
	// quota of 400 at 2.7, and reaches either about as soon: it crosses them later, but calls
	// over the quota are taken from its burst, not lost.
	slowStartHigh = 5 * defaultQuota
	// catchUpGrowth is the growth per second back up to the settled rate (settled).
	catchUpGrowth = 0.5
	// recoverCut is how far under the settled rate a decrease goes, so that the
	// quota's bucket, which the overshoot emptied, refills before the rate is back.
	recoverCut = 0.1
	// windowCalls is the fewest calls a window counts before it ends, so that one throttle
	// out of a few calls is not read as a share.
	windowCalls = 16
	// earlyThrottles significant throttles end a window early.
	earlyThrottles = 3
	// strongSDs is how many standard deviations of excess a window acts on before it ends; 3
	// over the pooled windows otherwise.
	strongSDs = 4
	// poolDecay weighs each older window in the pool: about four windows count; longDecay in
	// the long pool, about twenty.
	poolDecay = 0.75
	longDecay = 0.95
	// defaultQuota is Athena's default BatchGetQueryExecution quota, calls/s.
	defaultQuota = 20
	// probeDoubling is how often the probe's growth doubles while it meets no quota.
	probeDoubling = 5 * time.Second
	// maxHeldCut is the largest cut to the quota found that a decision while holding makes:
	// one from a few unlucky calls costs little, and a quota that fell more is cut again a
	// round trip later.
	maxHeldCut = 0.35
	// heldCutFactor: a decision while holding cuts the rate by this many times the excess
	// throttled share. Once is what the quota let through if we were its only client; another
	// client of the account meets the same empty bucket and takes its part of the throttles,
	// and cutting by the excess alone left it throttled for the whole hold.
	heldCutFactor = 2
	// maxDecrease is the largest cut one measure makes to the rate it was taken at.
	maxDecrease = 0.8
	// firstHold is how long the rate holds at the settled rate before probing
	// above it; each probe that finds the same quota doubles it, up to maxHold.
	firstHold = 30 * time.Second
	maxHold   = 5 * time.Minute
	// heldCutHold is the hold after a cut while holding, before it probes again.
	heldCutHold = firstHold / 3
	// agree is how close two measures of the ceiling must be to confirm it.
	agree = 0.15
	// pause is the least time the limiter stops after an overshoot: the quota's bucket refills
	// meanwhile, so that the calls' jitter does not meet an empty bucket when they resume.
	pause = 200 * time.Millisecond
	// startBoost and startBoostFor: a run that starts from a quota found before (startAt) runs
	// at startBoost over it for startBoostFor, which spends half the quota's burst.
	startBoost    = 0.25
	startBoostFor = 2 * burstSeconds * time.Second
	// burstSeconds is Athena's documented burst of BatchGetQueryExecution in seconds of its
	// rate: 40 calls for 20 calls/s.
	burstSeconds = 2
	// maxHistory bounds the send times kept for drainEstimate: a ramp of a minute at 500/s.
	maxHistory = 30_000
	// stillRate: a decision at this share of the last measure's rate or less checks whether
	// throttling fell with the rate.
	stillRate = 0.9
	// learnUnder: only windows at this share of the quota found or less teach the background.
	learnUnder = 0.75
	// drainFloor: a drain estimate under this share of the overshoot's own is not believed.
	drainFloor = 0.4
	// minChangeGain is how much likelier (in natural log) a change in the throttled share must
	// make the ramp's calls than the background share alone, for the bucket to have run out.
	minChangeGain = 10
	// probeChangeGain is the same for a probe's ramp, which starts under a quota found and is
	// expected to meet it: a change it reads too early measures under that quota, which a probe
	// never lowers. At 10, a probe's 5 throttles (the decision's) measured nothing, and the
	// deciding window's own estimate held a co-tenant's share 90 % too high.
	probeChangeGain = 5
	// earlyChangeGain is the same for the run's first ramp while it is quiet (quietRamp), to
	// decide at once, not after a window's worth of throttled calls: a window also counts the
	// calls sent before the bucket ran out, and at 4 times the quota it decided a round trip
	// later, after 3 to 4 more throttled calls at 20 calls/s and 10 to 30 at 200. A decision
	// that was chance is undone when the ramp's calls measure nothing (drainEstimate).
	earlyChangeGain = 5
	// quietBackground: under a remembered quota (startAt), a background share under it lets
	// the run's calls measure the quota at probeChangeGain. The calls' first throttles beside a
	// co-tenant who came since measured nothing at minChangeGain, and the co-tenant lost up to
	// 24 calls to the windows' measures; under 10 % of random throttling, a cluster of them read
	// 11.7 where 20 were remembered, at probeChangeGain.
	quietBackground = 0.05
	// minEpisode is the fewest calls an overshoot's measure needs.
	minEpisode = 6
	// bgPriorCalls and bgPriorShare are the prior of the background share: as if 40 calls had
	// been seen with 10 % throttled, so that the first throttles of a run, before anything is
	// learned, are not taken for the quota.
	bgPriorCalls = 40
	bgPriorShare = 0.1
	// relearnPriorCalls is the prior's weight when the background is relearned from the calls
	// of a ramp: at the default quota they are about 60, and at 40 the prior kept a background
	// of 4 % where none was, which hid a co-tenant's throttling; at 10, a ramp's few calls
	// learned 10 % of random throttles too low too often.
	relearnPriorCalls = 20
	// quietCalls and quietShare: a hold of at least quietCalls calls with at most quietShare of
	// them throttled is quiet (quietShare).
	quietCalls = 100
	quietShare = 0.01
	// bgMemory is how many calls the background share remembers.
	bgMemory = 2000
	// sendMemory is how far back send times are kept: longer than a window.
	sendMemory = 2 * time.Second
)

// logf logs a decision to l.trace, if set.
func (l *adaptiveLimiter) logf(format string, args ...any) {
	if l.trace != nil {
		l.trace(format, args...)
	}
}

func newAdaptiveLimiter(o Options) *adaptiveLimiter {
	start := min(o.StartRate, o.Rate)
	now := time.Now()
	l := &adaptiveLimiter{
		lim:         rate.NewLimiter(rate.Limit(start), o.Burst),
		max:         o.Rate,
		min:         min(o.MinRate, start),
		headroom:    o.Headroom,
		probe:       o.Probe,
		current:     start,
		bgCalls:     bgPriorCalls,
		bgThrottled: bgPriorCalls * bgPriorShare,
		win:         window{start: now},
		hold:        firstHold,
		lastGrow:    now,
		moved:       make(chan struct{}),
	}
	if q := o.Quota; q.Rate > 0 {
		l.startAt(now, q)
	}
	return l
}

// startAt starts the limiter under the quota q an earlier engine found, as measure would have
// left it: holding at the settled rate for firstHold, then probing. A ramp into the quota's
// burst, which is all a run that knows nothing can do, ends in an overshoot: 36-64 throttled
// calls at 200 calls/s (the burst hides the quota until the ramp is at about 3 times it), and
// none to five of another client's calls (a median of one) throttled with ours when the quota
// is shared. The quota is taken as a ramp's measure (replayed): a shared one gets the wider
// headroom. A quota that fell since throttles the first windows far beyond chance: while
// remembered, those decide as a ramp's do, at once, measured from the run's calls since it
// started or from the overshoot's, and not cut at most maxHeldCut (but see measure for a
// decision that measured nothing).
func (l *adaptiveLimiter) startAt(now time.Time, q Quota) {
	l.ceiling, l.found = q.Rate, q
	if q.Background > 0 {
		// As the calls of a ramp teach it (drainEstimate).
		l.bgCalls, l.bgThrottled = bgPriorCalls, bgPriorCalls*q.Background
	}
	l.replayed, l.remembered = true, true
	l.heldAt, l.holdUntil = now, now.Add(firstHold)
	settled := l.settled(l.ceiling)
	l.current = min(l.max, max(l.min, settled))
	if !shared(l.ceiling) {
		// The quota's bucket is full when the day starts: the run spends at most half of it
		// at first, as a ramp would have (and more), with none of the ramp's throttles. Under
		// a shared quota, the other client's calls may have emptied it in part.
		boosted := min(l.max, max(l.min, l.ceiling*(1+startBoost)))
		l.current = boosted
		time.AfterFunc(startBoostFor, func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.current == boosted {
				// Nothing moved the rate meanwhile.
				l.jump(time.Now(), settled)
			}
		})
	}
	l.lim.SetLimitAt(now, rate.Limit(l.current))
	l.logf("start quota=%.1f measured=%v rate=%.1f", q.Rate, q.Measured, l.current)
}

// quota is the quota found, for an engine made later to start from.
func (l *adaptiveLimiter) quota() Quota {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.found.Rate == 0 {
		return Quota{}
	}
	q := l.found
	q.Background = l.background()
	return q
}

// wait blocks until the limiter allows one more call, or until ctx is done. Unlike
// rate.Limiter.Wait it does not give up early on a delay past ctx's deadline: the caller sees
// only the context's own error, never one it would take for a transient failure. When the rate
// jumps meanwhile, it reserves again at the new rate.
func (l *adaptiveLimiter) wait(ctx context.Context) error {
	for {
		l.mu.Lock()
		moved, lim := l.moved, l.lim
		l.mu.Unlock()
		r := lim.Reserve()
		d := r.Delay()
		if d <= 0 {
			l.sent()
			return nil
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
			l.sent()
			return nil
		case <-moved:
			t.Stop()
			r.Cancel()
		case <-ctx.Done():
			t.Stop()
			r.Cancel()
			return ctx.Err()
		}
	}
}

// sent records that a call goes out now.
func (l *adaptiveLimiter) sent() {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if len(l.sends) >= maxHistory {
		// A ramp too long to replay: no drain estimate.
		l.drained = true
	}
	cut := 0
	for l.drained && cut < len(l.sends) && now.Sub(l.sends[cut]) > sendMemory {
		cut++
	}
	l.sends = append(l.sends[cut:], now)
}

// done records the outcome of a call sent at sent: throttled or not. Calls that failed otherwise
// are not counted: they say nothing about the quota.
func (l *adaptiveLimiter) done(sent time.Time, throttled bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	l.observe(now.Sub(sent))
	l.count(sent, throttled)
	if !l.drained && len(l.outcomes) < maxHistory {
		l.outcomes = append(l.outcomes, outcome{sent, throttled})
	}
	if sent.Before(l.settle) || sent.Before(l.win.start) {
		return
	}
	if l.holding() {
		l.heldCalls++
		if throttled {
			l.heldThrottled++
		}
	}
	w := &l.win
	w.calls++
	if w.first.IsZero() || sent.Before(w.first) {
		w.first = sent
	}
	if sent.After(w.last) {
		w.last = sent
	}
	if throttled {
		w.throttled++
		if w.firstThrottled.IsZero() || sent.Before(w.firstThrottled) {
			w.firstThrottled = sent
		}
	}
	if w.end.IsZero() {
		// The window ends with the calls sent one round trip after it started.
		w.end = w.start.Add(l.roundTrip())
	}
	complete := w.calls >= windowCalls && !sent.Before(w.end)
	share, sds := l.excess(float64(w.calls), float64(w.throttled))
	switch {
	case sds > strongSDs && w.throttled >= earlyThrottles && (!l.holding() || l.remembered),
		throttled && l.quietRamp() && l.rampChanged(now):
		// Throttled far beyond chance, or, on the run's first ramp so far throttled at most at
		// random, the ramp's calls in the order sent show the bucket running out: decide now,
		// not after more calls into an empty bucket.
		l.decide(now, share, float64(w.calls), float64(w.throttled))
	case complete:
		// A small excess shows over several windows: each is pooled with the last ones, the
		// older weighing less.
		l.pooled[0] = l.pooled[0]*poolDecay + float64(w.calls)
		l.pooled[1] = l.pooled[1]*poolDecay + float64(w.throttled)
		l.long[0] = l.long[0]*longDecay + float64(w.calls)
		l.long[1] = l.long[1]*longDecay + float64(w.throttled)
		if share, sds := l.excess(l.pooled[0], l.pooled[1]); sds > 3 && l.pooled[1] >= earlyThrottles {
			l.decide(now, share, l.pooled[0], l.pooled[1])
			return
		}
		if share, sds := l.excess(l.long[0], l.long[1]); sds > 3 && l.long[1] >= earlyThrottles {
			l.decide(now, share, l.long[0], l.long[1])
			return
		}
		l.learn()
		l.grow(now)
		l.win = window{start: now}
	case !throttled && w.throttled == 0:
		l.grow(now)
	}
}

// quietRamp is whether the run's first ramp goes on, no quota known yet, with little throttling
// (quietBackground): a change in the throttled share of its calls is then the quota, as soon as
// it shows (earlyChangeGain).
func (l *adaptiveLimiter) quietRamp() bool {
	return l.ceiling == 0 && !l.drained && l.background() < quietBackground
}

// rampChanged is whether the ramp's calls back by now show the change (changePoint).
func (l *adaptiveLimiter) rampChanged(now time.Time) bool {
	first, _, _ := l.changePoint(now, earlyChangeGain)
	return !first.IsZero()
}

// foundHere is whether the ceiling is a quota this run measured, not none nor a remembered one
// (startAt): a ramp above it is a probe's, expected to meet it, and measured never under it.
func (l *adaptiveLimiter) foundHere() bool {
	return l.ceiling != 0 && !l.remembered
}

// holding is whether the rate is at most the settled rate under a quota found: throttling there
// is either the quota moving (a co-tenant came) or chance, and a window decides only once it is
// whole. A false decision there costs the hold's throughput; a late one a few throttles.
func (l *adaptiveLimiter) holding() bool {
	return l.ceiling != 0 && l.current <= l.settled(l.ceiling)*1.001
}

// settled is the rate the limiter holds under a quota found: Headroom under it, as a share of
// the account's quota, which is never under Athena's default. A quota found under the default is
// what another client of the account leaves us (shared), and the headroom, taken from the whole
// quota, leaves the bucket they share room to refill; twice that when a ramp measured it, as
// that measure of a shared quota is from a few calls (8.6 to 12.1 where 10 were left): one
// call/s under a measure of 11.1 or more held over what the co-tenant left, and throttled it all
// along. A quota a hold's throttling cut is already measured low (heldCutFactor).
func (l *adaptiveLimiter) settled(ceiling float64) float64 {
	h := l.headroom * max(ceiling, defaultQuota)
	if l.replayed && shared(ceiling) {
		h *= 2
	}
	return max(0, ceiling-h)
}

// shared is whether a quota found is what another client of the account leaves us: under
// Athena's default, by more than a measure's error.
func shared(ceiling float64) bool {
	return ceiling < (1-agree)*defaultQuota
}

// quietShare is whether the hold that ends is at a quota shared with another client of the
// account, whose calls a probe would throttle as much as ours: a quota found under Athena's
// default, held with (almost) no throttling. Random throttling makes a measure noisy, and a low
// one is probed again soon; none means the measure is what the other client leaves.
func (l *adaptiveLimiter) quietShare() bool {
	return !l.extended && shared(l.ceiling) && l.heldCalls >= quietCalls &&
		float64(l.heldThrottled) <= quietShare*float64(l.heldCalls)
}

// crowdedShare is whether a hold at a shared quota that a ramp measured (see settled) takes
// from the other client: some of its calls throttled, but far fewer than the background share
// the ramp learned, which is mostly its prior's where there is no random throttling, and which
// hid such throttling from the windows. Random throttling is about the background (10 % of 100
// calls is under 5 % one time in 100), and a step down there would cost what the probes find.
// The other client loses more of its calls than we do (it came to 3 of ours).
func (l *adaptiveLimiter) crowdedShare() bool {
	return l.replayed && shared(l.ceiling) && l.heldCalls >= quietCalls && l.heldThrottled > 0 &&
		float64(l.heldThrottled) < l.background()/2*float64(l.heldCalls)
}

// background is the share of calls throttled whatever the rate.
func (l *adaptiveLimiter) background() float64 {
	return l.bgThrottled / l.bgCalls
}

// excess is the throttled share of n calls of which k were throttled, and its excess over the
// background share in standard deviations of a binomial share: how far chance explains it (with
// at least half a call of background, so that one throttle in a few calls is not read as the
// quota).
func (l *adaptiveLimiter) excess(n, k float64) (share, sds float64) {
	if k == 0 {
		return 0, 0
	}
	share = k / n
	b := l.background()
	p := max(b, 0.5/n)
	// The background share is itself a measure, of bgCalls calls: its deviation adds to the
	// window's.
	return share, (share - b) / math.Sqrt(p*(1-p)*(1/n+1/l.bgCalls))
}

// decide acts on an excess share of n calls, k of them throttled: a decrease, unless the last
// measure was taken at a clearly higher rate and throttling did not fall with the rate. The
// quota's throttling falls when the rate does; throttling that stays is background the first
// windows of the run did not show (they are few at low rates): it is learned, and the quota the
// last measure replaced is restored. Without this, each decrease would measure a lower quota
// from the same background, down to the floor.
func (l *adaptiveLimiter) decide(now time.Time, share, n, k float64) {
	last := l.lastMeasure
	if last.rate == 0 || last.ceiling == 0 || last.calls < windowCalls || l.current > stillRate*last.rate {
		// No quota to go back to, too few calls to compare with, or a rate not clearly lower.
		l.decrease(now, share, n, k)
		return
	}
	pooled := (last.throttled + k) / (last.calls + n)
	l.logf("decide-still rate=%.1f share=%.3f n=%.0f k=%.0f last=%+v", l.current, share, n, k, last)
	sd := math.Sqrt(pooled * (1 - pooled) * (1/last.calls + 1/n))
	if share < last.share-2*sd {
		l.decrease(now, share, n, k)
		return
	}
	l.bgCalls += last.calls + n
	l.bgThrottled += last.throttled + k
	l.lastMeasure = measured{}
	l.ceiling = last.ceiling
	l.jump(now, l.settled(l.ceiling))
	l.win = window{start: now}
	l.pooled, l.long = [2]float64{}, [2]float64{}
}

// decrease stops the calls (the rate falls to MinRate) for the round trip it takes the calls of
// the overshoot to come back, or pause if longer; measure then sets the ceiling from them, or
// from the ramp. The window's own estimate stands in if neither tells: the calls sent less those
// throttled beyond the background, at least 1-maxDecrease of the rate, and while holding under a
// quota found, heldCutFactor times the excess share under the rate, at most maxHeldCut.
func (l *adaptiveLimiter) decrease(now time.Time, share, n, k float64) {
	sent := l.sendRate(l.win.first, l.win.last)
	if sent == 0 {
		sent = l.current
	}
	estimate := max(sent*(1-share)/(1-l.background()), l.current*(1-maxDecrease))
	if l.foundHere() {
		// A probe above a quota found: a measure from its few calls does not undo the hold's
		// before it, which showed a rate at most maxHeldCut lower let through.
		estimate = max(estimate, l.ceiling*(1-maxHeldCut))
	}
	held := l.holding() && !l.remembered
	if held {
		// Paced at the rate, the calls were let in at the rate less the excess throttled share:
		// a decrease proportional to it, at most maxHeldCut under the quota found.
		excess := max(0, (share-l.background())/(1-l.background()))
		estimate = max(l.current*(1-heldCutFactor*excess), min(l.ceiling, l.current)*(1-maxHeldCut))
	}
	// The first third of the overshoot is left out: calls reach the quota in a jittered order,
	// and some sent after the first throttled one still found the last of its burst.
	from := l.win.firstThrottled
	from = from.Add(now.Sub(from) / 3)
	l.logf("decrease rate=%.1f share=%.3f n=%.0f k=%.0f bg=%.3f sent=%.1f estimate=%.1f span=%v", l.current, share, n, k, l.background(), sent, estimate, now.Sub(l.win.firstThrottled))
	l.ep = &episode{from: from, to: now, estimate: estimate, rate: l.current,
		decided: measured{rate: l.current, share: share, calls: n, throttled: k, ceiling: l.ceiling}, held: held}
	l.jump(now, l.min)
	// Calls already sent were paced by the old rate, and those of the next round trip meet the
	// bucket the overshoot emptied: neither says anything about the new rate.
	l.settle = now.Add(max(pause, l.latency+2*l.latencyDev))
	ep := l.ep
	time.AfterFunc(l.settle.Sub(now), func() { l.measure(ep) })
	l.win = window{start: l.settle}
	l.pooled, l.long = [2]float64{}, [2]float64{}
}

// jump sets the rate to r on a new bucket, with one token, and has the calls waiting reserve again on
// it. On the old bucket, they would queue behind the debt that reservations made at the old
// rate left, or, when those are canceled, each give back tokens the next takes at once: at a
// jump up from MinRate that let 13 calls out together, into the quota's bucket the overshoot
// had emptied.
func (l *adaptiveLimiter) jump(now time.Time, r float64) {
	l.current = min(l.max, max(l.min, r))
	l.lastGrow = now
	l.lim = rate.NewLimiter(rate.Limit(l.current), l.lim.Burst())
	l.lim.AllowN(now, l.lim.Burst()-1)
	close(l.moved)
	l.moved = make(chan struct{})
}

// drainEstimate is the quota as the overshoot that ends a ramp (the run's start, a probe) measures
// it, or 0 if there is no ramp to measure. The quota's bucket is full when the ramp starts and
// empty when the calls begin to be throttled beyond chance (changePoint): the calls sent until
// then took its burst and what it refilled meanwhile. Athena's burst is twice its rate (40 for 20
// calls/s), so the quota is the least rate whose bucket, replayed over those calls' send times,
// would not have run out before then; a bucket never smaller than the default quota's, so that
// under it the rate is what another client of the account leaves us. Over the whole ramp that is a
// far larger sample than an overshoot's few calls; the overshoot still checks it, for a bucket
// that was not full or a burst of another size. calm is whether the run's first ramp shows no
// change at all (the decision was chance): the ramp is then kept for the next decision.
func (l *adaptiveLimiter) drainEstimate(first time.Time) (q float64, calm bool) {
	if l.drained {
		return 0, false
	}
	history := l.sends
	gain := float64(minChangeGain)
	if l.foundHere() || l.remembered && l.background() < quietBackground {
		gain = probeChangeGain
	}
	first, calls, throttled := l.changePoint(first, gain)
	if first.IsZero() && calls >= windowCalls && l.ceiling == 0 {
		// A calm ramp: the decision is undone, and the ramp goes on, to be measured when its
		// bucket does run out.
		return 0, true
	}
	l.drained = true
	l.outcomes = nil
	if !l.foundHere() && !first.IsZero() && calls >= windowCalls {
		// The calls before the bucket ran out were throttled at the background share only:
		// all of them, not only the windows that did not decide (those that did were the
		// unlucky ones, and leaving them out learned too low a share).
		l.bgCalls = relearnPriorCalls + float64(calls)
		l.bgThrottled = relearnPriorCalls*bgPriorShare + float64(throttled)
	}
	if first.IsZero() || len(history) < windowCalls {
		return 0, false
	}
	lasts := func(q float64) bool {
		// Athena's quota is never under its default, nor its burst under the default's: a
		// quota found under it is what another client of the account leaves us of a bucket
		// that holds at least the default's burst.
		burst := burstSeconds * max(q, defaultQuota)
		tokens, last := burst, history[0]
		for _, t := range history {
			if !t.Before(first) {
				return true
			}
			tokens = min(burst, tokens+q*t.Sub(last).Seconds())
			last = t
			if tokens < 1 {
				return false
			}
			tokens--
		}
		return true
	}
	lo, hi := l.min, l.max
	if !lasts(hi) || lasts(lo) {
		// Even the largest bucket would have run out before the change, or even the least
		// would have lasted past it: that one was not full when the ramp started (a probe
		// after a hold at the quota). Either way the ramp cannot measure it.
		return 0, false
	}
	for hi-lo > 0.001*hi {
		if mid := (lo + hi) / 2; lasts(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	if refill := hi * first.Sub(history[0]).Seconds(); l.remembered && refill < burstSeconds*max(hi, defaultQuota)/2 {
		// A run that started from a quota found before, far over the one now: the bucket ran
		// out before it refilled half its burst, and the calls measure the burst (known only
		// as the default's), not the rate. At 10 times the quota it ran out in 0.2 s and read
		// 10.6 for 20. (A ramp starts under the quota and is seconds long.)
		l.logf("drain %.1f: refilled %.1f calls", hi, refill)
		return 0, false
	}
	return hi, false
}

// changePoint is when the quota's bucket ran out: the throttled call, sent at or before to, from
// which on the calls were throttled at a higher share than before it, at the most likely such
// change (the calls before it throttled at the background share, those after at their own). The
// first throttled call of the deciding window is often background, or, when the window began after
// the bucket ran out, late; the whole ramp's calls tell better. The change must make the calls
// likelier by gain (in natural log) than the background share alone.
func (l *adaptiveLimiter) changePoint(to time.Time, gain float64) (first time.Time, calls, throttled int) {
	o := slices.DeleteFunc(l.outcomes, func(c outcome) bool { return c.sent.After(to) })
	slices.SortStableFunc(o, func(a, b outcome) int { return a.sent.Compare(b.sent) })
	total := 0
	for _, c := range o {
		if c.throttled {
			total++
		}
	}
	xlogy := func(x, y float64) float64 {
		if x == 0 {
			return 0
		}
		return x * math.Log(y)
	}
	b := min(max(l.background(), 0.005), 0.5)
	best, bestLL, before := -1, math.Inf(-1), 0
	for i, c := range o {
		if c.throttled {
			m, k := float64(len(o)-i), float64(total-before)
			if p := k / m; p > b {
				ll := xlogy(float64(before), b) + xlogy(float64(i-before), 1-b) + xlogy(k, p) + xlogy(m-k, 1-p)
				if ll > bestLL {
					best, bestLL = i, ll
				}
			}
			before++
		}
	}
	null := xlogy(float64(total), b) + xlogy(float64(len(o)-total), 1-b)
	l.logf("changepoint calls=%d throttled=%d best=%d gain=%.1f", len(o), total, best, bestLL-null)
	if best < 0 || bestLL-null < gain {
		// Throttled no more than the background, all along: the bucket did not run out.
		return time.Time{}, len(o), total
	}
	before = 0
	for _, c := range o[:best] {
		if c.throttled {
			before++
		}
	}
	return o[best].sent, best, before
}

// count counts a call of the overshoot being measured.
func (l *adaptiveLimiter) count(sent time.Time, throttled bool) {
	ep := l.ep
	if ep == nil || sent.Before(ep.from) || sent.After(ep.to) {
		return
	}
	ep.calls++
	if throttled {
		ep.throttled++
	}
}

// measure sets the ceiling from the overshoot ep once its calls are back, at l.settle: on a
// timer, not on the next call back, which at MinRate comes a second later.
func (l *adaptiveLimiter) measure(ep *episode) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ep != ep {
		return
	}
	now := time.Now()
	l.ep = nil
	ceiling := ep.estimate
	// measuredEp is whether the overshoot's calls measured the quota, sure whether they were
	// throttled beyond the background by more than three deviations.
	measuredEp, sure := false, false
	// least is the least the overshoot's calls let through, at two standard deviations.
	var least float64
	if rate := l.sendRate(ep.from, ep.to); ep.calls >= minEpisode && rate > 0 {
		n := float64(ep.calls)
		share := float64(ep.throttled) / n
		b := l.background()
		sdb := math.Sqrt(max(b, 0.5/n) * (1 - b) / n)
		sure = share-b > 3*sdb
		if share-b <= 2*sdb {
			// The overshoot's calls were throttled no more than the background: the window
			// that decided was unlucky. Back to the rate before, and nothing learned.
			l.logf("undo calls=%d throttled=%d", ep.calls, ep.throttled)
			l.jump(now, ep.rate)
			return
		}
		// The lower end of the share's one-sigma interval: a ceiling measured too low costs
		// throughput until the next probe; one too high takes from the other clients of the
		// account until the next overshoot.
		if !ep.held {
			measuredEp = true
			sd := math.Sqrt(share * (1 - share) / n)
			least = rate * (1 - min(1, share+2*sd)) / (1 - l.background())
			ceiling = max(rate*(1-min(1, share+sd))/(1-l.background()), ceiling*(1-maxDecrease))
		}
	}
	drain, calm := l.drainEstimate(ep.to)
	if calm && (!measuredEp || !sure) && l.ceiling == 0 {
		// The ramp's calls were throttled at the background share all along, and the
		// overshoot's too few, or too little beyond it, to say otherwise: the window that
		// decided was unlucky. (Two deviations of an overshoot's 67 calls, under random
		// throttling, overruled a calm ramp with a quota of 519 where the bucket of a quota of
		// 200 had not yet run out, and the run held at 493 and met it for 20 s.)
		l.logf("undo: calm ramp")
		l.jump(now, ep.rate)
		return
	}
	if measuredEp && drain < drainFloor*least {
		// Far under what the overshoot itself let through, even at the low end of what its
		// few calls tell (at one deviation, 6 calls at 20/s overruled a right drain estimate
		// with one 2.5 times higher): the bucket was not full when the run started, or the
		// first throttles were background; the overshoot's measure stands.
		drain = 0
	}
	if l.foundHere() && drain > 0 && drain < l.ceiling {
		// A probe's ramp starts from a bucket that the hold at the quota found refilled only
		// in part when another client takes the rest; replayed as full, it reads the quota
		// too low (7.3 calls/s where a co-tenant left 10). A probe looks for a raised quota;
		// a lower one shows in the hold's own throttling.
		drain = l.ceiling
	}
	// nothing is whether neither the ramp nor the overshoot measured the quota: the deciding
	// window's few calls alone.
	nothing := drain == 0 && !measuredEp
	if nothing && !l.foundHere() && !l.unmeasured {
		// Nothing measured a quota: the deciding window's few calls alone, which a run's first
		// calls throttled at random look like (3 of its first 3 held a quota of 200 at 3.8, and
		// the probe took 22 s to climb back). The ramp goes on once, to be measured when it
		// does meet the quota; a second such decision is believed (a quota another client of
		// the account nearly uses up).
		l.logf("undo: nothing measured")
		l.unmeasured = true
		l.drained = false
		l.jump(now, ep.rate)
		return
	}
	if nothing && l.remembered {
		// The second such decision under a remembered quota: a cut while holding, at most
		// maxHeldCut (random throttling put 4 of 5 calls in one window, which read 4.3 where
		// 20 were remembered, and the run climbed back for 15 s).
		ceiling = max(ceiling, l.ceiling*(1-maxHeldCut))
	}
	if nothing && l.ceiling != 0 && ceiling > l.ceiling {
		// A probe measured by its deciding window alone: that counts our throttles only, and in
		// a bucket another client shares it misses the other client's (it read 17 where 10 were
		// left, and the hold under it throttled the co-tenant 30 times). A raised quota shows in
		// a probe's ramp.
		ceiling = l.ceiling
	}
	l.lastMeasure = ep.decided
	if drain > 0 {
		// The drain's sample is far larger than the overshoot's.
		ceiling = drain
		l.lastMeasure = measured{}
	}
	switch {
	case l.ceiling != 0 && math.Abs(ceiling-l.ceiling) <= agree*l.ceiling:
		// A probe found the quota about where it was: probe less often.
		l.hold = min(2*l.hold, maxHold)
	default:
		// A quota that moved: a co-tenant came or went, or the quota was changed.
		l.hold = firstHold
	}
	l.logf("measure calls=%d throttled=%d sendrate=%.1f drain=%.1f ceiling=%.1f (was %.1f) bg=%.3f", ep.calls, ep.throttled, l.sendRate(ep.from, ep.to), drain, ceiling, l.ceiling, l.background())
	l.ceiling = ceiling
	l.replayed, l.remembered = drain > 0, false
	if !ep.held && (drain > 0 || measuredEp) {
		// A cut while holding, or a window's estimate, is a measure of few calls: under random
		// throttling one in a few dozen runs ended on one 35 % low, and a day that started from
		// it held there for 30 s. Such a cut is found again, from the quota the ramp or the
		// overshoot measured.
		l.found = Quota{Rate: ceiling, Measured: now}
	}
	l.holdUntil = now.Add(l.holdAfter(ep, drain, measuredEp))
	l.heldAt, l.heldCalls, l.heldThrottled, l.extended = now, 0, 0, false
	l.recover(now)
}

// holdAfter is how long the rate holds under the ceiling a measure of ep just set, before it
// probes: drain is the ramp's measure, measuredEp whether the overshoot's calls measured it.
func (l *adaptiveLimiter) holdAfter(ep *episode, drain float64, measuredEp bool) time.Duration {
	switch {
	case ep.held:
		// A cut while holding is measured from a window or a few pooled ones: under random
		// throttling, a hold just under the quota met its bucket empty now and then, and a
		// 35 % cut held for 30 s was most of the fault runs under 0.70 of the quota (13 of 300;
		// with a third of the hold, 3 to 10).
		return heldCutHold
	case drain == 0 && (!measuredEp || ep.calls < windowCalls):
		// The deciding window's or the overshoot's few calls alone: a run's first calls
		// throttled at random look the same (3 of 4, then 2 of 6, held a quota of 200 at 38
		// for 30 s). Probe again at once, from a bucket the pause refilled.
		return 0
	default:
		return l.hold
	}
}

// recover resumes the calls under the ceiling just measured: under the settled rate by
// recoverCut, so that the quota's bucket, which the overshoot emptied, refills while the rate
// climbs back; and only once the calls in flight at the decision are back (they took what it
// refilled meanwhile) and it has refilled what the calls' jitter bunches up: three deviations
// of the calls that arrive within a latency's spread.
func (l *adaptiveLimiter) recover(now time.Time) {
	r := l.settled(l.ceiling) * (1 - recoverCut)
	refill := 3 * math.Sqrt(r*(l.latency+2*l.latencyDev).Seconds())
	l.resumeAt(now.Add(time.Duration(refill/l.ceiling*float64(time.Second))), r)
}

// resumeAt sets the rate to r at at, now if at has passed. Calls sent before then do not count.
func (l *adaptiveLimiter) resumeAt(at time.Time, r float64) {
	now := time.Now()
	if !at.After(now) {
		l.jump(now, r)
		return
	}
	if at.After(l.settle) {
		l.settle = at
		l.win = window{start: at}
	}
	time.AfterFunc(at.Sub(now), func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.jump(time.Now(), r)
	})
}

// learn folds the window into the background share. Only windows well under the quota found say
// what throttling comes whatever our rate: at the rate the limiter holds, a quota found too high
// (a co-tenant the measures could not see) throttles a little all the time, and learning that as
// background would blind the limiter to it. Throttling the limiter did not learn (it starts only
// later in a run, or the first windows were lucky) is so taken for the quota, and the rate falls
// until it is under learnUnder × the quota found, where the throttling is learned.
func (l *adaptiveLimiter) learn() {
	if l.ceiling != 0 && l.current > learnUnder*l.ceiling {
		return
	}
	l.bgCalls += float64(l.win.calls)
	l.bgThrottled += float64(l.win.throttled)
	if l.bgCalls > bgMemory {
		f := bgMemory / l.bgCalls
		l.bgCalls *= f
		l.bgThrottled *= f
	}
}

// grow raises the rate for the time since it last grew: fast while no quota is known, back up to
// the settled rate under the quota it found, then, after a hold, slowly, by Probe per second, to
// find a raised one.
func (l *adaptiveLimiter) grow(now time.Time) {
	// Growth after a pause is bounded to a round trip's worth: the rate was not tested meanwhile.
	dt := min(now.Sub(l.lastGrow), l.roundTrip()).Seconds()
	l.lastGrow = now
	if l.lim.TokensAt(now) >= 1 {
		// Calls are not waiting for the limiter: its rate is not what is being tested.
		return
	}
	r := l.current
	switch target := l.settled(l.ceiling); {
	case l.ceiling == 0:
		// Gently near Athena's default quota, where most accounts are, so that its burst
		// hides less of an overshoot; fully from twice that; and more slowly again from
		// slowStartHigh on, where the quota's burst lets a ramp run far past it.
		r *= math.Exp(slowStartGrowth * min(1, r/(2*defaultQuota), math.Sqrt(slowStartHigh/r)) * dt)
	case r < target:
		r = min(target, r*math.Exp(catchUpGrowth*dt))
	case l.crowdedShare():
		// Held over what the other client leaves: a step down, and a new hold.
		l.ceiling -= l.headroom * defaultQuota
		l.logf("hold stepped down calls=%d throttled=%d bg=%.3f ceiling=%.1f", l.heldCalls, l.heldThrottled, l.background(), l.ceiling)
		l.heldAt, l.heldCalls, l.heldThrottled = now, 0, 0
		l.holdUntil = now.Add(firstHold)
		l.jump(now, l.settled(l.ceiling))
		return
	case now.Before(l.holdUntil):
		return
	case l.quietShare():
		l.extended = true
		if l.remembered {
			// Borne out: the run's calls so far are no ramp to replay.
			l.remembered, l.drained, l.outcomes = false, true, nil
		}
		l.holdUntil = l.heldAt.Add(maxHold)
		l.logf("hold extended calls=%d throttled=%d until=%v", l.heldCalls, l.heldThrottled, l.holdUntil.Sub(now))
		return
	default:
		if l.drained || l.remembered {
			// A probe is a ramp from the quota's bucket that the hold under the quota refilled:
			// its overshoot is measured as the run's first (drainEstimate).
			l.drained = false
			l.sends = l.sends[:0]
			l.outcomes = nil
		}
		// A whole hold bore a remembered quota out.
		l.remembered = false
		// Slowly at first, each probe costs the throttles of its overshoot; faster the longer
		// no quota is met, so that a quota raised or given back is found within tens of seconds.
		probing := now.Sub(l.holdUntil).Seconds()
		r *= math.Exp(min(slowStartGrowth, l.probe*math.Exp2(probing/probeDoubling.Seconds())) * dt)
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
// Before any call came back it is 0, the fewest the engine allows.
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
