package extract

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/athenausage/athena-usage/pkg/athenaquery"
	"github.com/athenausage/athena-usage/pkg/emf"
	"github.com/athenausage/athena-usage/pkg/events"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
)

// parseLines checks every line of out against the EMF specification and returns the samples,
// by metric name.
func parseLines(t *testing.T, out string) map[string][]emf.Sample {
	t.Helper()
	got := map[string][]emf.Sample{}
	for _, line := range strings.SplitAfter(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		doc, err := emf.Parse([]byte(line))
		if err != nil {
			t.Fatalf("emf.Parse(%s) = %v, want a valid EMF line", line, err)
		}
		for _, s := range doc.Samples() {
			got[s.Name] = append(got[s.Name], s)
		}
	}
	return got
}

// withResult runs like succeed, and stores body as the execution's result object in s.
func withResult(s *fakeS3, body string) func(athenaquery.Query) (*types.QueryExecution, error) {
	return func(q athenaquery.Query) (*types.QueryExecution, error) {
		qe, err := succeed(q)
		s.put("usage-results", "athena-results/"+q.Token[:8]+".csv", fakeObject{body: []byte(body)})
		return qe, err
	}
}

func TestHandleMetrics(t *testing.T) {
	stack := []emf.Dimension{{Name: emf.StackDimension, Value: "usage-test"}}
	bytesScanned := emf.Sample{Namespace: emf.DefaultNamespace, Name: MetricCloudTrailBytesScanned, Unit: emf.Bytes, Dimensions: stack, Value: 4096}
	found := func(n float64) []emf.Sample {
		return []emf.Sample{{Namespace: emf.DefaultNamespace, Name: MetricQueriesFound, Unit: emf.Count, Dimensions: stack, Value: n}}
	}
	tests := []struct {
		name string
		// result is the extraction's result object; none when empty.
		result    string
		wantFound []emf.Sample
		wantWarn  string
	}{
		{"three queries and a refused submission", "\"event_time\",\"query_id\"\n\"t\",\"a\"\n\"t\",\"b\"\n\"t\",\"c, quoted\"\"\"\n\"t\",\n", found(3), ""},
		{"header only", "\"query_id\",\"event_time\"\n", found(0), ""},
		{"result missing", "", nil, "queries found not counted"},
		{"no query_id column", "\"id\"\n\"a\"\n", nil, "queries found not counted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, out, logs := &fakeS3{}, &bytes.Buffer{}, &bytes.Buffer{}
			r := &fakeRunner{runFn: succeed}
			if tt.result != "" {
				r.runFn = withResult(s, tt.result)
			}
			h := newHandler(r, s, &fakeInvoker{}, func(o *Options) {
				o.Metrics = emf.New(out, emf.ForStack("usage-test"))
				o.Logger = slog.New(slog.NewTextHandler(logs, nil))
			})
			if _, err := h.Handle(context.Background(), events.Extract{Day: "2024-03-05"}); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			got := parseLines(t, out.String())
			if want := []emf.Sample{bytesScanned}; !reflect.DeepEqual(got[MetricCloudTrailBytesScanned], want) {
				t.Errorf("%s = %+v, want %+v", MetricCloudTrailBytesScanned, got[MetricCloudTrailBytesScanned], want)
			}
			if !reflect.DeepEqual(got[MetricQueriesFound], tt.wantFound) {
				t.Errorf("%s = %+v, want %+v", MetricQueriesFound, got[MetricQueriesFound], tt.wantFound)
			}
			if n := strings.Count(out.String(), "\n"); n != 1 {
				t.Errorf("wrote %d metrics lines, want 1 for the day", n)
			}
			if tt.wantWarn != "" && !strings.Contains(logs.String(), "level=WARN msg=\""+tt.wantWarn) {
				t.Errorf("logs = %s, want a warning %q", logs, tt.wantWarn)
			}
		})
	}
}

// failingWriter refuses every write, as a closed standard output would.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("closed") }

// TestHandleMetricsNotWritten checks that metrics that cannot be written cost the day nothing
// but a warning.
func TestHandleMetricsNotWritten(t *testing.T) {
	s, logs := &fakeS3{}, &bytes.Buffer{}
	inv := &fakeInvoker{}
	h := newHandler(&fakeRunner{runFn: withResult(s, "\"query_id\"\n\"a\"\n")}, s, inv, func(o *Options) {
		o.Metrics = emf.New(failingWriter{})
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	res, err := h.Handle(context.Background(), events.Extract{Day: "2024-03-05"})
	if err != nil || len(res.Days) != 1 || len(inv.invokes) != 1 {
		t.Fatalf("Handle = %+v, %v with %d invokes, want the day extracted and handed over", res, err, len(inv.invokes))
	}
	if !strings.Contains(logs.String(), `level=WARN msg="metrics not written"`) {
		t.Errorf("logs = %s, want a warning that the metrics were not written", logs)
	}
}
