package sqlengine

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestFunctions(t *testing.T) {
	e := newTestEngine(t, newFakeS3(), t.TempDir())
	for _, c := range []struct{ expr, want, typ string }{
		{`json_extract_scalar('{"a":{"b":"x"}}', '$.a.b')`, "x", "varchar"},
		{`json_extract_scalar('{"a":{"b":"x"}}', '$.a')`, "NULL", "varchar"},
		{`json_extract_scalar('not json', '$.a')`, "NULL", "varchar"},
		{`from_iso8601_timestamp('2024-03-05T10:11:12.345Z')`, "2024-03-05 10:11:12.345 UTC", "timestamp with time zone"},
		{`date_add('day', 2, from_iso8601_timestamp('2024-03-05T10:11:12Z'))`, "2024-03-07 10:11:12.000 UTC", "timestamp with time zone"},
		{`date_add('hour', -1, TIMESTAMP '2024-03-05 00:30:00')`, "2024-03-04 23:30:00.000", "timestamp"},
		{`date_diff('day', TIMESTAMP '2024-01-01 23:00:00', TIMESTAMP '2024-01-03 01:00:00')`, "1", "bigint"},
		{`to_iso8601(from_iso8601_timestamp('2024-03-05T10:11:12Z'))`, "2024-03-05T10:11:12.000Z", "varchar"},
		{`date_format(TIMESTAMP '2024-03-05 10:11:12', '%Y-%m-%d %H:%i:%s')`, "2024-03-05 10:11:12", "varchar"},
		{`now()`, "2024-03-10 12:00:00.000 UTC", "timestamp with time zone"},
		{`current_date`, "2024-03-10", "date"},
		{`1.5e0`, "1.5", "double"},
		{`CAST(1 AS DOUBLE) / 1000`, "0.001", "double"},
		{`7 / 2`, "3", "integer"},
		{`true`, "true", "boolean"},
		{`CAST(ROW(1, 'x') AS ROW(a INTEGER, b VARCHAR))`, "{a=1, b=x}", "row(a integer, b varchar)"},
		{`ARRAY[1, 2]`, "[1, 2]", "array(integer)"},
		{`DATE '2024-03-05'`, "2024-03-05", "date"},
	} {
		res, err := e.Execute(context.Background(), "", "SELECT "+c.expr+" AS v")
		if err != nil {
			t.Errorf("SELECT %s: %v", c.expr, err)
			continue
		}
		got := "NULL"
		if v := res.Rows[0][0]; v != nil {
			got = *v
		}
		if got != c.want || res.Columns[0].Type != c.typ {
			t.Errorf("SELECT %s = %q (%s), want %q (%s)", c.expr, got, res.Columns[0].Type, c.want, c.typ)
		}
	}
	res, err := e.Execute(context.Background(), "", `SELECT count_if(x > 1) AS c, min_by(y, x) AS m, max_by(y, x) AS mx,
		approx_distinct(x) AS d, arbitrary(x) IS NOT NULL AS a
		FROM (VALUES (1, CAST(NULL AS VARCHAR)), (2, 'b'), (3, 'c')) t(x, y)`)
	if err != nil {
		t.Fatal(err)
	}
	got := records(res)[0]
	for k, want := range map[string]string{"c": "2", "m": "NULL", "mx": "c", "d": "3", "a": "true"} {
		if got[k] != want {
			t.Errorf("aggregate %s = %q, want %q", k, got[k], want)
		}
	}
}

func TestConcurrentExecute(t *testing.T) {
	e := newTestEngine(t, newFakeS3(), t.TempDir())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.Execute(context.Background(), testDB, "SELECT count(*) FROM athena_usage_daily")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Execute: %v", err)
		}
	}
}

