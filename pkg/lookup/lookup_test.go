package lookup

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/fanout"
	"github.com/athenausage/athena-usage/pkg/usagecsv"
	"github.com/aws/aws-sdk-go-v2/aws"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
)

const (
	testBucket = "usage-data"
	testPrefix = "athena-usage/"
	testDay    = "2025-03-04"
)

var testDayTime, _ = config.ParseDay(testDay)

// env is a handler with fakes for all its clients.
type env struct {
	s3      *fakeS3
	lambda  *fakeLambda
	athena  map[string]*fakeAthena
	handler *Handler
	key     string
}

func newEnv(t *testing.T, rows []queryRow, partSize int, optFns ...func(*Options)) *env {
	t.Helper()
	e := &env{s3: newFakeS3(), lambda: &fakeLambda{}, athena: map[string]*fakeAthena{}}
	e.key = athenasql.QueriesKey(testPrefix, testDayTime)
	e.s3.put(testBucket, e.key, athenaCSV(rows))
	var mu sync.Mutex
	cfg := config.Lookup{
		Shared:      config.Shared{Region: "us-east-1", DataBucket: testBucket, DataPrefix: testPrefix},
		Rate:        1e6,
		Concurrency: 4,
		PartSize:    partSize,
		MaxAttempts: 2,
	}
	opts := append([]func(*Options){func(o *Options) {
		o.FunctionName = "athena-usage-lookup"
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}}, optFns...)
	h, err := New(cfg, Clients{
		S3:       e.s3,
		Uploader: e.s3,
		Lambda:   e.lambda,
		Athena: func(region string) fanout.BatchGetter {
			mu.Lock()
			defer mu.Unlock()
			f := &fakeAthena{region: region}
			e.athena[region] = f
			return f
		},
	}, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.handler = h
	return e
}

func (e *env) event() Event { return Event{Day: testDay, Bucket: testBucket, Key: e.key} }

func (e *env) parts() map[string]string {
	return e.s3.objectsUnder(testBucket, athenasql.APIOutputDayPrefix(testPrefix, testDayTime))
}

// wantParts is the parts a day with these distinct IDs must have, found in region.
func wantParts(t *testing.T, ids []string, partSize int, region func(id string) string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for n, chunk := 0, ids; len(chunk) > 0; n++ {
		size := min(partSize, len(chunk))
		var b bytes.Buffer
		w := usagecsv.NewWriter(&b)
		for _, id := range chunk[:size] {
			row := usagecsv.FromExecution(executionIn(id, region(id)))
			if strings.HasPrefix(id, "gone-") {
				row = usagecsv.Unprocessed(id, "InvalidRequestException")
			}
			if err := w.Write(row); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		out[athenasql.PartKey(testPrefix, testDayTime, n)] = b.String()
		chunk = chunk[size:]
	}
	return out
}

func usEast1(string) string { return "us-east-1" }

func diffParts(t *testing.T, got, want map[string]string) {
	t.Helper()
	if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))) {
		t.Fatalf("parts = %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("part %s =\n%s\nwant\n%s", k, got[k], w)
		}
	}
}

func TestHandleWritesParts(t *testing.T) {
	rows := dayRows(23)
	e := newEnv(t, rows, 5)
	res, err := e.handler.Handle(context.Background(), e.event())
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	ids := distinctIDs(rows)
	diffParts(t, e.parts(), wantParts(t, ids, 5, usEast1))
	want := Result{Day: testDay, Parts: 5, IDs: 23}
	if res != want {
		t.Errorf("Handle() = %+v, want %+v", res, want)
	}
	if len(e.s3.gets) != 1 || e.s3.gets[0].Range != nil {
		t.Errorf("GetObject calls = %d (first range %v), want one GET of the whole object", len(e.s3.gets), aws.ToString(e.s3.gets[0].Range))
	}
	if len(e.lambda.calls) != 0 {
		t.Errorf("Invoke calls = %d, want none", len(e.lambda.calls))
	}
	if got := e.athena["us-east-1"].asked(); !slices.Equal(slices.Sorted(slices.Values(got)), ids) {
		t.Errorf("Athena was asked for %d IDs, want each of the %d distinct IDs once", len(got), len(ids))
	}
}

