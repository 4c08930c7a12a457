package apioutput

import (
	"bytes"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
)

func sampleExecution() types.QueryExecution {
	sub := time.Date(2024, 3, 5, 10, 11, 12, 345e6, time.UTC)
	done := sub.Add(2500 * time.Millisecond)
	return types.QueryExecution{
		QueryExecutionId:      aws.String("b621c254-74e0-48e3-9630-78ed857782f9"),
		QueryExecutionContext: &types.QueryExecutionContext{Database: aws.String("sales"), Catalog: aws.String("AwsDataCatalog")},
		StatementType:         types.StatementTypeDml,
		SubstatementType:      aws.String("SELECT"),
		WorkGroup:             aws.String("analysts"),
		Statistics: &types.QueryExecutionStatistics{
			EngineExecutionTimeInMillis:   aws.Int64(2100),
			DataScannedInBytes:            aws.Int64(123456789),
			TotalExecutionTimeInMillis:    aws.Int64(2500),
			QueryQueueTimeInMillis:        aws.Int64(120),
			QueryPlanningTimeInMillis:     aws.Int64(300),
			ServiceProcessingTimeInMillis: aws.Int64(80),
			ResultReuseInformation:        &types.ResultReuseInformation{ReusedPreviousResult: false},
		},
		Status: &types.QueryExecutionStatus{
			State:              types.QueryExecutionStateFailed,
			SubmissionDateTime: &sub,
			CompletionDateTime: &done,
			StateChangeReason:  aws.String("ignored when AthenaError has a message"),
			AthenaError: &types.AthenaError{
				ErrorCategory: aws.Int32(2),
				ErrorType:     aws.Int32(1006),
				ErrorMessage:  aws.String("line 1:8: Column 'a,b' cannot be resolved\n\"quoted\" \\ back\r\nslash"),
			},
		},
		EngineVersion: &types.EngineVersion{EffectiveEngineVersion: aws.String("Athena engine version 3")},
	}
}

func TestRoundTrip(t *testing.T) {
	rows := []Row{
		FromExecution(sampleExecution()),
		Unprocessed("00000000-0000-0000-0000-000000000000", "InvalidRequestException"),
		{QueryID: `odd,id"with\stuff`, Database: `\N`},
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, r := range rows {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(buf.String(), "\n"); got != len(rows) {
		t.Fatalf("wrote %d lines for %d rows, want one line a row:\n%s", got, len(rows), buf.String())
	}
	r := NewReader(&buf)
	for i, want := range rows {
		got, err := r.Read()
		if err != nil {
			t.Fatalf("Read row %d: %v", i, err)
		}
		// Times come back parsed; compare them by instant.
		if !sameTime(got.SubmissionTime, want.SubmissionTime) || !sameTime(got.CompletionTime, want.CompletionTime) {
			t.Errorf("row %d times = %v, %v, want %v, %v", i, got.SubmissionTime, got.CompletionTime, want.SubmissionTime, want.CompletionTime)
		}
		got.SubmissionTime, got.CompletionTime, want.SubmissionTime, want.CompletionTime = nil, nil, nil, nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("row %d = %+v, want %+v", i, got, want)
		}
	}
	if _, err := r.Read(); err != io.EOF {
		t.Errorf("Read after last row = %v, want io.EOF", err)
	}
}

func TestFromExecution(t *testing.T) {
	r := FromExecution(sampleExecution())
	if r.Status != "FAILED" || r.StatementType != "DML" || *r.DataScannedBytes != 123456789 || r.Catalog != "AwsDataCatalog" || r.EngineVersion != "Athena engine version 3" {
		t.Errorf("FromExecution = %+v", r)
	}
	if !strings.HasPrefix(r.ErrorMessage, "line 1:8") || *r.ErrorCategory != 2 || *r.ErrorType != 1006 {
		t.Errorf("FromExecution error fields = %q %v %v", r.ErrorMessage, r.ErrorCategory, r.ErrorType)
	}
	q := sampleExecution()
	q.Status.AthenaError = nil
	if got := FromExecution(q).ErrorMessage; got != "ignored when AthenaError has a message" {
		t.Errorf("FromExecution without AthenaError: message = %q, want the StateChangeReason", got)
	}
}

func TestWriteFormat(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	_ = w.Write(FromExecution(sampleExecution()))
	_ = w.Write(Unprocessed("q-2", "InvalidRequestException"))
	_ = w.Flush()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	want0 := `b621c254-74e0-48e3-9630-78ed857782f9,sales,2100,123456789,FAILED,2024-03-05T10:11:12.345Z,2024-03-05T10:11:14.845Z,analysts,DML,SELECT,2500,120,300,80,false,Athena engine version 3,2,1006,line 1:8: Column 'a\,b' cannot be resolved\n"quoted" \\ back\r\nslash,AwsDataCatalog,\N`
	if lines[0] != want0 {
		t.Errorf("line 0 =\n%s\nwant\n%s", lines[0], want0)
	}
	want1 := `q-2,\N,\N,\N,\N,\N,\N,\N,\N,\N,\N,\N,\N,\N,\N,\N,\N,\N,\N,\N,InvalidRequestException`
	if lines[1] != want1 {
		t.Errorf("line 1 = %s, want %s", lines[1], want1)
	}
	if got := strings.Count(lines[1], ",") + 1; got != len(Columns) {
		t.Errorf("fields = %d, want %d", got, len(Columns))
	}
}

func TestParseLineErrors(t *testing.T) {
	tests := []struct{ line, want string }{
		{"a,b", "got 2 fields"},
		{strings.Repeat(`\N,`, 2) + "notanumber" + strings.Repeat(`,\N`, 18), "column executiontime"},
		{strings.Repeat(`\N,`, 14) + "maybe" + strings.Repeat(`,\N`, 6), "column result_reused"},
		{strings.Repeat(`\N,`, 5) + "yesterday" + strings.Repeat(`,\N`, 15), "column submissiondatetime"},
	}
	for _, tt := range tests {
		if _, err := ParseLine(tt.line); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseLine(%q) error = %v, want %q", tt.line, err, tt.want)
		}
	}
	r := NewReader(strings.NewReader("q-1" + strings.Repeat(`,\N`, 20) + "\nbroken\n"))
	if _, err := r.Read(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("Read(bad line 2) error = %v, want it to name line 2", err)
	}
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
