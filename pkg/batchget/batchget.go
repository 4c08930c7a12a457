// Package batchget looks up Athena query executions by ID at the highest rate the account's quota
// allows: batches of up to 50 IDs (the API's maximum), a bounded number of calls in flight, a
// client-side rate limiter that backs off when Athena throttles, and retries that never lose or
// duplicate an ID.
package batchget

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/athenausage/athena-usage/pkg/apioutput"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"golang.org/x/sync/errgroup"
)

// BatchGetter is the one Athena call the engine makes.
type BatchGetter interface {
	BatchGetQueryExecution(ctx context.Context, params *athena.BatchGetQueryExecutionInput, optFns ...func(*athena.Options)) (*athena.BatchGetQueryExecutionOutput, error)
}

var _ BatchGetter = (*athena.Client)(nil)

// MaxBatchSize is BatchGetQueryExecution's maximum number of IDs per call.
const MaxBatchSize = 50

// Defaults of Options.
const (
	// DefaultRate is the most calls per second when Options.Rate is zero: no limit of ours in
	// practice, the limiter finds the account's quota (Athena's default is 20/s; raised quotas
	// go to a few hundred).
	DefaultRate = 10000.0
	// DefaultStartRate is the rate before the limiter knows the quota: under Athena's default
	// quota of 20 calls/s, so that an account at the default is not throttled while probing.
	DefaultStartRate = 19.0
	// DefaultHeadroom is the share of the quota the limiter leaves free for other clients of the
	// account (the console, other tools): it settles Headroom × the account's quota (never
	// taken as under the default 20 calls/s) under the quota it finds, and twice that under a
	// quota found below 17 calls/s, which another client shares.
	DefaultHeadroom = 0.05
	// DefaultProbe is how fast, per second, the rate probes above the quota it found, to find a
	// raised quota or one a co-tenant gave back: at 5 %/s, doubling every 5 s, each probe costs
	// a few throttled calls (the quota's burst hides it for a while); a probe follows a hold of
	// 30 s to 5 min.
	DefaultProbe = 0.05
	// DefaultBurst lets a few calls start at once without eating into the quota's own burst.
	DefaultBurst = 5
	// DefaultMinRate is the floor the limiter backs off to: it keeps making progress however
	// hard the account's quota is contended.
	DefaultMinRate = 1.0
	// DefaultConcurrency bounds the calls in flight. Within it the engine keeps rate × latency
	// × 2 in flight (Little's law, see minConcurrency): 200 calls/s at 150 ms needs 60, so 128
	// serves quotas up to about 400/s at that latency.
	DefaultConcurrency = 128
	// DefaultMaxAttempts is how often a call, or an unprocessed ID, is tried before giving up.
	DefaultMaxAttempts = 9
	// DefaultBackoffBase is the backoff before a retry; it doubles with each attempt. A call
	// throttled, or an ID left unprocessed, is tried again the first time without it (see
	// backoff).
	DefaultBackoffBase = 100 * time.Millisecond
	// DefaultBackoffMax caps the backoff: nine attempts then span about 6-11 s of backoff when
	// throttled, 8-16 s after server errors.
	DefaultBackoffMax = 5 * time.Second
)

// minConcurrency is the fewest calls in flight Little's law may leave: latency estimates are
// noisy at low rates, and a few calls in flight cost nothing.
const minConcurrency = 4

// Options tune an Engine. A zero field takes its Default* value.
type Options struct {
	// Rate is the most calls per second, whatever quota the limiter finds: an explicit cap.
	Rate float64
	// StartRate is the rate before the limiter knows the quota.
	StartRate float64
	// Headroom is the share of the account's quota left free for other clients, from 0 to 0.5.
	Headroom float64
	// Probe is the rate's growth per second above the quota found, from 0 to 1.
	Probe float64
	// Quota is the quota an earlier engine found (Engine.Quota), the zero Quota when none: the
	// limiter starts at Headroom under it, as if it had just found it, instead of ramping up
	// from StartRate into the quota's burst. A quota that fell since is measured at its first
	// throttles, one that rose by the probes that follow the hold.
	Quota Quota
	// Burst is how many calls the limiter lets start at once.
	Burst int
	// MinRate is the floor the limiter backs off to.
	MinRate float64
	// Concurrency bounds the calls in flight, shared by all concurrent Lookup calls; within it
	// the engine keeps as many as the rate and the calls' latency need.
	Concurrency int
	// MaxAttempts is how often a call, or an unprocessed ID, is tried.
	MaxAttempts int
	// BackoffBase and BackoffMax bound the exponential backoff between attempts.
	BackoffBase, BackoffMax time.Duration
	// Logger, if set, receives the rate limiter's decisions (each quota it measures, each
	// decrease, probe and undo) at debug level: why the lookup runs at the rate it does.
	Logger *slog.Logger
}