func TestHandleEmptyDays(t *testing.T) {
	for _, tt := range []struct {
		name string
		rows []queryRow
	}{
		{"header only", nil},
		{"only refused submissions", []queryRow{{region: "us-east-1"}, {region: "eu-west-1"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.rows, 5)
			e.s3.put(testBucket, athenasql.PartKey(testPrefix, testDayTime, 0), []byte("old\n"))
			res, err := e.handler.Handle(context.Background(), e.event())
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if want := (Result{Day: testDay, StaleParts: 1}); res != want {
				t.Errorf("Handle() = %+v, want %+v", res, want)
			}
			if got := e.parts(); len(got) != 0 {
				t.Errorf("parts = %v, want none", slices.Collect(maps.Keys(got)))
			}
		})
	}
}

// runAll handles ev and every continuation it invokes, as Lambda would, each invocation with a
// fresh deadline; it returns the results.
func runAll(t *testing.T, e *env, ev Event, start func() (context.Context, context.CancelFunc)) []Result {
	t.Helper()
	var results []Result
	for range 100 {
		ctx, cancel := start()
		calls := len(e.lambda.calls)
		res, err := e.handler.Handle(ctx, ev)
		cancel()
		if err != nil {
			t.Fatalf("Handle(%+v): %v", ev, err)
		}
		results = append(results, res)
		if !res.Continued {
			return results
		}
		if len(e.lambda.calls) != calls+1 {
			t.Fatalf("continued without one Invoke call")
		}
		in := e.lambda.calls[calls]
		if aws.ToString(in.FunctionName) != "athena-usage-lookup" || in.InvocationType != lambdatypes.InvocationTypeEvent {
			t.Fatalf("Invoke(%s, %s), want an Event invocation of athena-usage-lookup", aws.ToString(in.FunctionName), in.InvocationType)
		}
		ev = Event{}
		if err := json.Unmarshal(in.Payload, &ev); err != nil {
			t.Fatalf("continuation payload %s: %v", in.Payload, err)
		}
	}
	t.Fatal("more than 100 invocations")
	return nil
}

// clock is a fake clock for the handler's deadline checks; uploads move it on.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestHandleContinuation(t *testing.T) {
	rows := dayRows(47, "us-east-1", "eu-west-1")
	const partSize = 5

	oneShot := newEnv(t, rows, partSize)
	if _, err := oneShot.handler.Handle(context.Background(), oneShot.event()); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	want := oneShot.parts()

	// Each part takes a minute of fake time and an invocation has six minutes, with a margin of
	// three: every invocation gets through a few parts and hands the rest on.
	c := &clock{}
	e := newEnv(t, rows, partSize, func(o *Options) { o.Now = c.Now })
	e.s3.onUpload = func(string) { c.advance(time.Minute) }
	// An earlier run had more IDs: its higher parts must go, but only once the day is done.
	for n := range 14 {
		e.s3.put(testBucket, athenasql.PartKey(testPrefix, testDayTime, n), []byte("stale\n"))
	}
	results := runAll(t, e, e.event(), func() (context.Context, context.CancelFunc) {
		deadline := time.Now().Add(time.Hour)
		c.set(deadline.Add(-6 * time.Minute))
		return context.WithDeadline(context.Background(), deadline)
	})

	if len(results) < 3 {
		t.Fatalf("%d invocations, want the day split into at least 3: %+v", len(results), results)
	}
	diffParts(t, e.parts(), want)
	next, ids := 0, 0
	for i, r := range results {
		if r.FirstPart != next || r.Parts == 0 {
			t.Errorf("invocation %d: %+v, want it to start at part %d and write some", i, r, next)
		}
		next += r.Parts
		ids += r.IDs
		if last := i == len(results)-1; r.Continued == last || (r.StaleParts > 0) != last {
			t.Errorf("invocation %d: %+v, want only the last to finish the day and delete stale parts", i, r)
		}
	}
	if ids != len(distinctIDs(rows)) || results[len(results)-1].StaleParts != 4 {
		t.Errorf("invocations wrote %d IDs and deleted %d stale parts, want %d and 4", ids, results[len(results)-1].StaleParts, len(distinctIDs(rows)))
	}
	// Continued invocations read the header and then from their offset, of the same version.
	for _, in := range e.s3.gets[1:] {
		if in.Range == nil || in.IfMatch == nil {
			t.Errorf("GET %s after the first, want a ranged read with If-Match", aws.ToString(in.Range))
		}
	}
}

