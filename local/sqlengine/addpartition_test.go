package sqlengine

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// awsDDL returns one of AWS's documented CloudTrail DDLs from testdata (verbatim, from the
// Athena user guide: cloudtrail_manual_partitions.sql from "Creating a table for CloudTrail
// logs in Athena using manual partitioning", cloudtrail_serde.sql from "CloudTrail SerDe"),
// with its LOCATION replaced by location.
func awsDDL(t *testing.T, file, location string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	ddl := string(b)
	i := strings.LastIndex(ddl, "LOCATION '")
	if i < 0 {
		t.Fatalf("%s has no LOCATION", file)
	}
	return ddl[:i] + "LOCATION '" + location + "';\n"
}

// TestAddPartition checks that the manual-partition DDL reads the partitions ALTER TABLE ADD
// PARTITION registered and nothing else, and that the CloudTrail SerDe's DDL, which has no
// partitions, reads the same events from the whole location.
func TestAddPartition(t *testing.T) {
	f := newFakeS3()
	e := newTestEngine(t, f, t.TempDir())
	// In default, as a user who follows AWS's guide creates it.
	exec := func(t *testing.T, e *Engine, stmt string) *Result {
		t.Helper()
		res, err := e.Execute(t.Context(), "default", stmt)
		if err != nil {
			t.Fatalf("%.60q: %v", stmt, err)
		}
		return res
	}
	root := "s3://trail/AWSLogs/123456789012/"
	file := func(id, day string) string {
		return `{"Records": [{"eventVersion": "1.05", "eventID": "` + id + `", "eventTime": "` + day + `T10:00:00Z",` +
			` "eventSource": "athena.amazonaws.com", "eventName": "StartQueryExecution",` +
			` "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/a", "userName": "a"},` +
			` "responseElements": {"queryExecutionId": "q-` + id + `"}}]}`
	}
	f.put("trail", "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/04/a.json", []byte(file("e1", "2024-03-04")))
	f.put("trail", "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/05/b.json", []byte(file("e2", "2024-03-05")))
	exec(t, e, awsDDL(t, "cloudtrail_manual_partitions.sql", root+"CloudTrail/"))
	query := `SELECT eventid, useridentity.username AS username, cast(json_extract(responseelements, '$.queryExecutionId') as varchar) AS qid
		FROM cloudtrail_logs ORDER BY eventid`
	if got := records(exec(t, e, query)); len(got) != 0 {
		t.Errorf("before ADD PARTITION: rows = %v, want none (Athena reads registered partitions only)", got)
	}
	add := `ALTER TABLE cloudtrail_logs ADD PARTITION (region='us-east-1', year='2024', month='03', day='05')
		LOCATION '` + root + `CloudTrail/us-east-1/2024/03/05/'`
	if res := exec(t, e, add); res.StatementType != "DDL" {
		t.Errorf("ALTER TABLE ADD PARTITION type = %s, want DDL", res.StatementType)
	}
	want := []map[string]string{{"eventid": "e2", "username": "a", "qid": "q-e2"}}
	if got := records(exec(t, e, query)); !reflect.DeepEqual(got, want) {
		t.Errorf("after ADD PARTITION day=05: rows = %v, want %v", got, want)
	}
	if _, err := e.Execute(t.Context(), "default", add); err == nil || !strings.Contains(err.Error(), "AlreadyExists") {
		t.Errorf("ADD PARTITION twice = %v, want AlreadyExistsException", err)
	}
	exec(t, e, strings.Replace(add, "ADD PARTITION", "ADD IF NOT EXISTS PARTITION", 1)+
		` PARTITION (region='us-east-1', year='2024', month='03', day='04') LOCATION '`+root+`CloudTrail/us-east-1/2024/03/04/'`)
	want = append([]map[string]string{{"eventid": "e1", "username": "a", "qid": "q-e1"}}, want...)
	got := records(exec(t, e, query))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after ADD PARTITION day=04: rows = %v, want %v", got, want)
	}
	if pruned := records(exec(t, e, strings.Replace(query, "ORDER BY", "WHERE day = '04' ORDER BY", 1))); !reflect.DeepEqual(pruned, want[:1]) {
		t.Errorf("WHERE day = '04': rows = %v, want %v", pruned, want[:1])
	}

	exec(t, e, strings.Replace(awsDDL(t, "cloudtrail_serde.sql", root), "cloudtrail_logs", "cloudtrail_logs_serde", 1))
	if old := records(exec(t, e, strings.Replace(query, "cloudtrail_logs", "cloudtrail_logs_serde", 1))); !reflect.DeepEqual(old, got) {
		t.Errorf("CloudTrail SerDe DDL: rows = %v, want the manual-partition DDL's %v", old, got)
	}
}

// TestAddPartitionErrors checks that a partition spec must name the table's partition columns.
func TestAddPartitionErrors(t *testing.T) {
	e := newTestEngine(t, newFakeS3(), t.TempDir())
	exec(t, e, "CREATE EXTERNAL TABLE p (a STRING) PARTITIONED BY (day STRING) LOCATION 's3://b/p/'")
	for _, stmt := range []string{
		"ALTER TABLE p ADD PARTITION (nope='1')",
		"ALTER TABLE p ADD PARTITION (day='1', day='2')",
		"ALTER TABLE missing ADD PARTITION (day='1')",
		"ALTER TABLE p DROP PARTITION (day='1')",
	} {
		if _, err := e.Execute(t.Context(), testDB, stmt); err == nil {
			t.Errorf("%s = nil error, want one", stmt)
		}
	}
}
