package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/athenausage/athena-usage/local/pipeline"
	"github.com/athenausage/athena-usage/pkg/command"
	"github.com/spf13/cobra"
)

func newReportCmd(stdout, stderr io.Writer) *cobra.Command {
	var state, from, to, by, format, out string
	cmd := &cobra.Command{
		Use:   "report --dir STATE --from DAY --to DAY [--by user|role|database] [--format table|csv|html]",
		Short: "Usage and cost per user, role or database, from the athena_usage views",
		Long: `Run the report queries over the athena_usage views on the local engine for an inclusive window of days and print
usage per user, role or database: queries (distinct query IDs started in the window), queries
Athena has no statistics for, succeeded, failed, cancelled, refused submissions, data scanned,
engine time and cost.

--format html writes one self-contained page with the charts: average MB scanned by user and
database, queries per user, queries per database and cost per user.

A read-only state directory is reported from a temporary copy, so that it stays as it is.`,
		Example: `  athena-usage local report --dir ./usage-state --from 2024-03-01 --to 2024-03-07 --by database
  athena-usage local report --dir ./usage-state --from 2024-03-01 --to 2024-03-07 --format html --out usage.html`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			write, err := command.CheckReportFlags(by, format)
			if err != nil {
				return err
			}
			if state == "" {
				return errors.New("--dir is required")
			}
			f, t, err := window("from", from, "to", to)
			if err != nil {
				return err
			}
			if to == "" {
				return errors.New("--to is required (YYYY-MM-DD)")
			}
			set, err := loadSettings(state)
			if err != nil {
				return err
			}
			dir := state
			if readOnly(state) {
				// The report's queries write results and cache; a read-only state is reported
				// from a scratch copy, and the original is left as it is.
				if dir, err = scratchCopy(state); err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				fmt.Fprintf(stderr, "%s is read-only: reporting from a temporary copy\n", state)
			}
			limitGoHeap()
			st, err := pipeline.Start(cmd.Context(), pipeline.Options{Dir: dir, Logger: quietLogger()})
			if err != nil {
				return err
			}
			defer st.Close()
			r, cost, err := st.ReportCost(cmd.Context(), by, f, t, set.PricePerTB)
			if err != nil {
				return err
			}
			r.GeneratedBy = "athena-usage " + Version
			if err := command.WriteReport(stdout, out, r, write); err != nil {
				return err
			}
			command.PrintCost(stderr, cost, set.PricePerTB)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&state, "dir", "", "state directory of an earlier 'local run' or 'demo'")
	fl.StringVar(&from, "from", "", "first UTC day, YYYY-MM-DD")
	fl.StringVar(&to, "to", "", "last UTC day, YYYY-MM-DD (inclusive)")
	fl.StringVar(&by, "by", "user", "one line per user, role or database")
	fl.StringVar(&format, "format", "table", "table, csv or html")
	fl.StringVar(&out, "out", "", "write to this file instead of standard output")
	return cmd
}
