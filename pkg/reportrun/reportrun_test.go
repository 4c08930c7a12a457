package reportrun

import (
	"context"
	"errors"
	"fmt"
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

// sqlOf renders the report query by (user, role, database), or by user and database for "".
func sqlOf(t *testing.T, by string) string {
	t.Helper()
	var sql string
	var err error
	if by == "" {
		sql, err = athenasql.ReportUserDatabase(database, from, to)
	} else {
		sql, err = athenasql.ReportGroups(database, by, from, to)
	}
	if err != nil {
		t.Fatal(err)
	}
	return sql
}

// reportResults are the answers to the four report queries.
func reportResults(t *testing.T) map[string]result {
	return map[string]result{
		sqlOf(t, "role"): {scanned: 5<<20 + 1, rows: [][]*string{row("arn:aws:iam::1:role/a", "3", "1", "2", "0", "0", "1", "1048576", "100", "0.5")}},
		sqlOf(t, "user"): {scanned: 20<<20 + 1, rows: [][]*string{
			row("alice", "2", "0", "2", "0", "0", "0", "2097152", "300", "0.25"),
			row("bob", "1", "1", "0", "1", "0", "0", "0", "0", "NULL"),
		}},
		sqlOf(t, "database"): {rows: [][]*string{row("db1", "3", "1", "2", "1", "0", "0", "2097152", "300", "0.25"), row("", "0", "0", "0", "0", "0", "1", "0", "0", "NULL")}},
		sqlOf(t, ""):         {scanned: 10 << 20, rows: [][]*string{row("alice", "db1", "2", "1.5")}},
	}
}

// TestRun checks the report built from the queries' rows, that each grouping is queried once,
// in the workgroup, and what the queries cost: each is billed at least 10 MB, rounded up to
// the MB.
func TestRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeAthena{results: reportResults(t)}
		rep, cost, err := New(f, database, func(o *Options) { o.Workgroup = "wg" }).Run(context.Background(), "role", from, to, 5)
		if err != nil {
			t.Fatalf("Run(role) error = %v", err)
		}
		alice := report.Group{Key: "alice", Queries: 2, Succeeded: 2, DataScannedBytes: 2 << 20, EngineExecutionMS: 300, CostUSD: 0.25}
		bob := report.Group{Key: "bob", Queries: 1, QueriesWithoutStats: 1, Failed: 1}
		checks := []struct {
			name      string
			got, want any
		}{
			{"By, From, To, PricePerTB", fmt.Sprintln(rep.By, rep.From, rep.To, rep.PricePerTB), "role 2025-03-01 2025-03-07 5\n"},
			{"Groups", rep.Groups, []report.Group{{Key: "arn:aws:iam::1:role/a", Queries: 3, QueriesWithoutStats: 1, Succeeded: 2,
				FailedSubmissions: 1, DataScannedBytes: 1 << 20, EngineExecutionMS: 100, CostUSD: 0.5}}},
			{"QueriesPerUser (a NULL cost is 0)", rep.QueriesPerUser, []report.Group{alice, bob}},
			{"CostPerUser", rep.CostPerUser, []report.Group{alice, bob}},
			{"QueriesPerDatabase (without the one of no query)", len(rep.QueriesPerDatabase), 1},
			{"UserDatabase", rep.UserDatabase, []report.Cell{{User: "alice", Database: "db1", Queries: 2, AvgMBScanned: 1.5}}},
			{"Cost", cost, Cost{Queries: 4, DataScannedBytes: 35<<20 + 2, BilledBytes: (10 + 21 + 10 + 10) << 20}},
		}
		for _, c := range checks {
			if fmt.Sprintf("%+v", c.got) != fmt.Sprintf("%+v", c.want) {
				t.Errorf("Run(role) %s = %+v, want %+v", c.name, c.got, c.want)
			}
		}
		var sqls []string
		for _, in := range f.started {
			if aws.ToString(in.WorkGroup) != "wg" || aws.ToString(in.QueryExecutionContext.Database) != database {
				t.Errorf("query started in workgroup %q, database %q, want wg, %s", aws.ToString(in.WorkGroup), aws.ToString(in.QueryExecutionContext.Database), database)
			}
			sqls = append(sqls, aws.ToString(in.QueryString))
		}
		if want := []string{sqlOf(t, "role"), sqlOf(t, "user"), sqlOf(t, "database"), sqlOf(t, "")}; !slices.Equal(sqls, want) {
			t.Errorf("Run(role) ran %d statements, want the 4 report queries in order", len(sqls))
		}
	})
}

