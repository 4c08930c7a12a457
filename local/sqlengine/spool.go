package sqlengine

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/duckdb/duckdb-go/v2"
)

// A statement's result is spooled to a table in a database file of the engine's own, and read
// back a slice at a time: duckdb-go materializes every result it returns in memory (it has no
// streaming interface), and a day's extraction returns a million rows. A table in a file is
// written as the statement runs and can be evicted under the memory limit.
const (
	// resultsCatalog is the attached database file; Athena's database names cannot hold "$",
	// so it never meets a user's.
	resultsCatalog = `"$results"`
	resultTable    = resultsCatalog + `.main.result`
	// resultSlice is the number of rows read back at once.
	resultSlice = 2048
	// tmpDir, under the state directory, holds each open engine's folder for its results
	// file and DuckDB's spill files, removed when the engine closes.
	tmpDir = "tmp"
)

// DefaultMemoryLimit is DuckDB's memory limit when Options.MemoryLimit is 0. Above it DuckDB
// spills joins, sorts, windows and aggregates to the engine's temporary folder. A day of a
// million synthetic queries (about 1.5 million CloudTrail records) extracts within it (512 MiB
// was not enough).
const DefaultMemoryLimit = 576 << 20

// maxMemoryGrowth bounds how far a statement that runs out of memory raises the limit: DuckDB
// cannot spill every operator's state (an aggregate's strings), and a day larger or wider
// than the synthetic one is better extracted with more memory than not at all.
const maxMemoryGrowth = 4

// isOutOfMemory reports whether err is DuckDB's "Out of Memory Error".
func isOutOfMemory(err error) bool {
	var qe *Error
	return errors.As(err, &qe) && strings.Contains(qe.Msg, "Out of Memory Error")
}

// spoolWithin runs spool at the engine's memory limit and, when DuckDB runs out of memory,
// again at twice the limit, up to maxMemoryGrowth times it; the limit is restored after.
func (e *Engine) spoolWithin(ctx context.Context, stmt string) error {
	limit := e.memoryLimit
	defer func() {
		if limit != e.memoryLimit {
			e.exec(context.WithoutCancel(ctx), memoryLimitSQL(e.memoryLimit))
		}
	}()
	for {
		err := e.spool(ctx, stmt)
		if !isOutOfMemory(err) || limit >= maxMemoryGrowth*e.memoryLimit {
			return err
		}
		limit *= 2
		if _, serr := e.conn.ExecContext(ctx, memoryLimitSQL(limit)); serr != nil {
			return err
		}
	}
}

func memoryLimitSQL(limit int64) string {
	return fmt.Sprintf("SET memory_limit = '%dMiB'", max(limit>>20, 1))
}

// duckSettings are the statements that bound DuckDB's memory and give it a folder to spill
// to and the results file, all in dir.
func duckSettings(dir string, memoryLimit int64) []string {
	return []string{
		memoryLimitSQL(memoryLimit),
		"SET temp_directory = " + quoteString(filepath.Join(dir, "spill")),
		"ATTACH " + quoteString(filepath.Join(dir, "results.duckdb")) + " AS " + resultsCatalog,
	}
}

// newTmp makes the engine's temporary folder under the state directory.
func newTmp(stateDir string) (string, error) {
	parent := filepath.Join(stateDir, tmpDir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", err
	}
	return os.MkdirTemp(parent, "engine-")
}

// columnNames returns the names of stmt's result columns as DuckDB names them, duplicates
// included (a table made from the result renames them), without running it.
func (e *Engine) columnNames(ctx context.Context, stmt string) ([]string, error) {
	var names []string
	err := e.conn.Raw(func(dc any) error {
		pc, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return errors.New("duckdb connection cannot prepare statements")
		}
		ps, err := pc.PrepareContext(ctx, stmt)
		if err != nil {
			return err
		}
		defer ps.Close()
		ds, ok := ps.(*duckdb.Stmt)
		if !ok {
			return fmt.Errorf("duckdb prepared a %T", ps)
		}
		n, err := ds.ColumnCount()
		if err != nil {
			return err
		}
		names = make([]string, n)
		for i := range names {
			if names[i], err = ds.ColumnName(i); err != nil {
				return err
			}
		}
		return nil
	})
	return names, err
}

// spool runs stmt into the result table.
func (e *Engine) spool(ctx context.Context, stmt string) error {
	if _, err := e.conn.ExecContext(ctx, "CREATE OR REPLACE TABLE "+resultTable+" AS "+stmt); err != nil {
		return duckError("", err)
	}
	return nil
}

// spooledColumns returns the result table's column types and the select list that reads them
// back: a JSON column as its JSON text (jsonText), since duckdb-go decodes JSON into Go values,
// which lose the text (members' order, 1.0).
func (e *Engine) spooledColumns(ctx context.Context) (cts []string, sel string, jsonText []bool, err error) {
	r, err := e.conn.QueryContext(ctx, "SELECT * FROM "+resultTable+" LIMIT 0")
	if err != nil {
		return nil, "", nil, err
	}
	types, err := r.ColumnTypes()
	r.Close()
	if err != nil {
		return nil, "", nil, fmt.Errorf("column types: %w", err)
	}
	list := make([]string, len(types))
	cts, jsonText = make([]string, len(types)), make([]bool, len(types))
	for i, ct := range types {
		cts[i] = ct.DatabaseTypeName()
		list[i] = quoteIdent(ct.Name())
		if jsonText[i] = strings.EqualFold(cts[i], "JSON"); jsonText[i] {
			list[i] = "CAST(" + list[i] + " AS VARCHAR)"
		}
	}
	return cts, strings.Join(list, ", "), jsonText, nil
}
