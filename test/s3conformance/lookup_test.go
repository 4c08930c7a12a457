package s3conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/athenausage/athena-usage/pkg/apioutput"
	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/batchget"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/events"
	"github.com/athenausage/athena-usage/pkg/lookup"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	athenatypes "github.com/aws/aws-sdk-go-v2/service/athena/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

const (
	dataPrefix   = "athena-usage/"
	functionName = "athena-usage-lookup"
	// partSize is the IDs per part: small enough that a few thousand IDs make several parts.
	partSize = 1000
	// account is the lookup's own account, and that of every query in the CSV.
	account = "123456789012"
)

var testDay = time.Date(2025, 3, 4, 0, 0, 0, 0, time.UTC)

// recordingS3 is the real client with a record of its GetObject calls, to see which ranges the
// handler asked for.
type recordingS3 struct {
	*s3.Client

	mu   sync.Mutex
	gets []s3.GetObjectInput
}

func (r *recordingS3) GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	r.mu.Lock()
	r.gets = append(r.gets, *in)
	r.mu.Unlock()
	return r.Client.GetObject(ctx, in, optFns...)
}

// takeGets returns the GetObject calls since the last take. Only the GETs of athena_queries objects count: the handler also reads the day's manifest and
// earlier parts.
func (r *recordingS3) takeGets() []s3.GetObjectInput {
	r.mu.Lock()
	defer r.mu.Unlock()
	var g []s3.GetObjectInput
	for _, in := range r.gets {
		if strings.Contains(aws.ToString(in.Key), athenasql.QueriesTable+"/") {
			g = append(g, in)
		}
	}
	r.gets = nil
	return g
}

// fakeLambda records the asynchronous invocations the handler asks for.
type fakeLambda struct {
	mu    sync.Mutex
	calls []*lambda.InvokeInput
}

func (f *fakeLambda) Invoke(ctx context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, in)
	return &lambda.InvokeOutput{StatusCode: 202}, nil
}

func (f *fakeLambda) take() []*lambda.InvokeInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// fakeAthena answers as one region's Athena: every ID is found, with statistics derived from
// the ID and the region, so that every row differs and a row in the wrong part shows.
type fakeAthena struct {
	region string

	mu    sync.Mutex
	calls [][]string
}

func (f *fakeAthena) BatchGetQueryExecution(ctx context.Context, in *athena.BatchGetQueryExecutionInput, _ ...func(*athena.Options)) (*athena.BatchGetQueryExecutionOutput, error) {
	f.mu.Lock()
	f.calls = append(f.calls, slices.Clone(in.QueryExecutionIds))
	f.mu.Unlock()
	out := &athena.BatchGetQueryExecutionOutput{}
	for _, id := range in.QueryExecutionIds {
		out.QueryExecutions = append(out.QueryExecutions, execution(id, f.region))
	}
	return out, nil
}

// execution is the synthetic execution the fake Athena of region returns for id; the catalog
// names the region, so that an ID looked up in the wrong region shows in the part.
func execution(id, region string) athenatypes.QueryExecution {
	// The ID starts with its number in hex (queryID); statistics that vary make every row differ.
	n, _ := strconv.ParseInt(id[:8], 16, 64)
	submitted := testDay.Add(time.Duration(n) * time.Second)
	completed := submitted.Add(time.Duration(1000+n%997) * time.Millisecond)
	return athenatypes.QueryExecution{
		QueryExecutionId:      aws.String(id),
		WorkGroup:             aws.String("primary"),
		StatementType:         athenatypes.StatementTypeDml,
		Query:                 aws.String("SELECT 1"),
		QueryExecutionContext: &athenatypes.QueryExecutionContext{Database: aws.String("sales"), Catalog: aws.String("catalog-in-" + region)},
		Status: &athenatypes.QueryExecutionStatus{
			State:              athenatypes.QueryExecutionStateSucceeded,
			SubmissionDateTime: &submitted,
			CompletionDateTime: &completed,
		},
		Statistics: &athenatypes.QueryExecutionStatistics{
			DataScannedInBytes:          aws.Int64(n * 1_048_576),
			EngineExecutionTimeInMillis: aws.Int64(900 + n%997),
			TotalExecutionTimeInMillis:  aws.Int64(1000 + n%997),
			QueryQueueTimeInMillis:      aws.Int64(n % 13),
		},
		EngineVersion: &athenatypes.EngineVersion{EffectiveEngineVersion: aws.String("Athena engine version 3")},
	}
}

