package sqlengine

import (
	"context"
	"slices"
	"testing"
)

func TestAthenaColumnNames(t *testing.T) {
	e, err := Open(Options{Dir: t.TempDir(), S3: newFakeS3()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	const tv = "(VALUES (1, 'x', CAST(ROW(2) AS ROW(n INTEGER)))) t(a, b, r)"
	for _, c := range []struct {
		sql  string
		want []string
	}{
		{"SELECT count(*) FROM " + tv, []string{"_col0"}},
		{"SELECT a, count(*) FROM " + tv + " GROUP BY a", []string{"a", "_col1"}},
		{"SELECT a, count(*) AS n, count(*) c FROM " + tv + " GROUP BY a", []string{"a", "n", "c"}},
		{"SELECT t.a, b x, r.n, a + 1, 'lit', lower(b) FROM " + tv, []string{"a", "x", "n", "_col3", "_col4", "_col5"}},
		{"SELECT *, a * 2 FROM " + tv, []string{"a", "b", "r", "_col3"}},
		{"WITH w (k) AS (SELECT a FROM " + tv + "), v AS (SELECT 1) SELECT k, k IS NULL FROM w", []string{"k", "_col1"}},
		{"(SELECT DISTINCT max(a) FROM " + tv + ") UNION ALL SELECT 2", []string{"_col0"}},
		{"SELECT CASE WHEN a > 0 THEN 1 END FROM " + tv, []string{"_col0"}},
		{"SELECT lower(b) lb, a AND true, a\n FROM " + tv, []string{"lb", "_col1", "a"}},
		{"VALUES (1, 2)", []string{"_col0", "_col1"}},
		{"SELECT date, t.timestamp, current_date, null FROM (VALUES (1, 2)) t(date, timestamp)", []string{"date", "timestamp", "_col2", "_col3"}},
	} {
		res, err := e.Execute(context.Background(), "", c.sql)
		if err != nil {
			t.Errorf("Execute(%q): %v", c.sql, err)
			continue
		}
		var got []string
		for _, col := range res.Columns {
			got = append(got, col.Name)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("Execute(%q) columns = %v, want %v", c.sql, got, c.want)
		}
	}
}
