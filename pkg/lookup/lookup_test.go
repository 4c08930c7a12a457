package lookup

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/athenausage/athena-usage/pkg/apioutput"
	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/batchget"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
)

const (
	testBucket = "usage-data"
	testPrefix = "athena-usage/"
	testDay    = "2025-03-04"
	// testAccount is the function's own account.
	testAccount = "123456789012"
)

var testDayTime, _ = config.ParseDay(testDay)

// env is a handler with fakes for all its clients.
type env struct {
	s3     *fakeS3
	lambda *fakeLambda
	athena map[place]*fakeAthena
	// errs makes every call of an account's clients fail, for clients made after it is set.
	errs map[string]error
	// onCall, when set before the first lookup, runs at the start of every Athena call.
	onCall func(ids []string)
	// throttle, when set before the first lookup, is how many calls each Athena throttles first.
	throttle int
	handler  *Handler
	key      string
}

func newEnv(t *testing.T, rows []queryRow, partSize int, optFns ...func(*Options)) *env {
	t.Helper()
	return newEnvConfig(t, rows, partSize, nil, optFns...)
}

// newEnvConfig is newEnv with changes to the configuration.
func newEnvConfig(t *testing.T, rows []queryRow, partSize int, cfgFn func(*config.Lookup), optFns ...func(*Options)) *env {
	t.Helper()
	e := &env{s3: newFakeS3(), lambda: &fakeLambda{}, athena: map[place]*fakeAthena{}, errs: map[string]error{}}
	e.key = athenasql.QueriesKey(testPrefix, testDayTime)
	e.s3.put(testBucket, e.key, athenaCSV(rows))
	var mu sync.Mutex
	cfg := config.Lookup{
		Shared:      config.Shared{Region: "us-east-1", DataBucket: testBucket, DataPrefix: testPrefix},
		AccountID:   testAccount,
		Partition:   "aws",
		Rate:        1e6,
		Concurrency: 4,
		PartSize:    partSize,
		MaxAttempts: 2,
	}
	if cfgFn != nil {
		cfgFn(&cfg)
	}
	opts := append([]func(*Options){func(o *Options) {
		o.FunctionName = "athena-usage-lookup"
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}}, optFns...)
	h, err := New(cfg, Clients{
		S3:       e.s3,
		Uploader: e.s3,
		Lambda:   e.lambda,
		Athena: func(account, region string) batchget.BatchGetter {
			mu.Lock()
			defer mu.Unlock()
			f := &fakeAthena{where: place{account, region}, err: e.errs[account], onCall: e.onCall, throttle: e.throttle}
			e.athena[f.where] = f
			return f
		},
	}, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.handler = h
	return e
}

func (e *env) event() events.Lookup {
	return events.Lookup{Day: testDay, Bucket: testBucket, Key: e.key}
}

func (e *env) parts() map[string]string {
	return e.s3.objectsUnder(testBucket, athenasql.APIOutputDayPrefix(testPrefix, testDayTime))
}

// wantParts is the parts a day with these distinct IDs must have, each found where ("account/
// region") says.
func wantParts(t *testing.T, ids []string, partSize int, where func(id string) string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for n, chunk := 0, ids; len(chunk) > 0; n++ {
		size := min(partSize, len(chunk))
		var b bytes.Buffer
		w := apioutput.NewWriter(&b)
		for _, id := range chunk[:size] {
			var row apioutput.Row
			switch w := where(id); {
			case strings.HasPrefix(id, "gone-"):
				row = apioutput.Unprocessed(id, "InvalidRequestException")
			case w == LookupErrorOtherAccount:
				row = apioutput.Unprocessed(id, LookupErrorOtherAccount)
			default:
				row = apioutput.FromExecution(executionIn(id, w))
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

func usEast1(string) string { return testAccount + "/us-east-1" }

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
	if len(e.queryGets()) != 1 || e.queryGets()[0].Range != nil {
		t.Errorf("GetObject calls = %d (first range %v), want one GET of the whole object", len(e.queryGets()), aws.ToString(e.queryGets()[0].Range))
	}
	if len(e.lambda.calls) != 0 {
		t.Errorf("Invoke calls = %d, want none", len(e.lambda.calls))
	}
	if got := e.athena[place{testAccount, "us-east-1"}].asked(); !slices.Equal(slices.Sorted(slices.Values(got)), ids) {
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
func runAll(t *testing.T, e *env, ev events.Lookup, start func() (context.Context, context.CancelFunc)) []Result {
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
		ev = events.Lookup{}
		if err := json.Unmarshal(in.Payload, &ev); err != nil {
			t.Fatalf("continuation payload %s: %v", in.Payload, err)
		}
	}
	t.Fatal("more than 100 invocations")
	return nil
}

func TestHandleContinuation(t *testing.T) {
	synctest.Test(t, testHandleContinuation)
}

// testHandleContinuation runs a day through invocations with little time each, on synctest's
// clock, and checks that together they write what one invocation writes.
func testHandleContinuation(t *testing.T) {
	rows := dayRows(47, "us-east-1", "eu-west-1")
	const partSize = 5

	oneShot := newEnv(t, rows, partSize)
	if _, err := oneShot.handler.Handle(context.Background(), oneShot.event()); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	want := oneShot.parts()

	// Each upload takes a minute, and an invocation has five and a half with the default
	// margin of three: with two parts in flight, it starts two parts at once and two more a
	// minute later, and then, with 3.5 minutes left and parts taking a minute, hands the rest on.
	two := func(o *Options) { o.PartsInFlight = 2 }
	e := newEnv(t, rows, partSize, two)
	e.s3.onUpload = func(string) { time.Sleep(time.Minute) }
	// An earlier run had more IDs: its higher parts must go, but only once the day is done.
	for n := range 14 {
		e.s3.put(testBucket, athenasql.PartKey(testPrefix, testDayTime, n), []byte("stale\n"))
	}
	results := runAll(t, e, e.event(), func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), 5*time.Minute+30*time.Second)
	})

	diffParts(t, e.parts(), want)
	next, ids := 0, 0
	for i, r := range results {
		if last := i == len(results)-1; r.FirstPart != next || r.Parts != min(4, 10-next) || r.Continued == last || (r.StaleParts > 0) != last {
			t.Errorf("invocation %d: %+v, want it to write parts %d to %d, and only the last to finish the day and delete stale parts", i, r, next, min(next+4, 10)-1)
		}
		next += r.Parts
		ids += r.IDs
	}
	if len(results) != 3 || ids != len(distinctIDs(rows)) || results[len(results)-1].StaleParts != 4 {
		t.Errorf("%d invocations wrote %d IDs and deleted %d stale parts, want 3, %d and 4", len(results), ids, results[len(results)-1].StaleParts, len(distinctIDs(rows)))
	}
	// Continued invocations read the header and then from their offset, of the same version.
	for _, in := range e.s3.gets[1:] {
		if aws.ToString(in.Key) != e.key {
			continue // the manifest
		}
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
	whereOf := map[string]place{}
	for _, r := range rows {
		whereOf[r.id] = place{testAccount, cmp.Or(r.region, "us-east-1")}
	}
	diffParts(t, e.parts(), wantParts(t, distinctIDs(rows), 7, func(id string) string { return whereOf[id].String() }))
	if len(e.athena) != 2 {
		t.Errorf("clients made for %v, want us-east-1 and eu-west-1", slices.Collect(maps.Keys(e.athena)))
	}
	for where, f := range e.athena {
		for _, id := range f.asked() {
			if whereOf[id] != where {
				t.Errorf("%s was asked for %s, which is in %s", where, id, whereOf[id])
			}
		}
	}
}

// accountRows is a day's rows across accounts and regions: the function's own account (also
// as an empty account_id, as in an older CSV) and two others, each in two regions.
func accountRows(n int) []queryRow {
	accounts := []string{testAccount, "", "444455556666", "777788889999"}
	regions := []string{"us-east-1", "eu-west-1", ""}
	var rows []queryRow
	for i := range n {
		rows = append(rows, queryRow{
			id:      fmt.Sprintf("%08x-1111-4222-8333-%012x", i, i),
			account: accounts[i%len(accounts)],
			// i/len(accounts) spreads every account over every region.
			region: regions[(i/len(accounts))%len(regions)],
		})
	}
	return rows
}

// accountsTest handles a day of accountRows(40), with or without a role to assume in the
// other accounts.
type accountsTest struct {
	role string
	// wantClients are the (account, region) pairs a client is made for.
	wantClients []place
}

func TestHandleAccountsWithRole(t *testing.T) {
	accountsTest{
		role: "athena-usage-lookup",
		wantClients: []place{
			{testAccount, "eu-west-1"}, {testAccount, "us-east-1"},
			{"444455556666", "eu-west-1"}, {"444455556666", "us-east-1"},
			{"777788889999", "eu-west-1"}, {"777788889999", "us-east-1"},
		},
	}.run(t)
}

func TestHandleAccountsWithoutRole(t *testing.T) {
	accountsTest{wantClients: []place{{testAccount, "eu-west-1"}, {testAccount, "us-east-1"}}}.run(t)
}

func (tt accountsTest) run(t *testing.T) {
	rows := accountRows(40)
	whereOf := map[string]place{}
	for _, r := range rows {
		whereOf[r.id] = place{cmp.Or(r.account, testAccount), cmp.Or(r.region, "us-east-1")}
	}
	var logs bytes.Buffer
	e := newEnvConfig(t, rows, 7, func(c *config.Lookup) { c.RoleName = tt.role }, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	res, err := e.handler.Handle(context.Background(), e.event())
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}

	skipped := 0
	where := func(id string) string {
		w := whereOf[id]
		if w.account != testAccount && tt.role == "" {
			return LookupErrorOtherAccount
		}
		return w.String()
	}
	for _, r := range rows {
		if where(r.id) == LookupErrorOtherAccount {
			skipped++
		}
	}
	// Every ID once, in ID order, each row from its own account and region's client.
	diffParts(t, e.parts(), wantParts(t, distinctIDs(rows), 7, where))
	want := Result{Day: testDay, Parts: 6, IDs: 40, LookupErrors: skipped, OtherAccount: skipped}
	if res != want {
		t.Errorf("Handle() = %+v, want %+v", res, want)
	}
	tt.checkClients(t, e, whereOf, 40-skipped)
	tt.checkWarnings(t, logs.String())
}

// checkClients checks which Athena clients were made, and that each was asked, once each, for
// the IDs of its own account and region only.
func (tt accountsTest) checkClients(t *testing.T, e *env, whereOf map[string]place, wantAsked int) {
	t.Helper()
	got := slices.SortedFunc(maps.Keys(e.athena), func(a, b place) int { return cmp.Compare(a.String(), b.String()) })
	if !slices.Equal(got, tt.wantClients) {
		t.Errorf("Athena clients made for %v, want %v", got, tt.wantClients)
	}
	asked := 0
	for pl, f := range e.athena {
		for _, id := range f.asked() {
			asked++
			if whereOf[id] != pl {
				t.Errorf("the client of %s was asked for %s, which ran in %s", pl, id, whereOf[id])
			}
		}
	}
	if asked != wantAsked {
		t.Errorf("Athena was asked for %d IDs, want %d (each looked-up ID once)", asked, wantAsked)
	}
}

// checkWarnings checks that without a role the logs warn once per other account, however many
// parts had its IDs, and that with one they don't.
func (tt accountsTest) checkWarnings(t *testing.T, logs string) {
	t.Helper()
	others := []string{"444455556666", "777788889999"}
	n := strings.Count(logs, config.EnvLookupRoleName+" is not set")
	for _, account := range others {
		mentions := strings.Count(logs, "account="+account)
		if tt.role == "" && (mentions != 1 || n != len(others)) {
			t.Errorf("logs mention account %s %d times in %d warnings, want once in one warning per account:\n%s", account, mentions, n, logs)
		}
		if tt.role != "" && (mentions != 0 || n != 0) {
			t.Errorf("with a role, logs warn %d times about account %s, want none", mentions, account)
		}
	}
}

func TestHandleLookupErrors(t *testing.T) {
	rows := []queryRow{{id: "a-1", account: testAccount, region: "us-east-1"}, {id: "gone-1", account: testAccount, region: "us-east-1"}, {id: "z-1", account: testAccount, region: "us-east-1"}}
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

// failureTest handles a day that must fail: the error must contain wantErr, and nothing may be
// written or invoked.
type failureTest struct {
	name    string
	csv     string
	athena  error
	event   func(events.Lookup) events.Lookup
	wantErr string
}

func (tt failureTest) run(t *testing.T) {
	e := newEnv(t, nil, 5)
	e.s3.put(testBucket, e.key, []byte(tt.csv))
	if tt.athena != nil {
		e.handler.clients.Athena = func(account, region string) batchget.BatchGetter {
			return &fakeAthena{where: place{account, region}, err: tt.athena}
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
}

func TestHandleBadCSV(t *testing.T) {
	for _, tt := range []failureTest{
		{
			name:    "header without query_id",
			csv:     "\"id\",\"account_id\",\"aws_region\"\n\"a\",\"123456789012\",\"us-east-1\"\n",
			wantErr: `s3://usage-data/athena-usage/athena_queries/dt=2025-03-04/queries.csv: header: no column "query_id"`,
		},
		{
			name:    "header without aws_region",
			csv:     "\"query_id\",\"account_id\",\"region\"\n\"a\",\"123456789012\",\"us-east-1\"\n",
			wantErr: `no column "aws_region"`,
		},
		{
			name:    "header without account_id",
			csv:     "\"query_id\",\"aws_region\"\n\"a\",\"us-east-1\"\n",
			wantErr: `no column "account_id"`,
		},
		{name: "empty file", csv: "", wantErr: "file is empty"},
		{
			name:    "not sorted",
			csv:     "\"query_id\",\"account_id\",\"aws_region\"\n\"b\",,\"us-east-1\"\n\"a\",,\"us-east-1\"\n",
			wantErr: `read IDs of s3://usage-data/athena-usage/athena_queries/dt=2025-03-04/queries.csv: line 3: query_id "a" comes after "b"`,
		},
		{
			name:    "wrong number of fields",
			csv:     "\"query_id\",\"account_id\",\"aws_region\"\n\"a\",,\"us-east-1\",\"x\"\n",
			wantErr: "line 2",
		},
	} {
		t.Run(tt.name, tt.run)
	}
}

func TestHandleFailures(t *testing.T) {
	for _, tt := range []failureTest{
		{
			name:    "Athena denies access",
			csv:     string(athenaCSV(dayRows(3))),
			athena:  &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "no"},
			wantErr: "part 0: look up 3 IDs of account 123456789012 in us-east-1: batch get query executions: api error AccessDeniedException: no",
		},
		{
			name: "missing object",
			event: func(ev events.Lookup) events.Lookup {
				ev.Key = "missing/athena_queries/dt=" + testDay + "/queries.csv"
				return ev
			},
			wantErr: "get s3://usage-data/missing/athena_queries/dt=" + testDay + "/queries.csv: api error NoSuchKey",
		},
		{
			name:    "invalid event",
			event:   func(ev events.Lookup) events.Lookup { ev.Day = "2025-3-4"; ev.Part = -1; return ev },
			wantErr: "part: -1",
		},
	} {
		t.Run(tt.name, tt.run)
	}
}

func TestHandleSuperseded(t *testing.T) {
	e := newEnv(t, dayRows(12), 5)
	ev := e.event()
	ev.Part, ev.Offset, ev.ETag, ev.FirstID = 1, 1000, `"an-older-version"`, "q-1"
	res, err := e.handler.Handle(context.Background(), ev)
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if !res.Superseded || len(e.parts()) != 0 || len(e.lambda.calls) != 0 {
		t.Errorf("Handle(stale continuation) = %+v with parts %v, want superseded and nothing written", res, e.parts())
	}
}

// TestHandleSupersededWhileWriting replaces the day's object while an invocation is writing
// its parts, as a rerun of the day does: the invocation must stop, without an error, and write
// or delete nothing more.
func TestHandleSupersededWhileWriting(t *testing.T) {
	rows := dayRows(23)
	newer := athenaCSV(dayRows(9, "eu-west-1"))
	tests := []struct {
		name string
		// replace arranges for the object to be replaced at some point of the invocation.
		replace func(e *env)
		// wantParts is how many parts the invocation writes before it notices; wantGets how many
		// GETs of the object it makes.
		wantParts, wantGets int
	}{
		{
			name: "between parts",
			replace: func(e *env) {
				e.s3.onUpload = func(key string) {
					if key == athenasql.PartKey(testPrefix, testDayTime, 0) {
						e.s3.replace(testBucket, e.key, newer)
					}
				}
			},
			wantParts: 1,
			wantGets:  1,
		},
		{
			name: "after the last part, before deleting stale parts",
			replace: func(e *env) {
				e.s3.onUpload = func(key string) {
					if key == athenasql.PartKey(testPrefix, testDayTime, 4) {
						e.s3.replace(testBucket, e.key, newer)
					}
				}
			},
			wantParts: 5,
			wantGets:  1,
		},
		{
			name: "mid-stream",
			replace: func(e *env) {
				// The download breaks inside part 0 and is resumed with If-Match, which fails.
				e.s3.breakAfter = 777
				e.s3.onBreak = func() { e.s3.replace(testBucket, e.key, newer) }
			},
			wantParts: 0,
			wantGets:  2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One part at a time, so that "between parts" is well defined.
			e := newEnv(t, rows, 5, func(o *Options) { o.PartsInFlight = 1 })
			stale := athenasql.PartKey(testPrefix, testDayTime, 9)
			e.s3.put(testBucket, stale, []byte("an earlier run's\n"))
			tt.replace(e)

			res, err := e.handler.Handle(context.Background(), e.event())
			if err != nil {
				t.Fatalf("Handle() error = %v, want none: a superseded run is not a failure", err)
			}
			written := distinctIDs(rows)[:min(5*tt.wantParts, 23)]
			if want := (Result{Day: testDay, Parts: tt.wantParts, IDs: len(written), Superseded: true}); res != want {
				t.Errorf("Handle() = %+v, want %+v", res, want)
			}
			if len(e.queryGets()) != tt.wantGets {
				t.Errorf("GetObject calls = %d, want %d", len(e.queryGets()), tt.wantGets)
			}
			want := wantParts(t, written, 5, usEast1)
			want[stale] = "an earlier run's\n"
			diffParts(t, e.parts(), want)
			if len(e.s3.deletes) != 0 || len(e.lambda.calls) != 0 {
				t.Errorf("after the object changed: %d deletes, %d invocations, want none", len(e.s3.deletes), len(e.lambda.calls))
			}
			for _, in := range e.s3.heads {
				if aws.ToString(in.IfMatch) == "" {
					t.Errorf("HeadObject(%s) without If-Match, want the ETag read", aws.ToString(in.Key))
				}
			}
		})
	}
}

func TestStillCurrent(t *testing.T) {
	tests := []struct {
		name           string
		etag           string
		ignoresIfMatch bool
		key            string
		want           error
		wantErr        string
	}{
		{name: "unchanged", etag: `"v1"`},
		{name: "replaced", etag: `"v0"`, want: errSuperseded},
		{name: "replaced, If-Match ignored", etag: `"v0"`, ignoresIfMatch: true, want: errSuperseded},
		{name: "no ETag to compare", etag: ""},
		{name: "deleted", etag: `"v1"`, key: "gone.csv", wantErr: "NotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeS3()
			f.objects[testBucket+"/k.csv"], f.etags[testBucket+"/k.csv"] = []byte("x"), `"v1"`
			f.headIgnoresIfMatch = tt.ignoresIfMatch
			key := cmp.Or(tt.key, "k.csv")
			err := stillCurrent(context.Background(), f, testBucket, key, tt.etag)
			switch {
			case tt.wantErr != "":
				if err == nil || errors.Is(err, errSuperseded) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("stillCurrent(%s, %s) = %v, want an error containing %q", key, tt.etag, err, tt.wantErr)
				}
			case !errors.Is(err, tt.want) || (tt.want == nil && err != nil):
				t.Errorf("stillCurrent(%s, %s) = %v, want %v", key, tt.etag, err, tt.want)
			}
		})
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
	if len(e.queryGets()) != 2 || aws.ToString(e.queryGets()[1].Range) != "bytes=777-" || e.queryGets()[1].IfMatch == nil {
		t.Errorf("GETs = %d, second range %q, want a resume at bytes=777- with If-Match", len(e.queryGets()), aws.ToString(e.queryGets()[len(e.queryGets())-1].Range))
	}
}

func TestIDReader(t *testing.T) {
	head := `"query_id","account_id","aws_region","user_agent"` + "\n"
	tests := []struct {
		name string
		csv  string
		// want is each ID as "id account region".
		want    []string
		wantErr string
	}{
		{"header only", head, nil, ""},
		{"quoted commas, quotes and newlines", head +
			`"a","111122223333","us-east-1","x, ""y"", z"` + "\n" +
			`"b","444455556666","eu-west-1","multi` + "\n" + `line, ""quoted"""` + "\n", []string{"a 111122223333 us-east-1", "b 444455556666 eu-west-1"}, ""},
		{"duplicates and refused submissions", head +
			`"a","111122223333","us-east-1",` + "\n" + `"a","111122223333","us-east-1",` + "\n" + `"b","111122223333","us-east-1",` + "\n" +
			`,"111122223333","us-east-1","refused"` + "\n" + `,,"eu-west-1",` + "\n", []string{"a 111122223333 us-east-1", "b 111122223333 us-east-1"}, ""},
		{"no account (older CSV)", head + `"a",,"us-east-1","x"` + "\n", []string{"a  us-east-1"}, ""},
		{"no final newline", head + `"a","111122223333","us-east-1","x"`, []string{"a 111122223333 us-east-1"}, ""},
		{"CRLF line ends", strings.ReplaceAll(head+`"a","111122223333","us-east-1","x"`+"\n"+`"b","111122223333","us-east-1","y"`+"\n", "\n", "\r\n"), []string{"a 111122223333 us-east-1", "b 111122223333 us-east-1"}, ""},
		{"bad header", `"queryid","account_id","aws_region"` + "\n", nil, `no column "query_id"`},
		{"bare quote", head + `"a","111122223333","us-east-1","x"y"` + "\n", nil, "line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := newIDReader(strings.NewReader(tt.csv), 0, nil)
			var got []string
			for err == nil {
				var rec idRecord
				if rec, err = r.next(); err == nil {
					got = append(got, rec.id+" "+rec.account+" "+rec.region)
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

// TestUploadFailure checks the error of a failed upload, which names the object once, and that
// Handle leaves logging it to its caller.
func TestUploadFailure(t *testing.T) {
	var logs bytes.Buffer
	e := newEnv(t, dayRows(3), 5, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	e.handler.clients.Uploader = failingUploader{err: errors.New("SlowDown")}
	_, err := e.handler.Handle(context.Background(), e.event())
	want := "part 0: upload s3://" + testBucket + "/" + athenasql.PartKey(testPrefix, testDayTime, 0) + ": SlowDown"
	if err == nil || err.Error() != want {
		t.Fatalf("Handle() error = %v, want %s", err, want)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("Handle logged an error, want it left to the caller:\n%s", logs.String())
	}
}

// failingUploader reads a little of the body, then fails with err.
type failingUploader struct{ err error }

func (u failingUploader) UploadObject(ctx context.Context, in *transfermanager.UploadObjectInput, _ ...func(*transfermanager.Options)) (*transfermanager.UploadObjectOutput, error) {
	// The upload fails either way: what the read returns, error included, does not matter.
	_, _ = in.Body.Read(make([]byte, 10))
	return nil, u.err
}

// TestHandleOverlappingInvocations runs two invocations of one Handler at once, for two days
// whose IDs are looked up by one engine: each result counts its own unprocessed IDs only.
func TestHandleOverlappingInvocations(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		days := []struct {
			day             string
			ids             []string
			wantUnprocessed int64
		}{
			{"2025-03-04", []string{"a-1", "busy-1", "z-1"}, 1},
			{"2025-03-05", []string{"a-2", "busy-2", "busy-3", "busy-4"}, 3},
		}
		e := newEnv(t, nil, 10)
		// The first call of each invocation waits for the other's, so that the two overlap.
		var arrived sync.WaitGroup
		arrived.Add(len(days))
		var calls atomic.Int32
		e.onCall = func([]string) {
			if calls.Add(1) <= int32(len(days)) {
				arrived.Done()
				arrived.Wait()
			}
		}
		results := make([]Result, len(days))
		var wg sync.WaitGroup
		for i, d := range days {
			day, _ := config.ParseDay(d.day)
			var rows []queryRow
			for _, id := range d.ids {
				rows = append(rows, queryRow{id: id, account: testAccount, region: "us-east-1"})
			}
			key := athenasql.QueriesKey(testPrefix, day)
			e.s3.replace(testBucket, key, athenaCSV(rows))
			wg.Go(func() {
				var err error
				if results[i], err = e.handler.Handle(context.Background(), events.Lookup{Day: d.day, Bucket: testBucket, Key: key}); err != nil {
					t.Errorf("Handle(%s): %v", d.day, err)
				}
			})
		}
		wg.Wait()
		for i, d := range days {
			want := Result{Day: d.day, Parts: 1, IDs: len(d.ids), Unprocessed: d.wantUnprocessed}
			if results[i] != want {
				t.Errorf("Handle(%s) = %+v, want %+v", d.day, results[i], want)
			}
		}
	})
}

func TestHandleOtherAccountRefused(t *testing.T) {
	rows := accountRows(40)
	denied := &smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized to perform: sts:AssumeRole"}
	t.Run("another account", func(t *testing.T) {
		e := newEnvConfig(t, rows, 7, func(c *config.Lookup) { c.RoleName = "athena-usage-lookup" })
		e.errs["444455556666"] = denied
		res, err := e.handler.Handle(context.Background(), e.event())
		if err != nil {
			t.Fatalf("Handle: %v, want the day written with the refused account's IDs marked", err)
		}
		parts := e.parts()
		refused := 0
		for _, body := range parts {
			r := apioutput.NewReader(strings.NewReader(body))
			for {
				row, err := r.Read()
				if err != nil {
					break
				}
				if row.LookupError == "AccessDenied" {
					refused++
				}
			}
		}
		want := 0
		for _, r := range distinctIDs(rows) {
			for _, q := range rows {
				if q.id == r && q.account == "444455556666" {
					want++
					break
				}
			}
		}
		if want == 0 || refused != want || res.IDs != 40 {
			t.Errorf("Handle() = %+v with %d rows marked AccessDenied, want all 40 IDs and %d marked", res, refused, want)
		}
	})
	t.Run("own account", func(t *testing.T) {
		e := newEnvConfig(t, rows, 7, func(c *config.Lookup) { c.RoleName = "athena-usage-lookup" })
		e.errs[testAccount] = denied
		if _, err := e.handler.Handle(context.Background(), e.event()); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
			t.Errorf("Handle() error = %v, want the own account's AccessDenied", err)
		}
	})
}

// TestHandleInvokesAlert checks that a completed day, and only a completed one, invokes the
// alert function with the day, after its manifest says complete.
func TestHandleInvokesAlert(t *testing.T) {
	const alertFn = "athena-usage-alert"
	withAlert := func(c *config.Lookup) { c.AlertFunction = alertFn }
	e := newEnvConfig(t, dayRows(12), 5, withAlert)
	res, err := e.handler.Handle(context.Background(), e.event())
	if err != nil || !res.Alerted {
		t.Fatalf("Handle = %+v, %v, want the day done and the alert function invoked", res, err)
	}
	if len(e.lambda.calls) != 1 {
		t.Fatalf("Invoke calls = %d, want 1", len(e.lambda.calls))
	}
	in := e.lambda.calls[0]
	if aws.ToString(in.FunctionName) != alertFn || in.InvocationType != "Event" || string(in.Payload) != `{"day":"`+testDay+`"}` {
		t.Errorf("Invoke(%s, %s, %s), want %s asynchronously with the day", aws.ToString(in.FunctionName), in.InvocationType, in.Payload, alertFn)
	}
	m, err := readManifest(context.Background(), e.s3, testBucket, athenasql.LookupManifestKey(testPrefix, testDayTime))
	if err != nil || m == nil || !m.Complete {
		t.Errorf("manifest = %+v, %v, want it complete before the alert runs", m, err)
	}

	// Without the setting, nothing is invoked (TestHandleWritesParts); when the invoke fails,
	// the invocation fails, so that Lambda's retry invokes again.
	e = newEnvConfig(t, dayRows(12), 5, withAlert)
	e.lambda.err = errors.New("throttled")
	if _, err := e.handler.Handle(context.Background(), e.event()); err == nil || !strings.Contains(err.Error(), alertFn) {
		t.Errorf("Handle with Invoke failing = %v, want an error naming %s", err, alertFn)
	}
}
