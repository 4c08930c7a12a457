package history

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
)

func TestReadTimestamps(t *testing.T) {
	want := time.Date(2024, 5, 4, 0, 23, 55, 123_000_000, time.UTC)
	tests := []struct {
		name string
		in   string
		want time.Time
	}{
		{"epoch fractional", `1714782235.123`, want},
		{"epoch integer", `1714782235`, want.Truncate(time.Second)},
		{"epoch exponent", `1.714782235e9`, want.Truncate(time.Second)},
		{"ISO Z millis", `"2024-05-04T00:23:55.123Z"`, want},
		{"ISO CLI offset micros", `"2024-05-04T00:23:55.123000+00:00"`, want},
		{"ISO other offset", `"2024-05-04T02:23:55.123+02:00"`, want},
		{"ISO no fraction", `"2024-05-04T00:23:55Z"`, want.Truncate(time.Second)},
		{"ISO no offset", `"2024-05-04T00:23:55.123"`, want},
		{"ISO space", `"2024-05-04 00:23:55.123+00:00"`, want},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := `{"QueryExecutionId":"a","Status":{"State":"SUCCEEDED","SubmissionDateTime":` + tt.in + `}}`
			qs, errs := Read(strings.NewReader(line), "h.jsonl")
			if len(errs) > 0 || len(qs) != 1 {
				t.Fatalf("Read(%s) = %d executions, errors %v; want 1, none", line, len(qs), errs)
			}
			got := qs[0].Status.SubmissionDateTime
			if got == nil || !got.Equal(tt.want) {
				t.Errorf("Read(%s) SubmissionDateTime = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestReadShapes(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"bare", `{"QueryExecutionId":"q1"}`, []string{"q1"}},
		{"get-query-execution", `{"QueryExecution":{"QueryExecutionId":"q1","Query":"SELECT 1"}}`, []string{"q1"}},
		{"batch-get-query-execution", `{"QueryExecutions":[{"QueryExecutionId":"q1"},{"QueryExecutionId":"q2"}],"UnprocessedQueryExecutionIds":[]}`, []string{"q1", "q2"}},
		{"batch with nothing found", `{"QueryExecutions":[],"UnprocessedQueryExecutionIds":[{"QueryExecutionId":"q9","ErrorCode":"INVALID_INPUT"}]}`, nil},
		{"blank lines and CRLF", "\n{\"QueryExecutionId\":\"q1\"}\r\n\n  \n{\"QueryExecutionId\":\"q2\"}", []string{"q1", "q2"}},
		{"unknown members ignored", `{"QueryExecutionId":"q1","ResultReuseConfiguration":{"ResultReuseByAgeConfiguration":{"Enabled":false}},"Statistics":{"DpuCount":1.5}}`, []string{"q1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			qs, errs := Read(strings.NewReader(tt.in), "h.jsonl")
			if len(errs) > 0 {
				t.Fatalf("Read(%q) errors = %v, want none", tt.in, errs)
			}
			var got []string
			for _, q := range qs {
				got = append(got, aws.ToString(q.QueryExecutionId))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Read(%q) IDs = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestReadBadLines(t *testing.T) {
	tests := []struct {
		name string
		bad  string
		want string // in the error, after "h.jsonl:2: "
		// kept are the IDs read besides q1 and q3: a bad element of a batch costs only itself.
		kept []string
	}{
		{"not JSON", `{"QueryExecutionId":`, "invalid JSON", nil},
		{"no ID", `{"Query":"SELECT 1"}`, "no QueryExecutionId", nil},
		{"no ID inside batch", `{"QueryExecutions":[{"QueryExecutionId":"x"},{"Query":"q"}]}`, "QueryExecutions[1]: no QueryExecutionId", []string{"x"}},
		{"bad timestamp", `{"QueryExecutionId":"x","Status":{"SubmissionDateTime":"yesterday"}}`, `query x: Status.SubmissionDateTime "yesterday": want ISO 8601`, nil},
		{"wrong type", `{"QueryExecutionId":"x","Statistics":{"DataScannedInBytes":"lots"}}`, "Statistics.DataScannedInBytes: cannot use JSON string as int64", nil},
		{"bad completion time", `{"QueryExecutionId":"x","Status":{"CompletionDateTime":true}}`, "Status.CompletionDateTime true", nil},
		{"array of a number", `[1]`, "[0]: line is a JSON number, want an object", nil},
		{"unknown state", `{"QueryExecutionId":"x","Status":{"State":"DONE"}}`, `Status.State "DONE"`, nil},
		{"unknown statement type", `{"QueryExecutionId":"x","StatementType":"SELECT"}`, `StatementType "SELECT"`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := `{"QueryExecutionId":"q1"}` + "\n" + tt.bad + "\n" + `{"QueryExecutionId":"q3"}` + "\n"
			qs, errs := Read(strings.NewReader(in), "h.jsonl")
			if len(errs) != 1 {
				t.Fatalf("Read(%q) errors = %v, want 1", in, errs)
			}
			if msg := errs[0].Error(); !strings.HasPrefix(msg, "h.jsonl:2: ") || !strings.Contains(msg, tt.want) {
				t.Errorf("Read(%q) error = %q, want h.jsonl:2: ... %s", in, msg, tt.want)
			}
			want := append(append([]string{"q1"}, tt.kept...), "q3")
			if got := ids(qs); !reflect.DeepEqual(got, want) {
				t.Errorf("Read(%q) IDs = %q, want %q", in, got, want)
			}
		})
	}
}

func ids(qs []types.QueryExecution) []string {
	var out []string
	for _, q := range qs {
		out = append(out, aws.ToString(q.QueryExecutionId))
	}
	return out
}

func TestReadManyBadLinesGoesOn(t *testing.T) {
	in := strings.Repeat("not json\n", 500) + `{"QueryExecutionId":"last"}` + "\n"
	qs, errs := Read(strings.NewReader(in), "h.jsonl")
	if len(errs) != MaxErrors+1 {
		t.Fatalf("Read(500 bad lines) = %d errors, want %d", len(errs), MaxErrors+1)
	}
	var omitted *OmittedError
	if !errors.As(errs[len(errs)-1], &omitted) || omitted.Count != 400 {
		t.Errorf("Read(500 bad lines) last error = %v, want 400 more bad entries", errs[len(errs)-1])
	}
	if got := ids(qs); !reflect.DeepEqual(got, []string{"last"}) {
		t.Errorf("Read(500 bad lines, then a good one) IDs = %q, want [last]", got)
	}
}

// The AWS CLI's default output is pretty-printed JSON; PowerShell and Notepad add a BOM.
func TestReadCLIOutputs(t *testing.T) {
	const bom = "\xef\xbb\xbf"
	batch := `{
    "QueryExecutions": [
        {
            "QueryExecutionId": "q1",
            "Query": "SELECT '{' AS \"[\", 1",
            "Status": {
                "State": "SUCCEEDED",
                "SubmissionDateTime": "2024-05-04T00:23:55.123000+00:00"
            }
        },
        {
            "QueryExecutionId": "q2"
        }
    ],
    "UnprocessedQueryExecutionIds": []
}
`
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"batch-get-query-execution, pretty", batch, []string{"q1", "q2"}},
		{"two pretty responses", batch + batch, []string{"q1", "q2", "q1", "q2"}},
		{"get-query-execution, pretty", "{\n    \"QueryExecution\": {\n        \"QueryExecutionId\": \"q1\"\n    }\n}\n", []string{"q1"}},
		{"--query 'QueryExecutions[]', pretty", "[\n    {\n        \"QueryExecutionId\": \"q1\"\n    },\n    {\n        \"QueryExecutionId\": \"q2\"\n    }\n]\n", []string{"q1", "q2"}},
		{"array on one line", `[{"QueryExecutionId":"q1"},{"QueryExecution":{"QueryExecutionId":"q2"}}]`, []string{"q1", "q2"}},
		{"BOM, JSON Lines", bom + `{"QueryExecutionId":"q1"}` + "\n" + `{"QueryExecutionId":"q2"}`, []string{"q1", "q2"}},
		{"BOM, pretty", bom + batch, []string{"q1", "q2"}},
		{"CRLF, pretty", strings.ReplaceAll(batch, "\n", "\r\n"), []string{"q1", "q2"}},
		{"pretty then lines", batch + `{"QueryExecutionId":"q3"}` + "\n", []string{"q1", "q2", "q3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			qs, errs := Read(strings.NewReader(tt.in), "h.json")
			if len(errs) > 0 {
				t.Fatalf("Read(%q) errors = %v, want none", tt.in, errs)
			}
			if got := ids(qs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Read(%q) IDs = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestReadPrettyErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     string
		kept     []string
	}{
		{"bad element names its line", "[\n  {\"QueryExecutionId\": \"q1\"},\n  {\"Query\": \"x\"},\n  {\"QueryExecutionId\": \"q3\"}\n]\n",
			"h.json:3: [1]: no QueryExecutionId", []string{"q1", "q3"}},
		{"bad batch element names its line", "{\n  \"QueryExecutions\": [\n    {\"QueryExecutionId\": \"q1\"},\n    {\"QueryExecutionId\": 7}\n  ]\n}\n",
			"h.json:4: QueryExecutions[1]: QueryExecutionId: cannot use JSON number", []string{"q1"}},
		{"not closed", "{\"QueryExecutionId\":\"q0\"}\n{\n  \"QueryExecutionId\": \"q1\"\n", "h.json:2: JSON value is not closed by the end of the file (line 4)", []string{"q0"}},
		{"UTF-16", "\xff\xfe{\x00", "h.json: UTF-16", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			qs, errs := Read(strings.NewReader(tt.in), "h.json")
			if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), tt.want) {
				t.Errorf("Read(%q) errors = %v, want one starting %q", tt.in, errs, tt.want)
			}
			if got := ids(qs); !reflect.DeepEqual(got, tt.kept) {
				t.Errorf("Read(%q) IDs = %q, want %q", tt.in, got, tt.kept)
			}
		})
	}
}

func TestReadLongLine(t *testing.T) {
	query := strings.Repeat("x", 3<<20)
	in := `{"QueryExecutionId":"big","Query":"` + query + `"}`
	qs, errs := Read(strings.NewReader(in), "h.jsonl")
	if len(errs) > 0 || len(qs) != 1 || len(aws.ToString(qs[0].Query)) != len(query) {
		t.Fatalf("Read(3 MiB line) = %d executions, errors %v; want the whole query", len(qs), errs)
	}
}

func full() types.QueryExecution {
	sub := time.Date(2024, 5, 4, 0, 23, 55, 123_000_000, time.UTC)
	done := sub.Add(4321 * time.Millisecond)
	return types.QueryExecution{
		QueryExecutionId:      aws.String("b621c254-74e0-48e3-9630-78ed857782f9"),
		Query:                 aws.String(`SELECT * FROM "sales" WHERE a < 3 AND b > 'x&y'` + "\n"),
		StatementType:         types.StatementTypeDml,
		SubstatementType:      aws.String("SELECT"),
		ResultConfiguration:   &types.ResultConfiguration{OutputLocation: aws.String("s3://results/q/")},
		QueryExecutionContext: &types.QueryExecutionContext{Database: aws.String("sales"), Catalog: aws.String("AwsDataCatalog")},
		Status: &types.QueryExecutionStatus{
			State:              types.QueryExecutionStateFailed,
			StateChangeReason:  aws.String("TABLE_NOT_FOUND: line 1:15: Table 'x' does not exist"),
			SubmissionDateTime: &sub,
			CompletionDateTime: &done,
			AthenaError: &types.AthenaError{
				ErrorCategory: aws.Int32(2),
				ErrorType:     aws.Int32(1301),
				Retryable:     false,
				ErrorMessage:  aws.String("TABLE_NOT_FOUND"),
			},
		},
		Statistics: &types.QueryExecutionStatistics{
			EngineExecutionTimeInMillis:   aws.Int64(3900),
			DataScannedInBytes:            aws.Int64(123_456_789_012),
			TotalExecutionTimeInMillis:    aws.Int64(4321),
			QueryQueueTimeInMillis:        aws.Int64(120),
			QueryPlanningTimeInMillis:     aws.Int64(250),
			ServiceProcessingTimeInMillis: aws.Int64(31),
			ResultReuseInformation:        &types.ResultReuseInformation{ReusedPreviousResult: false},
		},
		WorkGroup:     aws.String("primary"),
		EngineVersion: &types.EngineVersion{SelectedEngineVersion: aws.String("AUTO"), EffectiveEngineVersion: aws.String("Athena engine version 3")},
	}
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		q    types.QueryExecution
	}{
		{"every member", full()},
		{"only an ID", types.QueryExecution{QueryExecutionId: aws.String("q1")}},
		{"running, no completion", types.QueryExecution{
			QueryExecutionId: aws.String("q2"),
			Status:           &types.QueryExecutionStatus{State: types.QueryExecutionStateRunning},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := NewWriter(&buf)
			if err := w.Write(tt.q); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			got, errs := Read(&buf, "h.jsonl")
			if len(errs) > 0 || len(got) != 1 {
				t.Fatalf("Read(Write(q)) = %d executions, errors %v; want 1, none", len(got), errs)
			}
			if !reflect.DeepEqual(got[0], tt.q) {
				t.Errorf("Read(Write(q)) = %+v, want %+v", got[0], tt.q)
			}
		})
	}
}

func TestWriteGolden(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for range 2 {
		if err := w.Write(full()); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/golden.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("Write(full) =\n%s\nwant\n%s", buf.Bytes(), want)
	}
}

func TestWriteNoID(t *testing.T) {
	w := NewWriter(&bytes.Buffer{})
	if err := w.Write(types.QueryExecution{Query: aws.String("SELECT 1")}); err == nil {
		t.Error("Write(no ID) = nil error, want one")
	}
}

func TestMarshalExecution(t *testing.T) {
	q := full()
	q.ResultReuseConfiguration = &types.ResultReuseConfiguration{
		ResultReuseByAgeConfiguration: &types.ResultReuseByAgeConfiguration{Enabled: true, MaxAgeInMinutes: aws.Int32(60)},
	}
	q.Statistics.DataManifestLocation = aws.String("s3://results/q/manifest.csv")
	q.Statistics.DpuCount = aws.Float64(4)
	tests := []struct {
		f        TimeFormat
		contains string
	}{
		{ISO, `"SubmissionDateTime":"2024-05-04T00:23:55.123Z","CompletionDateTime":"2024-05-04T00:23:59.444Z"`},
		{Epoch, `"SubmissionDateTime":1714782235.123,"CompletionDateTime":1714782239.444`},
	}
	for _, tt := range tests {
		b, err := MarshalExecution(q, tt.f)
		if err != nil {
			t.Fatalf("MarshalExecution(q, %d): %v", tt.f, err)
		}
		if !bytes.Contains(b, []byte(tt.contains)) || bytes.HasSuffix(b, []byte("\n")) {
			t.Errorf("MarshalExecution(q, %d) = %s, want it to contain %s and no newline", tt.f, b, tt.contains)
		}
		got, err := UnmarshalExecution(b)
		if err != nil {
			t.Fatalf("UnmarshalExecution(%s): %v", b, err)
		}
		if !reflect.DeepEqual(got, q) {
			t.Errorf("UnmarshalExecution(MarshalExecution(q, %d)) = %+v, want %+v", tt.f, got, q)
		}
	}
}

func TestMarshalExecutionMilliseconds(t *testing.T) {
	sub := time.Date(2026, 1, 1, 0, 0, 0, 500_999_999, time.UTC)
	q := types.QueryExecution{QueryExecutionId: aws.String("q"), Status: &types.QueryExecutionStatus{SubmissionDateTime: &sub}}
	b, err := MarshalExecution(q, Epoch)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"QueryExecutionId":"q","Status":{"SubmissionDateTime":1767225600.5}}`; string(b) != want {
		t.Errorf("MarshalExecution(q, Epoch) = %s, want %s", b, want)
	}
}

func TestUnmarshalExecutionErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"Query":"SELECT 1"}`, "no QueryExecutionId"},
		{`{"QueryExecutionId":"x","Status":{"SubmissionDateTime":"soon"}}`, "Status.SubmissionDateTime"},
		{`{"QueryExecutionId":"x","Statistics":{"DpuCount":"many"}}`, "Statistics.DpuCount"},
		{`[]`, "want an object"},
	}
	for _, tt := range tests {
		if _, err := UnmarshalExecution([]byte(tt.in)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("UnmarshalExecution(%s) error = %v, want one containing %q", tt.in, err, tt.want)
		}
	}
}