// wantParts is the parts a day with these distinct rows must have: the IDs in order, partSize
// to a part, each row as the fake Athena of the ID's region returns it.
func wantParts(t *testing.T, rows []queryRow) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for n, chunk := 0, rows; len(chunk) > 0; n++ {
		size := min(partSize, len(chunk))
		var b bytes.Buffer
		w := apioutput.NewWriter(&b)
		for _, r := range chunk[:size] {
			if err := w.Write(apioutput.FromExecution(execution(r.id, r.region))); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		out[athenasql.PartKey(dataPrefix, testDay, n)] = b.Bytes()
		chunk = chunk[size:]
	}
	return out
}

// day is the lookup handler wired to a target: the real S3 client and transfer manager, fake
// Athena and Lambda.
type day struct {
	s       *store
	rec     *recordingS3
	lambda  *fakeLambda
	handler *lookup.Handler
	key     string
}

func newDay(t *testing.T, s *store, optFns ...func(*lookup.Options)) *day {
	t.Helper()
	d := &day{s: s, rec: &recordingS3{Client: s.client}, lambda: &fakeLambda{}, key: athenasql.QueriesKey(dataPrefix, testDay)}
	cfg := config.Lookup{
		Shared:      config.Shared{Region: region, DataBucket: s.bucket, DataPrefix: dataPrefix, S3PathStyle: true},
		AccountID:   account,
		Rate:        1e6,
		Concurrency: 4,
		PartSize:    partSize,
		MaxAttempts: 2,
	}
	opts := append([]func(*lookup.Options){func(o *lookup.Options) {
		o.FunctionName = functionName
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}}, optFns...)
	h, err := lookup.New(cfg, lookup.Clients{
		S3:       d.rec,
		Uploader: transfermanager.New(s.client),
		Lambda:   d.lambda,
		Athena:   func(_, region string) batchget.BatchGetter { return &fakeAthena{region: region} },
	}, opts...)
	if err != nil {
		t.Fatalf("lookup.New: %v", err)
	}
	d.handler = h
	return d
}

func (d *day) event() events.Lookup {
	return events.Lookup{Day: testDay.Format(config.DayLayout), Bucket: d.s.bucket, Key: d.key}
}

// handle runs one invocation, as Lambda would, with an hour to go.
func (d *day) handle(t *testing.T, ev events.Lookup) lookup.Result {
	t.Helper()
	return d.handleWithin(t, ev, time.Hour)
}

// handleLate runs one invocation with a minute to go, less than the default safety margin:
// it writes its first part, which always starts, and hands the rest of the day on.
func (d *day) handleLate(t *testing.T, ev events.Lookup) lookup.Result {
	t.Helper()
	return d.handleWithin(t, ev, time.Minute)
}

func (d *day) handleWithin(t *testing.T, ev events.Lookup, timeout time.Duration) lookup.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	res, err := d.handler.Handle(ctx, ev)
	if err != nil {
		t.Fatalf("Handle(%+v): %v", ev, err)
	}
	return res
}

// objects reads every object under the day's athena_api_output prefix, with its ETag.
func (d *day) objects(t *testing.T) (bodies map[string][]byte, etags map[string]string) {
	t.Helper()
	prefix := athenasql.APIOutputDayPrefix(dataPrefix, testDay)
	keys, _, err := d.s.list(t.Context(), prefix, 2)
	if err != nil {
		t.Fatal(err)
	}
	bodies, etags = map[string][]byte{}, map[string]string{}
	for _, k := range keys {
		b, out, err := d.s.get(t.Context(), k, s3.GetObjectInput{})
		if err != nil {
			t.Fatalf("GetObject(%s): %v", k, err)
		}
		bodies[k], etags[k] = b, aws.ToString(out.ETag)
	}
	return bodies, etags
}

