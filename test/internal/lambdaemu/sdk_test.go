package lambdaemu

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// TestSDKClient checks that an aws-sdk-go-v2 Lambda client pointed at
// Endpoint works, which is how one local function invokes another.
func TestSDKClient(t *testing.T) {
	f := start(t, Config{FunctionName: "lookup"})
	client := lambda.New(lambda.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(f.Endpoint()),
		Credentials:  credentials.NewStaticCredentialsProvider("id", "secret", ""),
	})
	ctx := context.Background()

	tests := []struct {
		name       string
		function   string
		typ        types.InvocationType
		payload    string
		wantStatus int32
		wantError  string
	}{
		{"by name", "lookup", types.InvocationTypeRequestResponse, `{"a":1}`, 200, ""},
		{"by ARN", f.ARN(), types.InvocationTypeRequestResponse, `{"a":1}`, 200, ""},
		{"function error", "lookup", types.InvocationTypeRequestResponse, `{"fail":true}`, 200, Unhandled},
		{"event", "lookup", types.InvocationTypeEvent, `{"a":1}`, 202, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := client.Invoke(ctx, &lambda.InvokeInput{
				FunctionName:   aws.String(tt.function),
				InvocationType: tt.typ,
				Payload:        []byte(tt.payload),
			})
			if err != nil {
				t.Fatalf("Invoke(%s): %v", tt.function, err)
			}
			if out.StatusCode != tt.wantStatus || aws.ToString(out.FunctionError) != tt.wantError {
				t.Errorf("Invoke(%s) = status %d, function error %q, want %d, %q",
					tt.function, out.StatusCode, aws.ToString(out.FunctionError), tt.wantStatus, tt.wantError)
			}
			if tt.wantStatus == 200 && tt.wantError == "" {
				if got := decodeEcho(t, Result{Payload: out.Payload}); string(got.Event) != tt.payload {
					t.Errorf("handler saw %s, want %s", got.Event, tt.payload)
				}
			}
		})
	}

	_, err := client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("other")})
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Errorf("Invoke(other) = %v, want ResourceNotFoundException", err)
	}
}
