package athenaserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/athenausage/athena-usage/local/sqlengine"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// fakeEngine runs queries through a function and records the calls.
type fakeEngine struct {
	execute func(ctx context.Context, database, sql string) (*sqlengine.Result, error)

	mu    sync.Mutex
	calls []string // database + "|" + sql
}

func (f *fakeEngine) Execute(ctx context.Context, database, sql string) (*sqlengine.Result, error) {
	f.mu.Lock()
	f.calls = append(f.calls, database+"|"+sql)
	f.mu.Unlock()
	return f.execute(ctx, database, sql)
}

// ExecuteTo hands the result of execute to w, as the engine streams its rows.
func (f *fakeEngine) ExecuteTo(ctx context.Context, database, sql string, w sqlengine.RowWriter) (*sqlengine.Result, error) {
	res, err := f.Execute(ctx, database, sql)
	if err != nil {
		return nil, err
	}
	out := *res
	out.Rows = nil
	return &out, res.Send(w)
}

func (f *fakeEngine) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// fakeS3 keeps objects in a map.
type fakeS3 struct {
	mu          sync.Mutex
	objects     map[string][]byte // "bucket/key"
	puts        []string
	ranges      []string // the Range of each GetObject, "" for none
	ignoreRange bool     // answer a ranged GetObject with the whole object, as some stores do
}

func newFakeS3() *fakeS3 { return &fakeS3{objects: map[string][]byte{}} }

func (f *fakeS3) PutObject(ctx context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	b, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k := aws.ToString(in.Bucket) + "/" + aws.ToString(in.Key)
	f.objects[k] = b
	f.puts = append(f.puts, k)
	return &s3.PutObjectOutput{}, nil
}

func (f *fakeS3) GetObject(ctx context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.objects[aws.ToString(in.Bucket)+"/"+aws.ToString(in.Key)]
	if !ok {
		return nil, &s3types.NoSuchKey{Message: aws.String("no such key")}
	}
	f.ranges = append(f.ranges, aws.ToString(in.Range))
	out := &s3.GetObjectOutput{}
	if from, ok := strings.CutPrefix(aws.ToString(in.Range), "bytes="); ok && !f.ignoreRange {
		n, err := strconv.Atoi(strings.TrimSuffix(from, "-"))
		if err != nil || n >= len(b) {
			return nil, fmt.Errorf("fake S3: range %q of %d bytes", aws.ToString(in.Range), len(b))
		}
		out.ContentRange = aws.String(fmt.Sprintf("bytes %d-%d/%d", n, len(b)-1, len(b)))
		b = b[n:]
	}
	out.Body = io.NopCloser(bytes.NewReader(b))
	return out, nil
}

func (f *fakeS3) object(bucket, key string) ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.objects[bucket+"/"+key]
	return b, ok
}

const testOutput = "s3://results-bucket/athena/"

// selectResult returns a SELECT result of n rows: a string that needs quoting, a number, and
// a NULL every tenth row.
func selectResult(n int) *sqlengine.Result {
	res := &sqlengine.Result{
		StatementType:    "DML",
		SubstatementType: "SELECT",
		Columns:          []sqlengine.Column{{Name: "name", Type: "varchar"}, {Name: "n", Type: "bigint"}},
		DataScannedBytes: 12345,
	}
	for i := range n {
		var v *string
		if i%10 != 0 {
			v = aws.String(fmt.Sprintf(`row "%d", ok`, i))
		}
		res.Rows = append(res.Rows, []*string{v, aws.String(strconv.Itoa(i))})
	}
	return res
}

// start serves a Server on loopback and returns an SDK client for it.
func start(t *testing.T, o Options, clientOpts ...func(*athena.Options)) (*Server, *athena.Client) {
	t.Helper()
	if o.S3 == nil {
		o.S3 = newFakeS3()
	}
	if o.Engine == nil {
		o.Engine = &fakeEngine{execute: func(context.Context, string, string) (*sqlengine.Result, error) { return selectResult(3), nil }}
	}
	if len(o.Workgroups) == 0 {
		o.Workgroups = []Workgroup{{Name: DefaultWorkgroup, OutputLocation: testOutput}}
	}
	s, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	url, shutdown, err := s.Listen("")
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() {
		if err := shutdown(context.Background()); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s, newClient(url, clientOpts...)
}

func newClient(url string, optFns ...func(*athena.Options)) *athena.Client {
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDLOCAL", "secret", ""),
		HTTPClient:  &http.Client{Transport: ownBody{http.DefaultTransport}},
	}
	return athena.NewFromConfig(cfg, append([]func(*athena.Options){func(o *athena.Options) {
		o.BaseEndpoint = aws.String(url)
	}}, optFns...)...)
}

