package cli

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/athenausage/athena-usage/local/pipeline"
	"github.com/athenausage/athena-usage/local/s3server"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestServeAnswersAnyClient starts `local serve` and uses its printed endpoints the way another
// AWS client would: from the endpoint URLs and credentials alone.
func TestServeAnswersAnyClient(t *testing.T) {
	input, _ := generate(t)
	state := t.TempDir()
	if _, errs, err := execute(t, "local", "run", "--cloudtrail", input, "--day", "2025-03-03", "--dir", state); err != nil {
		t.Fatalf("local run: %v\n%s", err, errs)
	}

	ctx := context.Background()
	vars := startServe(t, state)
	creds := credentials.NewStaticCredentialsProvider(vars["AWS_ACCESS_KEY_ID"], vars["AWS_SECRET_ACCESS_KEY"], "")
	if vars["AWS_ENDPOINT_URL_ATHENA"] == "" || vars["AWS_ENDPOINT_URL_S3"] == "" || vars["AWS_ACCESS_KEY_ID"] != s3server.AccessKeyID {
		t.Fatalf("serve printed %v, want endpoints and credentials", vars)
	}
	ath := athena.New(athena.Options{Region: vars["AWS_REGION"], BaseEndpoint: aws.String(vars["AWS_ENDPOINT_URL_ATHENA"]), Credentials: creds})
	list, err := ath.ListQueryExecutions(ctx, &athena.ListQueryExecutionsInput{WorkGroup: aws.String(pipeline.Workgroup)})
	if err != nil || len(list.QueryExecutionIds) == 0 {
		t.Fatalf("ListQueryExecutions = %v, %v, want the queries the run started", list, err)
	}
	s3c := s3.New(s3.Options{Region: vars["AWS_REGION"], BaseEndpoint: aws.String(vars["AWS_ENDPOINT_URL_S3"]), Credentials: creds, UsePathStyle: true})
	objs, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(pipeline.DataBucket), Prefix: aws.String("athena_api_output/dt=2025-03-03/")})
	if err != nil || aws.ToInt32(objs.KeyCount) != 1 {
		t.Fatalf("ListObjectsV2 = %v, %v, want the day's part", objs, err)
	}
}

// startServe runs `local serve` over state until the test ends and returns the variables it
// prints (endpoints, credentials, region).
func startServe(t *testing.T, state string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Execute(ctx, []string{"local", "serve", "--dir", state}, pw, io.Discard)
		pw.Close()
	}()
	vars := map[string]string{}
	sc := bufio.NewScanner(pr)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "Serving until interrupted") {
		if v, ok := strings.CutPrefix(sc.Text(), "export "); ok {
			for _, kv := range strings.Fields(v) {
				k, val, _ := strings.Cut(kv, "=")
				vars[k] = val
			}
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop after its context ended")
		}
	})
	return vars
}