// Quota is the quota left to an engine, as its limiter found it: the calls per second the account's
// quota let in, less what other clients of the account took.
type Quota struct {
	// Rate is the quota in calls per second; 0 when none was found.
	Rate float64
	// Measured is when the limiter last measured it.
	Measured time.Time
	// Background is the share of calls Athena throttled whatever the rate, as the limiter
	// learned it: how far a later engine's throttles are chance.
	Background float64
}

// Stats count what Lookup calls did: Lookup returns its own call's, Engine.Totals the sum of
// all calls so far.
type Stats struct {
	// Calls is the number of BatchGetQueryExecution calls made.
	Calls int64
	// Throttled is the number of calls that Athena throttled.
	Throttled int64
	// Retries is the number of calls made again after a throttled or transient failure.
	Retries int64
	// Splits is the number of batches halved after a whole-call InvalidRequestException.
	Splits int64
	// UnprocessedTransient counts IDs returned unprocessed with a transient code (or left out),
	// once per time.
	UnprocessedTransient int64
	// UnprocessedPermanent counts IDs written with a permanent error code.
	UnprocessedPermanent int64
	// GaveUp counts IDs written with a transient error code after MaxAttempts.
	GaveUp int64
	// Found counts IDs Athena returned.
	Found int64
}

// Add adds o's counts to s.
func (s *Stats) Add(o Stats) {
	s.Calls += o.Calls
	s.Throttled += o.Throttled
	s.Retries += o.Retries
	s.Splits += o.Splits
	s.UnprocessedTransient += o.UnprocessedTransient
	s.UnprocessedPermanent += o.UnprocessedPermanent
	s.GaveUp += o.GaveUp
	s.Found += o.Found
}

// Totals are what an Engine did since it was made, for logs.
type Totals struct {
	Stats
	// Rate is the limiter's current rate in calls/s.
	Rate float64
}

// counters are the Stats of one Lookup call while its batches run concurrently.
type counters struct {
	calls, throttled, retries, splits   atomic.Int64
	transient, permanent, gaveUp, found atomic.Int64
}

func (c *counters) stats() Stats {
	return Stats{
		Calls:                c.calls.Load(),
		Throttled:            c.throttled.Load(),
		Retries:              c.retries.Load(),
		Splits:               c.splits.Load(),
		UnprocessedTransient: c.transient.Load(),
		UnprocessedPermanent: c.permanent.Load(),
		GaveUp:               c.gaveUp.Load(),
		Found:                c.found.Load(),
	}
}

// Engine looks up query executions in one region. It is safe for concurrent use: all Lookup
// calls share its limiter and its bound on calls in flight, which is why there is one Engine per
// region (Athena's quota is per account and region).
type Engine struct {
	client  BatchGetter
	opts    Options
	limiter *adaptiveLimiter
	slots   *semaphore

	// lookups numbers the Lookup calls: the calls of an earlier one take the slots first.
	lookups atomic.Uint64

	mu     sync.Mutex
	totals Stats
}

