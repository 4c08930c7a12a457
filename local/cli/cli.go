// Package cli is the athena-usage command line: the commands that work a deployed stack
// (report, status, backfill, from pkg/command), the demo, and the local pipeline over CloudTrail
// files a user already has (local run, report, serve).
package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/athenausage/athena-usage/pkg/command"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/spf13/cobra"
)

// Version is the tool's version, shown by --version and in reports.
const Version = command.Version

// Execute runs the command line args, writing results to stdout and progress to stderr.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "athena-usage",
		Short: "Who uses Amazon Athena, how much each person scans, and what it costs",
		Long: `athena-usage joins CloudTrail's StartQueryExecution events (who ran a query) with Athena's
BatchGetQueryExecution statistics (what it scanned) and reports usage and cost per user, role
and database.

In AWS it runs as two Lambda functions deployed with SAM (see the README). This command works
a deployed stack, found by --stack NAME (its CloudFormation outputs) or by resource flags, through
the standard AWS configuration (profile, region, AWS_ENDPOINT_URL_<SERVICE>):

  athena-usage report ...              usage per user, role or database, on Athena
  athena-usage status ...              which days are complete, partial, missing or failed
  athena-usage backfill ...            extract a range of days, with progress

and runs the same pipeline on your machine, against an embedded local Athena (DuckDB) and S3:

  athena-usage demo                    the whole pipeline on synthetic data
  athena-usage local run ...           the pipeline over CloudTrail files you already have
  athena-usage local report ...        usage per user, role or database: table, CSV or HTML
  athena-usage local serve ...         the local Athena, S3, Lambda and SQS endpoints, for any AWS
                                       client and for report, status and backfill`,
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	local := &cobra.Command{
		Use:   "local",
		Short: "Run the pipeline, reports and endpoints on the embedded local stack",
	}
	local.AddCommand(newRunCmd(stdout, stderr), newReportCmd(stdout, stderr), newServeCmd(stdout, stderr))
	root.AddCommand(newDemoCmd(stdout, stderr), local)
	command.AddCommands(root, stdout, stderr)
	return root
}

// dayFlag parses a YYYY-MM-DD flag value, naming the flag in its error.
func dayFlag(name, value string) (time.Time, error) {
	if value == "" {
		return time.Time{}, fmt.Errorf("--%s is required (YYYY-MM-DD)", name)
	}
	d, err := config.ParseDay(value)
	if err != nil {
		return time.Time{}, fmt.Errorf("--%s: %w", name, err)
	}
	return d, nil
}

// window parses an inclusive window of days.
func window(fromName, from, toName, to string) (time.Time, time.Time, error) {
	f, err := dayFlag(fromName, from)
	if err != nil {
		return f, f, err
	}
	if to == "" {
		return f, f, nil
	}
	t, err := dayFlag(toName, to)
	if err != nil {
		return f, t, err
	}
	if t.Before(f) {
		return f, t, fmt.Errorf("empty window: --%s %s is before --%s %s", toName, to, fromName, from)
	}
	return f, t, nil
}

func days(from, to time.Time) []time.Time {
	var out []time.Time
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		out = append(out, d)
	}
	return out
}
