package alert

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/athenausage/athena-usage/pkg/athenaquery"
	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
)

// pageSize is the rows asked for per GetQueryResults call: the API's maximum.
const pageSize = 1000

// dailyCosts runs the candidates' query for day and returns its rows.
func (h *Handler) dailyCosts(ctx context.Context, day time.Time) ([]DayCost, error) {
	sql, err := athenasql.AlertCandidates(h.cfg.Database, day, WindowDays, h.rules.floor())
	if err != nil {
		return nil, err
	}
	q, err := h.queries.Run(ctx, athenaquery.Query{SQL: sql, Database: h.cfg.Database})
	if err != nil {
		return nil, fmt.Errorf("alert candidates query: %w", err)
	}
	id := aws.ToString(q.QueryExecutionId)
	pages := athena.NewGetQueryResultsPaginator(h.clients.Athena, &athena.GetQueryResultsInput{
		QueryExecutionId: q.QueryExecutionId,
		MaxResults:       aws.Int32(pageSize),
	})
	var out []DayCost
	header := true
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("get query results %s: %w", id, err)
		}
		if page.ResultSet == nil {
			continue
		}
		for _, row := range page.ResultSet.Rows {
			if header { // Athena's first row of a SELECT is the header.
				header = false
				continue
			}
			c, err := parseDayCost(row.Data)
			if err != nil {
				return nil, fmt.Errorf("query %s: row %d: %w", id, len(out)+1, err)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// parseDayCost reads a row of user_arn, day, queries, data_scanned_bytes and cost_usd; a NULL
// number is 0.
func parseDayCost(data []types.Datum) (DayCost, error) {
	if len(data) != 5 {
		return DayCost{}, fmt.Errorf("%d columns, want 5", len(data))
	}
	cell := func(i int) string { return aws.ToString(data[i].VarCharValue) }
	c := DayCost{User: cell(0), Day: cell(1)}
	var err error
	if c.Queries, err = parseInt(cell(2)); err != nil {
		return c, fmt.Errorf("queries: %w", err)
	}
	if c.DataScannedBytes, err = parseInt(cell(3)); err != nil {
		return c, fmt.Errorf("data_scanned_bytes: %w", err)
	}
	if s := cell(4); s != "" {
		if c.CostUSD, err = strconv.ParseFloat(s, 64); err != nil {
			return c, fmt.Errorf("cost_usd: %w", err)
		}
	}
	return c, nil
}

func parseInt(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	return strconv.ParseInt(s, 10, 64)
}
