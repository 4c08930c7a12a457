// Package backfill extracts a range of days on a deployed stack: it invokes the extract function
// for the days that are not complete, as the pipeline serialises them (one asynchronous event
// per run of days; the extract continues itself and hands each day to the lookup), then follows
// the days' manifests until each is complete or has failed.
package backfill

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/events"
	"github.com/athenausage/athena-usage/pkg/status"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// HistoryDays is how long Athena keeps query history: BatchGetQueryExecution knows nothing of
// older queries, so a day older than that would be extracted with no statistics at all.
const HistoryDays = 45

// DefaultPoll is the wait between two looks at the days' manifests: a day takes minutes.
const DefaultPoll = 10 * time.Second

// CheckRange refuses a range that reaches into the future, or before the oldest day Athena still
// has statistics for; now is the current time.
func CheckRange(from, to, now time.Time) error {
	today := now.UTC().Truncate(24 * time.Hour)
	if to.After(today) {
		return fmt.Errorf("%s is in the future (today is %s, UTC)", to.Format(config.DayLayout), today.Format(config.DayLayout))
	}
	// A range from the oldest day to today is HistoryDays long, which is also the most one
	// extract event takes (events.MaxDays).
	if oldest := today.AddDate(0, 0, 1-HistoryDays); from.Before(oldest) {
		return fmt.Errorf("%s is more than %d days ago: Athena keeps %d days of query history, so its queries "+
			"would have no statistics; backfill refuses days before %s", from.Format(config.DayLayout), HistoryDays-1, HistoryDays, oldest.Format(config.DayLayout))
	}
	return nil
}

// InvokeAPI is the part of the Lambda client that Backfill uses.
type InvokeAPI interface {
	Invoke(ctx context.Context, params *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

var _ InvokeAPI = (*lambda.Client)(nil)

// Options tune a Backfill.
type Options struct {
	// Poll is the wait between two looks at the days; DefaultPoll when zero.
	Poll time.Duration
}

// Backfill starts and follows the extraction of days.
type Backfill struct {
	lambda   InvokeAPI
	function string
	status   *status.Checker
	opts     Options
}

// New returns a Backfill that invokes the extract function and reads the days' status.
func New(api InvokeAPI, function string, checker *status.Checker, optFns ...func(*Options)) *Backfill {
	var o Options
	for _, fn := range optFns {
		fn(&o)
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	return &Backfill{lambda: api, function: function, status: checker, opts: o}
}

// Run is a run of consecutive days, one extract event.
type Run struct{ From, To time.Time }

// Plan is what Start did: the days it skipped as complete and the runs it started.
type Plan struct {
	Skipped []time.Time
	Runs    []Run
}

// Start invokes the extract function asynchronously once for each run of consecutive days that
// are not complete; the complete ones are skipped, so that a backfill run again resumes.
func (b *Backfill) Start(ctx context.Context, days []time.Time) (Plan, error) {
	var plan Plan
	for _, d := range days {
		st, err := b.status.Day(ctx, d)
		if err != nil {
			return plan, err
		}
		switch n := len(plan.Runs); {
		case st.State == status.Complete:
			plan.Skipped = append(plan.Skipped, d)
		case n > 0 && plan.Runs[n-1].To.Equal(d.AddDate(0, 0, -1)):
			plan.Runs[n-1].To = d
		default:
			plan.Runs = append(plan.Runs, Run{From: d, To: d})
		}
	}
	for _, r := range plan.Runs {
		ev := events.Extract{From: r.From.Format(config.DayLayout), To: r.To.Format(config.DayLayout)}
		payload, err := json.Marshal(ev)
		if err != nil {
			return plan, fmt.Errorf("encode event: %w", err)
		}
		out, err := b.lambda.Invoke(ctx, &lambda.InvokeInput{
			FunctionName:   aws.String(b.function),
			InvocationType: lambdatypes.InvocationTypeEvent,
			Payload:        payload,
		})
		if err != nil {
			return plan, fmt.Errorf("invoke %s for %s to %s: %w", b.function, ev.From, ev.To, err)
		}
		if out.FunctionError != nil {
			return plan, fmt.Errorf("invoke %s for %s to %s: %s", b.function, ev.From, ev.To, aws.ToString(out.FunctionError))
		}
	}
	return plan, nil
}

// Progress is the state of the days at one look.
type Progress struct {
	Days []status.Day
	// Complete and Failed count the days that ended so.
	Complete, Failed int
	// IDs is the query IDs written so far over the days.
	IDs int
}

func progress(sts []status.Day) Progress {
	p := Progress{Days: sts}
	for _, d := range sts {
		switch d.State {
		case status.Complete:
			p.Complete++
		case status.Failed:
			p.Failed++
		}
		p.IDs += d.WithStats + d.WithoutStats
	}
	return p
}

// Ended reports whether every day is complete or has failed.
func (p Progress) Ended() bool { return p.Complete+p.Failed == len(p.Days) }

// Wait looks at the days every Poll, calling report with each look, until every day is complete
// or has failed, or ctx ends. Failures recorded before since (an earlier run's) are left out.
// With an error it returns the last look's progress, if any, so that an interrupted backfill
// can say where the days stood.
func (b *Backfill) Wait(ctx context.Context, days []time.Time, since time.Time, report func(Progress)) (Progress, error) {
	var p Progress
	for {
		sts, _, err := b.status.DaysSince(ctx, days, since)
		if err != nil {
			return p, err
		}
		p = progress(sts)
		report(p)
		if p.Ended() {
			return p, nil
		}
		t := time.NewTimer(b.opts.Poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return p, ctx.Err()
		case <-t.C:
		}
	}
}