func TestCreateTable(t *testing.T) {
	f := newFakeS3()
	e := newTestEngine(t, f, t.TempDir())
	ddl := "CREATE EXTERNAL TABLE IF NOT EXISTS `athena_usage_test`.`events` (\n" +
		"  id BIGINT COMMENT 'the id',\n  name VARCHAR(3),\n  price DECIMAL(10,2),\n  ok BOOLEAN,\n" +
		"  tags ARRAY<STRING>,\n  attrs MAP<STRING,INT>,\n  who STRUCT<name: STRING, inner: STRUCT<n: INT>>\n)\n" +
		"PARTITIONED BY (day STRING)\n" +
		"ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'\n" +
		"WITH SERDEPROPERTIES ('ignore.malformed.json' = 'true', 'x' = '\\\\')\n" +
		"LOCATION 's3://b/events/'\n" +
		"TBLPROPERTIES ('projection.enabled'='true', 'projection.day.type'='date', 'projection.day.format'='yyyy/MM/dd',\n" +
		"  'projection.day.range'='2020/01/01,NOW', 'storage.location.template'='s3://b/events/${day}/')"
	res := exec(t, e, ddl)
	if res.StatementType != "DDL" || res.SubstatementType != "CREATE_TABLE" {
		t.Errorf("CREATE EXTERNAL TABLE types = %s/%s, want DDL/CREATE_TABLE", res.StatementType, res.SubstatementType)
	}
	if got := e.cat.table(testDB, "events").SerDeProps["x"]; got != `\` {
		t.Errorf("SERDEPROPERTIES 'x' = %q, want one backslash", got)
	}
	f.put("b", "events/2024/03/05/1.json", []byte(`{"ID": 7, "name": "abcdef", "price": "12.5", "ok": true, "tags": ["x"],`+
		` "attrs": {"k": 1}, "Who": {"Name": "n", "inner": {"n": 2}}}`+"\n"))
	f.calls()
	got := records(exec(t, e, "SELECT id, name, price, ok, tags, who, who.inner.n AS n, day FROM events"))
	want := map[string]string{"id": "7", "name": "abc", "price": "12.50", "ok": "true", "tags": "[x]",
		"who": "{name=n, inner={n=2}}", "n": "2", "day": "2024/03/05"}
	if len(got) != 1 {
		t.Fatalf("rows = %v, want 1", got)
	}
	for k, v := range want {
		if got[0][k] != v {
			t.Errorf("column %s = %q, want %q", k, got[0][k], v)
		}
	}
	// Four years of days are more than it pays to list one by one: one listing of the location.
	if _, lists := f.calls(); len(lists) != 1 || lists[0] != "b/events/" {
		t.Errorf("unfiltered query over a long projection listed %v, want [b/events/]", lists)
	}
	desc := records(exec(t, e, "DESCRIBE events"))
	if len(desc) != 8 || desc[6]["data_type"] != "struct<name:string,inner:struct<n:int>>" {
		t.Errorf("DESCRIBE events = %v", desc)
	}
}

func TestOpenCSVLine(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`"a","b,c",""`, `a|b,c|`},
		{`"say ""hi""",x`, `say "hi"|x`},
		{`a,,c`, `a||c`},
		{`"C:\Users\x","q\"q"`, `C:Usersx|q"q`},
		{`"open,x`, ``},
		{`"a",b"c"d,e`, `a|b"c"d|e`},
	} {
		var parts []string
		for _, f := range openCSVLine(c.in, ',', '"', '\\') {
			parts = append(parts, *f)
		}
		if got := strings.Join(parts, "|"); got != c.want {
			t.Errorf("openCSVLine(%s) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestJavaDouble(t *testing.T) {
	for _, c := range []struct {
		in   float64
		want string
	}{
		{1.5, "1.5"}, {10, "10.0"}, {0.001, "0.001"}, {0.0001, "1.0E-4"}, {1e7, "1.0E7"},
		{12345678.9, "1.23456789E7"}, {-2.5e-5, "-2.5E-5"}, {0, "0.0"},
	} {
		if got := javaDouble(c.in, 64); got != c.want {
			t.Errorf("javaDouble(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestPushdown checks which references a filter on the output column day reaches.
func TestPushdown(t *testing.T) {
	for _, c := range []struct {
		sql  string
		want []string // per reference: the filtered columns, "" for none
	}{
		{"SELECT dt AS day FROM t", []string{"dt"}},
		{"SELECT x.dt day FROM t x", []string{"dt"}},
		{"SELECT day FROM (SELECT dt AS day FROM t UNION ALL SELECT dt FROM u)", []string{"dt", "dt"}},
		{"SELECT day FROM (SELECT dt AS day FROM t UNION ALL SELECT concat(dt, '') FROM u)", []string{"dt", ""}},
		{"SELECT q.dt AS day FROM t q LEFT JOIN u a ON a.dt = q.dt", []string{"dt", "dt"}},
		{"SELECT q.dt AS day FROM t q, u a WHERE a.dt = q.dt", []string{"dt", "dt"}},
		{"SELECT a.dt AS day FROM t q LEFT JOIN u a ON a.k = q.k", []string{"", "dt"}},
		{"SELECT q.k AS day FROM t q LEFT JOIN u a ON a.dt = q.dt AND a.dt = '2024-03-05'", []string{"k", ""}},
		// The ON clause of b says nothing of the rows of a it does not join.
		{"SELECT q.dt AS day FROM t q CROSS JOIN u a LEFT JOIN v b ON a.dt = q.dt", []string{"dt", "", ""}},
		{"SELECT q.dt AS day FROM t q CROSS JOIN u a LEFT JOIN v b ON b.dt = a.dt", []string{"dt", "", ""}},
		{"SELECT dt AS day FROM t LIMIT 10", []string{""}},
		{"SELECT dt AS day FROM t EXCEPT SELECT dt FROM u", []string{"", ""}},
		{"SELECT dt AS day, row_number() OVER (ORDER BY x) AS n FROM t", []string{""}},
		{"SELECT dt AS day, count(*) AS n FROM t GROUP BY ROLLUP (dt)", []string{""}},
		{"SELECT * FROM t", []string{""}},
		{"WITH w AS (SELECT dt FROM t) SELECT dt AS day FROM w", []string{""}},
		{"SELECT max(dt) AS day FROM t", []string{""}},
	} {
		toks, err := lex(c.sql, modeSQL)
		if err != nil {
			t.Fatal(err)
		}
		s := &site{src: c.sql, toks: toks, refs: references(toks, "db")}
		out := pushdown(s, map[string]*filter{"day": {eq: []string{"2024-03-05"}}})
		var got []string
		for _, m := range out {
			var cols []string
			for col := range m {
				cols = append(cols, col)
			}
			got = append(got, strings.Join(cols, ","))
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("pushdown(%q) = %q, want %q", c.sql, got, c.want)
		}
	}
}

// TestDefaultDatabase checks that the default database exists before anything creates it, as in
// Athena, both for qualified names and as the statement's database.
func TestDefaultDatabase(t *testing.T) {
	e, err := Open(Options{Dir: t.TempDir(), S3: newFakeS3()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	for _, c := range []struct{ database, sql string }{
		{"", "CREATE EXTERNAL TABLE default.cloudtrail_logs (eventname STRING) LOCATION 's3://b/ct/'"},
		{"default", "CREATE EXTERNAL TABLE t2 (a STRING) LOCATION 's3://b/t2/'"},
		{"default", "SELECT count(*) AS n FROM cloudtrail_logs"},
		{"", "SHOW TABLES IN default"},
	} {
		if _, err := e.Execute(context.Background(), c.database, c.sql); err != nil {
			t.Errorf("Execute(%q, %q) = %v, want no error", c.database, c.sql, err)
		}
	}
	res, err := e.Execute(context.Background(), "", "SHOW DATABASES")
	if err != nil {
		t.Fatal(err)
	}
	if got := records(res); len(got) != 1 || got[0]["database_name"] != "default" {
		t.Errorf("SHOW DATABASES = %v, want [default]", got)
	}
	if _, err := e.Execute(context.Background(), "", "DROP DATABASE default CASCADE"); err == nil {
		t.Errorf("DROP DATABASE default = nil error, want one")
	}
}
