package alert

import (
	"context"
	"time"

	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/emf"
	"github.com/athenausage/athena-usage/pkg/status"
)

// freshness checks whether day is complete, as athena-usage status tells it, and writes
// DataFresh: 1 if it is, 0 if not. The alarm on DataFresh also fires when no value comes at
// all (the check did not run, or failed), so a day that is not complete is not an error here.
func (h *Handler) freshness(ctx context.Context, day time.Time) (Result, error) {
	res := Result{Day: day.Format(config.DayLayout), Check: CheckFreshness}
	st, err := status.New(h.clients.S3, h.cfg.DataBucket, h.cfg.DataPrefix, nil).Day(ctx, day)
	if err != nil {
		return res, err
	}
	res.State, res.Fresh = string(st.State), st.State == status.Complete
	value := 0.0
	if res.Fresh {
		value = 1
	}
	if err := h.opts.Metrics.Put(nil, emf.Metric{Name: MetricDataFresh, Unit: emf.Count, Value: value}); err != nil {
		return res, err
	}
	h.log.InfoContext(ctx, "freshness checked", "day", res.Day, "state", res.State, "fresh", res.Fresh)
	return res, nil
}
