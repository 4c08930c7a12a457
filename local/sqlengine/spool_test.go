package sqlengine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestResultSpooled checks what reading a result back a slice at a time must keep: every row,
// in the statement's order, over several slices, and the columns' names, duplicates included.
func TestResultSpooled(t *testing.T) {
	dir := t.TempDir()
	e := newTestEngine(t, newFakeS3(), dir)
	const n = 2*resultSlice + 17
	// 0 to 9,999 from four digits; Trino's sequence() has no DuckDB macro here.
	res, err := e.Execute(context.Background(), "", fmt.Sprintf(`WITH d AS (SELECT * FROM (VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)) AS t(d)),
		n AS (SELECT a.d * 1000 + b.d * 100 + c.d * 10 + u.d AS x FROM d a, d b, d c, d u)
		SELECT x, x, CAST(x AS varchar) AS s FROM n WHERE x BETWEEN 1 AND %d ORDER BY x DESC`, n))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != n {
		t.Fatalf("rows = %d, want %d", len(res.Rows), n)
	}
	for i, row := range res.Rows {
		if want := fmt.Sprint(n - i); *row[0] != want || *row[1] != want || *row[2] != want {
			t.Fatalf("row %d = %s %s %s, want %s", i, *row[0], *row[1], *row[2], want)
		}
	}
	if got := fmt.Sprint(res.Columns); got != "[{x integer} {x integer} {s varchar}]" {
		t.Errorf("columns = %s, want x, x and s", got)
	}
}

// TestEngineTmp checks that DuckDB is bounded and spills into the engine's own folder in the
// state directory, which Close removes.
func TestEngineTmp(t *testing.T) {
	dir := t.TempDir()
	e := newTestEngine(t, newFakeS3(), dir)
	res, err := e.Execute(context.Background(), "", "SELECT current_setting('memory_limit') AS m, current_setting('temp_directory') AS d")
	if err != nil {
		t.Fatal(err)
	}
	if got := *res.Rows[0][0]; got != "576.0 MiB" {
		t.Errorf("memory_limit = %s, want 576.0 MiB", got)
	}
	spill := *res.Rows[0][1]
	if rel, err := filepath.Rel(filepath.Join(dir, tmpDir), spill); err != nil || !filepath.IsLocal(rel) {
		t.Errorf("temp_directory = %s, want a folder under %s", spill, filepath.Join(dir, tmpDir))
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, tmpDir))
	if err != nil || len(entries) != 0 {
		t.Errorf("after Close, %s holds %v (%v), want nothing", filepath.Join(dir, tmpDir), entries, err)
	}
}

// TestOutOfMemoryRetried checks that a statement DuckDB cannot fit in the memory limit runs
// again with up to maxMemoryGrowth times the limit, which is restored after, and that one
// beyond that fails with DuckDB's error.
func TestOutOfMemoryRetried(t *testing.T) {
	e, err := Open(Options{Dir: t.TempDir(), S3: newFakeS3(), MemoryLimit: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	// Groups whose aggregate state holds strings, which DuckDB cannot spill: rows × 10 KB.
	query := func(rows int) string {
		return fmt.Sprintf(`WITH d AS (SELECT * FROM (VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)) AS t(d)),
			n AS (SELECT a.d * 1000 + b.d * 100 + c.d * 10 + u.d AS x FROM d a, d b, d c, d u)
			SELECT count(*) AS groups, sum(length(s)) AS chars FROM (SELECT x, max(lpad(CAST(x AS varchar), 10000, 'x')) AS s FROM n WHERE x < %d GROUP BY x)`, rows)
	}
	ctx := context.Background()
	if _, err := e.Execute(ctx, "", query(3000)); err != nil {
		t.Errorf("30 MB of state at a 16 MiB limit (64 MiB at most) = %v, want it run", err)
	}
	res, err := e.Execute(ctx, "", "SELECT current_setting('memory_limit') AS m")
	if err != nil || *res.Rows[0][0] != "16.0 MiB" {
		t.Errorf("memory_limit after the retry = %v (%v), want 16.0 MiB again", res, err)
	}
	if _, err := e.Execute(ctx, "", query(10000)); !isOutOfMemory(err) {
		t.Errorf("100 MB of state at a 16 MiB limit = %v, want DuckDB's Out of Memory Error", err)
	}
}