func TestHandleRerunFewerIDs(t *testing.T) {
	e := newEnv(t, dayRows(40), 5)
	if _, err := e.handler.Handle(context.Background(), e.event()); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	other := testPrefix + "athena_api_output/dt=" + testDay + "/notes.txt"
	e.s3.put(testBucket, other, []byte("keep me"))
	rows := dayRows(12)
	e.s3.put(testBucket, e.key, athenaCSV(rows))
	res, err := e.handler.Handle(context.Background(), e.event())
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	want := wantParts(t, distinctIDs(rows), 5, usEast1)
	want[other] = "keep me"
	diffParts(t, e.parts(), want)
	if res.StaleParts != 5 {
		t.Errorf("StaleParts = %d, want 5 (parts 3 to 7)", res.StaleParts)
	}
}

func TestHandleRegions(t *testing.T) {
	rows := dayRows(30, "us-east-1", "eu-west-1", "")
	e := newEnv(t, rows, 7)
	if _, err := e.handler.Handle(context.Background(), e.event()); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	regionOf := map[string]string{}
	for _, r := range rows {
		regionOf[r.id] = cmpOr(r.region, "us-east-1")
	}
	diffParts(t, e.parts(), wantParts(t, distinctIDs(rows), 7, func(id string) string { return regionOf[id] }))
	if len(e.athena) != 2 {
		t.Errorf("clients made for %v, want us-east-1 and eu-west-1", slices.Collect(maps.Keys(e.athena)))
	}
	for region, f := range e.athena {
		for _, id := range f.asked() {
			if regionOf[id] != region {
				t.Errorf("%s was asked for %s, which is in %s", region, id, regionOf[id])
			}
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestHandleLookupErrors(t *testing.T) {
	rows := []queryRow{{id: "a-1", region: "us-east-1"}, {id: "gone-1", region: "us-east-1"}, {id: "z-1", region: "us-east-1"}}
	e := newEnv(t, rows, 10)
	res, err := e.handler.Handle(context.Background(), e.event())
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	diffParts(t, e.parts(), wantParts(t, distinctIDs(rows), 10, usEast1))
	if res.LookupErrors != 1 || res.IDs != 3 {
		t.Errorf("Handle() = %+v, want 3 IDs and 1 lookup error", res)
	}
}

func TestHandleFailures(t *testing.T) {
	tests := []struct {
		name    string
		csv     string
		athena  error
		event   func(Event) Event
		wantErr string
	}{
		{
			name:    "header without query_id",
			csv:     "\"id\",\"aws_region\"\n\"a\",\"us-east-1\"\n",
			wantErr: `no column "query_id"`,
		},
		{
			name:    "header without aws_region",
			csv:     "\"query_id\",\"region\"\n\"a\",\"us-east-1\"\n",
			wantErr: `no column "aws_region"`,
		},
		{
			name:    "empty file",
			csv:     "",
			wantErr: "file is empty",
		},
		{
			name:    "not sorted",
			csv:     "\"query_id\",\"aws_region\"\n\"b\",\"us-east-1\"\n\"a\",\"us-east-1\"\n",
			wantErr: `line 3: query_id "a" comes after "b"`,
		},
		{
			name:    "wrong number of fields",
			csv:     "\"query_id\",\"aws_region\"\n\"a\",\"us-east-1\",\"x\"\n",
			wantErr: "line 2",
		},
		{
			name:    "bad region",
			csv:     "\"query_id\",\"aws_region\"\n\"a\",\"attacker.example.com/\"\n",
			wantErr: "query a: region",
		},
		{
			name:    "Athena denies access",
			csv:     string(athenaCSV(dayRows(3))),
			athena:  &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "no"},
			wantErr: "AccessDeniedException",
		},
		{
			name:    "missing object",
			csv:     "",
			event:   func(ev Event) Event { ev.Key = "nope.csv"; return ev },
			wantErr: "NoSuchKey",
		},
		{
			name:    "invalid event",
			event:   func(ev Event) Event { ev.Day = "2025-3-4"; ev.Part = -1; return ev },
			wantErr: "part: -1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil, 5)
			e.s3.put(testBucket, e.key, []byte(tt.csv))
			if tt.athena != nil {
				e.handler.clients.Athena = func(region string) fanout.BatchGetter {
					return &fakeAthena{region: region, err: tt.athena}
				}
			}
			ev := e.event()
			if tt.event != nil {
				ev = tt.event(ev)
			}
			_, err := e.handler.Handle(context.Background(), ev)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Handle() error = %v, want one containing %q", err, tt.wantErr)
			}
			if len(e.lambda.calls) != 0 || len(e.parts()) != 0 {
				t.Errorf("after a failure: %d invocations, parts %v, want none", len(e.lambda.calls), e.parts())
			}
		})
	}
}

