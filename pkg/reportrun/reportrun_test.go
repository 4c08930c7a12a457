package reportrun

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/report"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
)

// result is what the fake answers for one statement.
type result struct {
	rows    [][]*string // without the header
	scanned int64
	reason  string // a FAILED query's reason
}

// fakeAthena answers the report queries from results, keyed by SQL, and records the calls.
type fakeAthena struct {
	results    map[string]result
	resultsErr error

	mu      sync.Mutex
	started []*athena.StartQueryExecutionInput
	pages   []*athena.GetQueryResultsInput
}

func (f *fakeAthena) StartQueryExecution(_ context.Context, in *athena.StartQueryExecutionInput, _ ...func(*athena.Options)) (*athena.StartQueryExecutionOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started = append(f.started, in)
	return &athena.StartQueryExecutionOutput{QueryExecutionId: aws.String(strconv.Itoa(len(f.started) - 1))}, nil
}

// query returns the statement started as execution id.
func (f *fakeAthena) query(id *string) (string, result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := strconv.Atoi(aws.ToString(id))
	if err != nil || n >= len(f.started) {
		return "", result{}, fmt.Errorf("no execution %q", aws.ToString(id))
	}
	sql := aws.ToString(f.started[n].QueryString)
	r, ok := f.results[sql]
	if !ok {
		return sql, result{}, fmt.Errorf("unexpected statement %.60q", sql)
	}
	return sql, r, nil
}

func (f *fakeAthena) GetQueryExecution(_ context.Context, in *athena.GetQueryExecutionInput, _ ...func(*athena.Options)) (*athena.GetQueryExecutionOutput, error) {
	_, r, err := f.query(in.QueryExecutionId)
	if err != nil {
		return nil, err
	}
	st := types.QueryExecutionStatus{State: types.QueryExecutionStateSucceeded}
	if r.reason != "" {
		st = types.QueryExecutionStatus{State: types.QueryExecutionStateFailed, StateChangeReason: aws.String(r.reason)}
	}
	return &athena.GetQueryExecutionOutput{QueryExecution: &types.QueryExecution{
		QueryExecutionId: in.QueryExecutionId,
		Status:           &st,
		Statistics:       &types.QueryExecutionStatistics{DataScannedInBytes: aws.Int64(r.scanned)},
	}}, nil
}

func (f *fakeAthena) StopQueryExecution(context.Context, *athena.StopQueryExecutionInput, ...func(*athena.Options)) (*athena.StopQueryExecutionOutput, error) {
	return &athena.StopQueryExecutionOutput{}, nil
}

// GetQueryResults pages through the header and rows, MaxResults rows a page; the token is the
// index of the page's first row.
func (f *fakeAthena) GetQueryResults(_ context.Context, in *athena.GetQueryResultsInput, _ ...func(*athena.Options)) (*athena.GetQueryResultsOutput, error) {
	f.mu.Lock()
	f.pages = append(f.pages, in)
	f.mu.Unlock()
	if f.resultsErr != nil {
		return nil, f.resultsErr
	}
	_, r, err := f.query(in.QueryExecutionId)
	if err != nil {
		return nil, err
	}
	all := append([][]*string{{aws.String("header")}}, r.rows...)
	start, _ := strconv.Atoi(aws.ToString(in.NextToken))
	end := min(start+int(aws.ToInt32(in.MaxResults)), len(all))
	out := &athena.GetQueryResultsOutput{ResultSet: &types.ResultSet{}}
	for _, row := range all[start:end] {
		var data []types.Datum
		for _, c := range row {
			data = append(data, types.Datum{VarCharValue: c})
		}
		out.ResultSet.Rows = append(out.ResultSet.Rows, types.Row{Data: data})
	}
	if end < len(all) {
		out.NextToken = aws.String(strconv.Itoa(end))
	}
	return out, nil
}

