package pipeline

import (
	"bufio"
	"os"
	"path/filepath"
	"testing"

	"github.com/athenausage/athena-usage/local/athenaserver"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/emf"
	"github.com/athenausage/athena-usage/pkg/extract"
	"github.com/athenausage/athena-usage/pkg/lookup"
)

// checkMetrics reads the handlers' metrics from the stack's MetricsFile, checks each line against
// the EMF specification, and the totals against the truth and what the Athena stand-in
// answered: after runAll, each day was extracted and looked up once.
func checkMetrics(t *testing.T, e *env, calls athenaserver.CallCounts) {
	t.Helper()
	f, err := os.Open(filepath.Join(e.stack.dir, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	totals := map[string]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		doc, err := emf.Parse(sc.Bytes())
		if err != nil {
			t.Fatalf("%s: emf.Parse(%s) = %v, want a valid EMF line", MetricsFile, sc.Bytes(), err)
		}
		for _, s := range doc.Samples() {
			if s.Dimensions[0] != (emf.Dimension{Name: emf.StackDimension, Value: config.DefaultStackName}) {
				t.Errorf("%s: %s has dimensions %v, want %s=%s first", MetricsFile, s.Name, s.Dimensions, emf.StackDimension, config.DefaultStackName)
			}
			totals[s.Name] += s.Value
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	queries := float64(len(e.truth.Queries))
	for _, tt := range []struct {
		name string
		want float64
	}{
		{extract.MetricQueriesFound, queries},
		{lookup.MetricQueriesLookedUp, queries},
		{lookup.MetricBatchGetCalls, float64(calls.Calls)},
		{lookup.MetricThrottles, float64(calls.Throttled)},
		{lookup.MetricDayComplete, float64(len(e.days))},
	} {
		if totals[tt.name] != tt.want {
			t.Errorf("%s: %s adds up to %v, want %v", MetricsFile, tt.name, totals[tt.name], tt.want)
		}
	}
	if totals[extract.MetricCloudTrailBytesScanned] <= 0 {
		t.Errorf("%s: %s adds up to %v, want the bytes the extractions scanned", MetricsFile, extract.MetricCloudTrailBytesScanned, totals[extract.MetricCloudTrailBytesScanned])
	}
}
