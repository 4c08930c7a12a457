package lambdait

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/athenausage/athena-usage/local/pipeline"
	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/emf"
	"github.com/athenausage/athena-usage/pkg/extract"
	"github.com/athenausage/athena-usage/pkg/lookup"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestFunctionsWriteMetrics runs the day of events/extract-day.json through a fresh extract and
// lookup, and reads their output as CloudWatch Logs would: every line with an _aws member must
// be valid Embedded Metric Format, with the Stack dimension the template sets, and the metrics
// must count the day's queries.
func TestFunctionsWriteMetrics(t *testing.T) {
	w := sharedWorld(t)
	ctx := context.Background()
	// Their own processes, so that their output holds this day's lines only.
	lk, err := w.start(ctx, lookupID, pipeline.LookupFunction, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Close()
	ex, err := w.start(ctx, extractID, "metrics-extract", func(env map[string]string) { env["AWS_ENDPOINT_URL_LAMBDA"] = lk.Endpoint() })
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	logOnFailure(t, ex, lk)
	prefix := w.fns[extractID].Env[config.EnvDataPrefix]
	// Without the manifest of an earlier run, the day is not an unchanged re-check.
	for _, k := range []string{athenasql.PartKey(prefix, w.day, 0), athenasql.LookupManifestKey(prefix, w.day)} {
		if _, err := w.stack.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(pipeline.DataBucket), Key: aws.String(k)}); err != nil {
			t.Fatal(err)
		}
	}
	event, err := os.ReadFile(filepath.Join(moduleRoot, "events", "extract-day.json"))
	if err != nil {
		t.Fatal(err)
	}
	if res := invoke(t, ex, event); res.FunctionError != "" {
		t.Fatalf("extract(%s) failed: %s", event, res.Payload)
	}
	// The lookup's calls are its invocation's last line; the pipes are read on their own.
	wctx, cancel := context.WithTimeout(ctx, lookupWait)
	defer cancel()
	for _, f := range []struct {
		r    *running
		last string
	}{{ex, extract.MetricQueriesFound}, {lk, lookup.MetricBatchGetCalls}} {
		if err := f.r.out.waitFor(wctx, `"`+f.last+`"`); err != nil {
			t.Fatal(err)
		}
	}

	got := metricTotals(t, ex.out.String()+lk.out.String(), w.deployment().StackName)
	day := w.day.Format(config.DayLayout)
	ids, other := 0, 0
	for _, q := range w.wantIDs(day) {
		ids++
		if q.Account != w.truth.Options.Accounts[0] {
			other++
		}
	}
	for _, tt := range []struct {
		name string
		want float64
	}{
		{extract.MetricQueriesFound, float64(ids)},
		{lookup.MetricQueriesLookedUp, float64(ids)},
		{lookup.MetricUnprocessedIDs + "/" + lookup.LookupErrorOtherAccount, float64(other)},
		{lookup.MetricDayComplete, 1},
	} {
		if got[tt.name] != tt.want {
			t.Errorf("%s adds up to %v, want %v", tt.name, got[tt.name], tt.want)
		}
	}
	for _, name := range []string{extract.MetricCloudTrailBytesScanned, lookup.MetricBatchGetCalls, lookup.MetricPartDuration, lookup.MetricDayLag} {
		if got[name] <= 0 {
			t.Errorf("%s adds up to %v, want more than 0", name, got[name])
		}
	}
	if _, ok := got[lookup.MetricThrottles]; !ok {
		t.Errorf("no %s, want the lookup invocation's count", lookup.MetricThrottles)
	}
}

// metricTotals parses every output line with an _aws member as EMF, checks that it is in
// athena-usage's namespace under the template's stack name, and adds up each metric, by name
// (and "name/value" of a dimension other than Stack).
func metricTotals(t *testing.T, out, stackName string) map[string]float64 {
	t.Helper()
	stack := emf.Dimension{Name: emf.StackDimension, Value: stackName}
	totals := map[string]float64{}
	for _, line := range strings.Split(out, "\n") {
		var rec map[string]json.RawMessage
		if json.Unmarshal([]byte(line), &rec) != nil || rec["_aws"] == nil {
			continue
		}
		doc, err := emf.Parse([]byte(line))
		if err != nil {
			t.Errorf("emf.Parse(%s) = %v, want a valid EMF line", line, err)
			continue
		}
		for _, s := range doc.Samples() {
			if s.Namespace != emf.DefaultNamespace || len(s.Dimensions) == 0 || s.Dimensions[0] != stack {
				t.Errorf("line %s: %s in %s under %v, want %s under %v first", line, s.Name, s.Namespace, s.Dimensions, emf.DefaultNamespace, stack)
				continue
			}
			key := s.Name
			for _, d := range s.Dimensions[1:] {
				key += "/" + d.Value
			}
			totals[key] += s.Value
		}
	}
	return totals
}
