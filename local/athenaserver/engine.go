package athenaserver

import (
	"context"

	"github.com/athenausage/athena-usage/local/sqlengine"
)

// Executor runs one SQL statement in a database ("" when the query gave none). A failure of
// type *sqlengine.Error is copied into the execution's AthenaError; any other error fails the
// query as an engine error.
type Executor interface {
	Execute(ctx context.Context, database, sql string) (*sqlengine.Result, error)
}

var _ Executor = (*sqlengine.Engine)(nil)