// row makes a result row; "NULL" is a NULL cell.
func row(cells ...string) []*string {
	out := make([]*string, len(cells))
	for i, c := range cells {
		if c != "NULL" {
			out[i] = aws.String(c)
		}
	}
	return out
}

var (
	from = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	to   = time.Date(2025, 3, 7, 0, 0, 0, 0, time.UTC)
)

const database = "athena_usage"

// groupsSQL renders the table query by (user, role or database).
func groupsSQL(t *testing.T, by string) string {
	t.Helper()
	sql, err := athenasql.ReportGroups(database, by, from, to)
	if err != nil {
		t.Fatal(err)
	}
	return sql
}

// visualSQL renders the query of one dashboard visual.
func visualSQL(t *testing.T, v athenasql.Visual) string {
	t.Helper()
	sql, err := athenasql.DashboardWindow(database, v, from, to)
	if err != nil {
		t.Fatal(err)
	}
	return sql
}

// reportResults are the answers to the table query, by each grouping, and to the six visuals'
// queries, in their columns: the visual's Keys then its Sums.
func reportResults(t *testing.T) map[string]result {
	return map[string]result{
		groupsSQL(t, "role"): {scanned: 5<<20 + 1, rows: [][]*string{row("arn:aws:iam::1:role/a", "3", "1", "2", "0", "0", "1", "1048576", "100", "0.5")}},
		groupsSQL(t, "user"): {scanned: 20<<20 + 1, rows: [][]*string{
			row("alice", "2", "0", "2", "0", "0", "0", "2097152", "300", "0.25"),
			row("bob", "1", "1", "0", "1", "0", "0", "0", "0", "NULL"),
		}},
		groupsSQL(t, "database"): {rows: [][]*string{row("db1", "3", "1", "2", "1", "0", "0", "2097152", "300", "0.25"), row("", "0", "0", "0", "0", "0", "1", "0", "0", "NULL")}},
		// user_arn, database, queries, queries_with_stats, data_scanned_bytes
		visualSQL(t, athenasql.VisualAvgMBScanned): {scanned: 1 << 20, rows: [][]*string{
			row("alice", "db1", "2", "2", "3145728"),
			row("bob", "db1", "1", "0", "0"),
		}},
		// key, queries, succeeded, failed, cancelled, no_state
		visualSQL(t, athenasql.VisualQueriesPerUser): {scanned: 10 << 20, rows: [][]*string{
			row("alice", "3", "1", "1", "0", "1"),
			row("bob", "1", "0", "0", "1", "0"),
		}},
		visualSQL(t, athenasql.VisualQueriesPerDatabase): {scanned: 10<<20 + 1, rows: [][]*string{row("db1", "4", "2", "1", "1", "0")}},
		// user_arn, billed_bytes, cost_usd
		visualSQL(t, athenasql.VisualCostPerUser): {rows: [][]*string{
			row("alice", "20971520", "0.25"),
			row("bob", "0", "NULL"),
		}},
		// day, queries, data_scanned_bytes, cost_usd
		visualSQL(t, athenasql.VisualDailyCost): {scanned: 30 << 20, rows: [][]*string{
			row("2025-03-02", "2", "1048576", "0.5"),
			row("2025-03-05 00:00:00.000", "1", "0", "NULL"),
		}},
		// user_arn, failed, refused
		visualSQL(t, athenasql.VisualFailuresPerUser): {scanned: 12<<20 - 1, rows: [][]*string{
			row("alice", "1", "0"),
			row("carol", "0", "2"),
		}},
	}
}