// ownBody hands the transport a copy of each request's body. The SDK closes its body once the
// response is back, and a transport still checking that body for bytes past its length then
// closes the connection under the response: a call the stand-in answered fails with "use of
// closed network connection" and the SDK makes it again (aws-sdk-go-v2 #2737; against a local
// endpoint about one call in 900), which a test that counts the stand-in's calls would see.
type ownBody struct{ rt http.RoundTripper }

func (o ownBody) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return o.rt.RoundTrip(r)
	}
	b, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(b))
	return o.rt.RoundTrip(r)
}

func noRetries(o *athena.Options) { o.RetryMaxAttempts = 1 }

// fastRetries is the SDK's standard retryer with a 1ms backoff and no retry quota, so that
// tests of retried faults are quick.
func fastRetries(attempts int) func(*athena.Options) {
	return func(o *athena.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = attempts
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
			so.RateLimiter = ratelimit.None
		})
	}
}

// wait polls GetQueryExecution until the query leaves QUEUED and RUNNING.
func wait(t *testing.T, c *athena.Client, id string) types.QueryExecution {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		out, err := c.GetQueryExecution(context.Background(), &athena.GetQueryExecutionInput{QueryExecutionId: aws.String(id)})
		if err != nil {
			t.Fatalf("GetQueryExecution(%s): %v", id, err)
		}
		switch out.QueryExecution.Status.State {
		case types.QueryExecutionStateQueued, types.QueryExecutionStateRunning:
			time.Sleep(5 * time.Millisecond)
			continue
		}
		return *out.QueryExecution
	}
	t.Fatalf("query %s did not finish", id)
	return types.QueryExecution{}
}

func startQuery(t *testing.T, c *athena.Client, sql string) string {
	t.Helper()
	out, err := c.StartQueryExecution(context.Background(), &athena.StartQueryExecutionInput{
		QueryString:           aws.String(sql),
		QueryExecutionContext: &types.QueryExecutionContext{Database: aws.String("usage")},
	})
	if err != nil {
		t.Fatalf("StartQueryExecution(%q): %v", sql, err)
	}
	return aws.ToString(out.QueryExecutionId)
}

