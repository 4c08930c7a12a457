package athenaserver

import (
	"context"
	"strings"
	"testing"

	"github.com/athenausage/athena-usage/local/sqlengine"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// engineS3 adds the listing the SQL engine needs to the fake; no tables are read here.
type engineS3 struct{ *fakeS3 }

func (engineS3) ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	return &s3.ListObjectsV2Output{}, nil
}

// TestWithSQLEngine runs queries through local/sqlengine, the engine the stand-in runs in the
// local stack.
func TestWithSQLEngine(t *testing.T) {
	fs3 := newFakeS3()
	engine, err := sqlengine.Open(sqlengine.Options{Dir: t.TempDir(), S3: engineS3{fs3}})
	if err != nil {
		t.Fatalf("sqlengine.Open: %v", err)
	}
	defer engine.Close()
	_, c := start(t, Options{Engine: engine, S3: fs3, DisableQuotas: true}, noRetries)
	ctx := context.Background()

	id := startQuery(t, c, `SELECT 'say "hi"' AS s, CAST(NULL AS varchar) AS nothing, 42 AS n`)
	q := wait(t, c, id)
	if q.Status.State != types.QueryExecutionStateSucceeded {
		t.Fatalf("state = %s (%s), want SUCCEEDED", q.Status.State, aws.ToString(q.Status.StateChangeReason))
	}
	csv, ok := fs3.object("results-bucket", "athena/"+id+".csv")
	if want := "\"s\",\"nothing\",\"n\"\n\"say \"\"hi\"\"\",,\"42\"\n"; !ok || string(csv) != want {
		t.Errorf("result CSV = %q, want %q", csv, want)
	}
	res, err := c.GetQueryResults(ctx, &athena.GetQueryResultsInput{QueryExecutionId: aws.String(id)})
	if err != nil {
		t.Fatalf("GetQueryResults: %v", err)
	}
	if got, want := renderRows(res.ResultSet.Rows), "s|nothing|n|\nsay \"hi\"|NULL|42|\n"; got != want {
		t.Errorf("GetQueryResults rows = %q, want %q", got, want)
	}

	// Unaliased expressions are named as Athena names them.
	id = startQuery(t, c, "SELECT n, count(*) FROM (VALUES (1), (2)) t(n) GROUP BY n")
	if q = wait(t, c, id); q.Status.State != types.QueryExecutionStateSucceeded {
		t.Fatalf("state = %s (%s), want SUCCEEDED", q.Status.State, aws.ToString(q.Status.StateChangeReason))
	}
	res, err = c.GetQueryResults(ctx, &athena.GetQueryResultsInput{QueryExecutionId: aws.String(id)})
	if err != nil {
		t.Fatalf("GetQueryResults: %v", err)
	}
	var names []string
	for _, ci := range res.ResultSet.ResultSetMetadata.ColumnInfo {
		names = append(names, aws.ToString(ci.Name))
	}
	if got, want := strings.Join(names, ","), "n,_col1"; got != want {
		t.Errorf("ColumnInfo names = %s, want %s", got, want)
	}

	id = startQuery(t, c, "SELECT * FROM no_such_table")
	q = wait(t, c, id)
	if q.Status.State != types.QueryExecutionStateFailed || q.Status.AthenaError == nil || aws.ToInt32(q.Status.AthenaError.ErrorCategory) != 2 {
		t.Errorf("query of a missing table: %s %+v, want FAILED with a user error", q.Status.State, q.Status.AthenaError)
	}
	if !strings.Contains(aws.ToString(q.Status.StateChangeReason), "does not exist") {
		t.Errorf("StateChangeReason = %q, want the engine's \"does not exist\"", aws.ToString(q.Status.StateChangeReason))
	}
}
