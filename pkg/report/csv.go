package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
)

// CSVColumns returns the header of WriteCSV's output for a grouping ("user", "role" or
// "database"), or nil for an unknown one.
func CSVColumns(by string) []string {
	k, ok := keyColumn[by]
	if !ok {
		return nil
	}
	// The columns scripts read come first, in this order; later
	// additions go at the end so that positional readers keep working.
	return []string{k, "queries", "queries_without_stats", "succeeded", "failed", "cancelled",
		"data_scanned_bytes", "engine_execution_ms", "cost_usd", "failed_submissions"}
}

// WriteCSV writes one header row and one row per group, in r.Groups order, with full keys (never
// shortened) and the cost with six decimals.
func WriteCSV(w io.Writer, r *Report) error {
	if err := r.check(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVColumns(r.By)); err != nil {
		return fmt.Errorf("write csv header: %w", err)
	}
	i := strconv.FormatInt
	for _, g := range r.Groups {
		rec := []string{g.Key, i(g.Queries, 10), i(g.QueriesWithoutStats, 10), i(g.Succeeded, 10),
			i(g.Failed, 10), i(g.Cancelled, 10), i(g.DataScannedBytes, 10),
			i(g.EngineExecutionMS, 10), strconv.FormatFloat(g.CostUSD, 'f', 6, 64), i(g.FailedSubmissions, 10)}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write csv row %q: %w", g.Key, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}