func TestStartPollAndPageResults(t *testing.T) {
	engine := &fakeEngine{execute: func(context.Context, string, string) (*sqlengine.Result, error) { return selectResult(2500), nil }}
	fs3 := newFakeS3()
	_, c := start(t, Options{Engine: engine, S3: fs3, DisableQuotas: true})
	ctx := context.Background()

	id := startQuery(t, c, "SELECT name, n FROM t")
	q := wait(t, c, id)

	if q.Status.State != types.QueryExecutionStateSucceeded {
		t.Fatalf("state = %s (%s), want SUCCEEDED", q.Status.State, aws.ToString(q.Status.StateChangeReason))
	}
	if got, want := engine.calls[0], "usage|SELECT name, n FROM t"; got != want {
		t.Errorf("engine call = %q, want %q", got, want)
	}
	if got, want := aws.ToString(q.ResultConfiguration.OutputLocation), testOutput+id+".csv"; got != want {
		t.Errorf("OutputLocation = %s, want %s", got, want)
	}
	if got := aws.ToInt64(q.Statistics.DataScannedInBytes); got != 12345 {
		t.Errorf("DataScannedInBytes = %d, want 12345", got)
	}
	for name, v := range map[string]*int64{
		"EngineExecutionTimeInMillis":   q.Statistics.EngineExecutionTimeInMillis,
		"TotalExecutionTimeInMillis":    q.Statistics.TotalExecutionTimeInMillis,
		"QueryQueueTimeInMillis":        q.Statistics.QueryQueueTimeInMillis,
		"QueryPlanningTimeInMillis":     q.Statistics.QueryPlanningTimeInMillis,
		"ServiceProcessingTimeInMillis": q.Statistics.ServiceProcessingTimeInMillis,
	} {
		if v == nil || *v < 0 {
			t.Errorf("Statistics.%s = %v, want a duration", name, v)
		}
	}
	sub, done := q.Status.SubmissionDateTime, q.Status.CompletionDateTime
	if sub == nil || done == nil || done.Before(*sub) || time.Since(*sub) > time.Minute {
		t.Errorf("Submission, Completion = %v, %v; want recent times in order", sub, done)
	}
	if q.StatementType != types.StatementTypeDml || aws.ToString(q.SubstatementType) != "SELECT" {
		t.Errorf("statement type = %s/%s, want DML/SELECT", q.StatementType, aws.ToString(q.SubstatementType))
	}
	if got := aws.ToString(q.EngineVersion.EffectiveEngineVersion); got != EngineVersion {
		t.Errorf("EffectiveEngineVersion = %q, want %q", got, EngineVersion)
	}
	if got := aws.ToString(q.WorkGroup); got != DefaultWorkgroup {
		t.Errorf("WorkGroup = %q, want %q", got, DefaultWorkgroup)
	}

	p := athena.NewGetQueryResultsPaginator(c, &athena.GetQueryResultsInput{QueryExecutionId: aws.String(id)})
	var sizes []int
	var rows []types.Row
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("GetQueryResults page %d: %v", len(sizes)+1, err)
		}
		if len(sizes) == 0 {
			cols := page.ResultSet.ResultSetMetadata.ColumnInfo
			if len(cols) != 2 || aws.ToString(cols[0].Name) != "name" || aws.ToString(cols[1].Type) != "bigint" || aws.ToString(cols[0].Label) != "name" {
				t.Errorf("ColumnInfo = %+v, want name varchar, n bigint", cols)
			}
		}
		sizes = append(sizes, len(page.ResultSet.Rows))
		rows = append(rows, page.ResultSet.Rows...)
	}
	if got, want := fmt.Sprint(sizes), "[1000 1000 501]"; got != want {
		t.Errorf("page sizes = %s, want %s", got, want)
	}
	if got := aws.ToString(rows[0].Data[0].VarCharValue) + "," + aws.ToString(rows[0].Data[1].VarCharValue); got != "name,n" {
		t.Errorf("first row = %s, want the header name,n", got)
	}
	if rows[1].Data[0].VarCharValue != nil {
		t.Errorf("row 0 name = %q, want NULL", *rows[1].Data[0].VarCharValue)
	}
	if got, want := aws.ToString(rows[2500].Data[0].VarCharValue), `row "2499", ok`; got != want {
		t.Errorf("last row name = %q, want %q", got, want)
	}

	csv, ok := fs3.object("results-bucket", "athena/"+id+".csv")
	if !ok {
		t.Fatalf("no result file athena/%s.csv in %v", id, fs3.puts)
	}
	lines := strings.SplitAfter(string(csv), "\n")
	if got, want := strings.Join(lines[:3], ""), "\"name\",\"n\"\n,\"0\"\n\"row \"\"1\"\", ok\",\"1\"\n"; got != want {
		t.Errorf("result CSV starts %q, want %q", got, want)
	}
	if got, want := len(lines), 2502; got != want { // header, 2500 rows, "" after the last \n
		t.Errorf("result CSV has %d lines, want %d", got, want)
	}
}

// TestResultPagesFromObject checks that GetQueryResults reads each page from the result object,
// from the byte where the page before ended, whether the store honours Range or not.
func TestResultPagesFromObject(t *testing.T) {
	for _, ignoreRange := range []bool{false, true} {
		t.Run(fmt.Sprintf("ignoreRange=%v", ignoreRange), func(t *testing.T) {
			want := selectResult(2500)
			engine := &fakeEngine{execute: func(context.Context, string, string) (*sqlengine.Result, error) { return selectResult(2500), nil }}
			fs3 := newFakeS3()
			fs3.ignoreRange = ignoreRange
			_, c := start(t, Options{Engine: engine, S3: fs3, DisableQuotas: true})
			id := startQuery(t, c, "SELECT name, n FROM t")
			if q := wait(t, c, id); q.Status.State != types.QueryExecutionStateSucceeded {
				t.Fatalf("state = %s, want SUCCEEDED", q.Status.State)
			}
			p := athena.NewGetQueryResultsPaginator(c, &athena.GetQueryResultsInput{QueryExecutionId: aws.String(id)})
			var got [][]*string
			for p.HasMorePages() {
				page, err := p.NextPage(t.Context())
				if err != nil {
					t.Fatalf("GetQueryResults page: %v", err)
				}
				for _, r := range page.ResultSet.Rows {
					row := make([]*string, len(r.Data))
					for i, d := range r.Data {
						row[i] = d.VarCharValue
					}
					got = append(got, row)
				}
			}
			if g, w := render(got[1:]), render(want.Rows); g != w {
				t.Errorf("rows after the header differ from the engine's:\n%.300s\nwant\n%.300s", g, w)
			}
			csv, _ := fs3.object("results-bucket", "athena/"+id+".csv")
			lines := strings.SplitAfter(string(csv), "\n")
			second := len(strings.Join(lines[:1000], "")) // header and 999 rows on page 1
			third := second + len(strings.Join(lines[1000:2000], ""))
			if g, w := fmt.Sprint(fs3.ranges), fmt.Sprintf("[ bytes=%d- bytes=%d-]", second, third); g != w {
				t.Errorf("GetObject ranges = %s, want %s", g, w)
			}
		})
	}
}

