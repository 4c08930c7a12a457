package reportrun

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/athenausage/athena-usage/pkg/report"
)

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
		// A group with no billable query has a NULL cost.
		if math.IsNaN(g.CostUSD) {
			g.CostUSD = 0
		}
		out = append(out, g)
	}
	return out, nil
}

// parseCells reads the avg_mb_scanned visual: user_arn, database, queries, queries_with_stats,
// data_scanned_bytes. The average is over the queries with statistics, NaN when there are none.
func parseCells(rows [][]*string) ([]report.Cell, error) {
	out := make([]report.Cell, 0, len(rows))
	for i, row := range rows {
		p := cells{row: row, n: i + 1}
		c := report.Cell{User: p.str(0), Database: p.str(1), Queries: p.int(2), AvgMBScanned: math.NaN()}
		withStats, scanned := p.int(3), p.int(4)
		if p.err != nil {
			return nil, p.err
		}
		if withStats > 0 {
			c.AvgMBScanned = float64(scanned) / float64(withStats) / (1 << 20)
		}
		out = append(out, c)
	}
	return out, nil
}

// parseQueries reads a queries_per_* visual: key, queries, succeeded, failed, cancelled,
// no_state.
func parseQueries(rows [][]*string) ([]report.Group, error) {
	out := make([]report.Group, 0, len(rows))
	for i, row := range rows {
		p := cells{row: row, n: i + 1}
		g := report.Group{Key: p.str(0), Queries: p.int(1), Succeeded: p.int(2), Failed: p.int(3), Cancelled: p.int(4)}
		if p.err != nil {
			return nil, p.err
		}
		out = append(out, g)
	}
	return out, nil
}

// parseCosts reads the cost_per_user visual: user_arn, billed_bytes, cost_usd.
func parseCosts(rows [][]*string) ([]report.Group, error) {
	out := make([]report.Group, 0, len(rows))
	for i, row := range rows {
		p := cells{row: row, n: i + 1}
		g := report.Group{Key: p.str(0), CostUSD: p.float(2)}
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

// parseFailures reads the failures_per_user visual: user_arn, failed, refused.
func parseFailures(rows [][]*string) ([]report.Group, error) {
	out := make([]report.Group, 0, len(rows))
	for i, row := range rows {
		p := cells{row: row, n: i + 1}
		g := report.Group{Key: p.str(0), Failed: p.int(1), FailedSubmissions: p.int(2)}
		if p.err != nil {
			return nil, p.err
		}
		out = append(out, g)
	}
	return out, nil
}

// parseDays reads the daily_cost visual (day, queries, data_scanned_bytes, cost_usd) into one
// Day per day of [from, to], a day without queries at zero, so that the trend shows the gap.
func parseDays(rows [][]*string, from, to time.Time) ([]report.Day, error) {
	byDay := map[string]report.Day{}
	for i, row := range rows {
		p := cells{row: row, n: i + 1}
		d := report.Day{Day: p.str(0), Queries: p.int(1), DataScannedBytes: p.int(2), CostUSD: p.float(3)}
		if p.err != nil {
			return nil, p.err
		}
		if math.IsNaN(d.CostUSD) {
			d.CostUSD = 0
		}
		// Athena returns a DATE as YYYY-MM-DD; keep the day part of anything longer.
		d.Day = d.Day[:min(len(d.Day), len(time.DateOnly))]
		byDay[d.Day] = d
	}
	var out []report.Day
	for t := from; !t.After(to); t = t.AddDate(0, 0, 1) {
		day := t.Format(time.DateOnly)
		d, ok := byDay[day]
		if !ok {
			d = report.Day{Day: day}
		}
		out = append(out, d)
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
