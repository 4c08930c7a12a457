package extract

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/athenausage/athena-usage/pkg/athenaquery"
	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
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

// fakeS3 answers for the results bucket with an ETag made of each key (srcETag), and keeps
// what is copied to or put in other buckets.
type fakeS3 struct {
	mu      sync.Mutex
	copies  []*s3.CopyObjectInput
	objects map[string]fakeObject // "bucket/key"
}

type fakeObject struct {
	etag     string
	metadata map[string]string
	body     []byte
}

// srcETag is the ETag the fake gives a result object.
func srcETag(key string) string { return `"src-` + key + `"` }

func (f *fakeS3) put(bucket, key string, o fakeObject) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.objects == nil {
		f.objects = map[string]fakeObject{}
	}
	f.objects[bucket+"/"+key] = o
}

func (f *fakeS3) CopyObject(_ context.Context, in *s3.CopyObjectInput, _ ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	f.mu.Lock()
	f.copies = append(f.copies, in)
	f.mu.Unlock()
	_, key, _ := strings.Cut(aws.ToString(in.CopySource), "/")
	f.put(aws.ToString(in.Bucket), aws.ToString(in.Key), fakeObject{etag: `"copy-of-` + key + `"`, metadata: in.Metadata})
	return &s3.CopyObjectOutput{}, nil
}

func (f *fakeS3) HeadObject(_ context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	if aws.ToString(in.Bucket) == "usage-results" {
		return &s3.HeadObjectOutput{ETag: aws.String(srcETag(aws.ToString(in.Key)))}, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.objects[aws.ToString(in.Bucket)+"/"+aws.ToString(in.Key)]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "NotFound", Message: "Not Found"}
	}
	return &s3.HeadObjectOutput{ETag: aws.String(o.etag), Metadata: o.metadata}, nil
}

func (f *fakeS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.objects[aws.ToString(in.Bucket)+"/"+aws.ToString(in.Key)]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "NoSuchKey", Message: aws.ToString(in.Key)}
	}
	return &s3.GetObjectOutput{ETag: aws.String(o.etag), Body: io.NopCloser(bytes.NewReader(o.body))}, nil
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

// newHandler returns a Handler over the fakes that logs nowhere.
func newHandler(r *fakeRunner, s *fakeS3, inv *fakeInvoker, optFns ...func(*Options)) *Handler {
	quiet := func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) }
	return New(testConfig(), r, s, inv, append([]func(*Options){quiet}, optFns...)...)
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
		if strings.Contains(q.SQL, "WITH records AS") {
			return nil, &athenaquery.Error{QueryID: "q-9", State: types.QueryExecutionStateFailed, Reason: "HIVE_BAD_DATA: malformed json"}
		}
		return succeed(q)
	}}
	s, inv := &fakeS3{}, &fakeInvoker{}
	var logs bytes.Buffer
	h := newHandler(r, s, inv, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	_, err := h.Handle(context.Background(), events.Extract{Day: "2024-03-05"})
	// The day once, the statement once, Athena's reason once.
	want := "day 2024-03-05: extraction: query q-9 FAILED: HIVE_BAD_DATA: malformed json"
	if err == nil || err.Error() != want {
		t.Fatalf("Handle() error = %v, want %s", err, want)
	}
	if !athenaquery.IsQueryError(err) {
		t.Errorf("Handle() error = %v, want an *athenaquery.Error in the chain", err)
	}
	if len(s.copies) != 0 || len(inv.invokes) != 0 {
		t.Errorf("copies = %d, invokes = %d after a failed extraction, want none", len(s.copies), len(inv.invokes))
	}
	// The main's lambdalog.Handle logs the one ERROR line; the handler only returns the error.
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("Handle() logged an error itself:\n%s", logs.String())
	}
}

// sleepUntil advances a synctest bubble's clock, which starts at 2000-01-01 UTC, to t.
func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }

