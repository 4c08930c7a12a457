package alert

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/athenausage/athena-usage/pkg/config"
)

// Rules are the alert rules: a user is alerted about when their cost on a day is above
// ThresholdUSD, or when it is at least MinCostUSD and above Ratio times their baseline, the
// median of their daily cost over the days they ran queries among the WindowDays before.
//
// Days without a query are left out of the median: a user who queries twice a week is
// compared with their days of use, not with the idle days between them, which would make the
// median 0 and every day of use an alert. A user with no query in the window has no baseline,
// and only the threshold applies to them: a newcomer's first day is not a jump.
type Rules struct {
	ThresholdUSD float64
	Ratio        float64
	MinCostUSD   float64
}

func (r Rules) validate() error {
	var errs []error
	if !(r.ThresholdUSD > 0) {
		errs = append(errs, fmt.Errorf("threshold %v USD: want more than 0", r.ThresholdUSD))
	}
	if !(r.Ratio >= 1) {
		errs = append(errs, fmt.Errorf("ratio %v: want at least 1", r.Ratio))
	}
	if !(r.MinCostUSD >= 0) {
		errs = append(errs, fmt.Errorf("minimum cost %v USD: want at least 0", r.MinCostUSD))
	}
	return errors.Join(errs...)
}

// floor is the least a day can cost and break a rule: the candidates' query leaves out the rest.
func (r Rules) floor() float64 { return min(r.ThresholdUSD, r.MinCostUSD) }

// DayCost is one user's usage on one day, a row of the candidates' query.
type DayCost struct {
	User             string
	Day              string
	Queries          int64
	DataScannedBytes int64
	CostUSD          float64
}

// Finding is a user over the rules on a day, with the figures the message gives.
type Finding struct {
	User             string  `json:"user"`
	CostUSD          float64 `json:"cost_usd"`
	Queries          int64   `json:"queries"`
	DataScannedBytes int64   `json:"data_scanned_bytes"`
	// BaselineUSD is the median of the user's daily cost over HistoryDays days, the days with
	// queries among the WindowDays before; 0 when HistoryDays is 0.
	BaselineUSD float64 `json:"baseline_usd"`
	HistoryDays int     `json:"history_days"`
	// OverThreshold and OverRatio say which rules the day breaks.
	OverThreshold bool `json:"over_threshold"`
	OverRatio     bool `json:"over_ratio"`
}

// Evaluate returns the users whose cost on day breaks a rule, most expensive first (then by
// user), from their daily costs on day and the WindowDays before it; rows of other days are
// ignored.
func (r Rules) Evaluate(costs []DayCost, day time.Time) []Finding {
	d := day.Format(config.DayLayout)
	from := day.AddDate(0, 0, -WindowDays).Format(config.DayLayout)
	history := map[string][]float64{}
	today := map[string]DayCost{}
	for _, c := range costs {
		switch {
		case c.Day == d:
			today[c.User] = c
		case c.Day >= from && c.Day < d:
			history[c.User] = append(history[c.User], c.CostUSD)
		}
	}
	var out []Finding
	for user, c := range today {
		f := Finding{User: user, CostUSD: c.CostUSD, Queries: c.Queries, DataScannedBytes: c.DataScannedBytes}
		if h := history[user]; len(h) > 0 {
			f.BaselineUSD, f.HistoryDays = median(h), len(h)
		}
		f.OverThreshold = c.CostUSD > r.ThresholdUSD
		f.OverRatio = f.HistoryDays > 0 && c.CostUSD >= r.MinCostUSD && c.CostUSD > r.Ratio*f.BaselineUSD
		if f.OverThreshold || f.OverRatio {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(b.CostUSD, a.CostUSD), cmp.Compare(a.User, b.User))
	})
	return out
}

// median is the middle value of v, or the mean of the two middle ones; v is not empty.
func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
