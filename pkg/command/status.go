package command

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/athenausage/athena-usage/pkg/stack"
	"github.com/athenausage/athena-usage/pkg/status"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spf13/cobra"
)

// DefaultStatusDays is how many days status shows without --days or --from: a week, ending
// yesterday, the last day the schedule extracts.
const DefaultStatusDays = 7

func newStatusCmd(stdout, stderr io.Writer, c clients) *cobra.Command {
	t := target{clients: c}
	var from, to string
	var n int
	cmd := &cobra.Command{
		Use:   "status (--stack NAME | --data-bucket BUCKET [--failure-queue URL]) [--days N | --from DAY --to DAY]",
		Short: "Which days of a deployed stack are complete, partial, missing or failed",
		Long: `Show one row per day: the day's queries, how many the lookup wrote with and without Athena's
statistics, its parts, its state, when it was written, and the failed invocations for it waiting in
the failure queue (read without being consumed). The states:

  complete    the lookup's manifest says every part is written for the day's query IDs as they are
  partial     the lookup of the day's query IDs has not finished (running, or stopped between parts)
  superseded  the query IDs were replaced (a re-check found late records) after the lookup wrote;
              the lookup of the new ones has not written yet
  missing     the day has not been extracted
  failed      not complete, and a failed invocation for the day waits in the failure queue

It exits with an error when a day of the range is not complete, so that cron and CI can use it.`,
		Example: `  athena-usage status --stack athena-usage
  athena-usage status --stack athena-usage --from 2024-03-01 --to 2024-03-31`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			first, last, err := statusRange(n, from, to, time.Now())
			if err != nil {
				return err
			}
			cfg, res, err := t.resolve(cmd.Context(), stack.DataBucket)
			if err != nil {
				return err
			}
			if res.FailureQueue == "" {
				fmt.Fprintln(stderr, "no failure queue (--failure-queue): failed days show as partial or missing")
			}
			sts, others, err := checker(c, cfg, res).Days(cmd.Context(), days(first, last))
			if err != nil {
				return err
			}
			if err := writeStatus(stdout, sts, others); err != nil {
				return err
			}
			return notComplete(sts)
		},
	}
	t.flags(cmd, stack.DataBucket, stack.FailureQueue)
	fl := cmd.Flags()
	fl.IntVar(&n, "days", 0, fmt.Sprintf("the last N days, ending yesterday (default %d)", DefaultStatusDays))
	fl.StringVar(&from, "from", "", "first UTC day, YYYY-MM-DD")
	fl.StringVar(&to, "to", "", "last UTC day, YYYY-MM-DD (inclusive)")
	return cmd
}

// statusRange is --days N, or --from and --to, or the default days.
func statusRange(n int, from, to string, now time.Time) (time.Time, time.Time, error) {
	if from != "" || to != "" {
		if n != 0 {
			return time.Time{}, time.Time{}, errors.New("give --days or --from and --to, not both")
		}
		return dayRange(from, to, now)
	}
	if n == 0 {
		n = DefaultStatusDays
	}
	if n < 0 || n > 366 {
		return time.Time{}, time.Time{}, fmt.Errorf("--days %d: want 1 to 366", n)
	}
	last := now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	return last.AddDate(0, 0, 1-n), last, nil
}

// checker reads the stack's data bucket and failure queue.
func checker(c clients, cfg aws.Config, res stack.Resources) *status.Checker {
	var q *status.Queue
	if res.FailureQueue != "" {
		q = status.NewQueue(c.sqs(cfg), res.FailureQueue)
	}
	return status.New(c.s3(cfg), res.DataBucket, res.DataPrefix, q)
}

func writeStatus(w io.Writer, sts []status.Day, others []status.Failure) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "day\tstate\tqueries\twith stats\twithout stats\tparts\twritten\tfailures\t")
	for _, d := range sts {
		written := "-"
		if !d.Written.IsZero() {
			written = d.Written.UTC().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%d\t\n", d, d.State, d.Queries, d.WithStats, d.WithoutStats, d.Parts, written, len(d.Failures))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, d := range sts {
		for _, f := range d.Failures {
			fmt.Fprintf(w, "%s: %s failed: %s\n", d, f.Function, f.Reason())
		}
	}
	for _, f := range others {
		fmt.Fprintf(w, "failure for no day shown (%s): %s: %s\n", string(f.Event), f.Function, f.Reason())
	}
	return nil
}

// notComplete returns an error counting the days that are not complete, if any.
func notComplete(sts []status.Day) error {
	bad := 0
	for _, d := range sts {
		if d.State != status.Complete {
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d days not complete", bad, len(sts))
	}
	return nil
}