// TestRun checks the report built from the rows of the table query and of each visual's query:
// NULL costs read as 0, the average MB scanned is NaN without statistics, and the daily trend
// has every day of the window, the days without queries at zero.
func TestRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeAthena{results: reportResults(t)}
		rep, _, err := New(f, database).Run(context.Background(), "role", from, to, 5)
		if err != nil {
			t.Fatalf("Run(role) error = %v", err)
		}
		checks := []struct {
			name      string
			got, want any
		}{
			{"By, From, To, PricePerTB", fmt.Sprintln(rep.By, rep.From, rep.To, rep.PricePerTB), "role 2025-03-01 2025-03-07 5\n"},
			{"Groups", rep.Groups, []report.Group{{Key: "arn:aws:iam::1:role/a", Queries: 3, QueriesWithoutStats: 1, Succeeded: 2,
				FailedSubmissions: 1, DataScannedBytes: 1 << 20, EngineExecutionMS: 100, CostUSD: 0.5}}},
			{"UserDatabase (NaN MB without statistics)", rep.UserDatabase, []report.Cell{
				{User: "alice", Database: "db1", Queries: 2, AvgMBScanned: 1.5},
				{User: "bob", Database: "db1", Queries: 1, AvgMBScanned: math.NaN()}}},
			{"QueriesPerUser", rep.QueriesPerUser, []report.Group{
				{Key: "alice", Queries: 3, Succeeded: 1, Failed: 1}, {Key: "bob", Queries: 1, Cancelled: 1}}},
			{"QueriesPerDatabase", rep.QueriesPerDatabase, []report.Group{{Key: "db1", Queries: 4, Succeeded: 2, Failed: 1, Cancelled: 1}}},
			{"CostPerUser (a NULL cost is 0)", rep.CostPerUser, []report.Group{{Key: "alice", CostUSD: 0.25}, {Key: "bob"}}},
			{"DailyCost (every day, a missing one at zero)", rep.DailyCost, []report.Day{
				{Day: "2025-03-01"}, {Day: "2025-03-02", Queries: 2, DataScannedBytes: 1 << 20, CostUSD: 0.5},
				{Day: "2025-03-03"}, {Day: "2025-03-04"}, {Day: "2025-03-05", Queries: 1}, {Day: "2025-03-06"}, {Day: "2025-03-07"}}},
			{"FailuresPerUser", rep.FailuresPerUser, []report.Group{{Key: "alice", Failed: 1}, {Key: "carol", FailedSubmissions: 2}}},
		}
		for _, c := range checks {
			// Printed, not DeepEqual: NaN equals NaN only as text.
			if fmt.Sprintf("%+v", c.got) != fmt.Sprintf("%+v", c.want) {
				t.Errorf("Run(role) %s = %+v, want %+v", c.name, c.got, c.want)
			}
		}
	})
}

// TestRunStatements checks that, whatever the grouping, Run runs the table query by it and then
// one query per visual, in the dashboard's order, each once, in the workgroup and database, and
// reads the table from the grouping's query.
func TestRunStatements(t *testing.T) {
	tests := []struct {
		by   string
		want []string // the groups' keys
	}{
		{"user", []string{"alice", "bob"}},
		{"role", []string{"arn:aws:iam::1:role/a"}},
		{"database", []string{"db1", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.by, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeAthena{results: reportResults(t)}
				rep, cost, err := New(f, database, func(o *Options) { o.Workgroup = "wg" }).Run(context.Background(), tt.by, from, to, 5)
				if err != nil {
					t.Fatalf("Run(%s) error = %v", tt.by, err)
				}
				var keys []string
				for _, g := range rep.Groups {
					keys = append(keys, g.Key)
				}
				if !slices.Equal(keys, tt.want) {
					t.Errorf("Run(%s) groups = %q, want %q", tt.by, keys, tt.want)
				}
				want := []string{groupsSQL(t, tt.by)}
				for _, v := range athenasql.Visuals() {
					want = append(want, visualSQL(t, v))
				}
				var sqls []string
				for _, in := range f.started {
					if aws.ToString(in.WorkGroup) != "wg" || aws.ToString(in.QueryExecutionContext.Database) != database {
						t.Errorf("Run(%s) started a query in workgroup %q, database %q, want wg, %s", tt.by, aws.ToString(in.WorkGroup), aws.ToString(in.QueryExecutionContext.Database), database)
					}
					sqls = append(sqls, aws.ToString(in.QueryString))
				}
				if !slices.Equal(sqls, want) || cost.Queries != 7 {
					t.Errorf("Run(%s) ran %d statements (cost.Queries %d), want the table query then the 6 visuals' in order", tt.by, len(sqls), cost.Queries)
				}
			})
		})
	}
}

