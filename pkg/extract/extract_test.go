package extract

import (
	"context"
	"encoding/json"
	"github.com/athenausage/athena-usage/pkg/events"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/athenausage/athena-usage/pkg/athenaquery"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

type fakeRunner struct {
	mu      sync.Mutex
	queries []athenaquery.Query
	runFn   func(q athenaquery.Query) (*types.QueryExecution, error)
}

func (f *fakeRunner) Run(_ context.Context, q athenaquery.Query) (*types.QueryExecution, error) {
	f.mu.Lock()
	f.queries = append(f.queries, q)
	f.mu.Unlock()
	return f.runFn(q)
}

type fakeS3 struct {
	mu     sync.Mutex
	copies []*s3.CopyObjectInput
}

func (f *fakeS3) CopyObject(_ context.Context, in *s3.CopyObjectInput, _ ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.copies = append(f.copies, in)
	return &s3.CopyObjectOutput{}, nil
}

type fakeInvoker struct {
	mu      sync.Mutex
	invokes []*lambda.InvokeInput
}

func (f *fakeInvoker) Invoke(_ context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.invokes = append(f.invokes, in)
	return &lambda.InvokeOutput{StatusCode: 202}, nil
}

func testConfig() config.Extract {
	return config.Extract{
		Shared:           config.Shared{Region: "us-east-1", DataBucket: "usage-data", DataPrefix: "usage/"},
		Database:         "athena_usage",
		Workgroup:        "athena-usage",
		CloudTrailBucket: "trail-logs",
		Accounts:         []string{"123456789012"},
		Regions:          []string{"us-east-1"},
		ProjectionStart:  time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		PricePerTB:       5,
		LookupFunction:   "athena-usage-lookup",
	}
}

// succeed answers every query with a SUCCEEDED execution whose result lies in the results bucket.
func succeed(q athenaquery.Query) (*types.QueryExecution, error) {
	id := q.Token[:8]
	return &types.QueryExecution{
		QueryExecutionId:    aws.String(id),
		ResultConfiguration: &types.ResultConfiguration{OutputLocation: aws.String("s3://usage-results/athena-results/" + id + ".csv")},
		Statistics:          &types.QueryExecutionStatistics{DataScannedInBytes: aws.Int64(4096)},
		Status:              &types.QueryExecutionStatus{State: types.QueryExecutionStateSucceeded},
	}, nil
}

func newHandler(r *fakeRunner, s *fakeS3, inv *fakeInvoker) *Handler {
	h := New(testConfig(), r, s, inv)
	h.Now = func() time.Time { return time.Date(2024, 3, 6, 2, 0, 0, 0, time.UTC) }
	h.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	return h
}

func TestHandleDay(t *testing.T) {
	r, s, inv := &fakeRunner{runFn: succeed}, &fakeS3{}, &fakeInvoker{}
	res, err := newHandler(r, s, inv).Handle(context.Background(), events.Extract{Day: "2024-03-05"})
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	// Ten setup statements, then the extraction.
	if len(r.queries) != 11 {
		t.Fatalf("ran %d statements, want 11 (setup and extraction)", len(r.queries))
	}
	extraction := r.queries[10]
	for _, want := range []string{"'2024/03/05', '2024/03/06'", "eventtime >= '2024-03-05T00:00:00Z'", "eventtime < '2024-03-06T00:00:00Z'"} {
		if !strings.Contains(extraction.SQL, want) {
			t.Errorf("extraction SQL lacks %q", want)
		}
	}
	if extraction.Token == "" || extraction.Database != "athena_usage" {
		t.Errorf("extraction query = %+v, want a token and database athena_usage", extraction)
	}
	if len(s.copies) != 1 {
		t.Fatalf("copies = %d, want 1", len(s.copies))
	}
	c := s.copies[0]
	id := extraction.Token[:8]
	if got, want := aws.ToString(c.CopySource), "usage-results/athena-results/"+id+".csv"; got != want {
		t.Errorf("copy source = %q, want %q", got, want)
	}
	if got, want := aws.ToString(c.Bucket)+"/"+aws.ToString(c.Key), "usage-data/usage/athena_queries/dt=2024-03-05/queries.csv"; got != want {
		t.Errorf("copy destination = %q, want %q", got, want)
	}
	if len(inv.invokes) != 1 {
		t.Fatalf("invokes = %d, want 1", len(inv.invokes))
	}
	in := inv.invokes[0]
	if aws.ToString(in.FunctionName) != "athena-usage-lookup" || in.InvocationType != "Event" {
		t.Errorf("invoke = %s %s, want athena-usage-lookup Event", aws.ToString(in.FunctionName), in.InvocationType)
	}
	var ev events.Lookup
	if err := json.Unmarshal(in.Payload, &ev); err != nil {
		t.Fatalf("lookup payload: %v", err)
	}
	if ev.Day != "2024-03-05" || ev.Bucket != "usage-data" || ev.Key != "usage/athena_queries/dt=2024-03-05/queries.csv" || ev.Part != 0 || ev.Offset != 0 {
		t.Errorf("lookup event = %+v, want day 2024-03-05 from the start of the saved partition", ev)
	}
	if len(res.Days) != 1 || res.Days[0].DataScannedBytes != 4096 || res.Days[0].QueryID != id {
		t.Errorf("result = %+v, want one day with the extraction's statistics", res)
	}
}

func TestHandleSameTokenOnRetry(t *testing.T) {
	first, second := &fakeRunner{runFn: succeed}, &fakeRunner{runFn: succeed}
	ctx := context.Background()
	if _, err := newHandler(first, &fakeS3{}, &fakeInvoker{}).Handle(ctx, events.Extract{Day: "2024-03-05"}); err != nil {
		t.Fatal(err)
	}
	if _, err := newHandler(second, &fakeS3{}, &fakeInvoker{}).Handle(ctx, events.Extract{Day: "2024-03-05"}); err != nil {
		t.Fatal(err)
	}
	for i := range first.queries {
		if first.queries[i].Token != second.queries[i].Token {
			t.Errorf("statement %d: token differs between a run and its retry", i)
		}
	}
	other := &fakeRunner{runFn: succeed}
	if _, err := newHandler(other, &fakeS3{}, &fakeInvoker{}).Handle(ctx, events.Extract{Day: "2024-03-04"}); err != nil {
		t.Fatal(err)
	}
	if other.queries[10].Token == first.queries[10].Token {
		t.Error("extraction token is the same for two days, want one per day")
	}
}

func TestHandleFailedExtraction(t *testing.T) {
	r := &fakeRunner{runFn: func(q athenaquery.Query) (*types.QueryExecution, error) {
		if strings.Contains(q.SQL, "WITH events AS") {
			return nil, &athenaquery.Error{QueryID: "q-9", State: types.QueryExecutionStateFailed, Reason: "HIVE_BAD_DATA: malformed json"}
		}
		return succeed(q)
	}}
	s, inv := &fakeS3{}, &fakeInvoker{}
	_, err := newHandler(r, s, inv).Handle(context.Background(), events.Extract{Day: "2024-03-05"})
	if err == nil || !strings.Contains(err.Error(), "HIVE_BAD_DATA") || !strings.Contains(err.Error(), "2024-03-05") {
		t.Fatalf("Handle() error = %v, want the day and Athena's reason", err)
	}
	if !athenaquery.IsQueryError(err) {
		t.Errorf("Handle() error = %v, want an *athenaquery.Error in the chain", err)
	}
	if len(s.copies) != 0 || len(inv.invokes) != 0 {
		t.Errorf("copies = %d, invokes = %d after a failed extraction, want none", len(s.copies), len(inv.invokes))
	}
}

func TestHandleRangeContinues(t *testing.T) {
	r, s, inv := &fakeRunner{runFn: succeed}, &fakeS3{}, &fakeInvoker{}
	h := newHandler(r, s, inv)
	h.Self = "athena-usage-extract"
	h.Margin = time.Hour // any deadline under an hour is "low on time" after the first day
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := h.Handle(ctx, events.Extract{From: "2024-03-01", To: "2024-03-03"})
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if len(res.Days) != 1 || res.ContinuedFrom != "2024-03-02" {
		t.Fatalf("result = %+v, want one day done and the rest continued from 2024-03-02", res)
	}
	last := inv.invokes[len(inv.invokes)-1]
	var next events.Extract
	if err := json.Unmarshal(last.Payload, &next); err != nil {
		t.Fatal(err)
	}
	if aws.ToString(last.FunctionName) != "athena-usage-extract" || next.From != "2024-03-02" || next.To != "2024-03-03" {
		t.Errorf("continuation = %s %+v, want itself with 2024-03-02..2024-03-03", aws.ToString(last.FunctionName), next)
	}
}

func TestHandleRejectsDayBeforeProjection(t *testing.T) {
	r := &fakeRunner{runFn: succeed}
	_, err := newHandler(r, &fakeS3{}, &fakeInvoker{}).Handle(context.Background(), events.Extract{Day: "2023-12-31"})
	if err == nil || !strings.Contains(err.Error(), "PROJECTION_START") {
		t.Fatalf("Handle() error = %v, want it to name PROJECTION_START", err)
	}
	if len(r.queries) != 0 {
		t.Errorf("ran %d statements for a rejected day, want 0", len(r.queries))
	}
}

func TestResultObject(t *testing.T) {
	tests := []struct{ in, bucket, key string }{
		{"s3://b/k.csv", "b", "k.csv"},
		{"s3://b/a/b/c.csv", "b", "a/b/c.csv"},
		{"https://b/k", "", ""},
		{"s3://b", "", ""},
		{"s3:///k", "", ""},
	}
	for _, tt := range tests {
		b, k, err := resultObject(tt.in)
		if (err != nil) != (tt.bucket == "") || b != tt.bucket || k != tt.key {
			t.Errorf("resultObject(%q) = %q, %q, %v, want %q, %q", tt.in, b, k, err, tt.bucket, tt.key)
		}
	}
}