func TestResultCSV(t *testing.T) {
	tests := []struct {
		name string
		rows [][]*string
		want string
	}{
		{"plain", [][]*string{{aws.String("a"), aws.String("1")}}, "\"c1\",\"c2\"\n\"a\",\"1\"\n"},
		{"quote", [][]*string{{aws.String(`say "hi"`), aws.String("")}}, "\"c1\",\"c2\"\n\"say \"\"hi\"\"\",\"\"\n"},
		{"null", [][]*string{{nil, nil}}, "\"c1\",\"c2\"\n,\n"},
		{"comma and newline", [][]*string{{aws.String("a,b"), aws.String("x\ny")}}, "\"c1\",\"c2\"\n\"a,b\",\"x\ny\"\n"},
	}
	cols := []sqlengine.Column{{Name: "c1", Type: "varchar"}, {Name: "c2", Type: "varchar"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(appendCSV(nil, cols, tt.rows))
			if got != tt.want {
				t.Errorf("appendCSV(%s) = %q, want %q", tt.name, got, tt.want)
			}
			back, err := parseCSV([]byte(got))
			if err != nil {
				t.Fatalf("parseCSV(%q): %v", got, err)
			}
			if g, w := render(back[1:]), render(tt.rows); g != w {
				t.Errorf("parseCSV(appendCSV(%s)) = %s, want %s", tt.name, g, w)
			}
		})
	}
}

