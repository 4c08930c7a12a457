package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/athenausage/athena-usage/pkg/backfill"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/stack"
	"github.com/athenausage/athena-usage/pkg/status"
	"github.com/spf13/cobra"
)

// DefaultBackfillTimeout is how long backfill follows the days: Lambda keeps an event at most 6
// hours (the functions' MaximumEventAgeInSeconds) before it goes to the failure queue.
const DefaultBackfillTimeout = 6 * time.Hour

func newBackfillCmd(stdout, stderr io.Writer, c clients) *cobra.Command {
	t := target{clients: c}
	var from, to string
	var noWait bool
	var poll, timeout time.Duration
	cmd := &cobra.Command{
		Use:   "backfill (--stack NAME | --data-bucket B --extract-function F [--failure-queue URL]) --from DAY --to DAY [--no-wait]",
		Short: "Extract a range of days on a deployed stack, and follow it to the end",
		Long: fmt.Sprintf(`Invoke the extract function asynchronously for the days of the range that are not complete yet,
one event per run of consecutive days (the extract takes the days one after the other, continues
itself when its time runs short, and hands each day to the lookup), then follow the days' manifests
until each is complete or has failed, and print a summary with the error of each failed day, read
from the failure queue. Run it again to resume: complete days are skipped.

Days more than %d days old are refused: Athena keeps %d days of query history, so their queries
would all be without statistics. Days in the future are refused too.

On a terminal the progress is a bar with the days done, the queries looked up, the rate and the
estimated time left; otherwise a line per day as it ends.`, backfill.HistoryDays-1, backfill.HistoryDays),
		Example: `  athena-usage backfill --stack athena-usage --from 2024-03-01 --to 2024-03-31
  athena-usage backfill --stack athena-usage --from 2024-03-01 --to 2024-03-31 --no-wait`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			first, last, err := dayRange(from, to, time.Now())
			if err != nil {
				return err
			}
			if err := backfill.CheckRange(first, last, time.Now()); err != nil {
				return err
			}
			cfg, res, err := t.resolve(cmd.Context(), stack.DataBucket, stack.ExtractFunction)
			if err != nil {
				return err
			}
			if res.FailureQueue == "" && !noWait {
				fmt.Fprintln(stderr, "no failure queue (--failure-queue): a failed day is not told apart from a slow one")
			}
			all := days(first, last)
			b := backfill.New(c.lambda(cfg), res.ExtractFunction, checker(c, cfg, res), func(o *backfill.Options) { o.Poll = poll })
			started := time.Now()
			plan, err := b.Start(cmd.Context(), all)
			if err != nil {
				return err
			}
			printPlan(stdout, plan, res.ExtractFunction)
			if noWait || len(plan.Runs) == 0 {
				return nil
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			show := newProgressView(stdout, len(all))
			// Lambda's clock stamps the failures: a minute's slack for the difference with ours.
			p, err := b.Wait(ctx, all, started.Add(-time.Minute), show.update)
			show.end()
			if cmd.Context().Err() != nil {
				// Interrupted (Ctrl-C): the functions go on in AWS; say where the days stood.
				if len(p.Days) > 0 {
					_ = summary(stdout, p) // its error is the days not complete, said below
				}
				return errors.New("interrupted: the started days go on; run backfill again to follow them or resume (complete days are skipped)")
			}
			if errors.Is(err, context.DeadlineExceeded) {
				err = nil // the summary says which days did not end
			}
			if err != nil {
				return err
			}
			return summary(stdout, p)
		},
	}
	t.flags(cmd, stack.DataBucket, stack.ExtractFunction, stack.FailureQueue)
	fl := cmd.Flags()
	fl.StringVar(&from, "from", "", "first UTC day, YYYY-MM-DD")
	fl.StringVar(&to, "to", "", "last UTC day, YYYY-MM-DD (inclusive)")
	fl.BoolVar(&noWait, "no-wait", false, "only start the days; follow them later with status, or by running backfill again")
	fl.DurationVar(&poll, "poll", backfill.DefaultPoll, "wait between two looks at the days")
	fl.DurationVar(&timeout, "timeout", DefaultBackfillTimeout, "stop following the days after this long")
	return cmd
}

func printPlan(w io.Writer, plan backfill.Plan, function string) {
	if len(plan.Skipped) > 0 {
		fmt.Fprintf(w, "skipped %d complete day(s): %s\n", len(plan.Skipped), dayList(plan.Skipped))
	}
	if len(plan.Runs) == 0 {
		fmt.Fprintln(w, "every day is complete: nothing to start")
	}
	for _, r := range plan.Runs {
		fmt.Fprintf(w, "started %s for %s to %s\n", function, r.From.Format(config.DayLayout), r.To.Format(config.DayLayout))
	}
}

func dayList(ds []time.Time) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.Format(config.DayLayout)
	}
	return strings.Join(s, ", ")
}

// summary prints how each day ended, and returns an error when one did not complete.
func summary(w io.Writer, p backfill.Progress) error {
	fmt.Fprintf(w, "%d of %d day(s) complete, %d failed\n", p.Complete, len(p.Days), p.Failed)
	for _, d := range p.Days {
		switch d.State {
		case status.Complete:
			fmt.Fprintf(w, "  %s complete: %d queries, %d without statistics, %d part(s)\n", d, d.Queries, d.WithoutStats, d.Parts)
		case status.Failed:
			for _, f := range d.Failures {
				fmt.Fprintf(w, "  %s failed: %s: %s\n", d, f.Function, f.Reason())
			}
		default:
			fmt.Fprintf(w, "  %s not finished: %s\n", d, d.State)
		}
	}
	if p.Complete < len(p.Days) {
		return fmt.Errorf("%d of %d day(s) not complete", len(p.Days)-p.Complete, len(p.Days))
	}
	return nil
}

// progressView shows a backfill's progress: a bar redrawn in place on a terminal, a line per day
// as it ends otherwise.
type progressView struct {
	w        io.Writer
	terminal bool
	total    int
	start    time.Time
	firstIDs int
	seen     map[string]status.State
	first    bool
}

func newProgressView(w io.Writer, total int) *progressView {
	return &progressView{w: w, terminal: isTerminal(w), total: total, start: time.Now(), seen: map[string]status.State{}, first: true}
}

// isTerminal reports whether w is a character device, as a terminal is.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (v *progressView) update(p backfill.Progress) {
	if v.first {
		v.firstIDs, v.first = p.IDs, false
	}
	if !v.terminal {
		for _, d := range p.Days {
			if d.Ended() && v.seen[d.String()] != d.State {
				v.seen[d.String()] = d.State
				fmt.Fprintf(v.w, "%s %s (%d/%d days done, %d queries looked up)\n", d, d.State, p.Complete+p.Failed, v.total, p.IDs)
			}
		}
		return
	}
	const width = 30
	done := p.Complete + p.Failed
	bar := strings.Repeat("#", done*width/max(v.total, 1)) + strings.Repeat(".", width-done*width/max(v.total, 1))
	elapsed := time.Since(v.start)
	rate := float64(p.IDs-v.firstIDs) / max(elapsed.Seconds(), 1)
	eta := "-"
	if done > 0 && done < v.total {
		eta = (elapsed / time.Duration(done) * time.Duration(v.total-done)).Round(time.Second).String()
	}
	fmt.Fprintf(v.w, "\r[%s] %d/%d days, %d queries looked up, %.0f/s, ETA %s   ", bar, done, v.total, p.IDs, rate, eta)
}

func (v *progressView) end() {
	if v.terminal {
		fmt.Fprintln(v.w)
	}
}
