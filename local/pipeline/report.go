package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/athenausage/athena-usage/pkg/report"
	"github.com/athenausage/athena-usage/pkg/reportrun"
)

// ErrNoTables is returned when a report runs over a state directory the pipeline has not run in.
var ErrNoTables = reportrun.ErrNoTables

// Reports returns the report runner over the stack's database and workgroup: the one that
// `athena-usage report` runs against a deployed stack.
func (s *Stack) Reports() *reportrun.Runner {
	return reportrun.New(s.AthenaClient(Region), Database, func(o *reportrun.Options) {
		o.Workgroup = Workgroup
		o.Query = append(o.Query, localQueries)
	})
}

// Query runs one SQL statement through the Athena stand-in and returns its rows (the header
// row dropped), paging through GetQueryResults as a client of Athena would.
func (s *Stack) Query(ctx context.Context, sql string) ([][]*string, error) {
	rows, _, err := s.Reports().Query(ctx, sql)
	return rows, localErr(err)
}

// Report runs the report queries over the views for the inclusive window [from, to].
func (s *Stack) Report(ctx context.Context, by string, from, to time.Time, pricePerTB float64) (*report.Report, error) {
	r, _, err := s.ReportCost(ctx, by, from, to, pricePerTB)
	return r, err
}

// ReportCost is Report with what the report queries scanned.
func (s *Stack) ReportCost(ctx context.Context, by string, from, to time.Time, pricePerTB float64) (*report.Report, reportrun.Cost, error) {
	r, cost, err := s.Reports().Run(ctx, by, from, to, pricePerTB)
	return r, cost, localErr(err)
}

// localErr says how to get the tables locally.
func localErr(err error) error {
	if errors.Is(err, reportrun.ErrNoTables) {
		return fmt.Errorf("%w; run the pipeline first (athena-usage local run or demo)", err)
	}
	return err
}