func render(rows [][]*string) string {
	var b strings.Builder
	for _, r := range rows {
		for _, v := range r {
			if v == nil {
				b.WriteString("NULL|")
			} else {
				b.WriteString(strconv.Quote(*v) + "|")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func TestClientRequestToken(t *testing.T) {
	engine := &fakeEngine{execute: func(context.Context, string, string) (*sqlengine.Result, error) { return selectResult(1), nil }}
	_, c := start(t, Options{Engine: engine, DisableQuotas: true}, noRetries)
	ctx := context.Background()
	token := "0123456789abcdef0123456789abcdef-token"
	in := func(sql string) *athena.StartQueryExecutionInput {
		return &athena.StartQueryExecutionInput{QueryString: aws.String(sql), ClientRequestToken: aws.String(token)}
	}
	first, err := c.StartQueryExecution(ctx, in("SELECT 1"))
	if err != nil {
		t.Fatalf("StartQueryExecution: %v", err)
	}
	second, err := c.StartQueryExecution(ctx, in("SELECT 1"))
	if err != nil {
		t.Fatalf("StartQueryExecution again: %v", err)
	}
	if a, b := aws.ToString(first.QueryExecutionId), aws.ToString(second.QueryExecutionId); a != b {
		t.Errorf("same token gave IDs %s and %s, want the same", a, b)
	}
	wait(t, c, aws.ToString(first.QueryExecutionId))
	if n := engine.callCount(); n != 1 {
		t.Errorf("engine ran %d times, want 1", n)
	}
	_, err = c.StartQueryExecution(ctx, in("SELECT 2"))
	var ire *types.InvalidRequestException
	if !errors.As(err, &ire) {
		t.Errorf("same token, other query: err = %v, want InvalidRequestException", err)
	}
}

func TestBatchGetQueryExecution(t *testing.T) {
	_, c := start(t, Options{DisableQuotas: true}, noRetries)
	ctx := context.Background()
	known := startQuery(t, c, "SELECT 1")
	wait(t, c, known)

	ids := make([]string, 51)
	for i := range ids {
		ids[i] = newID()
	}
	for _, n := range []int{0, 51} {
		_, err := c.BatchGetQueryExecution(ctx, &athena.BatchGetQueryExecutionInput{QueryExecutionIds: ids[:n]})
		var ire *types.InvalidRequestException
		if !errors.As(err, &ire) {
			t.Errorf("BatchGetQueryExecution(%d IDs) err = %v, want *types.InvalidRequestException", n, err)
		}
	}

	unknown := ids[0]
	out, err := c.BatchGetQueryExecution(ctx, &athena.BatchGetQueryExecutionInput{QueryExecutionIds: []string{known, unknown}})
	if err != nil {
		t.Fatalf("BatchGetQueryExecution: %v", err)
	}
	if len(out.QueryExecutions) != 1 || aws.ToString(out.QueryExecutions[0].QueryExecutionId) != known {
		t.Errorf("QueryExecutions = %d, want just %s", len(out.QueryExecutions), known)
	}
	if len(out.UnprocessedQueryExecutionIds) != 1 {
		t.Fatalf("Unprocessed = %+v, want %s", out.UnprocessedQueryExecutionIds, unknown)
	}
	u := out.UnprocessedQueryExecutionIds[0]
	if aws.ToString(u.QueryExecutionId) != unknown || aws.ToString(u.ErrorCode) != CodeInvalidRequest || !strings.Contains(aws.ToString(u.ErrorMessage), "not found") {
		t.Errorf("Unprocessed = %s %s %q, want %s %s \"... not found\"", aws.ToString(u.QueryExecutionId), aws.ToString(u.ErrorCode), aws.ToString(u.ErrorMessage), unknown, CodeInvalidRequest)
	}

	// A repeated ID is answered once per occurrence, in the order given.
	out, err = c.BatchGetQueryExecution(ctx, &athena.BatchGetQueryExecutionInput{QueryExecutionIds: []string{known, unknown, known, unknown}})
	if err != nil {
		t.Fatalf("BatchGetQueryExecution with repeats: %v", err)
	}
	if n, m := len(out.QueryExecutions), len(out.UnprocessedQueryExecutionIds); n != 2 || m != 2 {
		t.Errorf("BatchGetQueryExecution([known unknown known unknown]) = %d executions, %d unprocessed, want 2, 2", n, m)
	}
	for _, q := range out.QueryExecutions {
		if got := aws.ToString(q.QueryExecutionId); got != known {
			t.Errorf("QueryExecutionId = %s, want %s", got, known)
		}
	}
}

func TestInjectedFaults(t *testing.T) {
	ctx := context.Background()
	t.Run("throttling", func(t *testing.T) {
		_, c := start(t, Options{DisableQuotas: true, Faults: Faults{Throttle: 1}}, noRetries)
		_, err := c.GetQueryExecution(ctx, &athena.GetQueryExecutionInput{QueryExecutionId: aws.String(newID())})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != CodeThrottling {
			t.Errorf("GetQueryExecution err = %v, want %s", err, CodeThrottling)
		}
	})
	t.Run("throttling retried by the SDK", func(t *testing.T) {
		// Half the calls are throttled; the SDK's retries get them through.
		s, c := start(t, Options{DisableQuotas: true, Seed: 7, Faults: Faults{Throttle: 0.5, Operations: []string{OpListQueryExecutions}}},
			fastRetries(10))
		for i := range 10 {
			if _, err := c.ListQueryExecutions(ctx, &athena.ListQueryExecutionsInput{}); err != nil {
				t.Fatalf("ListQueryExecutions call %d: %v", i, err)
			}
			if _, err := c.GetQueryExecution(ctx, &athena.GetQueryExecutionInput{QueryExecutionId: aws.String("x")}); !errors.As(err, new(*types.InvalidRequestException)) {
				t.Fatalf("GetQueryExecution call %d: %v, want InvalidRequestException (no faults on this operation)", i, err)
			}
		}
		list := s.Counts()[OpListQueryExecutions]
		if list.Throttled == 0 || list.Calls != 10+list.Throttled {
			t.Errorf("Counts()[%s] = %+v, want some throttled and 10 more calls than throttled", OpListQueryExecutions, list)
		}
		if get := s.Counts()[OpGetQueryExecution]; get.Throttled != 0 || get.Invalid != 10 {
			t.Errorf("Counts()[%s] = %+v, want 10 invalid, none throttled", OpGetQueryExecution, get)
		}
	})
	t.Run("server error", func(t *testing.T) {
		_, c := start(t, Options{DisableQuotas: true, Faults: Faults{ServerError: 1}}, noRetries)
		_, err := c.ListQueryExecutions(ctx, &athena.ListQueryExecutionsInput{})
		var ise *types.InternalServerException
		if !errors.As(err, &ise) {
			t.Errorf("ListQueryExecutions err = %v, want *types.InternalServerException", err)
		}
	})
	t.Run("transient unprocessed", func(t *testing.T) {
		_, c := start(t, Options{DisableQuotas: true, Faults: Faults{Unprocessed: 1}})
		id := startQuery(t, c, "SELECT 1")
		out, err := c.BatchGetQueryExecution(ctx, &athena.BatchGetQueryExecutionInput{QueryExecutionIds: []string{id}})
		if err != nil {
			t.Fatalf("BatchGetQueryExecution: %v", err)
		}
		if len(out.UnprocessedQueryExecutionIds) != 1 || aws.ToString(out.UnprocessedQueryExecutionIds[0].ErrorCode) != CodeInternalServer {
			t.Errorf("Unprocessed = %+v, want %s with %s", out.UnprocessedQueryExecutionIds, id, CodeInternalServer)
		}
	})
}

func TestQuota(t *testing.T) {
	// A bucket of 3 that refills once an hour: three calls pass, the fourth is throttled.
	_, c := start(t, Options{Quotas: map[string]Quota{OpListQueryExecutions: {Rate: 1.0 / 3600, Burst: 3}}}, noRetries)
	ctx := context.Background()
	for i := range 3 {
		if _, err := c.ListQueryExecutions(ctx, &athena.ListQueryExecutionsInput{}); err != nil {
			t.Fatalf("ListQueryExecutions call %d: %v", i+1, err)
		}
	}
	_, err := c.ListQueryExecutions(ctx, &athena.ListQueryExecutionsInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != CodeThrottling {
		t.Errorf("fourth ListQueryExecutions err = %v, want %s", err, CodeThrottling)
	}
	// Other operations have their own buckets.
	if _, err := c.GetQueryExecution(ctx, &athena.GetQueryExecutionInput{QueryExecutionId: aws.String("x")}); errors.As(err, &ae) && ae.ErrorCode() == CodeThrottling {
		t.Errorf("GetQueryExecution throttled by ListQueryExecutions' quota")
	}
}

func TestFailedQuery(t *testing.T) {
	tests := []struct {
		name         string
		err          error
		wantCategory int32
		wantType     int32
		wantMessage  string
	}{
		{"engine error", &sqlengine.Error{Category: 2, Type: 1301, Msg: "TABLE_NOT_FOUND: line 1:15: Table 'usage.nope' does not exist"}, 2, 1301, "TABLE_NOT_FOUND: line 1:15: Table 'usage.nope' does not exist"},
		{"wrapped engine error", fmt.Errorf("execute: %w", &sqlengine.Error{Category: 2, Type: 1000, Msg: "SYNTAX_ERROR: bad"}), 2, 1000, "SYNTAX_ERROR: bad"},
		{"other error", errors.New("disk on fire"), 1, errTypeEngine, "disk on fire"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			engine := &fakeEngine{execute: func(context.Context, string, string) (*sqlengine.Result, error) { return nil, tt.err }}
			_, c := start(t, Options{Engine: engine, DisableQuotas: true}, noRetries)
			id := startQuery(t, c, "SELECT * FROM nope")
			q := wait(t, c, id)
			st := q.Status
			if st.State != types.QueryExecutionStateFailed {
				t.Fatalf("state = %s, want FAILED", st.State)
			}
			if got := aws.ToString(st.StateChangeReason); got != tt.wantMessage {
				t.Errorf("StateChangeReason = %q, want %q", got, tt.wantMessage)
			}
			ae := st.AthenaError
			if ae == nil || aws.ToInt32(ae.ErrorCategory) != tt.wantCategory || aws.ToInt32(ae.ErrorType) != tt.wantType || aws.ToString(ae.ErrorMessage) != tt.wantMessage {
				t.Errorf("AthenaError = %+v, want category %d type %d %q", ae, tt.wantCategory, tt.wantType, tt.wantMessage)
			}
			_, err := c.GetQueryResults(context.Background(), &athena.GetQueryResultsInput{QueryExecutionId: aws.String(id)})
			var ire *types.InvalidRequestException
			if !errors.As(err, &ire) || !strings.Contains(ire.ErrorMessage(), "FAILED") {
				t.Errorf("GetQueryResults of a failed query: err = %v, want InvalidRequestException naming FAILED", err)
			}
		})
	}
}

func TestStopAndResultsOfRunningQuery(t *testing.T) {
	release := make(chan struct{})
	engine := &fakeEngine{execute: func(ctx context.Context, _, _ string) (*sqlengine.Result, error) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-release:
			return selectResult(1), nil
		}
	}}
	_, c := start(t, Options{Engine: engine, DisableQuotas: true}, noRetries)
	defer close(release)
	ctx := context.Background()
	id := startQuery(t, c, "SELECT slow()")

	_, err := c.GetQueryResults(ctx, &athena.GetQueryResultsInput{QueryExecutionId: aws.String(id)})
	var ire *types.InvalidRequestException
	if !errors.As(err, &ire) || !strings.Contains(ire.ErrorMessage(), "not yet finished") {
		t.Errorf("GetQueryResults of a running query: err = %v, want InvalidRequestException", err)
	}
	if _, err := c.StopQueryExecution(ctx, &athena.StopQueryExecutionInput{QueryExecutionId: aws.String(id)}); err != nil {
		t.Fatalf("StopQueryExecution: %v", err)
	}
	if q := wait(t, c, id); q.Status.State != types.QueryExecutionStateCancelled {
		t.Errorf("state after stop = %s, want CANCELLED", q.Status.State)
	}
}

func TestListQueryExecutions(t *testing.T) {
	var mu sync.Mutex
	clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Second)
		return clock
	}
	_, c := start(t, Options{DisableQuotas: true, Now: now})
	var want []string
	for i := range 5 {
		want = append([]string{startQuery(t, c, fmt.Sprintf("SELECT %d", i))}, want...) // newest first
	}
	p := athena.NewListQueryExecutionsPaginator(c, &athena.ListQueryExecutionsInput{MaxResults: aws.Int32(2)})
	var got []string
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("ListQueryExecutions: %v", err)
		}
		pages++
		got = append(got, page.QueryExecutionIds...)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || pages != 3 {
		t.Errorf("ListQueryExecutions = %v in %d pages, want %v in 3", got, pages, want)
	}
}

