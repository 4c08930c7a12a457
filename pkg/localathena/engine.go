package localathena

import (
	"context"

	"github.com/athenausage/athena-usage/pkg/localsql"
)

// Executor runs one SQL statement in a database ("" when the query gave none). A failure of
// type *localsql.Error is copied into the execution's AthenaError; any other error fails the
// query as an engine error.
type Executor interface {
	Execute(ctx context.Context, database, sql string) (*localsql.Result, error)
}

var _ Executor = (*localsql.Engine)(nil)
