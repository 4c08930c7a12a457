package cli

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/lookup"
	"github.com/spf13/cobra"
)

func newRunCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		r        pipelineRun
		from, to string
		sim      standIn
	)
	cmd := &cobra.Command{
		Use:   "run --cloudtrail DIR --history FILE --day YYYY-MM-DD [--to YYYY-MM-DD] --dir STATE",
		Short: "Run the daily pipeline over CloudTrail files you already have",
		Long: `Run the same pipeline the Lambda functions run, over CloudTrail log files on disk and an Athena
query history, on the embedded local stack.

--cloudtrail is a folder of the tree as CloudTrail writes it, at any level: the trail's prefix,
AWSLogs/, an account, a region or a day. Accounts, regions and an organization trail are found
from the paths. Unreadable or malformed files are reported and skipped.

--history is a file, or a folder of files, of Athena QueryExecution objects as the AWS CLI prints
them: its pretty-printed JSON or one object a line, with or without a byte order mark, wrapped
({"QueryExecutions": [...]}, {"QueryExecution": {...}}) or not. For example:
  aws athena list-query-executions --query 'QueryExecutionIds' --output text | tr '\t' '\n' |
    xargs -n 50 aws athena batch-get-query-execution --query-execution-ids > history.json
Timestamps may be epoch seconds or ISO 8601. Bad entries are reported (the first 100, then a
count) and skipped; a history with no usable entry fails the run.

The state directory keeps the tables, views and results; run 'local report' on it afterwards.
It must be new, empty or an earlier run's: a run refuses any other folder. Runs over one state
add up (a later run never hides an earlier one's days), and one run at a time may write it: a
second is refused while the first holds its lock (flock, on Unix).

Bounds, checked before any work: --day to --to is at most 45 days (Athena keeps 45 days of
query history) and ends no later than today (UTC); --part-size is 1 to 100000.`,
		Example: `  athena-usage local run --cloudtrail ~/trail/AWSLogs --history history.jsonl \
      --day 2024-03-01 --to 2024-03-07 --dir ./usage-state`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var errs []error
			if r.cloudtrail == "" {
				errs = append(errs, errors.New("--cloudtrail is required"))
			}
			if r.state == "" {
				errs = append(errs, errors.New("--dir is required"))
			}
			if err := config.ValidatePrice(r.price); err != nil {
				errs = append(errs, fmt.Errorf("--price-per-tb: %w", err))
			}
			var err error
			if r.from, r.to, err = window("day", from, "to", to); err != nil {
				errs = append(errs, err)
			} else if err := checkRange(r.from, r.to, time.Now()); err != nil {
				errs = append(errs, err)
			}
			if err := checkPartSize(r.partSize); err != nil {
				errs = append(errs, err)
			}
			if r.athena, err = sim.options(); err != nil {
				errs = append(errs, err)
			}
			if err := errors.Join(errs...); err != nil {
				return err
			}
			st, set, alerts, err := r.run(cmd.Context(), newProgress(stderr, 4), stderr)
			if err != nil {
				return err
			}
			defer st.Close()
			printAlerts(stdout, alerts)
			fmt.Fprintf(stdout, "done: %s to %s in %s\nnext: athena-usage local report --dir %s --from %s --to %s --by user\n",
				set.FirstDay, set.LastDay, r.state, r.state, set.FirstDay, set.LastDay)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&r.cloudtrail, "cloudtrail", "", "folder of CloudTrail log files, at any level of CloudTrail's tree")
	f.StringVar(&r.history, "history", "", "Athena query history: a file or folder of the AWS CLI's QueryExecution output")
	f.StringVar(&from, "day", "", "first UTC day to run, YYYY-MM-DD")
	f.StringVar(&to, "to", "", "last UTC day to run, YYYY-MM-DD (default: --day; at most 45 days from --day, not after today)")
	f.StringVar(&r.state, "dir", "", "state directory: new, empty or an earlier run's")
	f.Float64Var(&r.price, "price-per-tb", config.DefaultPricePerTB, "price in USD per TB scanned")
	f.IntVar(&r.partSize, "part-size", lookup.DefaultPartSize, "query IDs per athena_api_output part, 1 to 100000")
	sim.register(f)
	return cmd
}
