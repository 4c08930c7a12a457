package sqlengine

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/athenausage/athena-usage/pkg/apioutput"
	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/config"
)

const (
	account     = "123456789012"
	trailBucket = "trail-bucket"
	dataBucket  = "data-bucket"
	dataPrefix  = "usage/"
	testDB      = "athena_usage_test"
	price       = 5.0
	johndoe     = "arn:aws:iam::123456789012:user/johndoe"
	analystArn  = "arn:aws:sts::123456789012:assumed-role/analyst/session"
)

var (
	testNow = time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC)
	testDay = time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)
)

func testParams() athenasql.Params {
	return athenasql.Params{
		Database:         testDB,
		CloudTrailBucket: trailBucket,
		Accounts:         []string{account},
		Regions:          []string{"us-east-1", "eu-west-1"},
		ProjectionStart:  time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC),
		DataBucket:       dataBucket,
		DataPrefix:       dataPrefix,
		PricePerTB:       price,
	}
}

// newTestEngine opens an engine over f in dir and runs the project's setup statements.
func newTestEngine(t *testing.T, f *fakeS3, dir string) *Engine {
	t.Helper()
	e, err := Open(Options{Dir: dir, S3: f, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	stmts, err := athenasql.Setup(testParams())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stmts {
		if _, err := e.Execute(context.Background(), "", s.SQL); err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
	}
	return e
}

// event loads a real CloudTrail entry from testdata and changes the given fields.
func event(t *testing.T, file string, set map[string]any) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	for k, v := range set {
		ev[k] = v
	}
	return ev
}

func started(t *testing.T, id, eventID, at string) map[string]any {
	return event(t, "start_query_execution_succeeded.json", map[string]any{
		"eventID": eventID, "eventTime": at,
		"responseElements": map[string]any{"queryExecutionId": id},
	})
}

// putTrail writes a gzipped CloudTrail log file in the trail's key layout.
func putTrail(t *testing.T, f *fakeS3, region, day, name string, records ...map[string]any) string {
	t.Helper()
	body, err := json.Marshal(map[string]any{"Records": records})
	if err != nil {
		t.Fatal(err)
	}
	return putTrailFile(t, f, region, day, name, body)
}

// putTrailFile writes body, gzipped, as a CloudTrail log file in the trail's key layout.
func putTrailFile(t *testing.T, f *fakeS3, region, day, name string, body []byte) string {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	key := "AWSLogs/" + account + "/CloudTrail/" + region + "/" + day + "/" + name + ".json.gz"
	f.put(trailBucket, key, b.Bytes())
	return key
}

func exec(t *testing.T, e *Engine, sql string) *Result {
	t.Helper()
	res, err := e.Execute(context.Background(), testDB, sql)
	if err != nil {
		t.Fatalf("Execute(%.60q): %v", sql, err)
	}
	return res
}

// records returns the rows as maps from column name to value ("NULL" for NULL).
func records(res *Result) []map[string]string {
	var out []map[string]string
	for _, row := range res.Rows {
		m := map[string]string{}
		for i, c := range res.Columns {
			m[c.Name] = "NULL"
			if row[i] != nil {
				m[c.Name] = *row[i]
			}
		}
		out = append(out, m)
	}
	return out
}

// athenaCSV writes a result as Athena writes its result CSV.
func athenaCSV(res *Result) []byte {
	var b bytes.Buffer
	quote := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
	for i, c := range res.Columns {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(quote(c.Name))
	}
	b.WriteByte('\n')
	for _, row := range res.Rows {
		for i, v := range row {
			if i > 0 {
				b.WriteByte(',')
			}
			if v != nil {
				b.WriteString(quote(*v))
			}
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func sizeOf(f *fakeS3, bucket string, keys ...string) int64 {
	var n int64
	for _, k := range keys {
		n += int64(len(f.objects[bucket+"/"+k]))
	}
	return n
}

func TestAthenaUsage(t *testing.T) {
	f := newFakeS3()
	e := newTestEngine(t, f, t.TempDir())

	analyst := started(t, "q2", "e2", "2024-03-05T23:59:00Z")
	analyst["userIdentity"] = map[string]any{
		"type": "AssumedRole", "principalId": "AROAEXAMPLE:session", "arn": analystArn, "accountId": account,
		"sessionContext": map[string]any{"sessionIssuer": map[string]any{"type": "Role", "userName": "analyst"}},
	}
	analyst["requestParameters"] = map[string]any{"workGroup": "analytics", "queryString": "SELECT 1",
		"queryExecutionContext": map[string]any{"database": "sales"}}
	failed := func(id, at string) map[string]any {
		return event(t, "start_query_execution_failed.json", map[string]any{"eventID": id, "eventTime": at})
	}
	var read []string
	read = append(read,
		putTrail(t, f, "us-east-1", "2024/03/05", "a",
			started(t, "q1", "e1", "2024-03-05T10:00:00Z"),
			failed("f1", "2024-03-05T10:05:00Z"),
			event(t, "create_named_query.json", map[string]any{"eventTime": "2024-03-05T11:00:00Z"}),
			analyst),
		// A duplicate delivery of q1, and a second refused submission by the same user.
		putTrail(t, f, "us-east-1", "2024/03/05", "b",
			started(t, "q1", "e1", "2024-03-05T10:00:00Z"),
			failed("f2", "2024-03-05T12:00:00Z")),
		// Delivered after midnight: q3 belongs to the day, q4 to the next. q5 was started just
		// before midnight and retried with the same token just after: it is the previous
		// day's. A record with a malformed time is no event of any day.
		putTrail(t, f, "eu-west-1", "2024/03/06", "c",
			started(t, "q3", "e3", "2024-03-05T23:58:00Z"),
			started(t, "q4", "e4", "2024-03-06T00:01:00Z"),
			started(t, "q5", "e5b", "2024-03-05T00:00:01Z"),
			started(t, "q7", "e7", "2024-03-05 10:00:00")),
		// The previous day's folder: q0 is that day's, and so is q5's first event.
		putTrail(t, f, "us-east-1", "2024/03/04", "d",
			started(t, "q0", "e0", "2024-03-04T10:00:00Z"),
			started(t, "q5", "e5a", "2024-03-04T23:59:59Z")),
		// Delivered two days late: still the day's.
		putTrail(t, f, "us-east-1", "2024/03/07", "g",
			started(t, "q6", "e6", "2024-03-05T22:00:00Z")))
	notRead := []string{
		putTrail(t, f, "us-east-1", "2024/03/03", "h", started(t, "q8", "e8", "2024-03-03T10:00:00Z")),
		putTrail(t, f, "us-west-2", "2024/03/05", "e", started(t, "q9", "e9", "2024-03-05T10:00:00Z")),
	}

	query, err := athenasql.Extract(testDB, testDay, config.DefaultLateDays)
	if err != nil {
		t.Fatal(err)
	}
	f.calls()
	res := exec(t, e, query)
	if res.StatementType != "DML" || res.SubstatementType != "SELECT" {
		t.Errorf("Execute(extract) types = %s/%s, want DML/SELECT", res.StatementType, res.SubstatementType)
	}
	gets, _ := f.calls()
	var want []string
	for _, k := range read {
		want = append(want, trailBucket+"/"+k)
	}
	slices.Sort(want)
	if !slices.Equal(gets, want) {
		t.Errorf("extract read %v, want %v (not %v)", gets, want, notRead)
	}
	if got, want := res.DataScannedBytes, sizeOf(f, trailBucket, read...); got != want {
		t.Errorf("extract DataScannedBytes = %d, want %d", got, want)
	}
	again := exec(t, e, query)
	if gets, _ := f.calls(); len(gets) != 0 || again.DataScannedBytes != res.DataScannedBytes || len(again.Rows) != len(res.Rows) {
		t.Errorf("extract again fetched %v and scanned %d bytes, want no fetch (cached) and %d bytes", gets, again.DataScannedBytes, res.DataScannedBytes)
	}
	var ids []string
	rows := records(res)
	for _, r := range rows {
		ids = append(ids, r["query_id"])
	}
	if want := []string{"q1", "q2", "q3", "q6", "NULL"}; !slices.Equal(ids, want) {
		t.Fatalf("extract query IDs = %v, want %v", ids, want)
	}
	for _, c := range []struct {
		row       int
		col, want string
	}{
		{0, "user_arn", johndoe},
		{0, "submissions", "1"},
		{0, "workgroup", "primary"},
		{0, "event_time", "2024-03-05T10:00:00Z"},
		{0, "query_database", "NULL"},
		{0, "account_id", account},
		{1, "session_issuer", "analyst"},
		{1, "user_type", "AssumedRole"},
		{1, "workgroup", "analytics"},
		{1, "query_database", "sales"},
		{2, "aws_region", "us-east-1"},
		{3, "event_time", "2024-03-05T22:00:00Z"},
		{4, "error_code", "InvalidRequestException"},
		{4, "submissions", "2"},
		{4, "user_arn", johndoe},
		{4, "event_time", "2024-03-05T10:05:00Z"},
	} {
		if got := rows[c.row][c.col]; got != c.want {
			t.Errorf("extract row %d %s = %q, want %q", c.row, c.col, got, c.want)
		}
	}
	if got := res.Columns[len(res.Columns)-4]; got != (Column{"submissions", "bigint"}) {
		t.Errorf("extract column %d = %v, want submissions bigint", len(res.Columns)-4, got)
	}
	if got := res.Columns[len(res.Columns)-1]; got != (Column{"source_record", "varchar"}) {
		t.Errorf("extract last column = %v, want source_record varchar", got)
	}

	// The extract function stores the result CSV as the day's athena_queries object, and the
	// lookup function writes athena_api_output parts.
	f.put(dataBucket, athenasql.QueriesKey(dataPrefix, testDay), athenaCSV(res))
	ms := func(n int64) *int64 { return &n }
	at := func(s string) *time.Time { tm, _ := time.Parse(time.RFC3339, s); return &tm }
	msg := "line 1:8: Column 'a, \"b\"' cannot be resolved\nsecond line\\end"
	var part bytes.Buffer
	w := apioutput.NewWriter(&part)
	for _, r := range []apioutput.Row{
		{QueryID: "q1", Database: "sales", DataScannedBytes: ms(5 << 20), EngineExecutionMS: ms(1200), Status: "SUCCEEDED",
			StatementType: "DML", SubstatementType: "SELECT", Workgroup: "primary",
			SubmissionTime: at("2024-03-05T10:00:00Z"), CompletionTime: at("2024-03-05T10:00:01Z")},
		{QueryID: "q2", Database: "sales", DataScannedBytes: ms(123456789), EngineExecutionMS: ms(3000), Status: "CANCELLED",
			StatementType: "DML", SubstatementType: "SELECT", Workgroup: "analytics"},
		{QueryID: "q3", Database: "sales", DataScannedBytes: ms(99 << 20), Status: "FAILED", StatementType: "DML",
			SubstatementType: "SELECT", ErrorMessage: msg},
	} {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.put(dataBucket, athenasql.PartKey(dataPrefix, testDay, 0), part.Bytes())

	usage := records(exec(t, e, `SELECT query_id, cost_usd, billed_bytes, status, error_message, role, database,
		has_stats, submission_time FROM "athena_usage_test"."athena_usage" ORDER BY query_id`))
	cost := func(bytes int64) float64 { return float64(bytes) / (1 << 40) * price }
	for i, want := range []map[string]string{
		{"query_id": "q1", "billed_bytes": "10485760", "cost_usd": javaDouble(cost(10<<20), 64), "role": "johndoe",
			"database": "sales", "has_stats": "true", "submission_time": "2024-03-05 10:00:00.000"},
		{"query_id": "q2", "billed_bytes": strconv.Itoa(118 << 20), "cost_usd": javaDouble(cost(118<<20), 64), "role": "analyst"},
		{"query_id": "q3", "billed_bytes": "0", "cost_usd": "0.0", "status": "FAILED", "error_message": msg},
	} {
		if i >= len(usage) {
			t.Fatalf("athena_usage has %d rows, want 3", len(usage))
		}
		for k, v := range want {
			if got := usage[i][k]; got != v {
				t.Errorf("athena_usage %s %s = %q, want %q", want["query_id"], k, got, v)
			}
		}
	}
	if c, _ := strconv.ParseFloat(usage[0]["cost_usd"], 64); math.Abs(c-10.0/(1<<20)*price) > 1e-15 {
		t.Errorf("q1 cost_usd = %v, want 10 MB at $%v/TB", c, price)
	}

	daily := records(exec(t, e, `SELECT user_arn, database, queries, succeeded, failed, cancelled,
		failed_submissions, billed_bytes, cost_usd FROM athena_usage_daily ORDER BY user_arn, database`))
	wantDaily := []map[string]string{
		// q6, delivered two days late, has no statistics yet.
		{"user_arn": johndoe, "database": "(none)", "queries": "1", "failed_submissions": "2", "cost_usd": "0.0"},
		{"user_arn": johndoe, "database": "sales", "queries": "2", "succeeded": "1", "failed": "1", "failed_submissions": "0",
			"billed_bytes": "10485760", "cost_usd": javaDouble(cost(10<<20), 64)},
		{"user_arn": analystArn, "database": "sales", "queries": "1", "cancelled": "1", "billed_bytes": strconv.Itoa(118 << 20)},
	}
	if len(daily) != len(wantDaily) {
		t.Fatalf("athena_usage_daily = %v, want %d rows", daily, len(wantDaily))
	}
	for i, want := range wantDaily {
		for k, v := range want {
			if got := daily[i][k]; got != v {
				t.Errorf("athena_usage_daily row %d %s = %q, want %q", i, k, got, v)
			}
		}
	}
}

func TestPruning(t *testing.T) {
	f := newFakeS3()
	e := newTestEngine(t, f, t.TempDir())
	days := []time.Time{testDay.AddDate(0, 0, -1), testDay, testDay.AddDate(0, 0, 1)}
	for _, d := range days {
		var b bytes.Buffer
		w := apioutput.NewWriter(&b)
		if err := w.Write(apioutput.Row{QueryID: "q-" + d.Format("0102"), Status: "SUCCEEDED"}); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		f.put(dataBucket, athenasql.PartKey(dataPrefix, d, 0), b.Bytes())
	}
	all := []string{"01", "02", "03", "04", "05", "06", "07", "08", "09", "10"} // the projection's range
	for _, c := range []struct {
		where  string
		listed []string // the days of March whose prefixes are listed
		rows   int
	}{
		{"dt = '2024-03-05'", []string{"05"}, 1},
		{"'2024-03-05' = dt AND status = 'SUCCEEDED'", []string{"05"}, 1},
		{"dt IN ('2024-03-04', '2024-03-06')", []string{"04", "06"}, 2},
		{"dt BETWEEN '2024-03-05' AND '2024-03-08'", []string{"05", "06", "07", "08"}, 2},
		{"dt >= '2024-03-06'", []string{"06", "07", "08", "09", "10"}, 1},
		{"dt = '2024-02-01'", nil, 0}, // before the projection's range
		{"dt = '2024-03-05' OR status = 'x'", all, 1},
		{"status = 'SUCCEEDED'", all, 3},
	} {
		t.Run(c.where, func(t *testing.T) {
			f.calls()
			res := exec(t, e, "SELECT queryid, dt FROM athena_api_output WHERE "+c.where+" ORDER BY dt")
			_, lists := f.calls()
			var want, keys []string
			for _, day := range c.listed {
				d := time.Date(2024, 3, 0, 0, 0, 0, 0, time.UTC)
				n, _ := strconv.Atoi(day)
				d = d.AddDate(0, 0, n)
				want = append(want, dataBucket+"/"+athenasql.APIOutputDayPrefix(dataPrefix, d))
				if slices.Contains(days, d) {
					keys = append(keys, athenasql.PartKey(dataPrefix, d, 0))
				}
			}
			if !slices.Equal(lists, want) {
				t.Errorf("WHERE %s listed %v, want %v", c.where, lists, want)
			}
			if got, want := res.DataScannedBytes, sizeOf(f, dataBucket, keys...); got != want {
				t.Errorf("WHERE %s DataScannedBytes = %d, want %d (%v)", c.where, got, want, keys)
			}
			if len(res.Rows) != c.rows {
				t.Errorf("WHERE %s rows = %v, want %d", c.where, records(res), c.rows)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	f := newFakeS3()
	e := newTestEngine(t, f, t.TempDir())
	bad := "AWSLogs/" + account + "/CloudTrail/us-east-1/2024/03/05/bad.json.gz"
	f.put(trailBucket, bad, []byte("not gzip"))
	for _, c := range []struct{ sql, want string }{
		{"SELECT * FROM athena_usage_test.nosuch", "TABLE_NOT_FOUND: line 1:15: Table 'athena_usage_test.nosuch' does not exist"},
		{`SELECT * FROM "nodb"."t"`, "SCHEMA_NOT_FOUND: line 1:15: Schema 'nodb' does not exist"},
		{"SELECT count(*) FROM cloudtrail_logs WHERE day = '2024/03/05'", "s3://" + trailBucket + "/" + bad},
		{"SELEC 1", "line 1:1: mismatched input 'SELEC'"},
		{"CREATE EXTERNAL TABLE t (a STRING", "line 1:34: mismatched input '<EOF>'"},
		{"CREATE EXTERNAL TABLE t (a NOTATYPE) LOCATION 's3://b/p/'", "Unknown type 'NOTATYPE'"},
		{"SELECT nosuchcolumn FROM athena_queries", "SYNTAX_ERROR"},
	} {
		_, err := e.Execute(context.Background(), testDB, c.sql)
		var qe *Error
		if !errors.As(err, &qe) || !strings.Contains(qe.Msg, c.want) || qe.Category != categoryUser {
			t.Errorf("Execute(%q) = %v, want a user *Error containing %q", c.sql, err, c.want)
		}
	}
}

func TestCatalogPersists(t *testing.T) {
	f := newFakeS3()
	dir := t.TempDir()
	e := newTestEngine(t, f, dir)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	f.put(dataBucket, athenasql.QueriesKey(dataPrefix, testDay), []byte(
		"\"query_id\",\"event_time\",\"account_id\"\n\"q1\",\"2024-03-05T10:00:00Z\",\"123456789012\"\n"))
	e2, err := Open(Options{Dir: dir, S3: f, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	res := exec(t, e2, "SHOW TABLES")
	// The extract function runs the setup statements at every start: they must run again.
	stmts, err := athenasql.Setup(testParams())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stmts {
		exec(t, e2, s.SQL)
	}
	var names []string
	for _, r := range records(res) {
		names = append(names, r["tab_name"])
	}
	want := []string{"athena_api_output", "athena_failed_submissions", "athena_queries", "athena_usage", "athena_usage_daily", "cloudtrail_logs"}
	if !slices.Equal(names, want) {
		t.Errorf("SHOW TABLES after reopening = %v, want %v", names, want)
	}
	got := records(exec(t, e2, "SELECT query_id, day, cost_usd FROM athena_usage"))
	if len(got) != 1 || got[0]["query_id"] != "q1" || got[0]["day"] != "2024-03-05" || got[0]["cost_usd"] != "0.0" {
		t.Errorf("athena_usage after reopening = %v, want q1 on 2024-03-05 costing 0.0", got)
	}
}

// TestBackslashesRoundTrip runs text with backslashes (a user agent ending in one, a quote after
// one) through the extraction, Athena's result CSV and the athena_queries table's OpenCSVSerde.
func TestBackslashesRoundTrip(t *testing.T) {
	f := newFakeS3()
	e := newTestEngine(t, f, t.TempDir())
	agents := []string{`tool\`, `C:\Program Files\"x"\bin`, `plain`}
	var recs []map[string]any
	for i, ua := range agents {
		r := started(t, "q"+strconv.Itoa(i+1), "e"+strconv.Itoa(i+1), "2024-03-05T10:0"+strconv.Itoa(i)+":00Z")
		r["userAgent"] = ua
		recs = append(recs, r)
	}
	putTrail(t, f, "us-east-1", "2024/03/05", "a", recs...)
	query, err := athenasql.Extract(testDB, testDay, config.DefaultLateDays)
	if err != nil {
		t.Fatal(err)
	}
	f.put(dataBucket, athenasql.QueriesKey(dataPrefix, testDay), athenaCSV(exec(t, e, query)))
	rows := records(exec(t, e, `SELECT query_id, user_agent, user_arn FROM "`+testDB+`"."athena_usage" ORDER BY query_id`))
	if len(rows) != len(agents) {
		t.Fatalf("athena_usage has %d rows, want %d", len(rows), len(agents))
	}
	for i, r := range rows {
		if r["user_agent"] != agents[i] || r["user_arn"] != johndoe {
			t.Errorf("row %s: user_agent %q, user_arn %q, want %q and %q", r["query_id"], r["user_agent"], r["user_arn"], agents[i], johndoe)
		}
	}
}

// TestPruningThroughViews queries the views over five days of data: a literal predicate on a
// view's day must reach the tables' dt, through athena_usage_daily, athena_usage, its join
// and athena_failed_submissions, and change nothing but what is read.
func TestPruningThroughViews(t *testing.T) {
	var days []time.Time
	for d := 3; d <= 7; d++ {
		days = append(days, time.Date(2024, 3, d, 0, 0, 0, 0, time.UTC))
	}
	put := func(f *fakeS3) {
		for _, d := range days {
			day := d.Format("2006-01-02")
			id := "q-" + d.Format("0102")
			// The columns of athena_queries, by position: query_id, event_time, account_id,
			// aws_region, user_arn, user_type, principal_id, user_name, session_issuer, source_ip,
			// user_agent, workgroup, query_database, error_code, submissions.
			f.put(dataBucket, athenasql.QueriesKey(dataPrefix, d), []byte("header\n"+
				id+","+day+"T10:00:00Z,"+account+",us-east-1,"+johndoe+",IAMUser,,johndoe,,,,,,,1\n"+
				","+day+"T11:00:00Z,"+account+",us-east-1,"+johndoe+",IAMUser,,johndoe,,,,,,InvalidRequestException,2\n"))
			var b bytes.Buffer
			w := apioutput.NewWriter(&b)
			n := int64(d.Day()) << 20
			if err := w.Write(apioutput.Row{QueryID: id, Database: "sales", Status: "SUCCEEDED", StatementType: "DML",
				SubstatementType: "SELECT", DataScannedBytes: &n}); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			f.put(dataBucket, athenasql.PartKey(dataPrefix, d, 0), b.Bytes())
		}
	}
	// A view whose day is computed, and one that limits its rows: neither may prune.
	views := []string{
		`CREATE VIEW computed_day AS SELECT concat(dt, '') AS day, queryid FROM athena_api_output`,
		`CREATE VIEW limited AS SELECT dt AS day, queryid FROM athena_api_output LIMIT 100`,
	}
	var all []string
	for d := 1; d <= 10; d++ { // the projection's range, to testNow
		all = append(all, fmt.Sprintf("2024-03-%02d", d))
	}
	both := []string{"athena_queries", "athena_api_output"}
	for _, c := range []struct {
		name, sql string
		tables    []string // the tables read
		days      []string // the days of their prefixes that are listed
	}{
		{"daily =", `SELECT * FROM "athena_usage_test"."athena_usage_daily" WHERE day = '2024-03-05'`, both, []string{"2024-03-05"}},
		{"daily IN", `SELECT * FROM athena_usage_daily WHERE day IN ('2024-03-04', '2024-03-07') AND queries > 0`, both, []string{"2024-03-04", "2024-03-07"}},
		{"daily BETWEEN", `SELECT * FROM athena_usage_daily d WHERE d.day BETWEEN '2024-03-04' AND '2024-03-06'`, both, all[3:6]},
		{"usage =", `SELECT query_id, day, billed_bytes, cost_usd FROM athena_usage WHERE day = '2024-03-05'`, both, []string{"2024-03-05"}},
		{"usage <=", `SELECT query_id, day FROM athena_usage u WHERE '2024-03-06' <= u.day AND status = 'SUCCEEDED'`, both, all[5:]},
		{"failed submissions", `SELECT day, sum(submissions) AS n FROM athena_failed_submissions WHERE day IN ('2024-03-03') GROUP BY day`,
			both[:1], []string{"2024-03-03"}},
		{"join", `SELECT q.query_id, a.datascanned FROM athena_queries q JOIN athena_api_output a ON a.dt = q.dt AND a.queryid = q.query_id
			WHERE q.dt = '2024-03-06'`, both, []string{"2024-03-06"}},
		// Pushdown that would be wrong, or that this engine does not know to be right.
		{"OR", `SELECT * FROM athena_usage_daily WHERE day = '2024-03-05' OR user_arn = 'x'`, both, all},
		{"expression", `SELECT * FROM athena_usage_daily WHERE substr(day, 1, 10) = '2024-03-05'`, both, all},
		{"computed column", `SELECT * FROM computed_day WHERE day = '2024-03-05'`, both[1:], all},
		{"LIMIT", `SELECT * FROM limited WHERE day = '2024-03-05'`, both[1:], all},
		{"star", `SELECT day, sum(queries) AS q FROM (SELECT * FROM athena_usage_daily) WHERE day = '2024-03-05' GROUP BY day`, both, all},
		{"ON of an outer join", `SELECT q.query_id, a.datascanned FROM athena_queries q
			LEFT JOIN athena_api_output a ON a.dt = q.dt AND a.dt = '2024-03-05' AND a.queryid = q.query_id`, both, all},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeS3()
			put(f)
			e := newTestEngine(t, f, t.TempDir())
			for _, v := range views {
				exec(t, e, v)
			}
			f.calls()
			res := exec(t, e, c.sql)
			gets, lists := f.calls()
			var wantLists, wantGets []string
			for _, day := range c.days {
				d, err := time.Parse(time.DateOnly, day)
				if err != nil {
					t.Fatal(err)
				}
				for _, table := range c.tables {
					key := athenasql.PartKey(dataPrefix, d, 0)
					if table == "athena_queries" {
						key = athenasql.QueriesKey(dataPrefix, d)
					}
					wantLists = append(wantLists, dataBucket+"/"+path.Dir(key)+"/")
					if slices.Contains(days, d) {
						wantGets = append(wantGets, key)
					}
				}
			}
			slices.Sort(lists)
			slices.Sort(wantLists)
			if !slices.Equal(lists, wantLists) {
				t.Errorf("%s listed %v, want %v", c.sql, lists, wantLists)
			}
			if got, want := res.DataScannedBytes, sizeOf(f, dataBucket, wantGets...); got != want {
				t.Errorf("%s DataScannedBytes = %d, want %d", c.sql, got, want)
			}
			for i := range wantGets {
				wantGets[i] = dataBucket + "/" + wantGets[i]
			}
			slices.Sort(wantGets)
			if !slices.Equal(gets, wantGets) {
				t.Errorf("%s read %v, want %v", c.sql, gets, wantGets)
			}
			// OR at the top level turns pruning off and keeps the meaning.
			whole := exec(t, e, strings.Replace(c.sql, "WHERE ", "WHERE 1 = 0 OR ", 1))
			got, want := records(res), records(whole)
			for _, rs := range [][]map[string]string{got, want} {
				slices.SortFunc(rs, func(a, b map[string]string) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
			}
			if len(got) == 0 || !slices.EqualFunc(got, want, maps.Equal) {
				t.Errorf("%s rows = %v, want %v (read whole)", c.sql, got, want)
			}
			t.Logf("read %d objects, %d bytes, %d lists; %d bytes without pruning", len(gets), res.DataScannedBytes, len(lists), whole.DataScannedBytes)
		})
	}
}

// TestCloudTrailDDLs reads the same CloudTrail files through AWS's current DDL (the Hive JSON
// SerDe over CloudTrailInputFormat) and the superseded one (the CloudTrail SerDe): the input
// format splits the files, so both give the same rows. Records that are not objects are no
// events and do not fail the file: each is a row of NULLs, which the extraction counts.
func TestCloudTrailDDLs(t *testing.T) {
	f := newFakeS3()
	e := newTestEngine(t, f, t.TempDir())
	putTrailFile(t, f, "us-east-1", "2024/03/05", "x",
		[]byte(`{"Records":[null,{"eventID":"e1","eventTime":"2024-03-05T10:00:00Z","userIdentity":{"arn":"arn:aws:iam::123456789012:user/a"}},42,{"eventID":"e2","eventTime":"2024-03-05T11:00:00Z","awsRegion":"us-east-1"}]}`))

	stmts, err := athenasql.Setup(testParams())
	if err != nil {
		t.Fatal(err)
	}
	var current string
	for _, s := range stmts {
		if strings.Contains(s.SQL, "CREATE EXTERNAL TABLE `"+testDB+"`.`cloudtrail_logs`") {
			current = s.SQL
		}
	}
	if !strings.Contains(current, "'org.apache.hive.hcatalog.data.JsonSerDe'") || !strings.Contains(current, "'com.amazon.emr.cloudtrail.CloudTrailInputFormat'") {
		t.Fatalf("cloudtrail_logs DDL is not AWS's current one (Hive JSON SerDe, CloudTrailInputFormat):\n%s", current)
	}
	old := strings.NewReplacer("`cloudtrail_logs`", "`cloudtrail_logs_old`",
		"org.apache.hive.hcatalog.data.JsonSerDe", "com.amazon.emr.hive.serde.CloudTrailSerde").Replace(current)
	exec(t, e, old)

	query := `SELECT eventid, eventtime, useridentity.arn AS arn, awsregion FROM "` + testDB + `".%s WHERE day = '2024/03/05' ORDER BY eventid`
	got := records(exec(t, e, fmt.Sprintf(query, "cloudtrail_logs")))
	want := []map[string]string{
		{"eventid": "e1", "eventtime": "2024-03-05T10:00:00Z", "arn": "arn:aws:iam::123456789012:user/a", "awsregion": "NULL"},
		{"eventid": "e2", "eventtime": "2024-03-05T11:00:00Z", "arn": "NULL", "awsregion": "us-east-1"},
		{"eventid": "NULL", "eventtime": "NULL", "arn": "NULL", "awsregion": "NULL"},
		{"eventid": "NULL", "eventtime": "NULL", "arn": "NULL", "awsregion": "NULL"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cloudtrail_logs rows = %v, want %v", got, want)
	}
	if gotOld := records(exec(t, e, fmt.Sprintf(query, "cloudtrail_logs_old"))); !reflect.DeepEqual(gotOld, got) {
		t.Errorf("with the CloudTrail SerDe: rows = %v, want the JSON SerDe's %v", gotOld, got)
	}
}