// diffObjects fails t unless got holds exactly want's keys with equal bytes.
func diffObjects(t *testing.T, got, want map[string][]byte) {
	t.Helper()
	if g, w := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)); !slices.Equal(g, w) {
		t.Fatalf("objects = %q, want %q", g, w)
	}
	for k, w := range want {
		if g := got[k]; !bytes.Equal(g, w) {
			t.Errorf("object %s = %d bytes starting %.80q, want %d bytes starting %.80q", k, len(g), g, len(w), w)
		}
	}
}

// TestLookupRerun runs the handler over a day three times: the parts, then the same parts
// byte for byte, then fewer parts with the stale one deleted.
func TestLookupRerun(t *testing.T) {
	rows := dayRows(2500, "us-east-1", "eu-west-1")
	data, _ := athenaCSV(rows)
	fewer := dayRows(1500, "us-east-1", "eu-west-1")
	fewerData, _ := athenaCSV(fewer)
	forEachTarget(t, func(t *testing.T, s *store) {
		d := newDay(t, s)
		s.put(t, d.key, data)
		notes := athenasql.APIOutputDayPrefix(dataPrefix, testDay) + "notes.txt"
		s.put(t, notes, []byte("not a part: the lookup must leave it alone\n"))
		want := wantParts(t, distinct(rows))
		if len(want) != 3 {
			t.Fatalf("%d parts expected, want the test to make 3", len(want))
		}
		want[notes] = []byte("not a part: the lookup must leave it alone\n")

		res := d.handle(t, d.event())
		if wantRes := (lookup.Result{Day: d.event().Day, Parts: 3, IDs: 2500}); res != wantRes {
			t.Errorf("first run: Handle() = %+v, want %+v", res, wantRes)
		}
		first, firstETags := d.objects(t)
		diffObjects(t, first, want)
		if gets := d.rec.takeGets(); len(gets) != 1 || gets[0].Range != nil {
			t.Errorf("first run: %d GETs, want one of the whole object", len(gets))
		}

		res = d.handle(t, d.event())
		if res.Parts != 3 || res.UnchangedParts != 3 || res.StaleParts != 0 || res.Continued {
			t.Errorf("second run: Handle() = %+v, want 3 parts, all unchanged (not written again), none stale, not continued", res)
		}
		again, againETags := d.objects(t)
		diffObjects(t, again, first)
		if !maps.Equal(againETags, firstETags) {
			t.Errorf("second run: ETags = %v, want the first run's %v", againETags, firstETags)
		}

		s.put(t, d.key, fewerData)
		res = d.handle(t, d.event())
		// The first part keeps its IDs, so it is not written again.
		if wantRes := (lookup.Result{Day: d.event().Day, Parts: 2, IDs: 1500, UnchangedParts: 1, StaleParts: 1}); res != wantRes {
			t.Errorf("run with fewer IDs: Handle() = %+v, want %+v", res, wantRes)
		}
		want = wantParts(t, distinct(fewer))
		want[notes] = []byte("not a part: the lookup must leave it alone\n")
		got, _ := d.objects(t)
		diffObjects(t, got, want)
		if n := len(d.lambda.take()); n != 0 {
			t.Errorf("%d continuations invoked, want none", n)
		}
	})
}

