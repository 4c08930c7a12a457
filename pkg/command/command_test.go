package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/athenausage/athena-usage/pkg/backfill"
	"github.com/athenausage/athena-usage/pkg/reportrun"
	"github.com/athenausage/athena-usage/pkg/stack"
	"github.com/athenausage/athena-usage/pkg/status"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"
)

// fakeAWS answers every AWS call the commands make, and records each by its operation's name.
// A call whose func is nil fails.
type fakeAWS struct {
	describeStacks func(*cloudformation.DescribeStacksInput) (*cloudformation.DescribeStacksOutput, error)
	headObject     func(*s3.HeadObjectInput) (*s3.HeadObjectOutput, error)
	invoke         func(*lambda.InvokeInput) (*lambda.InvokeOutput, error)

	mu    sync.Mutex
	calls []string
}

var errNoFake = errors.New("no fake for this call")

func (f *fakeAWS) record(op string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, op)
}

func (f *fakeAWS) recorded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeAWS) DescribeStacks(_ context.Context, in *cloudformation.DescribeStacksInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	f.record("DescribeStacks")
	if f.describeStacks == nil {
		return nil, errNoFake
	}
	return f.describeStacks(in)
}

func (f *fakeAWS) HeadObject(_ context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	f.record("HeadObject")
	if f.headObject == nil {
		return nil, errNoFake
	}
	return f.headObject(in)
}

func (f *fakeAWS) GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	f.record("GetObject")
	return nil, errNoFake
}

func (f *fakeAWS) ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	f.record("ReceiveMessage")
	return &sqs.ReceiveMessageOutput{}, nil
}

func (f *fakeAWS) Invoke(_ context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	f.record("Invoke")
	if f.invoke == nil {
		return nil, errNoFake
	}
	return f.invoke(in)
}

func (f *fakeAWS) StartQueryExecution(context.Context, *athena.StartQueryExecutionInput, ...func(*athena.Options)) (*athena.StartQueryExecutionOutput, error) {
	f.record("StartQueryExecution")
	return nil, errNoFake
}

func (f *fakeAWS) GetQueryExecution(context.Context, *athena.GetQueryExecutionInput, ...func(*athena.Options)) (*athena.GetQueryExecutionOutput, error) {
	f.record("GetQueryExecution")
	return nil, errNoFake
}

func (f *fakeAWS) StopQueryExecution(context.Context, *athena.StopQueryExecutionInput, ...func(*athena.Options)) (*athena.StopQueryExecutionOutput, error) {
	f.record("StopQueryExecution")
	return nil, errNoFake
}

func (f *fakeAWS) GetQueryResults(context.Context, *athena.GetQueryResultsInput, ...func(*athena.Options)) (*athena.GetQueryResultsOutput, error) {
	f.record("GetQueryResults")
	return nil, errNoFake
}

// clients hands f out as every client.
func (f *fakeAWS) clients() clients {
	return clients{
		cloudFormation: func(aws.Config) stack.DescribeStacksAPI { return f },
		athena:         func(aws.Config) reportrun.API { return f },
		s3:             func(aws.Config) status.ObjectAPI { return f },
		sqs:            func(aws.Config) status.ReceiveAPI { return f },
		lambda:         func(aws.Config) backfill.InvokeAPI { return f },
	}
}

// withOutputs answers DescribeStacks for the stack "s" with outputs (key, value, ...), and
// CloudFormation's error for any other.
func withOutputs(kv ...string) func(*cloudformation.DescribeStacksInput) (*cloudformation.DescribeStacksOutput, error) {
	return func(in *cloudformation.DescribeStacksInput) (*cloudformation.DescribeStacksOutput, error) {
		if aws.ToString(in.StackName) != "s" {
			return nil, &smithy.GenericAPIError{Code: "ValidationError", Message: "Stack with id " + aws.ToString(in.StackName) + " does not exist"}
		}
		st := cfntypes.Stack{StackName: in.StackName}
		for i := 0; i+1 < len(kv); i += 2 {
			st.Outputs = append(st.Outputs, cfntypes.Output{OutputKey: aws.String(kv[i]), OutputValue: aws.String(kv[i+1])})
		}
		return &cloudformation.DescribeStacksOutput{Stacks: []cfntypes.Stack{st}}, nil
	}
}