// New returns an Engine that calls client. An option that is zero or out of range takes its
// default.
func New(client BatchGetter, optFns ...func(*Options)) *Engine {
	var o Options
	for _, fn := range optFns {
		fn(&o)
	}
	if o.Rate <= 0 {
		o.Rate = DefaultRate
	}
	if o.Burst < 1 {
		o.Burst = DefaultBurst
	}
	if o.MinRate <= 0 {
		o.MinRate = DefaultMinRate
	}
	if o.StartRate <= 0 {
		o.StartRate = DefaultStartRate
	}
	if !(o.Headroom > 0 && o.Headroom <= 0.5) {
		o.Headroom = DefaultHeadroom
	}
	if !(o.Probe > 0 && o.Probe <= 1) {
		o.Probe = DefaultProbe
	}
	if !(o.Quota.Rate > 0) || math.IsInf(o.Quota.Rate, 1) {
		o.Quota = Quota{}
	}
	if !(o.Quota.Background >= 0 && o.Quota.Background < 1) {
		o.Quota.Background = 0
	}
	if o.Concurrency < 1 {
		o.Concurrency = DefaultConcurrency
	}
	if o.MaxAttempts < 1 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = DefaultBackoffBase
	}
	if o.BackoffMax < o.BackoffBase {
		o.BackoffMax = max(o.BackoffBase, DefaultBackoffMax)
	}
	limiter := newAdaptiveLimiter(o)
	if o.Logger != nil && o.Logger.Enabled(context.Background(), slog.LevelDebug) {
		limiter.trace = func(format string, args ...any) {
			o.Logger.Debug("rate limiter: " + fmt.Sprintf(format, args...))
		}
	}
	return &Engine{
		client:  client,
		opts:    o,
		limiter: limiter,
		slots:   newSemaphore(o.Concurrency),
	}
}

// WithoutSDKRetries is an athena.Options function for the client an Engine calls: the engine
// retries by itself and has to see throttling to slow down, which the SDK's own retries (and
// their retry quota) would hide.
func WithoutSDKRetries(o *athena.Options) { o.Retryer = aws.NopRetryer{} }

// Totals returns what the engine's Lookup calls did so far, each counted once it returned.
func (e *Engine) Totals() Totals {
	e.mu.Lock()
	defer e.mu.Unlock()
	return Totals{Stats: e.totals, Rate: e.limiter.rate()}
}

// Quota returns the quota the engine's limiter found, or the one it started from (Options.Quota),
// for an engine made later to start from; the zero Quota when it knows none.
func (e *Engine) Quota() Quota {
	return e.limiter.quota()
}

// Lookup returns one row per ID, in the order of ids, which must be unique: the execution's
// statistics, or the error code Athena gave for an ID it could not return. It fails only if the
// context ends or a call keeps failing (MaxAttempts times, or with an error no retry can fix);
// then no row is to be trusted. The Stats are this call's, failed or not.
func (e *Engine) Lookup(ctx context.Context, ids []string) ([]apioutput.Row, Stats, error) {
	seen := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		if _, dup := seen[id]; dup {
			return nil, Stats{}, fmt.Errorf("duplicate ID %q", id)
		}
		seen[id] = struct{}{}
	}
	l := &lookup{engine: e, ids: ids, rows: make([]apioutput.Row, len(ids)), codes: make([]string, len(ids)), seq: e.lookups.Add(1)}
	err := l.run(ctx)
	s := l.counts.stats()
	e.mu.Lock()
	e.totals.Add(s)
	e.mu.Unlock()
	if err != nil {
		return nil, s, err
	}
	return l.rows, s, nil
}

// run looks up every ID. The IDs a batch leaves unprocessed with a transient code go again,
// after the backoff of their attempt, with others of the same attempt: in a batch as soon as
// MaxBatchSize of them wait, the rest once no batch that could add to them is left. Rounds
// that each waited for their slowest batch (one throttled three times waits 0.7 s) left the
// limiter idle at every round's end; at 10 % throttled and 5 % unprocessed, a part of 10,000
// IDs at 200 calls/s spent a third of its time so.
func (l *lookup) run(parent context.Context) error {
	g, ctx := errgroup.WithContext(parent)
	// A batch backing off holds its goroutine but not a slot: twice the slots keep the slots
	// busy after a burst of throttles.
	g.SetLimit(2 * l.engine.opts.Concurrency)
	l.waiting = make([][]int, l.engine.opts.MaxAttempts+1)
	l.open = make([]int, l.engine.opts.MaxAttempts+1)
	l.ready = make(chan struct{}, 1)
	for {
		if ctx.Err() != nil {
			// A batch failed (Wait returns its error) or the caller gave up.
			if err := g.Wait(); err != nil {
				return err
			}
			return parent.Err()
		}
		j, ok, done := l.next()
		if done {
			break
		}
		if !ok {
			select {
			case <-l.ready:
			case <-ctx.Done():
			}
			continue
		}
		g.Go(func() error { return l.attempt(ctx, j) })
	}
	return g.Wait()
}

// job is a batch of positions to look up, at its attempt.
type job struct {
	attempt int
	pos     []int
}

