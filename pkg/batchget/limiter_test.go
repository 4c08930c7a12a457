package batchget

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math"
	"strings"
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
		// The run's first decision that measured nothing was undone already
		// (TestAdaptiveLimiterUndoesUnmeasured): this one is believed.
		l.unmeasured = true
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
		// Headroom under it, as a share of the account's quota, never under the default (once:
		// not measured from a ramp).
		want := (estimate - o.Headroom*defaultQuota) * (1 - recoverCut)
		if got := l.rate(); math.Abs(got-want) > 1e-9 {
			t.Errorf("rate once the overshoot is back = %v, want %v", got, want)
		}
	})
}

// TestAdaptiveLimiterUndoesUnmeasured checks that the run's first decision, from a window's few
// calls and no ramp to measure (its first calls throttled at random), is undone once: the rate
// comes back and no quota is taken from it. A second such decision is believed.
func TestAdaptiveLimiterUndoesUnmeasured(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := testLimiterOptions()
		l := newAdaptiveLimiter(o)
		throttle := func() {
			sent := time.Now()
			time.Sleep(100 * time.Millisecond)
			for range earlyThrottles {
				l.done(sent, true)
			}
			if got := l.rate(); got != o.MinRate {
				t.Fatalf("rate after %d throttled calls = %v, want the brake, MinRate %v", earlyThrottles, got, o.MinRate)
			}
			time.Sleep(time.Second)
		}
		throttle()
		l.mu.Lock()
		ceiling, r := l.ceiling, l.current
		l.mu.Unlock()
		if ceiling != 0 || r != o.StartRate {
			t.Errorf("after the first decision that measured nothing: ceiling %v, rate %v; want none and the start rate %v", ceiling, r, o.StartRate)
		}
		throttle()
		l.mu.Lock()
		ceiling = l.ceiling
		l.mu.Unlock()
		if want := o.StartRate * (1 - maxDecrease); math.Abs(ceiling-want) > 1e-9 {
			t.Errorf("after the second: ceiling %v, want the window's estimate %v", ceiling, want)
		}
	})
}

// TestAdaptiveLimiterQuietShare checks the hold at a quota shared with another client (one under
// Athena's default, measured from a ramp): met by no throttling, it is not probed above until
// maxHold, where a probe would throttle the other client's calls too; met by throttling about
// the background (random), it is probed after the first hold as usual, as a measure made among
// random throttles may be low; met by a few throttles, far fewer than the background, it steps
// down: it takes from the other client, which the windows could not tell from the background.
func TestAdaptiveLimiterQuietShare(t *testing.T) {
	for _, tc := range []struct {
		name      string
		every     int // one call in every throttled, 0 for none
		wantProbe bool
		wantStep  bool
	}{
		{name: "quiet"},
		{name: "random throttles", every: 10, wantProbe: true},
		{name: "a few throttles", every: 150, wantStep: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				o := testLimiterOptions()
				o.StartRate = 8
				l := newAdaptiveLimiter(o)
				// As measure leaves it: a quota of 10 found from a ramp's calls, held at the
				// settled rate.
				now := time.Now()
				l.ceiling, l.replayed, l.drained = 10, true, true
				l.holdUntil, l.heldAt = now.Add(firstHold), now
				l.jump(now, l.settled(l.ceiling))
				held := l.rate()
				var probedAt, steppedAt time.Duration
				for i := 1; time.Since(now) < 2*firstHold; i++ {
					if err := l.wait(context.Background()); err != nil {
						t.Fatal(err)
					}
					sent := time.Now()
					time.Sleep(100 * time.Millisecond)
					l.done(sent, tc.every > 0 && i%tc.every == 0)
					if r := l.rate(); probedAt == 0 && r > held {
						probedAt = time.Since(now)
					} else if steppedAt == 0 && r < held {
						steppedAt = time.Since(now)
					}
				}
				if got := probedAt != 0; got != tc.wantProbe {
					t.Errorf("probed above the held %v within %v: %v (at %v), want %v", held, 2*firstHold, got, probedAt, tc.wantProbe)
				}
				if tc.wantProbe && probedAt != 0 && probedAt < firstHold {
					t.Errorf("probed at %v, want not before the hold's end %v", probedAt, firstHold)
				}
				if got := steppedAt != 0; got != tc.wantStep {
					t.Errorf("stepped under the held %v within %v: %v (at %v), want %v", held, 2*firstHold, got, steppedAt, tc.wantStep)
				}
			})
		})
	}
}

