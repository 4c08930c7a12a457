// Package stack resolves the resources of a deployed athena-usage stack: from the outputs of its
// CloudFormation stack, or from flags for a stack deployed another way, flags winning.
package stack

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/s3uri"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/smithy-go"
)

// Output keys of template.yaml that Resolve reads.
const (
	OutputDataBucket      = "DataBucketName"
	OutputDataLocation    = "DataLocation"
	OutputWorkgroup       = "WorkGroupName"
	OutputDatabase        = "DatabaseName"
	OutputExtractFunction = "ExtractFunctionName"
	OutputFailureQueue    = "FailedInvocationsQueueURL"
	OutputPricePerTB      = "PricePerTBUSD"
)

// Resource names one resource a command needs: its output key and the flag that gives it.
type Resource struct {
	Output string
	Flag   string
}

// Resources a command may need.
var (
	DataBucket      = Resource{OutputDataBucket, "data-bucket"}
	Workgroup       = Resource{OutputWorkgroup, "workgroup"}
	Database        = Resource{OutputDatabase, "database"}
	ExtractFunction = Resource{OutputExtractFunction, "extract-function"}
	FailureQueue    = Resource{OutputFailureQueue, "failure-queue"}
)

// Resources are a stack's resources as the commands use them.
type Resources struct {
	// Stack is the CloudFormation stack's name, empty when every resource came from a flag.
	Stack      string
	DataBucket string
	// DataPrefix is the tables' key prefix in DataBucket, "" or ending in "/".
	DataPrefix      string
	Workgroup       string
	Database        string
	ExtractFunction string
	// FailureQueue is the URL of the SQS queue of failed asynchronous invocations.
	FailureQueue string
	// PricePerTB is the price of a TB scanned that the views were built with.
	PricePerTB float64
}

func (r *Resources) field(res Resource) *string {
	switch res {
	case DataBucket:
		return &r.DataBucket
	case Workgroup:
		return &r.Workgroup
	case Database:
		return &r.Database
	case ExtractFunction:
		return &r.ExtractFunction
	case FailureQueue:
		return &r.FailureQueue
	}
	panic("stack: unknown resource " + res.Output)
}

// Check validates what is set and returns one error naming every resource in need that is
// missing, and every value that is invalid. It makes no AWS call.
func (r Resources) Check(need ...Resource) error {
	var errs []error
	for _, res := range need {
		if *r.field(res) != "" {
			continue
		}
		if r.Stack != "" {
			errs = append(errs, fmt.Errorf("stack %s has no output %s: deploy the current template.yaml, or give --%s", r.Stack, res.Output, res.Flag))
		} else {
			errs = append(errs, fmt.Errorf("give --stack NAME or --%s", res.Flag))
		}
	}
	check := func(flag, v string, validate func(string) error) {
		if v == "" {
			return
		}
		if err := validate(v); err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", flag, err))
		}
	}
	check(DataBucket.Flag, r.DataBucket, config.ValidateBucket)
	check(Workgroup.Flag, r.Workgroup, config.ValidateWorkgroup)
	check(Database.Flag, r.Database, config.ValidateDatabase)
	check("data-prefix", r.DataPrefix, func(p string) error {
		n, err := config.NormalizePrefix(p)
		if err == nil && n != p {
			err = fmt.Errorf("%q: want %q", p, n)
		}
		return err
	})
	if r.PricePerTB < 0 {
		errs = append(errs, fmt.Errorf("--price-per-tb %v: want a positive price", r.PricePerTB))
	}
	return errors.Join(errs...)
}

// DescribeStacksAPI is the part of the CloudFormation client that Resolve uses.
type DescribeStacksAPI interface {
	DescribeStacks(ctx context.Context, params *cloudformation.DescribeStacksInput, optFns ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
}

var _ DescribeStacksAPI = (*cloudformation.Client)(nil)

// Resolve fills the fields of flags that are empty from the outputs of the stack flags.Stack;
// with no stack it returns flags unchanged.
func Resolve(ctx context.Context, api DescribeStacksAPI, flags Resources) (Resources, error) {
	if flags.Stack == "" {
		return flags, nil
	}
	out, err := api.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(flags.Stack)})
	var apiErr smithy.APIError
	// CloudFormation answers an unknown stack with a ValidationError "Stack with id X does not exist".
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "ValidationError" && strings.Contains(apiErr.ErrorMessage(), "does not exist") {
		return flags, fmt.Errorf("stack %s does not exist in this account and region", flags.Stack)
	}
	if err != nil {
		return flags, fmt.Errorf("describe stack %s: %w", flags.Stack, err)
	}
	if len(out.Stacks) == 0 {
		return flags, fmt.Errorf("stack %s does not exist in this account and region", flags.Stack)
	}
	outputs := map[string]string{}
	for _, o := range out.Stacks[0].Outputs {
		outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	r := flags
	fill := func(dst *string, key string) {
		if *dst == "" {
			*dst = outputs[key]
		}
	}
	fill(&r.DataBucket, OutputDataBucket)
	// The prefix comes as s3://bucket/prefix: an output cannot be empty, and the prefix often is.
	if loc, ok := outputs[OutputDataLocation]; ok && r.DataPrefix == "" && r.DataBucket == outputs[OutputDataBucket] {
		if _, r.DataPrefix, err = s3uri.Parse(loc); err != nil {
			return r, fmt.Errorf("stack %s output %s: %w", flags.Stack, OutputDataLocation, err)
		}
	}
	fill(&r.Workgroup, OutputWorkgroup)
	fill(&r.Database, OutputDatabase)
	fill(&r.ExtractFunction, OutputExtractFunction)
	fill(&r.FailureQueue, OutputFailureQueue)
	if p, ok := outputs[OutputPricePerTB]; ok && r.PricePerTB == 0 {
		if r.PricePerTB, err = strconv.ParseFloat(p, 64); err != nil {
			return r, fmt.Errorf("stack %s output %s: %w", flags.Stack, OutputPricePerTB, err)
		}
	}
	return r, nil
}
