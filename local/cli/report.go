package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/athenausage/athena-usage/local/pipeline"
	"github.com/athenausage/athena-usage/pkg/report"
	"github.com/spf13/cobra"
)

var writers = map[string]func(io.Writer, *report.Report) error{
	"table": report.WriteTable,
	"csv":   report.WriteCSV,
	"html":  report.WriteHTML,
}

func newReportCmd(stdout, stderr io.Writer) *cobra.Command {
	var state, from, to, by, format, out string
	cmd := &cobra.Command{
		Use:   "report --dir STATE --from DAY --to DAY [--by user|role|database] [--format table|csv|html]",
		Short: "Usage and cost per user, role or database, from the athena_usage views",
		Long: `Run the athena_usage_daily view on the local engine for an inclusive window of days and print
usage per user, role or database: queries (distinct query IDs started in the window), queries
Athena has no statistics for, succeeded, failed, cancelled, refused submissions, data scanned,
engine time and cost.

--format html writes one self-contained page with the charts: average MB scanned by user and
database, queries per user, queries per database and cost per user.`,
		Example: `  athena-usage local report --dir ./usage-state --from 2024-03-01 --to 2024-03-07 --by database
  athena-usage local report --dir ./usage-state --from 2024-03-01 --to 2024-03-07 --format html --out usage.html`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			write, ok := writers[format]
			if !ok {
				return fmt.Errorf("--format %q: want table, csv or html", format)
			}
			if report.CSVColumns(by) == nil {
				return fmt.Errorf("--by %q: want user, role or database", by)
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
			st, err := pipeline.Start(cmd.Context(), pipeline.Options{Dir: state, Logger: quietLogger()})
			if err != nil {
				return err
			}
			defer st.Close()
			r, err := st.Report(cmd.Context(), by, f, t, set.PricePerTB)
			if err != nil {
				return err
			}
			r.GeneratedBy = "athena-usage " + Version
			return writeReport(stdout, out, r, write)
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

// writeReport writes to path, or to stdout when path is empty. A file is written whole or not
// at all: a failed report does not leave a truncated file over a good one.
func writeReport(stdout io.Writer, path string, r *report.Report, write func(io.Writer, *report.Report) error) error {
	if path == "" {
		bw := bufio.NewWriter(stdout)
		if err := write(bw, r); err != nil {
			return err
		}
		return bw.Flush()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".report-*")
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriter(tmp)
	if err := write(bw, r); err != nil {
		tmp.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return fmt.Errorf("--out: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	return nil
}