// TestRunQueriesEachGroupingOnce checks that the report's own grouping, by user, also feeds its
// chart without a second query.
func TestRunQueriesEachGroupingOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeAthena{results: reportResults(t)}
		rep, cost, err := New(f, database).Run(context.Background(), "user", from, to, 5)
		if err != nil {
			t.Fatalf("Run(user) error = %v", err)
		}
		if cost.Queries != 3 || len(f.started) != 3 {
			t.Errorf("Run(user) cost.Queries = %d, started %d, want 3", cost.Queries, len(f.started))
		}
		if len(rep.Groups) != 2 || len(rep.QueriesPerUser) != 2 {
			t.Errorf("Run(user) groups = %d, per user %d, want 2, 2", len(rep.Groups), len(rep.QueriesPerUser))
		}
		// Each is a copy: the writers may sort one without reordering the other.
		rep.Groups[0].Key = "changed"
		if rep.QueriesPerUser[0].Key != "alice" {
			t.Errorf("Run(user) Groups and QueriesPerUser share their array")
		}
	})
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

// TestRunErrors checks the errors of a failed or unreadable report query.
func TestRunErrors(t *testing.T) {
	tests := []struct {
		name       string
		edit       func(map[string]result, *testing.T)
		resultsErr error
		want       string
		noTables   bool
	}{
		{name: "no database", noTables: true, want: "no athena-usage tables yet (SCHEMA_NOT_FOUND",
			edit: func(r map[string]result, t *testing.T) {
				r[sqlOf(t, "user")] = result{reason: "SCHEMA_NOT_FOUND: Schema athena_usage does not exist"}
			}},
		{name: "no view", noTables: true, want: "TABLE_NOT_FOUND",
			edit: func(r map[string]result, t *testing.T) {
				r[sqlOf(t, "")] = result{reason: "TABLE_NOT_FOUND: line 1: Table x does not exist"}
			}},
		{name: "other failure", want: "report by user: query 0 FAILED: out of memory",
			edit: func(r map[string]result, t *testing.T) { r[sqlOf(t, "user")] = result{reason: "out of memory"} }},
		{name: "bad number", want: "result row 2 column 2",
			edit: func(r map[string]result, t *testing.T) {
				r[sqlOf(t, "user")] = result{rows: [][]*string{row("a", "1", "0", "1", "0", "0", "0", "0", "0", "0"), row("b", "x")}}
			}},
		{name: "short row", want: "result row 1 has 3 columns, want more than 3",
			edit: func(r map[string]result, t *testing.T) {
				r[sqlOf(t, "")] = result{rows: [][]*string{row("alice", "db1", "2")}}
			}},
		{name: "results call fails", resultsErr: errors.New("throttled"), want: "get query results 0: throttled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				res := reportResults(t)
				if tt.edit != nil {
					tt.edit(res, t)
				}
				f := &fakeAthena{results: res, resultsErr: tt.resultsErr}
				_, _, err := New(f, database).Run(context.Background(), "user", from, to, 5)
				if err == nil || !strings.Contains(err.Error(), tt.want) || errors.Is(err, ErrNoTables) != tt.noTables {
					t.Errorf("Run(user) error = %v, want %q (ErrNoTables: %v)", err, tt.want, tt.noTables)
				}
			})
		})
	}
}
