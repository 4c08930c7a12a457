package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/athenausage/athena-usage/local/athenaserver"
	"github.com/spf13/pflag"
)

// standIn holds the flags that tune the Athena stand-in, so that anyone can reproduce the
// throughput measurements of docs/design.md ("Throughput") with `local serve`, `local run` or
// `demo`.
type standIn struct {
	quota                         float64
	latency                       string
	throttle, serverErrors, unpro float64
	seed                          int64
}

// register adds the stand-in's flags to f.
func (s *standIn) register(f *pflag.FlagSet) {
	f.Float64Var(&s.quota, "batchget-quota", athenaserver.DefaultBatchGetQuota.Rate,
		"BatchGetQueryExecution quota, calls/s per account and region (burst: twice that)")
	f.StringVar(&s.latency, "latency", "", "latency of each Athena call: a duration (100ms) or a range (50ms-150ms)")
	f.Float64Var(&s.throttle, "throttle-rate", 0, "share of BatchGetQueryExecution calls throttled at random, 0 to 1")
	f.Float64Var(&s.serverErrors, "server-error-rate", 0, "share of BatchGetQueryExecution calls answered with HTTP 500, 0 to 1")
	f.Float64Var(&s.unpro, "unprocessed-rate", 0, "share of IDs BatchGetQueryExecution returns unprocessed (transient), 0 to 1")
	f.Int64Var(&s.seed, "fault-seed", 1, "seed of the stand-in's latency and fault dice")
}

// options returns the Athena stand-in's options for these flags.
func (s *standIn) options() (athenaserver.Options, error) {
	var o athenaserver.Options
	if !(s.quota > 0) {
		return o, fmt.Errorf("--batchget-quota %v: want more than 0", s.quota)
	}
	for name, v := range map[string]float64{"--throttle-rate": s.throttle, "--server-error-rate": s.serverErrors, "--unprocessed-rate": s.unpro} {
		if !(v >= 0 && v <= 1) {
			return o, fmt.Errorf("%s %v: want 0 to 1", name, v)
		}
	}
	o.Quotas = map[string]athenaserver.Quota{
		athenaserver.OpBatchGetQueryExecution: {Rate: s.quota, Burst: max(1, int(2*s.quota))},
	}
	if s.latency != "" {
		lat, err := parseLatency(s.latency)
		if err != nil {
			return o, err
		}
		o.Latency = map[string]athenaserver.Latency{"": lat}
	}
	// Faults hit the lookup's call only: the extraction's queries are not what is measured.
	o.Faults = athenaserver.Faults{
		Throttle: s.throttle, ServerError: s.serverErrors, Unprocessed: s.unpro,
		Operations: []string{athenaserver.OpBatchGetQueryExecution},
	}
	o.Seed = s.seed
	return o, nil
}

// parseLatency reads "100ms" or "50ms-150ms".
func parseLatency(v string) (athenaserver.Latency, error) {
	loText, hiText, isRange := strings.Cut(v, "-")
	lo, err := time.ParseDuration(loText)
	if err != nil || lo < 0 {
		return athenaserver.Latency{}, fmt.Errorf("--latency %q: want a duration or MIN-MAX", v)
	}
	if !isRange {
		return athenaserver.Latency{Min: lo}, nil
	}
	hi, err := time.ParseDuration(hiText)
	if err != nil || hi < lo {
		return athenaserver.Latency{}, fmt.Errorf("--latency %q: want MIN-MAX with MIN <= MAX", v)
	}
	return athenaserver.Latency{Min: lo, Max: hi}, nil
}