// run runs the command line args with f as AWS, in an AWS configuration of region alone: the
// host's files, profile and instance metadata are kept out.
func run(t *testing.T, f *fakeAWS, region string, args ...string) (string, string, error) {
	t.Helper()
	empty := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": empty, "AWS_SHARED_CREDENTIALS_FILE": empty, "AWS_PROFILE": "",
		"AWS_REGION": region, "AWS_DEFAULT_REGION": "", "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	var stdout, stderr bytes.Buffer
	root := &cobra.Command{Use: "athena-usage", SilenceUsage: true, SilenceErrors: true}
	addCommands(root, &stdout, &stderr, f.clients())
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return stdout.String(), stderr.String(), err
}

// TestBadInputMakesNoCall checks that each kind of bad input is refused with a clear error
// before any AWS call.
func TestBadInputMakesNoCall(t *testing.T) {
	now := time.Now().UTC()
	day := now.AddDate(0, 0, -2).Format(time.DateOnly)
	future := now.AddDate(0, 0, 2).Format(time.DateOnly)
	old := now.AddDate(0, 0, -60).Format(time.DateOnly)
	report := []string{"report", "--workgroup", "wg", "--database", "db"}
	status := []string{"status", "--data-bucket", "b-1"}
	backfill := []string{"backfill", "--data-bucket", "b-1", "--extract-function", "f"}
	tests := []struct {
		name   string
		region string
		args   []string
		want   string
	}{
		{"report no range", "us-east-1", report, "--from and --to are required"},
		{"report bad day", "us-east-1", append(slices.Clone(report), "--from", "2025-02-30", "--to", day), "--from"},
		{"report inverted range", "us-east-1", append(slices.Clone(report), "--from", day, "--to", old), "empty range: --to " + old + " is before --from " + day},
		{"report future", "us-east-1", append(slices.Clone(report), "--from", day, "--to", future), future + " is in the future"},
		{"report bad by", "us-east-1", append(slices.Clone(report), "--from", day, "--to", day, "--by", "team"), `--by "team"`},
		{"report bad format", "us-east-1", append(slices.Clone(report), "--from", day, "--to", day, "--format", "pdf"), `--format "pdf"`},
		{"report no resources", "us-east-1", []string{"report", "--from", day, "--to", day}, "give --stack NAME or --workgroup"},
		{"report bad database", "us-east-1", []string{"report", "--from", day, "--to", day, "--workgroup", "wg", "--database", "Bad-Name"}, "--database"},
		{"report no region", "", append(slices.Clone(report), "--from", day, "--to", day), "no AWS region"},
		{"report no region with stack", "", []string{"report", "--stack", "s", "--from", day, "--to", day}, "no AWS region"},
		{"report bad region", "not a region", append(slices.Clone(report), "--from", day, "--to", day), "region"},
		{"status inverted range", "us-east-1", append(slices.Clone(status), "--from", day, "--to", old), "empty range"},
		{"status future", "us-east-1", append(slices.Clone(status), "--from", day, "--to", future), future + " is in the future"},
		{"status both ranges", "us-east-1", append(slices.Clone(status), "--days", "3", "--from", day, "--to", day), "not both"},
		{"status negative days", "us-east-1", append(slices.Clone(status), "--days", "-1"), "--days -1"},
		{"status no bucket", "us-east-1", []string{"status"}, "give --stack NAME or --data-bucket"},
		{"status no region", "", status, "no AWS region"},
		{"backfill no range", "us-east-1", backfill, "--from and --to are required"},
		{"backfill inverted range", "us-east-1", append(slices.Clone(backfill), "--from", day, "--to", old), "empty range"},
		{"backfill future", "us-east-1", append(slices.Clone(backfill), "--from", day, "--to", future), future + " is in the future"},
		{"backfill too old", "us-east-1", append(slices.Clone(backfill), "--from", old, "--to", day), "Athena keeps 45 days of query history"},
		{"backfill no function", "us-east-1", []string{"backfill", "--data-bucket", "b-1", "--from", day, "--to", day}, "give --stack NAME or --extract-function"},
		{"backfill bad bucket", "us-east-1", []string{"backfill", "--data-bucket", "B_1", "--extract-function", "f", "--from", day, "--to", day}, "--data-bucket"},
		{"backfill no region", "", append(slices.Clone(backfill), "--from", day, "--to", day), "no AWS region"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAWS{describeStacks: withOutputs()}
			_, _, err := run(t, f, tt.region, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("athena-usage %s: error = %v, want %q", strings.Join(tt.args, " "), err, tt.want)
			}
			if calls := f.recorded(); len(calls) > 0 {
				t.Errorf("athena-usage %s called %v, want no AWS call", strings.Join(tt.args, " "), calls)
			}
		})
	}
}