func TestProtocolErrors(t *testing.T) {
	s, _ := start(t, Options{DisableQuotas: true})
	tests := []struct {
		name, target, body string
		wantStatus         int
		wantType           string
		wantMessage        string
	}{
		{"unknown operation", "AmazonAthena.ListDataCatalogs", "{}", 400, CodeUnknownOperation, "ListDataCatalogs"},
		{"other service", "DynamoDB_20120810.GetItem", "{}", 400, CodeUnknownOperation, "DynamoDB"},
		{"malformed JSON", "AmazonAthena.GetQueryExecution", `{"QueryExecutionId":`, 400, CodeInvalidRequest, "malformed request body"},
		{"wrong member type", "AmazonAthena.GetQueryExecution", `{"QueryExecutionId":5}`, 400, CodeInvalidRequest, "malformed request body"},
		{"missing member", "AmazonAthena.GetQueryExecution", `{}`, 400, CodeInvalidRequest, "QueryExecutionId is required"},
		{"missing query", "AmazonAthena.StartQueryExecution", `{}`, 400, CodeInvalidRequest, "QueryString is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			r.Header.Set("Content-Type", "application/x-amz-json-1.1")
			r.Header.Set("X-Amz-Target", tt.target)
			rec := &recorder{header: http.Header{}}
			s.ServeHTTP(rec, r)
			body := rec.body.String()
			if rec.status != tt.wantStatus || !strings.Contains(body, `"__type":"`+tt.wantType+`"`) || !strings.Contains(body, tt.wantMessage) {
				t.Errorf("%s %s = %d %s, want %d %s mentioning %q", tt.target, tt.body, rec.status, body, tt.wantStatus, tt.wantType, tt.wantMessage)
			}
		})
	}
}

