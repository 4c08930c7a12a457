// Package reportrun runs the report queries (athenasql.ReportGroups, DashboardWindow) on
// Athena, in a stack's workgroup, and reads their rows into a report.Report. The command line
// runs it against a deployed stack and against the local one alike.
package reportrun

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/athenausage/athena-usage/pkg/athenaquery"
	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/report"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
)

// API is the part of the Athena client that Runner uses.
type API interface {
	athenaquery.API
	GetQueryResults(ctx context.Context, params *athena.GetQueryResultsInput, optFns ...func(*athena.Options)) (*athena.GetQueryResultsOutput, error)
}

var _ API = (*athena.Client)(nil)

// DefaultPageSize is the rows asked for per GetQueryResults call: the API's maximum.
const DefaultPageSize = 1000

// ErrNoTables is returned when the database or its views do not exist yet: the pipeline has not
// run.
var ErrNoTables = errors.New("no athena-usage tables yet")

// Options tune a Runner.
type Options struct {
	// Workgroup runs the queries; the stack's enforces its result location and scan cutoff.
	Workgroup string
	// PageSize is the rows per GetQueryResults call; zero means DefaultPageSize.
	PageSize int32
	// Query adds options to the athenaquery runner (its polling).
	Query []func(*athenaquery.Options)
}

// Runner runs the report queries over one database.
type Runner struct {
	client   API
	database string
	queries  *athenaquery.Runner
	opts     Options
}

// New returns a Runner over database.
func New(client API, database string, optFns ...func(*Options)) *Runner {
	var o Options
	for _, fn := range optFns {
		fn(&o)
	}
	if o.PageSize <= 0 {
		o.PageSize = DefaultPageSize
	}
	qopts := append([]func(*athenaquery.Options){func(q *athenaquery.Options) { q.Workgroup = o.Workgroup }}, o.Query...)
	return &Runner{client: client, database: database, queries: athenaquery.New(client, qopts...), opts: o}
}

// Cost is what the report queries scanned, which Athena bills as any other query.
type Cost struct {
	Queries          int
	DataScannedBytes int64
	// BilledBytes is what Athena bills for them: each query's bytes rounded up to the MB, and
	// at least minBilledBytes.
	BilledBytes int64
}

// minBilledBytes is Athena's minimum charge per query, 10 MB.
const minBilledBytes = 10 << 20

// Query runs one statement and returns its rows, the header row dropped, paging through
// GetQueryResults, with what it scanned.
func (r *Runner) Query(ctx context.Context, sql string) ([][]*string, int64, error) {
	q, err := r.queries.Run(ctx, athenaquery.Query{SQL: sql, Database: r.database})
	if err != nil {
		var qe *athenaquery.Error
		if errors.As(err, &qe) && (strings.Contains(qe.Reason, "SCHEMA_NOT_FOUND") || strings.Contains(qe.Reason, "TABLE_NOT_FOUND")) {
			return nil, 0, fmt.Errorf("%w (%s)", ErrNoTables, qe.Reason)
		}
		return nil, 0, err
	}
	var scanned int64
	if q.Statistics != nil {
		scanned = aws.ToInt64(q.Statistics.DataScannedInBytes)
	}
	var rows [][]*string
	pages := athena.NewGetQueryResultsPaginator(r.client, &athena.GetQueryResultsInput{
		QueryExecutionId: q.QueryExecutionId,
		MaxResults:       aws.Int32(r.opts.PageSize),
	})
	first := true
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, scanned, fmt.Errorf("get query results %s: %w", aws.ToString(q.QueryExecutionId), err)
		}
		for _, row := range page.ResultSet.Rows {
			if first { // Athena's first row of a SELECT is the header.
				first = false
				continue
			}
			cells := make([]*string, len(row.Data))
			for i, d := range row.Data {
				cells[i] = d.VarCharValue
			}
			rows = append(rows, cells)
		}
	}
	return rows, scanned, nil
}

// Run runs the report queries for the inclusive window [from, to]: the table, one line per by
// (user, role or database), and the charts, one query per dashboard visual (athenasql.Visuals),
// the same SQL as the QuickSight dashboard's datasets. It returns the report with what its
// queries scanned.
func (r *Runner) Run(ctx context.Context, by string, from, to time.Time, pricePerTB float64) (*report.Report, Cost, error) {
	var cost Cost
	query := func(sql string) ([][]*string, error) {
		rows, scanned, err := r.Query(ctx, sql)
		cost.Queries++
		cost.DataScannedBytes += scanned
		if err == nil {
			cost.BilledBytes += max((scanned+1<<20-1)>>20<<20, minBilledBytes)
		}
		return rows, err
	}
	rep := &report.Report{By: by, From: from.Format(time.DateOnly), To: to.Format(time.DateOnly), PricePerTB: pricePerTB}
	sql, err := athenasql.ReportGroups(r.database, by, from, to)
	if err != nil {
		return nil, cost, err
	}
	rows, err := query(sql)
	if err != nil {
		return nil, cost, fmt.Errorf("report by %s: %w", by, err)
	}
	if rep.Groups, err = parseGroups(rows); err != nil {
		return nil, cost, err
	}
	for _, v := range athenasql.Visuals() {
		sql, err := athenasql.DashboardWindow(r.database, v, from, to)
		if err != nil {
			return nil, cost, err
		}
		rows, err := query(sql)
		if err != nil {
			return nil, cost, fmt.Errorf("dashboard visual %s: %w", v.Name, err)
		}
		if err := fill(rep, v, rows, from, to); err != nil {
			return nil, cost, fmt.Errorf("dashboard visual %s: %w", v.Name, err)
		}
	}
	return rep, cost, nil
}

// fill reads one visual's rows (its Keys then its Sums, as athenasql.DashboardWindow returns
// them) into the report field its chart draws.
func fill(rep *report.Report, v athenasql.Visual, rows [][]*string, from, to time.Time) error {
	var err error
	switch v.Name {
	case athenasql.VisualAvgMBScanned.Name:
		rep.UserDatabase, err = parseCells(rows)
	case athenasql.VisualQueriesPerUser.Name:
		rep.QueriesPerUser, err = parseQueries(rows)
	case athenasql.VisualQueriesPerDatabase.Name:
		rep.QueriesPerDatabase, err = parseQueries(rows)
	case athenasql.VisualCostPerUser.Name:
		rep.CostPerUser, err = parseCosts(rows)
	case athenasql.VisualDailyCost.Name:
		rep.DailyCost, err = parseDays(rows, from, to)
	case athenasql.VisualFailuresPerUser.Name:
		rep.FailuresPerUser, err = parseFailures(rows)
	default:
		err = fmt.Errorf("no chart for it")
	}
	return err
}
