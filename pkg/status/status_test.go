package status

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

type object struct {
	body string
	etag string
}

// fakeS3 serves objects by key, and records the keys asked for.
type fakeS3 struct {
	mu      sync.Mutex
	objects map[string]object
	calls   []string
}

func (f *fakeS3) get(key string) (object, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, key)
	o, ok := f.objects[key]
	if !ok {
		return o, &smithy.GenericAPIError{Code: "NoSuchKey"}
	}
	return o, nil
}

func (f *fakeS3) HeadObject(_ context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	o, err := f.get(aws.ToString(in.Key))
	if err != nil {
		return nil, &smithy.GenericAPIError{Code: "NotFound"}
	}
	return &s3.HeadObjectOutput{ETag: aws.String(o.etag), LastModified: aws.Time(time.Date(2025, 3, 4, 1, 0, 0, 0, time.UTC))}, nil
}

func (f *fakeS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	o, err := f.get(aws.ToString(in.Key))
	if err != nil {
		return nil, err
	}
	if in.IfMatch != nil && *in.IfMatch != o.etag {
		return nil, &smithy.GenericAPIError{Code: "PreconditionFailed"}
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(strings.NewReader(o.body)), ETag: aws.String(o.etag)}, nil
}

// fakeSQS answers every ReceiveMessage with the same messages, as a queue peeked with a
// visibility timeout of zero does, and records the calls.
type fakeSQS struct {
	mu    sync.Mutex
	msgs  []sqstypes.Message
	calls []*sqs.ReceiveMessageInput
}

func (f *fakeSQS) ReceiveMessage(_ context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, in)
	return &sqs.ReceiveMessageOutput{Messages: f.msgs}, nil
}

var day = time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)

// queries is an athena_queries object: two IDs, one repeated, and a refused submission.
const queries = "query_id,event_time,account_id\nq1,t,1\nq1,t,1\nq2,t,1\n,t,1\n"

func manifest(etag string, complete bool) string {
	m := events.LookupManifest{Day: "2025-03-03", Key: athenasql.QueriesKey("p/", day), ETag: etag, Complete: complete,
		Done: events.LookupTotals{Parts: 1, IDs: 2, LookupErrors: 1}, Written: time.Date(2025, 3, 4, 2, 0, 0, 0, time.UTC)}
	b, _ := json.Marshal(m)
	return string(b)
}

func failure(payload string, ts string) sqstypes.Message {
	body := `{"timestamp":"` + ts + `","requestContext":{"functionArn":"arn:aws:lambda:us-east-1:1:function:s-extract:$LATEST","condition":"RetriesExhausted"},` +
		`"requestPayload":` + payload + `,"responsePayload":{"errorMessage":"boom","errorType":"errorString"}}`
	return sqstypes.Message{MessageId: aws.String(payload + ts), Body: aws.String(body)}
}

func TestDays(t *testing.T) {
	qkey, mkey := athenasql.QueriesKey("p/", day), athenasql.LookupManifestKey("p/", day)
	tests := []struct {
		name    string
		objects map[string]object
		msgs    []sqstypes.Message
		want    State
		queries int
		failed  int
	}{
		{"missing", nil, nil, Missing, 0, 0},
		{"no manifest yet", map[string]object{qkey: {queries, "e1"}}, nil, Partial, 2, 0},
		{"complete", map[string]object{qkey: {queries, "e1"}, mkey: {manifest("e1", true), "m"}}, nil, Complete, 2, 0},
		{"stopped between parts", map[string]object{qkey: {queries, "e1"}, mkey: {manifest("e1", false), "m"}}, nil, Partial, 2, 0},
		{"superseded", map[string]object{qkey: {queries, "e2"}, mkey: {manifest("e1", true), "m"}}, nil, Superseded, 2, 0},
		{"failed extract", nil, []sqstypes.Message{failure(`{"from":"2025-03-01","to":"2025-03-05"}`, "2025-03-06T00:00:00Z")}, Failed, 0, 1},
		{"failed lookup", map[string]object{qkey: {queries, "e1"}}, []sqstypes.Message{failure(`{"day":"2025-03-03","bucket":"b","key":"k"}`, "2025-03-06T00:00:00Z")}, Failed, 2, 1},
		{"failed, then completed", map[string]object{qkey: {queries, "e1"}, mkey: {manifest("e1", true), "m"}},
			[]sqstypes.Message{failure(`{"day":"2025-03-03"}`, "2025-03-06T00:00:00Z")}, Complete, 2, 1},
		{"failure of another day", nil, []sqstypes.Message{failure(`{"time":"2025-03-03T01:00:00Z","detail-type":"Scheduled Event"}`, "2025-03-06T00:00:00Z")}, Missing, 0, 0},
		{"failure before since", nil, []sqstypes.Message{failure(`{"day":"2025-03-03"}`, "2025-03-01T00:00:00Z")}, Missing, 0, 0},
	}
	since := time.Date(2025, 3, 5, 0, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(&fakeS3{objects: tt.objects}, "bucket", "p/", NewQueue(&fakeSQS{msgs: tt.msgs}, "https://q"))
			got, _, err := c.DaysSince(context.Background(), []time.Time{day}, since)
			if err != nil {
				t.Fatal(err)
			}
			if g := got[0]; g.State != tt.want || g.Queries != tt.queries || len(g.Failures) != tt.failed {
				t.Errorf("DaysSince() = %s %d queries %d failures, want %s %d queries %d failures", g.State, g.Queries, len(g.Failures), tt.want, tt.queries, tt.failed)
			}
		})
	}
}

func TestFailuresPeekWithoutConsuming(t *testing.T) {
	api := &fakeSQS{msgs: []sqstypes.Message{failure(`{"day":"2025-03-03"}`, "2025-03-06T00:00:00Z"), {MessageId: aws.String("x"), Body: aws.String("not a record")}}}
	got, err := NewQueue(api, "https://q").Failures(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Function != "s-extract" || got[0].Reason() != "errorString: boom" || !got[0].Names(day) || got[1].Reason() != "not a record" {
		t.Errorf("Failures() = %+v, want the record and the stray message", got)
	}
	// The second call found nothing new: the look ends there.
	if len(api.calls) != 2 {
		t.Errorf("Failures() made %d calls, want 2", len(api.calls))
	}
	for _, c := range api.calls {
		if c.VisibilityTimeout != 0 || c.MaxNumberOfMessages != 10 {
			t.Errorf("ReceiveMessage(%+v): want VisibilityTimeout 0 and 10 messages", c)
		}
	}
}
