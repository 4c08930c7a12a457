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
	quotas  map[string]*rate.Limiter
	other   *rate.Limiter
	latency map[string]Latency
	faults  Faults

	mu  sync.Mutex
	rng *rand.Rand
}

func newLimits(o Options) *limits {
	l := &limits{
		latency: o.Latency,
		faults:  o.Faults,
		rng:     rand.New(rand.NewPCG(uint64(o.Seed), uint64(o.Seed)>>32^0x9e3779b97f4a7c15)),
	}
	if o.DisableQuotas {
		return l
	}
	qs := DefaultQuotas()
	for op, q := range o.Quotas {
		qs[op] = q
	}
	l.quotas = make(map[string]*rate.Limiter, len(qs))
	for op, q := range qs {
		l.quotas[op] = rate.NewLimiter(rate.Limit(q.Rate), q.Burst)
	}
	l.other = rate.NewLimiter(rate.Limit(DefaultOtherQuota.Rate), DefaultOtherQuota.Burst)
	return l
}

// admit waits out the call's latency, then takes a token from its bucket and rolls the dice for
// injected faults. A nil result lets the call through.
func (l *limits) admit(ctx context.Context, op string) *apiError {
	if d := l.delay(op); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return internalError("request cancelled")
		}
	}
	if l.quotas != nil {
		lim, ok := l.quotas[op]
		if !ok {
			lim = l.other
		}
		if !lim.Allow() {
			return throttled(op)
		}
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