func TestHandleRangeContinues(t *testing.T) {
	tests := []struct {
		name     string
		function string        // Options.FunctionName
		perDay   time.Duration // how long each day's extraction runs
		wantDays int
		wantNext string // the continuation's first day, if any
	}{
		// 15 minutes, as the function's timeout: after a 7-minute day, 8 are left, then 1.
		{"time runs short: the rest continues", "athena-usage-extract", 7 * time.Minute, 2, "2024-03-03"},
		{"time enough: every day", "athena-usage-extract", 2 * time.Minute, 3, ""},
		{"no function to continue in: every day", "", 7 * time.Minute, 3, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sleepUntil(time.Date(2024, 3, 6, 2, 0, 0, 0, time.UTC))
				r := &fakeRunner{runFn: func(q athenaquery.Query) (*types.QueryExecution, error) {
					if strings.Contains(q.SQL, "WITH records AS") {
						time.Sleep(tt.perDay)
					}
					return succeed(q)
				}}
				inv := &fakeInvoker{}
				h := newHandler(r, &fakeS3{}, inv, func(o *Options) { o.FunctionName = tt.function })
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
				defer cancel()
				res, err := h.Handle(ctx, events.Extract{From: "2024-03-01", To: "2024-03-03"})
				if err != nil {
					t.Fatalf("Handle: %v", err)
				}
				if len(res.Days) != tt.wantDays || res.ContinuedFrom != tt.wantNext {
					t.Fatalf("Handle() = %+v, want %d days and continued from %q", res, tt.wantDays, tt.wantNext)
				}
				if tt.wantNext == "" {
					if n := len(inv.invokes); n != tt.wantDays {
						t.Errorf("invokes = %d, want %d (one lookup a day, no continuation)", n, tt.wantDays)
					}
					return
				}
				last := inv.invokes[len(inv.invokes)-1]
				var next events.Extract
				if err := json.Unmarshal(last.Payload, &next); err != nil {
					t.Fatal(err)
				}
				if aws.ToString(last.FunctionName) != tt.function || next.From != tt.wantNext || next.To != "2024-03-03" {
					t.Errorf("continuation = %s %+v, want %s with %s..2024-03-03", aws.ToString(last.FunctionName), next, tt.function, tt.wantNext)
				}
			})
		})
	}
}

func TestHandleScheduledEventRechecksLateDays(t *testing.T) {
	tests := []struct {
		name     string
		lateDays int
		start    time.Time // ProjectionStart
		want     []string
	}{
		{"previous day only", 0, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), []string{"2024-03-05"}},
		{"two days late", 2, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), []string{"2024-03-03", "2024-03-04", "2024-03-05"}},
		{"not before the projection", 2, time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC), []string{"2024-03-04", "2024-03-05"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sleepUntil(time.Date(2024, 3, 6, 0, 5, 0, 0, time.UTC))
				cfg := testConfig()
				cfg.LateDays, cfg.ProjectionStart = tt.lateDays, tt.start
				h := New(cfg, &fakeRunner{runFn: succeed}, &fakeS3{}, &fakeInvoker{})
				res, err := h.Handle(context.Background(), events.Extract{Schedule: events.Schedule{DetailType: "Scheduled Event", Time: "2024-03-06T00:05:00Z"}})
				if err != nil {
					t.Fatalf("Handle: %v", err)
				}
				var got []string
				for _, d := range res.Days {
					got = append(got, d.Day)
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("scheduled run at 2024-03-06T00:05Z with %d late days extracted %v, want %v", tt.lateDays, got, tt.want)
				}
			})
		})
	}
	// A day asked for by hand is extracted alone.
	cfg := testConfig()
	cfg.LateDays = 2
	res, err := New(cfg, &fakeRunner{runFn: succeed}, &fakeS3{}, &fakeInvoker{}).Handle(context.Background(), events.Extract{Day: "2024-03-05"})
	if err != nil || len(res.Days) != 1 {
		t.Errorf("Handle(day 2024-03-05) = %+v, %v, want that day alone", res, err)
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

func TestNewOptions(t *testing.T) {
	tests := []struct {
		name       string
		opts       func(*Options)
		wantMargin time.Duration
		wantName   string
	}{
		{"zero means default", func(*Options) {}, DefaultMargin, lambdacontext.FunctionName},
		{"set", func(o *Options) { o.Margin, o.FunctionName = time.Minute, "f" }, time.Minute, "f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New(testConfig(), &fakeRunner{}, &fakeS3{}, &fakeInvoker{}, tt.opts)
			if h.opts.Margin != tt.wantMargin || h.opts.FunctionName != tt.wantName || h.log == nil {
				t.Errorf("New() options = %+v, want margin %v, function %q and a logger", h.opts, tt.wantMargin, tt.wantName)
			}
		})
	}
}