// TestAdaptiveLimiterHeldCutHold checks that a cut while holding under a quota found, from a
// window's or a few pooled windows' throttling, holds for heldCutHold before probing again, not
// for the first hold's 30 s: under random throttling such a cut is often chance.
func TestAdaptiveLimiterHeldCutHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := testLimiterOptions()
		l := newAdaptiveLimiter(o)
		now := time.Now()
		l.ceiling, l.drained = 20, true
		l.holdUntil, l.heldAt = now.Add(firstHold), now
		l.jump(now, l.settled(l.ceiling))
		// Half the calls throttled while holding: far beyond the background, once a window is
		// whole.
		for i := 0; l.rate() > o.MinRate; i++ {
			if i > 1000 {
				t.Fatalf("rate %v after %d calls half throttled, want a cut", l.rate(), i)
			}
			sent := time.Now()
			time.Sleep(60 * time.Millisecond)
			l.done(sent, i%2 == 0)
		}
		time.Sleep(time.Second)
		l.mu.Lock()
		ceiling, left := l.ceiling, time.Until(l.holdUntil)
		l.mu.Unlock()
		if ceiling >= 20 {
			t.Errorf("ceiling after the cut = %v, want under the 20 held", ceiling)
		}
		if left <= 0 || left > heldCutHold {
			t.Errorf("hold left after the cut = %v, want (0, %v]", left, heldCutHold)
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

// TestAdaptiveLimiterDrainEstimate checks the quota that a ramp's overshoot measures: the least
// rate whose bucket would have lasted until the calls began to be throttled. Athena's default
// quota and a raised one are found; so is what another client of the account, taking half of
// the default quota, leaves us: half of it, though the bucket still holds the default's burst.
func TestAdaptiveLimiterDrainEstimate(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		quota, cotenant, want float64
	}{
		{name: "default quota", quota: 20, want: 20},
		{name: "raised quota", quota: 200, want: 200},
		{name: "default quota, half of it taken", quota: 20, cotenant: 10, want: 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newAdaptiveLimiter(testLimiterOptions())
			// Athena's bucket: full, twice the quota, at the start.
			at := time.Now()
			tokens, filled := 2*tc.quota, at
			admit := func(t time.Time) bool {
				tokens = min(2*tc.quota, tokens+tc.quota*t.Sub(filled).Seconds())
				filled = t
				if tokens < 1 {
					return false
				}
				tokens--
				return true
			}
			co := at
			// Our ramp: from half the quota, growing by the quota every second, until 20 calls
			// have been throttled.
			for throttled, rate := 0, tc.quota/2; throttled < 20; at = at.Add(time.Duration(float64(time.Second) / rate)) {
				for ; tc.cotenant > 0 && !co.After(at); co = co.Add(time.Duration(float64(time.Second) / tc.cotenant)) {
					admit(co)
				}
				ok := admit(at)
				l.sends = append(l.sends, at)
				l.outcomes = append(l.outcomes, outcome{sent: at, throttled: !ok})
				if !ok {
					throttled++
				}
				rate += tc.quota / rate
			}
			got, calm := l.drainEstimate(at)
			if calm || math.Abs(got-tc.want) > 0.1*tc.want {
				t.Errorf("drainEstimate() = %.1f (calm %v), want %.1f ± 10 %%", got, calm, tc.want)
			}
		})
	}
}

