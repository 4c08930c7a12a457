package alert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	athenatypes "github.com/aws/aws-sdk-go-v2/service/athena/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go"
)

// fakeAthena answers every query at once with rows.
type fakeAthena struct {
	mu   sync.Mutex
	rows [][]string
	sqls []string
}

func (f *fakeAthena) StartQueryExecution(_ context.Context, in *athena.StartQueryExecutionInput, _ ...func(*athena.Options)) (*athena.StartQueryExecutionOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sqls = append(f.sqls, aws.ToString(in.QueryString))
	return &athena.StartQueryExecutionOutput{QueryExecutionId: aws.String(fmt.Sprintf("q-%d", len(f.sqls)))}, nil
}

func (f *fakeAthena) GetQueryExecution(_ context.Context, in *athena.GetQueryExecutionInput, _ ...func(*athena.Options)) (*athena.GetQueryExecutionOutput, error) {
	return &athena.GetQueryExecutionOutput{QueryExecution: &athenatypes.QueryExecution{
		QueryExecutionId: in.QueryExecutionId,
		Status:           &athenatypes.QueryExecutionStatus{State: athenatypes.QueryExecutionStateSucceeded},
	}}, nil
}

func (f *fakeAthena) StopQueryExecution(context.Context, *athena.StopQueryExecutionInput, ...func(*athena.Options)) (*athena.StopQueryExecutionOutput, error) {
	return &athena.StopQueryExecutionOutput{}, nil
}

func (f *fakeAthena) GetQueryResults(context.Context, *athena.GetQueryResultsInput, ...func(*athena.Options)) (*athena.GetQueryResultsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rows := []athenatypes.Row{datumRow("user_arn", "day", "queries", "data_scanned_bytes", "cost_usd")}
	for _, r := range f.rows {
		rows = append(rows, datumRow(r...))
	}
	return &athena.GetQueryResultsOutput{ResultSet: &athenatypes.ResultSet{Rows: rows}}, nil
}

func datumRow(cells ...string) athenatypes.Row {
	var r athenatypes.Row
	for _, c := range cells {
		r.Data = append(r.Data, athenatypes.Datum{VarCharValue: aws.String(c)})
	}
	return r
}

// apiError is an S3 error with a code, as the SDK returns it.
type apiError struct{ code string }

func (e apiError) Error() string                 { return e.code }
func (e apiError) ErrorCode() string             { return e.code }
func (e apiError) ErrorMessage() string          { return e.code }
func (e apiError) ErrorFault() smithy.ErrorFault { return smithy.FaultClient }

// fakeS3 keeps objects in a map; err, when set, fails every call.
type fakeS3 struct {
	mu      sync.Mutex
	objects map[string][]byte
	etags   map[string]string
	puts    []string
	err     error
}

func newFakeS3() *fakeS3 { return &fakeS3{objects: map[string][]byte{}, etags: map[string]string{}} }

func (f *fakeS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	data, ok := f.objects[aws.ToString(in.Key)]
	if !ok {
		return nil, apiError{"NoSuchKey"}
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(data)), ETag: aws.String(f.etags[aws.ToString(in.Key)])}, nil
}

func (f *fakeS3) HeadObject(_ context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	if _, ok := f.objects[aws.ToString(in.Key)]; !ok {
		return nil, apiError{"NotFound"}
	}
	return &s3.HeadObjectOutput{ETag: aws.String(f.etags[aws.ToString(in.Key)])}, nil
}

func (f *fakeS3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	data, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	key := aws.ToString(in.Key)
	f.objects[key] = data
	f.puts = append(f.puts, key)
	return &s3.PutObjectOutput{}, nil
}

func (f *fakeS3) put(key, etag string, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objects[key], f.etags[key] = data, etag
}

// fakeSNS records what is published; err, when set, fails Publish.
type fakeSNS struct {
	mu        sync.Mutex
	published []*sns.PublishInput
	err       error
}

func (f *fakeSNS) Publish(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	f.published = append(f.published, in)
	return &sns.PublishOutput{MessageId: aws.String(fmt.Sprintf("m-%d", len(f.published)))}, nil
}

func (f *fakeSNS) messages() []*sns.PublishInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*sns.PublishInput(nil), f.published...)
}

var errBoom = errors.New("boom")