// next is the next batch to start, retries first; done when there is none and none to come.
func (l *lookup) next() (j job, ok, done bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flush()
	switch {
	case len(l.jobs) > 0:
		j, l.jobs = l.jobs[0], l.jobs[1:]
	case l.first < len(l.ids):
		n := min(MaxBatchSize, len(l.ids)-l.first)
		j = job{attempt: 1, pos: make([]int, n)}
		for k := range j.pos {
			j.pos[k] = l.first + k
		}
		l.first += n
	default:
		return job{}, false, !slices.ContainsFunc(l.open, func(n int) bool { return n > 0 })
	}
	l.open[j.attempt]++
	return j, true, false
}

// flush queues the IDs waiting for an attempt that no batch started or to start can add to
// any more, and the full batches of every attempt.
func (l *lookup) flush() {
	closed := l.first >= len(l.ids)
	for a := 2; a < len(l.waiting); a++ {
		closed = closed && l.open[a-1] == 0 && !slices.ContainsFunc(l.jobs, func(j job) bool { return j.attempt < a })
		for w := l.waiting[a]; len(w) >= MaxBatchSize || (closed && len(w) > 0); w = l.waiting[a] {
			n := min(MaxBatchSize, len(w))
			l.jobs = append(l.jobs, job{attempt: a, pos: w[:n:n]})
			l.waiting[a] = w[n:]
		}
	}
}

// attempt looks up j's positions, after the backoff of a retry, and queues those left
// unprocessed with a transient code for the next attempt, or, after MaxAttempts, writes them
// with their code.
func (l *lookup) attempt(ctx context.Context, j job) error {
	defer func() {
		select {
		case l.ready <- struct{}{}:
		default:
		}
	}()
	e := l.engine
	err := func() error {
		if j.attempt > 1 {
			if err := sleep(ctx, e.backoff(j.attempt-2)); err != nil {
				return err
			}
		}
		for _, i := range j.pos {
			l.codes[i] = ""
		}
		return l.batch(ctx, j.pos)
	}()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open[j.attempt]--
	if err != nil {
		return err
	}
	for _, i := range j.pos {
		switch {
		case l.codes[i] == "":
		case j.attempt >= e.opts.MaxAttempts:
			l.rows[i] = apioutput.Unprocessed(l.ids[i], l.codes[i])
			l.counts.gaveUp.Add(1)
		default:
			l.waiting[j.attempt+1] = append(l.waiting[j.attempt+1], i)
		}
	}
	return nil
}

// lookup is the state of one Lookup call. Each batch writes only the rows and codes at its own
// positions, so batches run concurrently without a lock.
type lookup struct {
	engine *Engine
	// seq numbers the Lookup call: its calls, retries included, take the slots before those of
	// the calls made after it, so that concurrent Lookup calls (pkg/lookup looks up three parts
	// at once) do not run in step, each ending with the slow tail of its last retries at the
	// same time, but the later one fills the rate the earlier one's tail leaves.
	seq  uint64
	ids  []string
	rows []apioutput.Row
	// codes holds, after a batch, the transient error code of each of its positions still to
	// be retried.
	codes  []string
	counts counters

	// mu guards the batches to start: first is the first position no batch has asked for yet,
	// waiting[a] the positions waiting for attempt a, jobs the batches ready to start, open[a]
	// how many batches of attempt a are started and not done. ready is signaled when one is.
	mu      sync.Mutex
	first   int
	waiting [][]int
	jobs    []job
	open    []int
	ready   chan struct{}
}