// TestEngineLogsLimiter checks that the limiter's decisions reach Options.Logger at debug level
// (the quota it measured, for one), and that a logger above debug level costs no formatting.
func TestEngineLogsLimiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		e := New(newQuotaServer(20), func(o *Options) {
			o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		})
		// 400 calls: the ramp outruns the quota's bucket of 40 within them.
		if _, _, err := e.Lookup(context.Background(), makeIDs(20_000)); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logs.String(), "level=DEBUG msg=\"rate limiter: measure ") {
			t.Errorf("debug log has no measure of the quota:\n%s", logs.String())
		}
	})
	quiet := New(newQuotaServer(20), func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) })
	if quiet.limiter.trace != nil {
		t.Error("an info-level logger gets the limiter's trace, want none")
	}
}

// TestAdaptiveLimiterHeadroom checks the rate held under a quota found: Headroom under it, as a
// share of the account's quota, which is never under Athena's default of 20 calls/s.
func TestAdaptiveLimiterHeadroom(t *testing.T) {
	l := newAdaptiveLimiter(testLimiterOptions()) // Headroom 5 %
	for _, tc := range []struct {
		quota    float64
		replayed bool // measured from a ramp's calls
		want     float64
	}{
		{quota: 200, replayed: true, want: 190},
		{quota: 20, replayed: true, want: 19},
		{quota: 17, replayed: true, want: 16},
		// What a co-tenant leaves of the default quota, measured from a ramp's calls: two
		// calls/s of the twenty stay free, for the measure's error in a bucket another client
		// shares.
		{quota: 10, replayed: true, want: 8},
		{quota: 16.9, replayed: true, want: 14.9},
		// Cut by a hold's throttling, it is measured low already: one call/s.
		{quota: 10, want: 9},
	} {
		l.replayed = tc.replayed
		if got := l.settled(tc.quota); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("settled(%v), replayed %v = %v, want %v", tc.quota, tc.replayed, got, tc.want)
		}
	}
}

// TestAdaptiveLimiterStartsFromQuota checks that a limiter given a quota found before starts
// over it for startBoostFor (half the quota's burst), then holds Headroom under it, with the
// background share it was given; that a shared quota starts at the settled rate; and that
// Quota returns what it started from until something measures another.
func TestAdaptiveLimiterStartsFromQuota(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		measured := time.Now().Add(-24 * time.Hour)
		o := testLimiterOptions()
		o.Quota = Quota{Rate: 200, Measured: measured, Background: 0.01}
		l := newAdaptiveLimiter(o)
		if got, want := l.rate(), 200*(1+startBoost); got != want {
			t.Errorf("starting rate = %v, want %v", got, want)
		}
		if got := l.background(); got != 0.01 {
			t.Errorf("background = %v, want the one given, 0.01", got)
		}
		time.Sleep(startBoostFor + time.Millisecond)
		if got, want := l.rate(), 200-o.Headroom*200; got != want {
			t.Errorf("rate after %v = %v, want the settled %v", startBoostFor, got, want)
		}
		if got := l.quota(); got.Rate != 200 || !got.Measured.Equal(measured) || got.Background != 0.01 {
			t.Errorf("quota = %+v, want the one given", got)
		}

		o.Quota = Quota{Rate: 10, Measured: measured}
		l = newAdaptiveLimiter(o)
		// Twice the headroom under a shared quota, as a ramp's measure.
		if got, want := l.rate(), 10-2*o.Headroom*defaultQuota; got != want {
			t.Errorf("starting rate under a shared quota = %v, want the settled %v", got, want)
		}
		if got := l.background(); got != bgPriorShare {
			t.Errorf("background = %v, want the prior's %v when none is given", got, bgPriorShare)
		}
	})
}

