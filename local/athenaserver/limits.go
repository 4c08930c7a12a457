package athenaserver

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Operation names, as in the X-Amz-Target header after "AmazonAthena.".
const (
	OpStartQueryExecution    = "StartQueryExecution"
	OpGetQueryExecution      = "GetQueryExecution"
	OpBatchGetQueryExecution = "BatchGetQueryExecution"
	OpStopQueryExecution     = "StopQueryExecution"
	OpListQueryExecutions    = "ListQueryExecutions"
	OpGetQueryResults        = "GetQueryResults"
)

// Quota is a token bucket: Rate calls per second refill it, up to Burst calls at once.
type Quota struct {
	Rate  float64
	Burst int
}

// Athena's default API quotas per account and region (Service Quotas, "API rate" entries).
// Calls above them get ThrottlingException.
var (
	DefaultBatchGetQuota = Quota{Rate: 20, Burst: 40}
	DefaultGetQuota      = Quota{Rate: 100, Burst: 200}
	DefaultResultsQuota  = Quota{Rate: 100, Burst: 200}
	DefaultStartQuota    = Quota{Rate: 20, Burst: 20}
	DefaultOtherQuota    = Quota{Rate: 20, Burst: 20}
)

// DefaultQuotas returns Athena's default quota for each operation the stand-in serves.
func DefaultQuotas() map[string]Quota {
	return map[string]Quota{
		OpBatchGetQueryExecution: DefaultBatchGetQuota,
		OpGetQueryExecution:      DefaultGetQuota,
		OpGetQueryResults:        DefaultResultsQuota,
		OpStartQueryExecution:    DefaultStartQuota,
		OpStopQueryExecution:     DefaultOtherQuota,
		OpListQueryExecutions:    DefaultOtherQuota,
	}
}

// Latency is the time a call takes before it is answered: Min when Max <= Min, otherwise
// uniform in [Min, Max).
type Latency struct {
	Min, Max time.Duration
}

// Faults are failures injected at random, for reliability tests. Rates are fractions in [0, 1].
type Faults struct {
	// Throttle is the rate of calls answered with ThrottlingException (HTTP 400).
	Throttle float64
	// ServerError is the rate of calls answered with InternalServerException (HTTP 500).
	ServerError float64
	// Unprocessed is the rate of known IDs that BatchGetQueryExecution returns in
	// UnprocessedQueryExecutionIds with ErrorCode InternalServerException, as Athena does
	// for transient failures.
	Unprocessed float64
	// Operations limits Throttle and ServerError to these operations; empty means all.
	Operations []string
}

func (f Faults) applies(op string) bool {
	if len(f.Operations) == 0 {
		return true
	}
	for _, o := range f.Operations {
		if o == op {
			return true
		}
	}
	return false
}

// limits applies quotas, latency and faults to each call.
type limits struct {
	// quotas are the quota of each operation; buckets holds one token bucket per account,
	// region and operation, made on first use, as Athena's quotas are per account and region.
	quotas  map[string]Quota
	latency map[string]Latency
	faults  Faults

	mu      sync.Mutex
	rng     *rand.Rand
	buckets map[bucketKey]*rate.Limiter
}

// bucketKey names one quota's token bucket.
type bucketKey struct{ account, region, op string }

// Caller is the account and region a call is made in, which pick its quota's bucket.
type Caller struct{ Account, Region string }

func newLimits(o Options) *limits {
	l := &limits{
		latency: o.Latency,
		faults:  o.Faults,
		rng:     rand.New(rand.NewPCG(uint64(o.Seed), uint64(o.Seed)>>32^0x9e3779b97f4a7c15)),
	}
	if o.DisableQuotas {
		return l
	}
	l.quotas = DefaultQuotas()
	for op, q := range o.Quotas {
		l.quotas[op] = q
	}
	l.buckets = map[bucketKey]*rate.Limiter{}
	return l
}

// bucket returns the token bucket of op in the caller's account and region.
func (l *limits) bucket(c Caller, op string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := bucketKey{c.Account, c.Region, op}
	b, ok := l.buckets[k]
	if !ok {
		q, ok := l.quotas[op]
		if !ok {
			q = DefaultOtherQuota
		}
		b = rate.NewLimiter(rate.Limit(q.Rate), q.Burst)
		l.buckets[k] = b
	}
	return b
}

// admit waits out the call's latency, then takes a token from its bucket and rolls the dice for
// injected faults. A nil result lets the call through.
func (l *limits) admit(ctx context.Context, c Caller, op string) *apiError {
	if d := l.delay(op); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return internalError("request cancelled")
		}
	}
	if l.quotas != nil && !l.bucket(c, op).Allow() {
		return throttled(op)
	}
	if l.faults.applies(op) {
		if l.roll(l.faults.Throttle) {
			return throttled(op)
		}
		if l.roll(l.faults.ServerError) {
			return internalError("Internal error (injected)")
		}
	}
	return nil
}

func (l *limits) delay(op string) time.Duration {
	lat, ok := l.latency[op]
	if !ok {
		lat = l.latency[""]
	}
	if lat.Max <= lat.Min {
		return lat.Min
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return lat.Min + time.Duration(l.rng.Int64N(int64(lat.Max-lat.Min)))
}

// roll reports true with probability p.
func (l *limits) roll(p float64) bool {
	if p <= 0 {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rng.Float64() < p
}