// TestLookupContinuation forces every invocation to hand the rest of the day on after one part,
// and checks that the continuations, reading from their offsets with ranged GETs, write what
// one invocation writes.
func TestLookupContinuation(t *testing.T) {
	rows := dayRows(2500, "us-east-1", "eu-west-1")
	data, _ := athenaCSV(rows)
	ids := distinct(rows)
	forEachTarget(t, func(t *testing.T, s *store) {
		d := newDay(t, s)
		s.put(t, d.key, data)
		// An earlier run with more IDs left parts 3 and 4; they go once the day is done.
		for n := 3; n <= 4; n++ {
			s.put(t, athenasql.PartKey(dataPrefix, testDay, n), []byte("stale\n"))
		}

		ev := d.event()
		for n := range 3 {
			res := d.handleLate(t, ev)
			gets := d.rec.takeGets()
			calls := d.lambda.take()
			last := n == 2
			if res.FirstPart != n || res.Parts != 1 || res.IDs != min(partSize, len(ids)-n*partSize) || res.Continued == last {
				t.Fatalf("invocation %d: Handle(%+v) = %+v, want part %d only, continued unless last", n, ev, res, n)
			}
			if n == 0 {
				if len(gets) != 1 || gets[0].Range != nil {
					t.Errorf("invocation 0: GETs %v, want one of the whole object", ranges(gets))
				}
			} else {
				// The header, then the rest from the part's first record, both of one version.
				want := []string{"bytes=0-65535", fmt.Sprintf("bytes=%d-", ev.Offset)}
				if got := ranges(gets); !slices.Equal(got, want) {
					t.Errorf("invocation %d: GET ranges %q, want %q", n, got, want)
				}
				for _, g := range gets {
					if aws.ToString(g.IfMatch) != ev.ETag {
						t.Errorf("invocation %d: GET %s If-Match %q, want the first read's ETag %q", n, aws.ToString(g.Range), aws.ToString(g.IfMatch), ev.ETag)
					}
				}
			}
			if last {
				if len(calls) != 0 || res.StaleParts != 2 {
					t.Errorf("last invocation: %d continuations, %d stale parts deleted, want none and 2", len(calls), res.StaleParts)
				}
				break
			}
			if len(calls) != 1 || aws.ToString(calls[0].FunctionName) != functionName || calls[0].InvocationType != lambdatypes.InvocationTypeEvent {
				t.Fatalf("invocation %d: Invoke calls %d, want one Event invocation of %s", n, len(calls), functionName)
			}
			next := events.Lookup{}
			if err := json.Unmarshal(calls[0].Payload, &next); err != nil {
				t.Fatalf("continuation payload %s: %v", calls[0].Payload, err)
			}
			// The offset must be where the next part's first ID's first record starts.
			if first := ids[(n+1)*partSize].id; next.Part != n+1 || next.Offset <= 0 || next.Offset >= int64(len(data)) ||
				!bytes.HasPrefix(data[next.Offset:], []byte(`"`+first+`",`)) || next.ETag == "" {
				t.Fatalf("continuation event %+v, want part %d at the record of %s with the ETag", next, n+1, first)
			}
			ev = next
		}
		got, _ := d.objects(t)
		diffObjects(t, got, wantParts(t, ids))
	})
}

// TestLookupSuperseded checks that a continuation finds out that the day's object was
// rewritten since the day's first invocation, and then writes nothing.
func TestLookupSuperseded(t *testing.T) {
	rows := dayRows(2500, "us-east-1")
	data, _ := athenaCSV(rows)
	newer, _ := athenaCSV(dayRows(2400, "eu-west-1"))
	forEachTarget(t, func(t *testing.T, s *store) {
		d := newDay(t, s)
		s.put(t, d.key, data)
		if res := d.handleLate(t, d.event()); !res.Continued {
			t.Fatalf("Handle() = %+v, want a continuation", res)
		}
		calls := d.lambda.take()
		var next events.Lookup
		if len(calls) != 1 || json.Unmarshal(calls[0].Payload, &next) != nil {
			t.Fatalf("Invoke calls = %d, want one with an event", len(calls))
		}
		before, _ := d.objects(t)

		// A rerun of the extract rewrote the day in between.
		s.put(t, d.key, newer)
		res := d.handleLate(t, next)
		if !res.Superseded || res.Parts != 0 || res.Continued {
			t.Errorf("continuation after the object changed: Handle() = %+v, want superseded, nothing written", res)
		}
		after, _ := d.objects(t)
		diffObjects(t, after, before)
		if n := len(d.lambda.take()); n != 0 {
			t.Errorf("superseded continuation invoked %d more, want none", n)
		}
	})
}

// ranges lists the Range headers of GETs, "" for none.
func ranges(gets []s3.GetObjectInput) []string {
	var out []string
	for _, g := range gets {
		out = append(out, aws.ToString(g.Range))
	}
	return out
}
