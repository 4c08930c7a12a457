package athenaserver

import (
	"context"

	"github.com/athenausage/athena-usage/local/sqlengine"
)

// Executor runs one SQL statement in a database ("" when the query gave none), handing its
// rows to w as they come (the returned Result holds none) so that the stand-in streams them into
// the result file. A failure of type *sqlengine.Error is copied into the execution's
// AthenaError; any other error fails the query as an engine error.
type Executor interface {
	ExecuteTo(ctx context.Context, database, sql string, w sqlengine.RowWriter) (*sqlengine.Result, error)
}

var _ Executor = (*sqlengine.Engine)(nil)
