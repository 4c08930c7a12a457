package reportrun

import (
	"fmt"
	"math"
	"strconv"

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

func parseCells(rows [][]*string) ([]report.Cell, error) {
	out := make([]report.Cell, 0, len(rows))
	for i, row := range rows {
		p := cells{row: row, n: i + 1}
		c := report.Cell{User: p.str(0), Database: p.str(1), Queries: p.int(2), AvgMBScanned: p.float(3)}
		if p.err != nil {
			return nil, p.err
		}
		out = append(out, c)
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