// batch looks up the IDs at positions pos with one call, or, if Athena rejects the call as a
// whole as invalid, with one call per half, down to single IDs, so that one malformed ID doesn't
// cost the others their statistics.
func (l *lookup) batch(ctx context.Context, pos []int) error {
	ids := make([]string, len(pos))
	for j, i := range pos {
		ids[j] = l.ids[i]
	}
	out, err := l.call(ctx, ids)
	if err != nil {
		if kind, code := classify(ctx, err); kind == errInvalid {
			if len(pos) == 1 {
				l.rows[pos[0]] = apioutput.Unprocessed(ids[0], code)
				l.counts.permanent.Add(1)
				return nil
			}
			l.counts.splits.Add(1)
			half := len(pos) / 2
			if err := l.batch(ctx, pos[:half]); err != nil {
				return err
			}
			return l.batch(ctx, pos[half:])
		}
		return err
	}

	// Athena's answer is matched to this batch's IDs only: an ID it was not asked for is ignored,
	// an ID returned twice (or both found and unprocessed) is written once, found first.
	where := make(map[string]int, len(pos))
	for j, id := range ids {
		where[id] = j
	}
	done := make([]bool, len(pos))
	for _, q := range out.QueryExecutions {
		j, ok := where[aws.ToString(q.QueryExecutionId)]
		if !ok || done[j] {
			continue
		}
		done[j] = true
		l.rows[pos[j]] = apioutput.FromExecution(q)
		l.counts.found.Add(1)
	}
	for _, u := range out.UnprocessedQueryExecutionIds {
		j, ok := where[aws.ToString(u.QueryExecutionId)]
		if !ok || done[j] {
			continue
		}
		done[j] = true
		code := aws.ToString(u.ErrorCode)
		if code == "" {
			code = CodeUnknown
		}
		if IsTransientCode(code) {
			l.codes[pos[j]] = code
			l.counts.transient.Add(1)
			continue
		}
		l.rows[pos[j]] = apioutput.Unprocessed(ids[j], code)
		l.counts.permanent.Add(1)
	}
	for j, ok := range done {
		if !ok {
			l.codes[pos[j]] = CodeMissing
			l.counts.transient.Add(1)
		}
	}
	return nil
}

// call makes one BatchGetQueryExecution call within the engine's bounds, trying again after
// throttling and transient failures, up to MaxAttempts.
func (l *lookup) call(ctx context.Context, ids []string) (*athena.BatchGetQueryExecutionOutput, error) {
	e := l.engine
	in := &athena.BatchGetQueryExecutionInput{QueryExecutionIds: ids}
	for attempt := 1; ; attempt++ {
		out, sent, err := l.callOnce(ctx, in)
		if err == nil {
			e.limiter.done(sent, false)
			return out, nil
		}
		kind, _ := classify(ctx, err)
		switch kind {
		case errThrottled:
			l.counts.throttled.Add(1)
			e.limiter.done(sent, true)
		case errTransient:
		default:
			return nil, fmt.Errorf("batch get query executions: %w", err)
		}
		if attempt >= e.opts.MaxAttempts {
			return nil, fmt.Errorf("batch get query executions: %d attempts: %w", attempt, err)
		}
		l.counts.retries.Add(1)
		wait := e.backoff(attempt)
		if kind == errThrottled {
			// The limiter paces the first retry (see backoff).
			wait = e.backoff(attempt - 1)
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// callOnce waits for a slot and the limiter, then calls; sent is when the call went out.
func (l *lookup) callOnce(ctx context.Context, in *athena.BatchGetQueryExecutionInput) (out *athena.BatchGetQueryExecutionOutput, sent time.Time, err error) {
	e := l.engine
	if err := e.slots.acquire(ctx, l.seq); err != nil {
		return nil, time.Time{}, err
	}
	defer func() {
		e.slots.setLimit(e.limiter.inFlight())
		e.slots.release()
	}()
	if err := e.limiter.wait(ctx); err != nil {
		return nil, time.Time{}, err
	}
	sent = time.Now()
	l.counts.calls.Add(1)
	out, err = e.client.BatchGetQueryExecution(ctx, in)
	return out, sent, err
}

// backoff is the wait before retry n (1, 2, ...): exponential, capped, with "equal jitter"
// (half fixed, half random) so that calls throttled together don't all come back together; none
// before retry 0. A call throttled, or an ID left unprocessed, waits backoff(attempt-1): its first
// retry goes back to the limiter at once, which paces it (and brakes when throttling is the
// quota's), or into the next batch of its attempt. A fixed wait on top left the limiter idle at
// the end of each part: under issue 10's faults, a day at 200 calls/s gave 0.71-0.74 of the
// quota-bound rate over HTTP with it, 0.76-0.81 without. A server error (HTTP 500) backs off
// from its first retry.
func (e *Engine) backoff(n int) time.Duration {
	if n < 1 {
		return 0
	}
	d := e.opts.BackoffBase << min(n-1, 30)
	if d <= 0 || d > e.opts.BackoffMax {
		d = e.opts.BackoffMax
	}
	return d/2 + rand.N(d/2+1)
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
