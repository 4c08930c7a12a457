package sqlengine

import (
	"context"
	"reflect"
	"testing"

	"github.com/athenausage/athena-usage/pkg/athenasql"
)

// TestTry checks Trino's try(): an expression that fails on a row is NULL for that row instead
// of failing the query, as a view that parses event times needs for rows it cannot parse.
func TestTry(t *testing.T) {
	e := newTestEngine(t, newFakeS3(), t.TempDir())
	tests := []struct{ sql, want string }{
		{`SELECT try(CAST('x' AS INTEGER))`, "NULL"},
		{`SELECT try(CAST('7' AS INTEGER))`, "7"},
		{`SELECT try(from_iso8601_timestamp('05/03/2025 10:00:00')) IS NULL`, "true"},
		{`SELECT CAST(try(from_iso8601_timestamp('2025-03-05T10:00:00Z')) AS TIMESTAMP)`, "2025-03-05 10:00:00.000"},
		{`SELECT count(try(from_iso8601_timestamp(s))) FROM (VALUES ('2025-03-05T10:00:00Z'), ('bad'), (NULL)) t(s)`, "1"},
	}
	for _, tt := range tests {
		res, err := e.Execute(context.Background(), testDB, tt.sql)
		if err != nil {
			t.Errorf("Execute(%s): %v", tt.sql, err)
			continue
		}
		got := "NULL"
		if v := res.Rows[0][0]; v != nil {
			got = *v
		}
		if got != tt.want {
			t.Errorf("Execute(%s) = %s, want %s", tt.sql, got, tt.want)
		}
	}
}

// TestOldPartitionWithBadEventTime reads a partition written before the extraction left bad
// records out and before it had the bad-record columns: its unparsable event time is NULL in
// athena_usage, through try(), and the query does not fail.
func TestOldPartitionWithBadEventTime(t *testing.T) {
	f := newFakeS3()
	e := newTestEngine(t, f, t.TempDir())
	csv := `"query_id","event_time","account_id","aws_region","user_arn","user_type","principal_id","user_name","session_issuer","source_ip","user_agent","workgroup","query_database","error_code","submissions"
"q1","05/03/2024 10:00:00","123456789012","us-east-1","arn:aws:iam::123456789012:user/a","IAMUser","","","","","","primary","","","1"
"q2","2024-03-05T11:00:00Z","123456789012","us-east-1","arn:aws:iam::123456789012:user/a","IAMUser","","","","","","primary","","","1"
`
	f.put(dataBucket, athenasql.QueriesKey(dataPrefix, testDay), []byte(csv))
	rows := records(exec(t, e, `SELECT query_id, event_time FROM "`+testDB+`"."athena_usage" ORDER BY query_id`))
	want := []map[string]string{{"query_id": "q1", "event_time": "NULL"}, {"query_id": "q2", "event_time": "2024-03-05 11:00:00.000"}}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("athena_usage rows = %v, want %v", rows, want)
	}
}
