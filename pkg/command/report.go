package command

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/athenausage/athena-usage/pkg/report"
	"github.com/athenausage/athena-usage/pkg/reportrun"
	"github.com/athenausage/athena-usage/pkg/stack"
	"github.com/spf13/cobra"
)

// ReportFormats are the writers of --format.
var ReportFormats = map[string]func(io.Writer, *report.Report) error{
	"table": report.WriteTable,
	"csv":   report.WriteCSV,
	"html":  report.WriteHTML,
}

// CheckReportFlags checks --by and --format, and returns the writer of the format.
func CheckReportFlags(by, format string) (func(io.Writer, *report.Report) error, error) {
	write, ok := ReportFormats[format]
	if !ok {
		return nil, fmt.Errorf("--format %q: want table, csv or html", format)
	}
	if report.CSVColumns(by) == nil {
		return nil, fmt.Errorf("--by %q: want user, role or database", by)
	}
	return write, nil
}

// PrintCost writes what the report queries scanned, and roughly what that costs: Athena bills
// each query at least 10 MB, rounded up to the MB.
func PrintCost(w io.Writer, c reportrun.Cost, pricePerTB float64) {
	fmt.Fprintf(w, "report queries: %d, %s scanned (about $%.4f at $%.2f per TB)\n",
		c.Queries, report.HumanBytes(c.DataScannedBytes), float64(c.BilledBytes)/(1<<40)*pricePerTB, pricePerTB)
}

func newReportCmd(stdout, stderr io.Writer, c clients) *cobra.Command {
	t := target{clients: c}
	var from, to, by, format, out string
	cmd := &cobra.Command{
		Use:   "report (--stack NAME | --workgroup WG --database DB) --from DAY --to DAY [--by user|role|database] [--format table|csv|html]",
		Short: "Usage and cost per user, role or database, from a deployed stack's views",
		Long: `Run the report queries on Athena, in the stack's workgroup, over the athena_usage views for an
inclusive window of days, and print usage per user, role or database: the same report as
'athena-usage local report', from the same SQL. What the report queries scanned is printed on
standard error.`,
		Example: `  athena-usage report --stack athena-usage --from 2024-03-01 --to 2024-03-07 --by database
  athena-usage report --workgroup athena-usage --database athena_usage --region eu-west-1 \
    --from 2024-03-01 --to 2024-03-31 --format html --out usage.html`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			write, err := CheckReportFlags(by, format)
			if err != nil {
				return err
			}
			f, l, err := dayRange(from, to, time.Now())
			if err != nil {
				return err
			}
			cfg, res, err := t.resolve(cmd.Context(), stack.Workgroup, stack.Database)
			if err != nil {
				return err
			}
			runner := reportrun.New(c.athena(cfg), res.Database, func(o *reportrun.Options) { o.Workgroup = res.Workgroup })
			r, cost, err := runner.Run(cmd.Context(), by, f, l, res.PricePerTB)
			if err != nil {
				return err
			}
			r.GeneratedBy = "athena-usage " + Version
			if err := WriteReport(stdout, out, r, write); err != nil {
				return err
			}
			PrintCost(stderr, cost, res.PricePerTB)
			return nil
		},
	}
	t.flags(cmd, stack.Workgroup, stack.Database)
	fl := cmd.Flags()
	fl.Float64Var(&t.PricePerTB, "price-per-tb", 0, "USD per TB scanned shown in the report (default: the stack's PricePerTBUSD output, or 5)")
	fl.StringVar(&from, "from", "", "first UTC day, YYYY-MM-DD")
	fl.StringVar(&to, "to", "", "last UTC day, YYYY-MM-DD (inclusive)")
	fl.StringVar(&by, "by", "user", "one line per user, role or database")
	fl.StringVar(&format, "format", "table", "table, csv or html")
	fl.StringVar(&out, "out", "", "write to this file instead of standard output")
	return cmd
}

// WriteReport writes to path, or to stdout when path is empty. A file is written whole or not
// at all: a failed report does not leave a truncated file over a good one.
func WriteReport(stdout io.Writer, path string, r *report.Report, write func(io.Writer, *report.Report) error) error {
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