func TestHandleSuperseded(t *testing.T) {
	e := newEnv(t, dayRows(12), 5)
	ev := e.event()
	ev.Part, ev.Offset, ev.ETag = 1, 1000, `"an-older-version"`
	res, err := e.handler.Handle(context.Background(), ev)
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if !res.Superseded || len(e.parts()) != 0 || len(e.lambda.calls) != 0 {
		t.Errorf("Handle(stale continuation) = %+v with parts %v, want superseded and nothing written", res, e.parts())
	}
}

// TestHandleResumesBrokenDownload checks that a connection reset mid-object is picked up where
// it stopped, with the output unchanged.
func TestHandleResumesBrokenDownload(t *testing.T) {
	rows := dayRows(30)
	e := newEnv(t, rows, 8)
	e.s3.breakAfter = 777
	if _, err := e.handler.Handle(context.Background(), e.event()); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	diffParts(t, e.parts(), wantParts(t, distinctIDs(rows), 8, usEast1))
	if len(e.s3.gets) != 2 || aws.ToString(e.s3.gets[1].Range) != "bytes=777-" || e.s3.gets[1].IfMatch == nil {
		t.Errorf("GETs = %d, second range %q, want a resume at bytes=777- with If-Match", len(e.s3.gets), aws.ToString(e.s3.gets[len(e.s3.gets)-1].Range))
	}
}

func TestIDReader(t *testing.T) {
	head := `"query_id","aws_region","user_agent"` + "\n"
	tests := []struct {
		name    string
		csv     string
		want    []string
		wantErr string
	}{
		{"header only", head, nil, ""},
		{"quoted commas, quotes and newlines", head +
			`"a","us-east-1","x, ""y"", z"` + "\n" +
			`"b","eu-west-1","multi` + "\n" + `line, ""quoted"""` + "\n", []string{"a", "b"}, ""},
		{"duplicates and refused submissions", head +
			`"a","us-east-1",` + "\n" + `"a","us-east-1",` + "\n" + `"b","us-east-1",` + "\n" +
			`,"us-east-1","refused"` + "\n" + `,"eu-west-1",` + "\n", []string{"a", "b"}, ""},
		{"no final newline", head + `"a","us-east-1","x"`, []string{"a"}, ""},
		{"CRLF line ends", strings.ReplaceAll(head+`"a","us-east-1","x"`+"\n"+`"b","us-east-1","y"`+"\n", "\n", "\r\n"), []string{"a", "b"}, ""},
		{"bad header", `"queryid","aws_region"` + "\n", nil, `no column "query_id"`},
		{"bare quote", head + `"a","us-east-1","x"y"` + "\n", nil, "line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := newIDReader(strings.NewReader(tt.csv), 0, nil)
			var got []string
			for err == nil {
				var rec idRecord
				if rec, err = r.next(); err == nil {
					got = append(got, rec.id)
				}
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("reading %q: error %v, want one containing %q", tt.csv, err, tt.wantErr)
				}
				return
			}
			if err != io.EOF {
				t.Fatalf("reading %q: %v", tt.csv, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("IDs of %q = %q, want %q", tt.csv, got, tt.want)
			}
		})
	}
}

