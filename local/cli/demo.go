package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/athenausage/athena-usage/local/synth"
	"github.com/athenausage/athena-usage/pkg/command"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/lookup"
	"github.com/athenausage/athena-usage/pkg/report"
	"github.com/spf13/cobra"
)

// demoMarker marks a directory the demo made, so that a rerun may clear it and nothing else.
const demoMarker = ".athena-usage-demo"

func newDemoCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		dir   string
		opts  synth.Options
		start string
		sim   standIn
	)
	cmd := &cobra.Command{
		Use:   "demo [--dir DIR] [--users N] [--days D] [--queries-per-day Q] [--seed S]",
		Short: "Run the whole pipeline on synthetic data and print a per-user report",
		Long: `Generate realistic CloudTrail files (IAM users, assumed roles, federated users and a service; failed
submissions; other services' events; late deliveries into the next day's folder; two accounts and
two regions; a duplicate delivery; a user whose spend jumps 20x on the last day) and a matching
Athena query history, then run the scheduled
pipeline for each day through the same handler code the Lambda functions use, on the embedded
local Athena and S3, and print the usage report.

The directory keeps everything: the generated input, the local stack's state (use it with
'local report' and 'local serve'), and report.html and report.csv.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := dayFlag("start", start)
			if err != nil {
				return err
			}
			opts.Start = s
			if opts.QueriesPerDay > maxQueriesPerDay {
				return fmt.Errorf("--queries-per-day %d: at most %d", opts.QueriesPerDay, maxQueriesPerDay)
			}
			if opts.Days > maxRunDays {
				return fmt.Errorf("--days %d: at most %d", opts.Days, maxRunDays)
			}
			// One user's spend jumps on the last day, so that the demo shows an alert.
			opts.Spike = true
			ao, err := sim.options()
			if err != nil {
				return err
			}
			if err := prepareDemoDir(dir); err != nil {
				return err
			}
			began := time.Now()
			p := newProgress(stderr, 6)
			input := filepath.Join(dir, "input")
			p.stage("generating synthetic CloudTrail and query history: %d users, %d days, %d queries a day, seed %d",
				opts.Users, opts.Days, opts.QueriesPerDay, opts.Seed)
			truth, err := synth.Generate(opts, input)
			if err != nil {
				return err
			}
			p.done("%d CloudTrail files and %s in %s", len(truth.Files), synth.HistoryFile, input)

			first, _ := config.ParseDay(truth.Days[0])
			last, _ := config.ParseDay(truth.Days[len(truth.Days)-1])
			run := pipelineRun{
				cloudtrail: input,
				history:    filepath.Join(input, synth.HistoryFile),
				state:      filepath.Join(dir, "state"),
				from:       first,
				to:         last,
				price:      config.DefaultPricePerTB,
				partSize:   lookup.DefaultPartSize,
				athena:     ao,
			}
			st, set, alerts, err := run.run(cmd.Context(), p, stderr)
			if err != nil {
				return err
			}
			defer st.Close()

			p.stage("reporting %s to %s from the athena_usage_daily view", set.FirstDay, set.LastDay)
			r, err := st.Report(cmd.Context(), "user", first, last, set.PricePerTB)
			if err != nil {
				return err
			}
			r.GeneratedBy = "athena-usage " + Version
			htmlPath, csvPath := filepath.Join(dir, "report.html"), filepath.Join(dir, "report.csv")
			if err := command.WriteReport(stdout, htmlPath, r, report.WriteHTML); err != nil {
				return err
			}
			if err := command.WriteReport(stdout, csvPath, r, report.WriteCSV); err != nil {
				return err
			}
			p.done("wrote %s and %s", htmlPath, csvPath)
			fmt.Fprintln(stdout)
			if err := report.WriteTable(stdout, r); err != nil {
				return err
			}
			fmt.Fprintln(stdout)
			printAlerts(stdout, alerts)
			fmt.Fprintf(stdout, "\nDemo finished in %.1fs. Explore further:\n  athena-usage local report --dir %s --from %s --to %s --by database\n  athena-usage local serve --dir %s\n",
				time.Since(began).Seconds(), run.state, set.FirstDay, set.LastDay, run.state)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "demo-state", "directory for the generated data, the local stack's state and the reports")
	f.IntVar(&opts.Users, "users", synth.DefaultUsers, "distinct callers")
	f.IntVar(&opts.Days, "days", synth.DefaultDays, "days of CloudTrail, at most 45")
	f.IntVar(&opts.QueriesPerDay, "queries-per-day", synth.DefaultQueriesPerDay, "queries started per day, at most 1000000")
	f.Int64Var(&opts.Seed, "seed", 1, "random seed: the same seed gives the same data")
	f.StringVar(&start, "start", synth.DefaultStart.Format(config.DayLayout), "first UTC day of the synthetic data")
	sim.register(f)
	return cmd
}

// prepareDemoDir empties a directory an earlier demo made, creates a new one, and refuses any
// other non-empty directory, so that the demo never deletes a user's files.
func prepareDemoDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("--dir: %w", err)
	case len(entries) == 0:
	default:
		if _, err := os.Stat(filepath.Join(dir, demoMarker)); err != nil {
			return fmt.Errorf("--dir %s is not empty and was not made by the demo: choose another directory", dir)
		}
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("--dir: clear the previous demo: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--dir: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, demoMarker), []byte("made by athena-usage demo; the next demo run clears this directory\n"), 0o644)
}