// recorder is a minimal http.ResponseWriter.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(status int)      { r.status = status }

func TestWorkgroups(t *testing.T) {
	fs3 := newFakeS3()
	_, c := start(t, Options{S3: fs3, DisableQuotas: true, Workgroups: []Workgroup{
		{Name: DefaultWorkgroup},
		{Name: "enforced", OutputLocation: "s3://wg-bucket/out", Enforce: true},
	}}, noRetries)
	ctx := context.Background()
	tests := []struct {
		name, workgroup, output string
		wantLocation            string // "" when the call must fail
	}{
		{"client location", "", "s3://mine/x/", "s3://mine/x/"},
		{"no location anywhere", "", "", ""},
		{"enforced overrides", "enforced", "s3://mine/x/", "s3://wg-bucket/out/"},
		{"unknown workgroup", "nope", "s3://mine/x/", ""},
		{"not s3", "", "/tmp/x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &athena.StartQueryExecutionInput{QueryString: aws.String("SELECT 1")}
			if tt.workgroup != "" {
				in.WorkGroup = aws.String(tt.workgroup)
			}
			if tt.output != "" {
				in.ResultConfiguration = &types.ResultConfiguration{OutputLocation: aws.String(tt.output)}
			}
			out, err := c.StartQueryExecution(ctx, in)
			if tt.wantLocation == "" {
				var ire *types.InvalidRequestException
				if !errors.As(err, &ire) {
					t.Errorf("StartQueryExecution(%s) err = %v, want InvalidRequestException", tt.name, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("StartQueryExecution(%s): %v", tt.name, err)
			}
			id := aws.ToString(out.QueryExecutionId)
			q := wait(t, c, id)
			if got, want := aws.ToString(q.ResultConfiguration.OutputLocation), tt.wantLocation+id+".csv"; got != want {
				t.Errorf("OutputLocation = %s, want %s", got, want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct{ sql, stmt, sub string }{
		{"SELECT 1", "DML", "SELECT"},
		{"  with x as (select 1) select * from x", "DML", "SELECT"},
		{"-- note\nINSERT INTO t SELECT 1", "DML", "INSERT"},
		{"CREATE EXTERNAL TABLE IF NOT EXISTS t (a string)", "DDL", "CREATE_TABLE"},
		{"CREATE TABLE t AS SELECT 1", "DDL", "CREATE_TABLE_AS_SELECT"},
		{"CREATE OR REPLACE VIEW v AS SELECT 1", "DDL", "CREATE_VIEW"},
		{"CREATE SCHEMA IF NOT EXISTS usage", "DDL", "CREATE_DATABASE"},
		{"DROP TABLE IF EXISTS t", "DDL", "DROP_TABLE"},
		{"EXPLAIN SELECT 1", "UTILITY", "EXPLAIN"},
	}
	for _, tt := range tests {
		stmt, sub := classify(tt.sql)
		if stmt != tt.stmt || sub != tt.sub {
			t.Errorf("classify(%q) = %s, %s, want %s, %s", tt.sql, stmt, sub, tt.stmt, tt.sub)
		}
	}
}

// TestPromptShutdown checks that shutdown waits neither on an idle keep-alive connection nor on
// a connection that never sent a request, which net/http's Shutdown alone waits 5 s for.
func TestPromptShutdown(t *testing.T) {
	s, err := New(Options{S3: newFakeS3(), DisableQuotas: true,
		Engine:     &fakeEngine{execute: func(context.Context, string, string) (*sqlengine.Result, error) { return selectResult(1), nil }},
		Workgroups: []Workgroup{{Name: DefaultWorkgroup, OutputLocation: testOutput}}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	url, shutdown, err := s.Listen("")
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	// Dialed before the SDK's call, so accepted (and in state new) before it is answered.
	spare, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer spare.Close()
	c := newClient(url, noRetries)
	if _, err := c.ListQueryExecutions(context.Background(), &athena.ListQueryExecutionsInput{}); err != nil {
		t.Fatalf("ListQueryExecutions: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := shutdown(ctx); err != nil {
		t.Errorf("shutdown with a keep-alive and a spare connection open = %v, want nil within 1 s", err)
	}
	if _, err := spare.Read(make([]byte, 1)); err == nil {
		t.Errorf("spare connection still open after shutdown")
	}
}