// TestStackProblemsStopAfterDescribeStacks checks that an unknown stack, or one without an
// output a command needs, is refused with DescribeStacks as the only call.
func TestStackProblemsStopAfterDescribeStacks(t *testing.T) {
	day := time.Now().UTC().AddDate(0, 0, -2).Format(time.DateOnly)
	full := []string{stack.OutputDataBucket, "data-1", stack.OutputDataLocation, "s3://data-1/", stack.OutputWorkgroup, "wg",
		stack.OutputDatabase, "db", stack.OutputExtractFunction, "extract", stack.OutputFailureQueue, "https://sqs/q"}
	tests := []struct {
		name    string
		outputs []string
		args    []string
		want    string
	}{
		{"unknown stack", full, []string{"status", "--stack", "nope"}, "stack nope does not exist in this account and region"},
		{"no extract function", full[:8], []string{"backfill", "--stack", "s", "--from", day, "--to", day},
			"stack s has no output ExtractFunctionName: deploy the current template.yaml, or give --extract-function"},
		{"no workgroup", full[:4], []string{"report", "--stack", "s", "--from", day, "--to", day}, "has no output WorkGroupName"},
		{"no database either", full[:4], []string{"report", "--stack", "s", "--from", day, "--to", day}, "has no output DatabaseName"},
		{"no data bucket", nil, []string{"status", "--stack", "s"}, "has no output DataBucketName"},
		{"bad output", []string{stack.OutputDataBucket, "Not_A_Bucket"}, []string{"status", "--stack", "s"}, "--data-bucket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAWS{describeStacks: withOutputs(tt.outputs...)}
			_, _, err := run(t, f, "eu-west-1", tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("athena-usage %s: error = %v, want %q", strings.Join(tt.args, " "), err, tt.want)
			}
			if calls, want := f.recorded(), []string{"DescribeStacks"}; !slices.Equal(calls, want) {
				t.Errorf("athena-usage %s called %v, want %v", strings.Join(tt.args, " "), calls, want)
			}
		})
	}
}

// notFound is S3's answer to a HEAD of a missing key.
func notFound(*s3.HeadObjectInput) (*s3.HeadObjectOutput, error) {
	return nil, &smithy.GenericAPIError{Code: "NotFound", Message: "Not Found"}
}

// TestBackfillNoWaitFromStack resolves the resources from the stack's outputs and starts one
// extract event per run of days that are not complete, without following them.
func TestBackfillNoWaitFromStack(t *testing.T) {
	today := time.Now().UTC().Truncate(24 * time.Hour)
	day := func(n int) string { return today.AddDate(0, 0, -n).Format(time.DateOnly) }
	var mu sync.Mutex
	var heads []string
	var payloads []string
	f := &fakeAWS{
		describeStacks: withOutputs(stack.OutputDataBucket, "data-1", stack.OutputDataLocation, "s3://data-1/usage/", stack.OutputExtractFunction, "extract-fn"),
		headObject: func(in *s3.HeadObjectInput) (*s3.HeadObjectOutput, error) {
			mu.Lock()
			defer mu.Unlock()
			heads = append(heads, aws.ToString(in.Bucket)+"/"+aws.ToString(in.Key))
			return notFound(in)
		},
		invoke: func(in *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
			if aws.ToString(in.FunctionName) != "extract-fn" || in.InvocationType != "Event" {
				return nil, errors.New("want an Event invocation of extract-fn")
			}
			var ev map[string]string
			if err := json.Unmarshal(in.Payload, &ev); err != nil {
				return nil, err
			}
			payloads = append(payloads, ev["from"]+" "+ev["to"])
			return &lambda.InvokeOutput{StatusCode: 202}, nil
		},
	}
	out, _, err := run(t, f, "eu-west-1", "backfill", "--stack", "s", "--from", day(3), "--to", day(2), "--no-wait")
	if err != nil {
		t.Fatalf("backfill --no-wait: %v", err)
	}
	if want := []string{day(3) + " " + day(2)}; !slices.Equal(payloads, want) {
		t.Errorf("backfill --no-wait invoked for %q, want %q", payloads, want)
	}
	if want := "data-1/usage/athena_queries/dt=" + day(3) + "/"; len(heads) != 2 || !strings.HasPrefix(heads[0], want) {
		t.Errorf("backfill --no-wait looked at %q, want the 2 days' objects under %s", heads, want)
	}
	if want := "started extract-fn for " + day(3) + " to " + day(2) + "\n"; out != want {
		t.Errorf("backfill --no-wait printed %q, want %q", out, want)
	}
	if calls, want := f.recorded(), []string{"DescribeStacks", "HeadObject", "HeadObject", "Invoke"}; !slices.Equal(calls, want) {
		t.Errorf("backfill --no-wait called %v, want %v", calls, want)
	}
}
