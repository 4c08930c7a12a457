package emf

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// line builds a document from its parts: meta is the _aws object's members, rest the root's
// other members (JSON text after the _aws member).
func line(meta, rest string) string {
	return `{"_aws":{` + meta + `}` + rest + `}`
}

// directiveJSON is a valid CloudWatchMetrics array with one directive.
const directiveJSON = `"CloudWatchMetrics":[{"Namespace":"App","Dimensions":[["Stack"]],"Metrics":[{"Name":"Time","Unit":"Milliseconds"}]}]`

func TestParseValid(t *testing.T) {
	tests := []struct {
		name string
		line string
		want []Sample
	}{
		{"one metric", line(`"Timestamp":1700000000000,`+directiveJSON, `,"Stack":"s","Time":12.5,"requestId":"r-1"`),
			[]Sample{{"App", "Time", Milliseconds, []Dimension{{"Stack", "s"}}, 12.5}}},
		{"values array, no unit, empty and two dimension sets",
			line(`"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"App","Dimensions":[[],["A","B"]],"Metrics":[{"Name":"N"}]}]`, `,"A":"a","B":"b","N":[1,2]`),
			[]Sample{{"App", "N", None, []Dimension{}, 1}, {"App", "N", None, []Dimension{}, 2},
				{"App", "N", None, []Dimension{{"A", "a"}, {"B", "b"}}, 1}, {"App", "N", None, []Dimension{{"A", "a"}, {"B", "b"}}, 2}}},
		{"high resolution", line(`"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"App","Dimensions":[[]],"Metrics":[{"Name":"N","StorageResolution":1}]}]`, `,"N":3`),
			[]Sample{{"App", "N", None, []Dimension{}, 3}}},
		{"trailing newline", line(`"Timestamp":1,`+directiveJSON, `,"Stack":"s","Time":0`) + "\n",
			[]Sample{{"App", "Time", Milliseconds, []Dimension{{"Stack", "s"}}, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse([]byte(tt.line))
			if err != nil {
				t.Fatalf("Parse(%s) = %v, want no error", tt.line, err)
			}
			if got := doc.Samples(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse(%s).Samples() = %+v, want %+v", tt.line, got, tt.want)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	dir := func(d string) string {
		return line(`"Timestamp":1,"CloudWatchMetrics":[`+d+`]`, `,"S":"s","N":1,"Str":"x"`)
	}
	def := func(m string) string { return dir(`{"Namespace":"App","Dimensions":[["S"]],"Metrics":[` + m + `]}`) }
	thirtyOne := `"D0"`
	for i := 1; i <= MaxDimensions; i++ {
		thirtyOne += fmt.Sprintf(`,"D%d"`, i)
	}
	tests := []struct{ name, line string }{
		{"not JSON", `{"_aws":`},
		{"not an object", `[1]`},
		{"data after the object", line(`"Timestamp":1,`+directiveJSON, `,"Stack":"s","Time":1`) + ` x`},
		{"two lines", line(`"Timestamp":1,`+directiveJSON, `,"Stack":"s","Time":1`) + "\n{}"},
		{"no _aws", `{"Time":1}`},
		{"_aws not an object", `{"_aws":[]}`},
		{"no Timestamp", line(directiveJSON, `,"Stack":"s","Time":1`)},
		{"Timestamp not an integer", line(`"Timestamp":1.5,`+directiveJSON, `,"Stack":"s","Time":1`)},
		{"Timestamp a string", line(`"Timestamp":"1",`+directiveJSON, `,"Stack":"s","Time":1`)},
		{"Timestamp negative", line(`"Timestamp":-1,`+directiveJSON, `,"Stack":"s","Time":1`)},
		{"no CloudWatchMetrics", line(`"Timestamp":1`, ``)},
		{"empty CloudWatchMetrics", line(`"Timestamp":1,"CloudWatchMetrics":[]`, ``)},
		{"extra _aws member", line(`"Timestamp":1,"Extra":1,`+directiveJSON, `,"Stack":"s","Time":1`)},
		{"repeated member", line(`"Timestamp":1,`+directiveJSON, `,"Stack":"s","Time":1,"Time":2`)},
		{"no Namespace", dir(`{"Dimensions":[["S"]],"Metrics":[{"Name":"N"}]}`)},
		{"empty Namespace", dir(`{"Namespace":"","Dimensions":[["S"]],"Metrics":[{"Name":"N"}]}`)},
		{"AWS/ Namespace", dir(`{"Namespace":"AWS/Lambda","Dimensions":[["S"]],"Metrics":[{"Name":"N"}]}`)},
		{"extra directive member", dir(`{"Namespace":"App","Dimensions":[["S"]],"Metrics":[{"Name":"N"}],"X":1}`)},
		{"no Dimensions", dir(`{"Namespace":"App","Metrics":[{"Name":"N"}]}`)},
		{"empty Dimensions", dir(`{"Namespace":"App","Dimensions":[],"Metrics":[{"Name":"N"}]}`)},
		{"null dimension set", dir(`{"Namespace":"App","Dimensions":[null],"Metrics":[{"Name":"N"}]}`)},
		{"dimension set of a number", dir(`{"Namespace":"App","Dimensions":[[1]],"Metrics":[{"Name":"N"}]}`)},
		{"31 dimensions", dir(`{"Namespace":"App","Dimensions":[[` + thirtyOne + `]],"Metrics":[{"Name":"N"}]}`)},
		{"dimension without member", dir(`{"Namespace":"App","Dimensions":[["Missing"]],"Metrics":[{"Name":"N"}]}`)},
		{"dimension not a string", dir(`{"Namespace":"App","Dimensions":[["N"]],"Metrics":[{"Name":"N"}]}`)},
		{"dimension named twice", dir(`{"Namespace":"App","Dimensions":[["S","S"]],"Metrics":[{"Name":"N"}]}`)},
		{"no Metrics", dir(`{"Namespace":"App","Dimensions":[["S"]]}`)},
		{"empty Metrics", def(``)},
		{"no Name", def(`{"Unit":"Count"}`)},
		{"extra definition member", def(`{"Name":"N","Extra":1}`)},
		{"unknown unit", def(`{"Name":"N","Unit":"Widgets"}`)},
		{"lower-case unit", def(`{"Name":"N","Unit":"count"}`)},
		{"StorageResolution 30", def(`{"Name":"N","StorageResolution":30}`)},
		{"metric without member", def(`{"Name":"Missing"}`)},
		{"metric a string", def(`{"Name":"Str"}`)},
		{"metric defined twice", def(`{"Name":"N"},{"Name":"N"}`)},
		{"metric null", line(`"Timestamp":1,`+directiveJSON, `,"Stack":"s","Time":null`)},
		{"metric array with null", line(`"Timestamp":1,`+directiveJSON, `,"Stack":"s","Time":[1,null]`)},
		{"metric empty array", line(`"Timestamp":1,`+directiveJSON, `,"Stack":"s","Time":[]`)},
		{"metric out of range", line(`"Timestamp":1,`+directiveJSON, `,"Stack":"s","Time":1e300`)},
		{"101 values", line(`"Timestamp":1,`+directiveJSON, `,"Stack":"s","Time":[`+strings.Repeat("1,", MaxValues)+`1]`)},
		{"101 metrics", dir(`{"Namespace":"App","Dimensions":[["S"]],"Metrics":[` + strings.Repeat(`{"Name":"N"},`, MaxMetrics) + `{"Name":"N"}]}`)},
		{"dimension value not ASCII", line(`"Timestamp":1,`+directiveJSON, `,"Stack":"é","Time":1`)},
		{"too long", line(`"Timestamp":1,`+directiveJSON, `,"Stack":"s","Time":1,"pad":"`+strings.Repeat("x", MaxLineBytes)+`"`)},
	}
	for _, tt := range tests {
		if _, err := Parse([]byte(tt.line)); err == nil {
			t.Errorf("%s: Parse(%.200s) = nil, want an error", tt.name, tt.line)
		}
	}
}

// TestPutLinesParse checks the Writer against the specification: every line Put writes is
// valid, and carries the values, units, dimensions and timestamp it was given.
func TestPutLinesParse(t *testing.T) {
	var buf bytes.Buffer
	w := New(&buf, ForStack("usage"))
	before := time.Now().Truncate(time.Millisecond)
	puts := []struct {
		dims    []Dimension
		metrics []Metric
	}{
		{nil, []Metric{{"QueriesFound", Count, 120}, {"CloudTrailBytesScanned", Bytes, 1 << 40}}},
		{[]Dimension{{"ErrorCode", "InvalidRequestException"}}, []Metric{{"UnprocessedIds", Count, 0}}},
		{nil, []Metric{{"PartDuration", Milliseconds, 0.25}, {"DayLag", Seconds, -3}}},
	}
	for _, p := range puts {
		if err := w.Put(p.dims, p.metrics...); err != nil {
			t.Fatalf("Put(%v, %v) = %v", p.dims, p.metrics, err)
		}
	}
	lines := strings.SplitAfter(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != len(puts) {
		t.Fatalf("wrote %d lines, want %d: %q", len(lines), len(puts), buf.String())
	}
	for i, l := range lines {
		doc, err := Parse([]byte(l))
		if err != nil {
			t.Fatalf("Parse(%s) = %v, want no error", l, err)
		}
		if doc.Timestamp.Before(before) || doc.Timestamp.After(time.Now()) {
			t.Errorf("Parse(%s).Timestamp = %v, want the time of the Put (after %v)", l, doc.Timestamp, before)
		}
		dims := append([]Dimension{{StackDimension, "usage"}}, puts[i].dims...)
		var want []Sample
		for _, m := range puts[i].metrics {
			want = append(want, Sample{DefaultNamespace, m.Name, m.Unit, dims, m.Value})
		}
		if got := doc.Samples(); !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%s).Samples() = %+v, want %+v", l, got, want)
		}
	}
}