// TestAdaptiveLimiterRememberedUndo checks that under a remembered quota the first decision that
// measured nothing (a few random throttles in one window) is undone, that a second one cuts the
// quota held at most maxHeldCut, and that the quota remembered for a later engine stays.
func TestAdaptiveLimiterRememberedUndo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := testLimiterOptions()
		o.Quota = Quota{Rate: 20, Measured: time.Now()}
		l := newAdaptiveLimiter(o)
		decide := func() {
			sent := time.Now()
			time.Sleep(100 * time.Millisecond)
			// 4 of 5 calls throttled: far beyond chance, and decided at once.
			for i := range 5 {
				l.done(sent, i > 0)
			}
			if got := l.rate(); got != o.MinRate {
				t.Fatalf("rate after 4 of 5 throttled = %v, want the brake, MinRate %v", got, o.MinRate)
			}
			time.Sleep(time.Second)
		}
		start := l.rate()
		decide()
		if got := l.rate(); got != start {
			t.Errorf("rate after a decision that measured nothing = %v, want it undone, %v", got, start)
		}
		decide()
		l.mu.Lock()
		ceiling := l.ceiling
		l.mu.Unlock()
		if want := 20 * (1 - maxHeldCut); ceiling != want {
			t.Errorf("quota held after a second such decision = %v, want %v", ceiling, want)
		}
		// A cut from a window's few calls is not remembered: a later engine starts from the
		// quota a ramp measured (here, the one given).
		if got := l.quota().Rate; got != 20 {
			t.Errorf("quota for a later engine = %v, want the one given, 20", got)
		}
	})
}

// TestAdaptiveLimiterQuietRampDecidesEarly checks that the run's first ramp, its calls so far
// unthrottled, brakes on two throttled calls in a row, fewer than a window acts on; and that
// under random throttling it does not, and waits for the window.
func TestAdaptiveLimiterQuietRampDecidesEarly(t *testing.T) {
	for _, tc := range []struct {
		name  string
		noisy bool
		brake bool
	}{
		{name: "quiet", brake: true},
		{name: "random throttling", noisy: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				o := testLimiterOptions()
				l := newAdaptiveLimiter(o)
				call := func(throttled bool) {
					sent := time.Now()
					l.sent()
					time.Sleep(20 * time.Millisecond)
					l.done(sent, throttled)
				}
				for i := range 300 {
					call(tc.noisy && i%8 == 0)
				}
				l.mu.Lock()
				bg, before := l.background(), l.current
				l.mu.Unlock()
				if quiet := bg < quietBackground; quiet == tc.noisy {
					t.Fatalf("background after the ramp = %v, want it quiet: %v", bg, !tc.noisy)
				}
				call(true)
				call(true)
				got := l.rate()
				if tc.brake && got != o.MinRate {
					t.Errorf("rate after 2 throttled calls in a row = %v, want the brake, MinRate %v", got, o.MinRate)
				}
				if !tc.brake && got < before {
					t.Errorf("rate after 2 throttled calls in a row = %v, want no brake (was %v)", got, before)
				}
			})
		})
	}
}

// TestAdaptiveLimiterSlowStart checks the first ramp's growth while calls succeed and wait for
// it: ×e a second between twice Athena's default quota and slowStartHigh, and from there on
// √(slowStartHigh/rate) of that, so that the quota's burst hides less of an overshoot.
func TestAdaptiveLimiterSlowStart(t *testing.T) {
	for _, tc := range []struct {
		name       string
		start      float64
		lo, hi     float64 // the rate after one second, as a multiple of start
		wantGrowth string
	}{
		{name: "from 50/s", start: 50, lo: 2.5, hi: 2.75, wantGrowth: "×e"},
		// √(100/400) = 0.5 at first, less as the rate grows: about ×1.6.
		{name: "from 400/s", start: 400, lo: 1.5, hi: 1.7, wantGrowth: "about ×1.6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				o := testLimiterOptions()
				o.StartRate, o.Burst = tc.start, 1
				l := newAdaptiveLimiter(o)
				begin := time.Now()
				for time.Since(begin) < time.Second {
					sent := time.Now()
					if err := l.wait(context.Background()); err != nil {
						t.Fatal(err)
					}
					l.done(sent, false)
				}
				if got := l.rate() / tc.start; got < tc.lo || got > tc.hi {
					t.Errorf("rate after 1 s from %v = %.3f times it, want %s (%v to %v)", tc.start, got, tc.wantGrowth, tc.lo, tc.hi)
				}
			})
		})
	}
}
