package pipeline

import (
	"encoding/xml"
	"net/http"
	"strconv"
	"time"

	"github.com/athenausage/athena-usage/pkg/stack"
)

// StackName is the name of the local stack, as CloudFormation's DescribeStacks gives it.
const StackName = "athena-usage"

// stackID is the local stack's ID, an ARN as CloudFormation's.
const stackID = "arn:aws:cloudformation:" + Region + ":" + AccountID + ":stack/" + StackName + "/00000000-0000-4000-8000-000000000000"

type cfnOutput struct {
	OutputKey   string
	OutputValue string
}

type cfnStack struct {
	StackName    string
	StackID      string `xml:"StackId"`
	CreationTime string
	StackStatus  string
	Outputs      []cfnOutput `xml:"Outputs>member"`
}

// describeStacksResponse is CloudFormation's answer to DescribeStacks, as far as the SDK reads it.
type describeStacksResponse struct {
	XMLName   xml.Name   `xml:"http://cloudformation.amazonaws.com/doc/2010-05-15/ DescribeStacksResponse"`
	Stacks    []cfnStack `xml:"DescribeStacksResult>Stacks>member"`
	RequestID string     `xml:"ResponseMetadata>RequestId"`
}

// outputs are the local stack's CloudFormation outputs, under template.yaml's keys.
func (srv *invokeServer) outputs() []cfnOutput {
	out := []cfnOutput{
		{stack.OutputDataBucket, DataBucket},
		{stack.OutputDataLocation, "s3://" + DataBucket + "/"},
		{"ResultsBucketName", ResultsBucket},
		{stack.OutputWorkgroup, Workgroup},
		{stack.OutputDatabase, Database},
		{stack.OutputExtractFunction, ExtractFunc},
		{"LookupFunctionName", LookupFunction},
		{stack.OutputFailureQueue, srv.sqs.url},
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	// The price is the pipeline's setting: known once the stack serves invocations.
	if srv.price > 0 {
		out = append(out, cfnOutput{stack.OutputPricePerTB, strconv.FormatFloat(srv.price, 'f', -1, 64)})
	}
	return out
}

// describeStacks answers CloudFormation's DescribeStacks, the one call `athena-usage --stack`
// makes, in the query protocol, for the local stack by name or ID; any other stack does not
// exist, as CloudFormation says it.
func (srv *invokeServer) describeStacks(w http.ResponseWriter, r *http.Request) {
	name := r.PostForm.Get("StackName")
	if name != "" && name != StackName && name != stackID {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusBadRequest)
		_ = xml.NewEncoder(w).Encode(queryError{ // a client that went away has no use for the error
			Type: "Sender", Code: "ValidationError", Message: "Stack with id " + name + " does not exist", RequestID: newRequestID(),
		})
		return
	}
	out := describeStacksResponse{RequestID: newRequestID(), Stacks: []cfnStack{{
		StackName: StackName, StackID: stackID, StackStatus: "CREATE_COMPLETE",
		CreationTime: srv.started.UTC().Format(time.RFC3339), Outputs: srv.outputs(),
	}}}
	w.Header().Set("Content-Type", "text/xml")
	_ = xml.NewEncoder(w).Encode(out) // a client that went away has no use for the error
}

// queryError is CloudFormation's error in its query protocol.
type queryError struct {
	XMLName   xml.Name `xml:"http://cloudformation.amazonaws.com/doc/2010-05-15/ ErrorResponse"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}