// TestRunCost checks what the 7 queries cost: their bytes summed, and each billed at least
// 10 MB, rounded up to the MB.
func TestRunCost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeAthena{results: reportResults(t)}
		_, cost, err := New(f, database).Run(context.Background(), "role", from, to, 5)
		if err != nil {
			t.Fatalf("Run(role) error = %v", err)
		}
		// role 5 MB+1, then avg 1 MB, per user 10 MB, per database 10 MB+1, cost 0, daily 30 MB,
		// failures 12 MB-1.
		billed := int64(10+10+10+11+10+30+12) << 20
		if want := (Cost{Queries: 7, DataScannedBytes: 68<<20 + 1, BilledBytes: billed}); cost != want {
			t.Errorf("Run(role) cost = %+v, want %+v", cost, want)
		}
	})
}

// TestRunFieldsDoNotShare checks that the report by user and its queries-per-user chart are
// copies: the writers may sort one without reordering the other.
func TestRunFieldsDoNotShare(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeAthena{results: reportResults(t)}
		rep, _, err := New(f, database).Run(context.Background(), "user", from, to, 5)
		if err != nil {
			t.Fatalf("Run(user) error = %v", err)
		}
		rep.Groups[0].Key = "changed"
		if rep.QueriesPerUser[0].Key != "alice" {
			t.Errorf("Run(user) Groups and QueriesPerUser share their array")
		}
	})
}

// TestParseDays checks the daily trend's edges: a window without rows is all zeros, a day of
// another window is dropped, and the rows' order does not matter.
func TestParseDays(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2025, 3, d, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		name     string
		from, to time.Time
		rows     [][]*string
		want     []report.Day
	}{
		{"no rows", day(1), day(3), nil, []report.Day{{Day: "2025-03-01"}, {Day: "2025-03-02"}, {Day: "2025-03-03"}}},
		{"one day", day(2), day(2), [][]*string{row("2025-03-02", "1", "5", "0.1")}, []report.Day{{Day: "2025-03-02", Queries: 1, DataScannedBytes: 5, CostUSD: 0.1}}},
		{"out of order, outside the window", day(1), day(2),
			[][]*string{row("2025-03-02", "2", "0", "NULL"), row("2025-02-28", "9", "9", "9"), row("2025-03-01", "1", "0", "0")},
			[]report.Day{{Day: "2025-03-01", Queries: 1}, {Day: "2025-03-02", Queries: 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDays(tt.rows, tt.from, tt.to)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("parseDays(%s) = %+v, %v, want %+v", tt.name, got, err, tt.want)
			}
		})
	}
}

// TestQueryPages checks that Query pages through GetQueryResults PageSize rows at a time, and
// drops only the first page's first row, the header.
func TestQueryPages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sql := "SELECT 1"
		f := &fakeAthena{results: map[string]result{sql: {scanned: 7, rows: [][]*string{row("a"), row("b"), row("c"), row("d")}}}}
		rows, scanned, err := New(f, database, func(o *Options) { o.PageSize = 2 }).Query(context.Background(), sql)
		if err != nil {
			t.Fatalf("Query error = %v", err)
		}
		var got []string
		for _, r := range rows {
			got = append(got, aws.ToString(r[0]))
		}
		if want := []string{"a", "b", "c", "d"}; !slices.Equal(got, want) || scanned != 7 {
			t.Errorf("Query = %q, %d scanned, want %q, 7", got, scanned, want)
		}
		if len(f.pages) != 3 || aws.ToInt32(f.pages[0].MaxResults) != 2 {
			t.Errorf("Query made %d GetQueryResults calls, want 3 of 2 rows", len(f.pages))
		}
	})
}