func TestNewFromConfig(t *testing.T) {
	for _, pathStyle := range []bool{false, true} {
		cfg := testConfig()
		cfg.S3PathStyle = pathStyle
		h := NewFromConfig(cfg, aws.Config{Region: "us-east-1"})
		if _, ok := h.runner.(*athenaquery.Runner); !ok {
			t.Errorf("NewFromConfig() runner = %T, want *athenaquery.Runner", h.runner)
		}
		if _, ok := h.lambda.(*lambda.Client); !ok {
			t.Errorf("NewFromConfig() Lambda client = %T, want *lambda.Client", h.lambda)
		}
		c, ok := h.s3.(*s3.Client)
		if !ok || c.Options().UsePathStyle != pathStyle {
			t.Errorf("NewFromConfig(S3PathStyle %v) S3 client = %T, want an *s3.Client with UsePathStyle %v", pathStyle, h.s3, pathStyle)
		}
	}
}

// TestHandleDayUnchanged extracts a day twice with the same result: the second run copies and
// invokes nothing once the lookup's manifest says the day is complete for the first copy, and
// does both again when it does not, or when the result changed.
func TestHandleDayUnchanged(t *testing.T) {
	day := time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)
	queriesKey := athenasql.QueriesKey("usage/", day)
	manifestKey := athenasql.LookupManifestKey("usage/", day)
	tests := []struct {
		name          string
		manifest      *events.LookupManifest // nil: none
		sourceChanged bool
		wantUnchanged bool
	}{
		{"complete", &events.LookupManifest{Key: queriesKey, Complete: true}, false, true},
		{"no manifest", nil, false, false},
		{"incomplete", &events.LookupManifest{Key: queriesKey, Next: &events.Position{Part: 1}}, false, false},
		{"complete for another copy", &events.LookupManifest{Key: queriesKey, ETag: `"older"`, Complete: true}, false, false},
		{"result changed", &events.LookupManifest{Key: queriesKey, Complete: true}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, inv := &fakeS3{}, &fakeInvoker{}
			h := newHandler(&fakeRunner{runFn: succeed}, s, inv)
			if _, err := h.Handle(context.Background(), events.Extract{Day: "2024-03-05"}); err != nil {
				t.Fatal(err)
			}
			if got := s.copies[0].Metadata[MetadataSourceETag]; got != srcETag(strings.TrimPrefix(aws.ToString(s.copies[0].CopySource), "usage-results/")) || s.copies[0].MetadataDirective != "REPLACE" {
				t.Errorf("copy metadata = %v (%s), want the source's ETag, replaced", s.copies[0].Metadata, s.copies[0].MetadataDirective)
			}
			if m := tt.manifest; m != nil {
				if m.ETag == "" {
					m.ETag = s.objects["usage-data/"+queriesKey].etag
				}
				body, _ := json.Marshal(m)
				s.put("usage-data", manifestKey, fakeObject{body: body})
			}
			if tt.sourceChanged {
				o := s.objects["usage-data/"+queriesKey]
				o.metadata = map[string]string{MetadataSourceETag: `"another"`}
				s.put("usage-data", queriesKey, o)
			}
			res, err := h.Handle(context.Background(), events.Extract{Day: "2024-03-05"})
			if err != nil {
				t.Fatal(err)
			}
			wantCopies := 2
			if tt.wantUnchanged {
				wantCopies = 1
			}
			if res.Days[0].Unchanged != tt.wantUnchanged || len(s.copies) != wantCopies || len(inv.invokes) != wantCopies {
				t.Errorf("second Handle() = %+v with %d copies and %d invokes in all, want unchanged %v and %d of each",
					res.Days[0], len(s.copies), len(inv.invokes), tt.wantUnchanged, wantCopies)
			}
		})
	}
}
