package stack

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/smithy-go"
)

// fakeCFN answers DescribeStacks with describe, and records the stack names asked for.
type fakeCFN struct {
	describe func(name string) (*cloudformation.DescribeStacksOutput, error)

	mu    sync.Mutex
	calls []string
}

func (f *fakeCFN) DescribeStacks(_ context.Context, in *cloudformation.DescribeStacksInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	f.mu.Lock()
	f.calls = append(f.calls, aws.ToString(in.StackName))
	f.mu.Unlock()
	return f.describe(aws.ToString(in.StackName))
}

func outputs(kv ...string) *cloudformation.DescribeStacksOutput {
	var st cftypes.Stack
	for i := 0; i < len(kv); i += 2 {
		st.Outputs = append(st.Outputs, cftypes.Output{OutputKey: aws.String(kv[i]), OutputValue: aws.String(kv[i+1])})
	}
	return &cloudformation.DescribeStacksOutput{Stacks: []cftypes.Stack{st}}
}

func TestResolve(t *testing.T) {
	full := outputs(OutputDataBucket, "data-b", OutputDataLocation, "s3://data-b/usage/", OutputWorkgroup, "wg",
		OutputDatabase, "db", OutputExtractFunction, "s-extract", OutputFailureQueue, "https://sqs/q", OutputPricePerTB, "6.25")
	tests := []struct {
		name    string
		flags   Resources
		answer  *cloudformation.DescribeStacksOutput
		err     error
		want    Resources
		wantErr string
	}{
		{name: "outputs", flags: Resources{Stack: "s"}, answer: full,
			want: Resources{Stack: "s", DataBucket: "data-b", DataPrefix: "usage/", Workgroup: "wg", Database: "db", ExtractFunction: "s-extract", FailureQueue: "https://sqs/q", PricePerTB: 6.25}},
		{name: "flags win", flags: Resources{Stack: "s", Workgroup: "mine", PricePerTB: 5}, answer: full,
			want: Resources{Stack: "s", DataBucket: "data-b", DataPrefix: "usage/", Workgroup: "mine", Database: "db", ExtractFunction: "s-extract", FailureQueue: "https://sqs/q", PricePerTB: 5}},
		{name: "unknown stack", flags: Resources{Stack: "nope"},
			err:     &smithy.GenericAPIError{Code: "ValidationError", Message: "Stack with id nope does not exist"},
			wantErr: "stack nope does not exist"},
		{name: "bad price", flags: Resources{Stack: "s"}, answer: outputs(OutputPricePerTB, "five"), wantErr: "output PricePerTBUSD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeCFN{describe: func(string) (*cloudformation.DescribeStacksOutput, error) { return tt.answer, tt.err }}
			got, err := Resolve(context.Background(), api, tt.flags)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Resolve(%+v) error = %v, want %q", tt.flags, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Resolve(%+v) = %+v, %v, want %+v", tt.flags, got, err, tt.want)
			}
		})
	}
}

func TestResolveWithoutStackMakesNoCall(t *testing.T) {
	api := &fakeCFN{describe: func(string) (*cloudformation.DescribeStacksOutput, error) { return outputs(), nil }}
	flags := Resources{Workgroup: "wg"}
	if got, err := Resolve(context.Background(), api, flags); err != nil || got != flags || len(api.calls) != 0 {
		t.Errorf("Resolve(%+v) = %+v, %v after %d calls, want the flags and no call", flags, got, err, len(api.calls))
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		r    Resources
		need []Resource
		want []string
	}{
		{"all there", Resources{Workgroup: "wg", Database: "db"}, []Resource{Workgroup, Database}, nil},
		{"flags missing", Resources{}, []Resource{Workgroup, Database}, []string{"--stack NAME or --workgroup", "--stack NAME or --database"}},
		{"outputs missing", Resources{Stack: "old"}, []Resource{FailureQueue}, []string{"stack old has no output FailedInvocationsQueueURL", "--failure-queue"}},
		{"invalid", Resources{DataBucket: "Not_A_Bucket", DataPrefix: "x", Database: "A-B"}, nil, []string{"--data-bucket", "--data-prefix", "--database"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.r.Check(tt.need...)
			if len(tt.want) == 0 {
				if err != nil {
					t.Errorf("Check(%v) = %v, want nil", tt.need, err)
				}
				return
			}
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("Check(%v) = %v, want it to say %q", tt.need, err, w)
				}
			}
		})
	}
}