// TestIDReaderOffsets checks that reading from any ID's offset, with the header read separately,
// gives the same IDs from that one on: the promise a continuation relies on.
func TestIDReaderOffsets(t *testing.T) {
	data := athenaCSV(dayRows(20))
	r, err := newIDReader(bytes.NewReader(data), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var all []idRecord
	for {
		rec, err := r.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, rec)
	}
	h, err := readHeader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for i, rec := range all {
		rest, err := newIDReader(bytes.NewReader(data[rec.offset:]), rec.offset, &h)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range all[i:] {
			got, err := rest.next()
			if err != nil || got != want {
				t.Fatalf("from offset %d: next() = %+v, %v, want %+v", rec.offset, got, err, want)
			}
		}
		if _, err := rest.next(); err != io.EOF {
			t.Fatalf("from offset %d: no EOF after the last ID: %v", rec.offset, err)
		}
	}
}

func TestEventValidate(t *testing.T) {
	good := Event{Day: testDay, Bucket: testBucket, Key: "k.csv", Part: 2, Offset: 300}
	tests := []struct {
		name    string
		event   func(Event) Event
		wantErr []string
	}{
		{"valid", func(e Event) Event { return e }, nil},
		{"bad day", func(e Event) Event { e.Day = "2025-02-30"; return e }, []string{"day:"}},
		{"bad bucket", func(e Event) Event { e.Bucket = "Bad_Bucket"; return e }, []string{"bucket:"}},
		{"no key", func(e Event) Event { e.Key = ""; return e }, []string{"key:"}},
		{"negative part and offset", func(e Event) Event { e.Part, e.Offset = -1, -5; return e }, []string{"part: -1", "offset: -5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := tt.event(good)
			day, err := ev.Validate()
			if tt.wantErr == nil {
				if err != nil || day.Format(config.DayLayout) != testDay {
					t.Errorf("Validate(%+v) = %v, %v, want %s", ev, day, err, testDay)
				}
				return
			}
			for _, want := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("Validate(%+v) error = %v, want one containing %q", ev, err, want)
				}
			}
		})
	}
}

func TestEventJSON(t *testing.T) {
	data, err := os.ReadFile("testdata/event.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev Event
	if err := json.Unmarshal(data, &ev); err != nil {
		t.Fatal(err)
	}
	want := Event{Day: "2025-03-04", Bucket: "usage-data", Key: "athena-usage/athena_queries/dt=2025-03-04/queries.csv"}
	if ev != want {
		t.Errorf("testdata/event.json = %+v, want %+v", ev, want)
	}
	if _, err := ev.Validate(); err != nil {
		t.Errorf("testdata/event.json: %v", err)
	}
	cont := Event{Day: "2025-03-04", Bucket: "b-1", Key: "k", Part: 3, Offset: 12345, ETag: `"abc"`}
	b, _ := json.Marshal(cont)
	if got := string(b); got != `{"day":"2025-03-04","bucket":"b-1","key":"k","part":3,"offset":12345,"etag":"\"abc\""}` {
		t.Errorf("json.Marshal(%+v) = %s", cont, got)
	}
}

func TestUploadFailure(t *testing.T) {
	e := newEnv(t, dayRows(3), 5)
	e.handler.clients.Uploader = failingUploader{}
	_, err := e.handler.Handle(context.Background(), e.event())
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Handle() error = %v, want the upload's", err)
	}
}

// failingUploader reads a little of the body, then fails.
type failingUploader struct{}

func (failingUploader) Upload(ctx context.Context, bucket, key string, body io.Reader) error {
	// The upload fails either way: what the read returns, error included, does not matter.
	_, _ = body.Read(make([]byte, 10))
	return fmt.Errorf("disk full")
}
