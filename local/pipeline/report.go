package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/athenausage/athena-usage/pkg/athenaquery"
	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/report"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
)

// ErrNoTables is returned when a report runs over a state directory the pipeline has not run in.
var ErrNoTables = errors.New("no athena-usage tables yet: run the pipeline first (athena-usage local run or demo)")

// Query runs one SQL statement through the Athena stand-in and returns its rows (the header
// row dropped), paging through GetQueryResults 1,000 rows at a time as a client of Athena would.
func (s *Stack) Query(ctx context.Context, sql string) ([][]*string, error) {
	client := s.AthenaClient(Region)
	q, err := athenaquery.New(client, localQueries).Run(ctx, athenaquery.Query{SQL: sql, Database: Database})
	if err != nil {
		var qe *athenaquery.Error
		if errors.As(err, &qe) && (strings.Contains(qe.Reason, "SCHEMA_NOT_FOUND") || strings.Contains(qe.Reason, "TABLE_NOT_FOUND")) {
			return nil, fmt.Errorf("%w (%s)", ErrNoTables, qe.Reason)
		}
		return nil, err
	}
	var rows [][]*string
	pages := athena.NewGetQueryResultsPaginator(client, &athena.GetQueryResultsInput{
		QueryExecutionId: q.QueryExecutionId,
		MaxResults:       aws.Int32(1000),
	})
	first := true
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("get query results: %w", err)
		}
		for _, r := range page.ResultSet.Rows {
			if first { // Athena's first row of a SELECT is the header.
				first = false
				continue
			}
			row := make([]*string, len(r.Data))
			for i, d := range r.Data {
				row[i] = d.VarCharValue
			}
			rows = append(rows, row)
		}
	}
	return rows, nil
}

// Report runs the report queries over the views for the inclusive window [from, to].
func (s *Stack) Report(ctx context.Context, by string, from, to time.Time, pricePerTB float64) (*report.Report, error) {
	// Each grouping is queried once: the report's own grouping also feeds its chart.
	done := map[string][]report.Group{}
	groups := func(by string) ([]report.Group, error) {
		if g, ok := done[by]; ok {
			return slices.Clone(g), nil
		}
		sql, err := athenasql.ReportGroups(Database, by, from, to)
		if err != nil {
			return nil, err
		}
		rows, err := s.Query(ctx, sql)
		if err != nil {
			return nil, fmt.Errorf("report by %s: %w", by, err)
		}
		g, err := parseGroups(rows)
		done[by] = g
		return slices.Clone(g), err
	}
	r := &report.Report{By: by, From: from.Format("2006-01-02"), To: to.Format("2006-01-02"), PricePerTB: pricePerTB}
	var err error
	if r.Groups, err = groups(by); err != nil {
		return nil, err
	}
	if r.QueriesPerUser, err = groups("user"); err != nil {
		return nil, err
	}
	if r.QueriesPerDatabase, err = groups("database"); err != nil {
		return nil, err
	}
	// A database named only by refused submissions has no queries to chart.
	r.QueriesPerDatabase = slices.DeleteFunc(r.QueriesPerDatabase, func(g report.Group) bool { return g.Queries == 0 })
	r.CostPerUser = r.QueriesPerUser
	sql, err := athenasql.ReportUserDatabase(Database, from, to)
	if err != nil {
		return nil, err
	}
	rows, err := s.Query(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("report by user and database: %w", err)
	}
	for i, row := range rows {
		p := cells{row: row, n: i + 1}
		c := report.Cell{User: p.str(0), Database: p.str(1), Queries: p.int(2), AvgMBScanned: p.float(3)}
		if p.err != nil {
			return nil, p.err
		}
		r.UserDatabase = append(r.UserDatabase, c)
	}
	return r, nil
}

func parseGroups(rows [][]*string) ([]report.Group, error) {
	out := make([]report.Group, 0, len(rows))
	for i, row := range rows {
		p := cells{row: row, n: i + 1}
		g := report.Group{
			Key:                 p.str(0),
			Queries:             p.int(1),
			QueriesWithoutStats: p.int(2),
			Succeeded:           p.int(3),
			Failed:              p.int(4),
			Cancelled:           p.int(5),
			FailedSubmissions:   p.int(6),
			DataScannedBytes:    p.int(7),
			EngineExecutionMS:   p.int(8),
			CostUSD:             p.float(9),
		}
		if p.err != nil {
			return nil, p.err
		}
		if math.IsNaN(g.CostUSD) {
			g.CostUSD = 0
		}
		out = append(out, g)
	}
	return out, nil
}

// cells reads typed values out of one result row, keeping the first error.
type cells struct {
	row []*string
	n   int
	err error
}

func (c *cells) raw(i int) (string, bool) {
	if i >= len(c.row) {
		if c.err == nil {
			c.err = fmt.Errorf("result row %d has %d columns, want more than %d", c.n, len(c.row), i)
		}
		return "", false
	}
	if c.row[i] == nil {
		return "", false
	}
	return *c.row[i], true
}

func (c *cells) str(i int) string { s, _ := c.raw(i); return s }

func (c *cells) int(i int) int64 {
	s, ok := c.raw(i)
	if !ok {
		return 0
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil && c.err == nil {
		c.err = fmt.Errorf("result row %d column %d: %w", c.n, i+1, err)
	}
	return v
}

func (c *cells) float(i int) float64 {
	s, ok := c.raw(i)
	if !ok {
		return math.NaN()
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil && c.err == nil {
		c.err = fmt.Errorf("result row %d column %d: %w", c.n, i+1, err)
	}
	return v
}