// runErrorTests are the failed or unreadable report queries; started is how many statements
// Run started before it stopped.
var runErrorTests = []struct {
	name       string
	edit       func(map[string]result, *testing.T)
	resultsErr error
	want       string
	noTables   bool
	started    int
}{
	{name: "no database", noTables: true, started: 1, want: "report by user: no athena-usage tables yet (SCHEMA_NOT_FOUND",
		edit: func(r map[string]result, t *testing.T) {
			r[groupsSQL(t, "user")] = result{reason: "SCHEMA_NOT_FOUND: Schema athena_usage does not exist"}
		}},
	{name: "no view", noTables: true, started: 6, want: "dashboard visual daily_cost: no athena-usage tables yet (TABLE_NOT_FOUND",
		edit: func(r map[string]result, t *testing.T) {
			r[visualSQL(t, athenasql.VisualDailyCost)] = result{reason: "TABLE_NOT_FOUND: line 1: Table x does not exist"}
		}},
	{name: "table query fails", started: 1, want: "report by user: query 0 FAILED: out of memory",
		edit: func(r map[string]result, t *testing.T) { r[groupsSQL(t, "user")] = result{reason: "out of memory"} }},
	{name: "visual query fails", started: 3, want: "dashboard visual queries_per_user: query 2 FAILED: out of memory",
		edit: func(r map[string]result, t *testing.T) {
			r[visualSQL(t, athenasql.VisualQueriesPerUser)] = result{reason: "out of memory"}
		}},
	{name: "bad number in the table", started: 1, want: "result row 2 column 2",
		edit: func(r map[string]result, t *testing.T) {
			r[groupsSQL(t, "user")] = result{rows: [][]*string{row("a", "1", "0", "1", "0", "0", "0", "0", "0", "0"), row("b", "x")}}
		}},
	{name: "bad number in a visual", started: 5, want: "dashboard visual cost_per_user: result row 1 column 3",
		edit: func(r map[string]result, t *testing.T) {
			r[visualSQL(t, athenasql.VisualCostPerUser)] = result{rows: [][]*string{row("alice", "0", "1,5")}}
		}},
	{name: "short row", started: 2, want: "dashboard visual avg_mb_scanned: result row 1 has 3 columns, want more than 3",
		edit: func(r map[string]result, t *testing.T) {
			r[visualSQL(t, athenasql.VisualAvgMBScanned)] = result{rows: [][]*string{row("alice", "db1", "2")}}
		}},
	{name: "short row in the trend", started: 6, want: "dashboard visual daily_cost: result row 1 has 3 columns, want more than 3",
		edit: func(r map[string]result, t *testing.T) {
			r[visualSQL(t, athenasql.VisualDailyCost)] = result{rows: [][]*string{row("2025-03-01", "1", "0")}}
		}},
	{name: "results call fails", resultsErr: errors.New("throttled"), started: 1, want: "report by user: get query results 0: throttled"},
}

// TestRunErrors checks the errors of a failed or unreadable report query, and that Run stops
// at the first.
func TestRunErrors(t *testing.T) {
	for _, tt := range runErrorTests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				res := reportResults(t)
				if tt.edit != nil {
					tt.edit(res, t)
				}
				f := &fakeAthena{results: res, resultsErr: tt.resultsErr}
				_, cost, err := New(f, database).Run(context.Background(), "user", from, to, 5)
				if err == nil || !strings.Contains(err.Error(), tt.want) || errors.Is(err, ErrNoTables) != tt.noTables {
					t.Errorf("Run(user) error = %v, want %q (ErrNoTables: %v)", err, tt.want, tt.noTables)
				}
				if len(f.started) != tt.started || cost.Queries != tt.started {
					t.Errorf("Run(user) started %d statements (cost.Queries %d), want %d", len(f.started), cost.Queries, tt.started)
				}
			})
		})
	}
}
