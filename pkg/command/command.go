// Package command is the part of the athena-usage command line that works a deployed stack:
// report, status and backfill, over the standard AWS configuration chain (profiles, SSO, region,
// the SDK's AWS_ENDPOINT_URL_<SERVICE> variables).
package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/athenausage/athena-usage/pkg/backfill"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/reportrun"
	"github.com/athenausage/athena-usage/pkg/stack"
	"github.com/athenausage/athena-usage/pkg/status"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/spf13/cobra"
)

// Version is the tool's version, shown by --version and in reports.
const Version = "0.1.0"

// AddCommands adds report, status and backfill to root. Their output goes to stdout, their
// progress to stderr.
func AddCommands(root *cobra.Command, stdout, stderr io.Writer) {
	addCommands(root, stdout, stderr, sdkClients())
}

func addCommands(root *cobra.Command, stdout, stderr io.Writer, c clients) {
	root.AddCommand(newReportCmd(stdout, stderr, c), newStatusCmd(stdout, stderr, c), newBackfillCmd(stdout, stderr, c))
}

// clients makes the AWS clients the commands call, from the loaded AWS configuration. Each
// returns the interface its consumer declares, so that together they list every AWS call the
// commands make: docs/deploy.md's policy for the command line grants exactly these, and a test
// holds the two together.
type clients struct {
	cloudFormation func(aws.Config) stack.DescribeStacksAPI
	athena         func(aws.Config) reportrun.API
	s3             func(aws.Config) status.ObjectAPI
	sqs            func(aws.Config) status.ReceiveAPI
	lambda         func(aws.Config) backfill.InvokeAPI
}

// sdkClients are the SDK's clients.
func sdkClients() clients {
	return clients{
		cloudFormation: func(cfg aws.Config) stack.DescribeStacksAPI { return cloudformation.NewFromConfig(cfg) },
		athena:         func(cfg aws.Config) reportrun.API { return athena.NewFromConfig(cfg) },
		s3:             func(cfg aws.Config) status.ObjectAPI { return s3.NewFromConfig(cfg) },
		sqs:            func(cfg aws.Config) status.ReceiveAPI { return sqs.NewFromConfig(cfg) },
		lambda:         func(cfg aws.Config) backfill.InvokeAPI { return lambda.NewFromConfig(cfg) },
	}
}

// target is what the commands share: where the stack is, and how to reach AWS.
type target struct {
	stack.Resources
	region, profile string
	clients         clients
}

func (t *target) flags(cmd *cobra.Command, resources ...stack.Resource) {
	fl := cmd.Flags()
	fl.StringVar(&t.Stack, "stack", "", "CloudFormation stack to read the resources from (its outputs)")
	fl.StringVar(&t.region, "region", "", "AWS region (default: the AWS configuration's, such as AWS_REGION)")
	fl.StringVar(&t.profile, "profile", "", "AWS profile (default: AWS_PROFILE, or the default profile)")
	for _, r := range resources {
		usage := map[stack.Resource]string{
			stack.DataBucket:      "data bucket of the athena_queries and athena_api_output tables",
			stack.Workgroup:       "Athena workgroup to run the report queries in",
			stack.Database:        "Glue database of the athena_usage views",
			stack.ExtractFunction: "name of the extract function",
			stack.FailureQueue:    "URL of the SQS queue of failed invocations",
		}[r]
		fl.StringVar(t.field(r), r.Flag, "", usage+" (default: the stack's output "+r.Output+")")
		if r == stack.DataBucket {
			fl.StringVar(&t.DataPrefix, "data-prefix", "", "key prefix of the tables in the data bucket (default: the stack's output DataPrefix)")
		}
	}
}

// field returns the flag variable of r.
func (t *target) field(r stack.Resource) *string {
	switch r {
	case stack.DataBucket:
		return &t.DataBucket
	case stack.Workgroup:
		return &t.Workgroup
	case stack.Database:
		return &t.Database
	case stack.ExtractFunction:
		return &t.ExtractFunction
	}
	return &t.FailureQueue
}

// resolve loads the AWS configuration and the stack's resources, and checks that need are
// there. Every check that needs no AWS call (flags, region) is made before the first one.
func (t *target) resolve(ctx context.Context, need ...stack.Resource) (aws.Config, stack.Resources, error) {
	if err := t.Check(); err != nil {
		return aws.Config{}, t.Resources, err
	}
	if t.Stack == "" {
		if err := t.Check(need...); err != nil {
			return aws.Config{}, t.Resources, err
		}
	}
	var opts []func(*awsconfig.LoadOptions) error
	if t.region != "" {
		opts = append(opts, awsconfig.WithRegion(t.region))
	}
	if t.profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(t.profile))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return cfg, t.Resources, fmt.Errorf("AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return cfg, t.Resources, errors.New("no AWS region: give --region, or set AWS_REGION or a region in the profile")
	}
	if err := config.ValidateRegion(cfg.Region); err != nil {
		return cfg, t.Resources, err
	}
	res, err := stack.Resolve(ctx, t.clients.cloudFormation(cfg), t.Resources)
	if err != nil {
		return cfg, res, err
	}
	if res.PricePerTB == 0 {
		res.PricePerTB = config.DefaultPricePerTB
	}
	return cfg, res, res.Check(need...)
}

// dayRange parses --from and --to, an inclusive range of UTC days that ends today at the
// latest; now is the current time.
func dayRange(from, to string, now time.Time) (time.Time, time.Time, error) {
	if from == "" || to == "" {
		return time.Time{}, time.Time{}, errors.New("--from and --to are required (YYYY-MM-DD)")
	}
	f, err := config.ParseDay(from)
	if err != nil {
		return f, f, fmt.Errorf("--from: %w", err)
	}
	t, err := config.ParseDay(to)
	if err != nil {
		return f, t, fmt.Errorf("--to: %w", err)
	}
	if t.Before(f) {
		return f, t, fmt.Errorf("empty range: --to %s is before --from %s", to, from)
	}
	if today := now.UTC().Truncate(24 * time.Hour); t.After(today) {
		return f, t, fmt.Errorf("%s is in the future (today is %s, UTC)", to, today.Format(config.DayLayout))
	}
	return f, t, nil
}

// days lists the days of the inclusive range [from, to].
func days(from, to time.Time) []time.Time {
	var out []time.Time
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		out = append(out, d)
	}
	return out
}
