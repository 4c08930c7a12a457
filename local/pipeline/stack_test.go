package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/athenausage/athena-usage/local/athenaserver"
	"github.com/athenausage/athena-usage/local/synth"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/report"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// want is a user's usage computed from the generator's ground truth, by the billing rule, without
// any of the pipeline's code.
func want(truth *synth.Truth, price float64) map[string]report.Group {
	out := map[string]report.Group{}
	for _, q := range truth.Queries {
		g := out[q.UserARN]
		g.Key = q.UserARN
		g.Queries++
		if !q.InHistory {
			g.QueriesWithoutStats++
			out[q.UserARN] = g
			continue
		}
		switch q.State {
		case "SUCCEEDED":
			g.Succeeded++
		case "FAILED":
			g.Failed++
		case "CANCELLED":
			g.Cancelled++
		}
		g.DataScannedBytes += q.DataScannedBytes
		g.EngineExecutionMS += q.EngineMS
		if q.StatementType == "DML" && (q.State == "SUCCEEDED" || q.State == "CANCELLED") {
			mb := (q.DataScannedBytes + 1<<20 - 1) >> 20
			g.CostUSD += float64(max(mb, 10)<<20) / (1 << 40) * price
		}
		out[q.UserARN] = g
	}
	for _, f := range truth.Failed {
		g := out[f.UserARN]
		g.Key = f.UserARN
		g.FailedSubmissions += int64(f.Count)
		out[f.UserARN] = g
	}
	return out
}

type env struct {
	stack *Stack
	truth *synth.Truth
	pipe  *Pipeline
	days  []time.Time
	// set is what the pipeline was made with, and gen the generated CloudTrail files.
	set Settings
	gen string
}

func setup(t *testing.T, athenaOpts athenaserver.Options, set Settings) *env {
	t.Helper()
	return setupCorpus(t, athenaOpts, set, nil)
}

// setupCorpus is setup with edit, when not nil, changing the generated CloudTrail files
// before they are ingested.
func setupCorpus(t *testing.T, athenaOpts athenaserver.Options, set Settings, edit func(t *testing.T, gen string, truth *synth.Truth)) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	truth, err := synth.Generate(synth.Options{Users: 6, Days: 2, QueriesPerDay: 120, Seed: 7, Start: time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)}, filepath.Join(dir, "gen"))
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(t, filepath.Join(dir, "gen"), truth)
	}
	st, err := Start(ctx, Options{Dir: filepath.Join(dir, "state"), Athena: athenaOpts, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	in, err := st.IngestCloudTrail(ctx, filepath.Join(dir, "gen"))
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Skipped) > 0 {
		t.Fatalf("ingest skipped %v", in.Skipped)
	}
	if _, problems, err := st.LoadHistory(filepath.Join(dir, "gen", synth.HistoryFile)); err != nil || len(problems) > 0 {
		t.Fatalf("load history: %v %v", err, problems)
	}
	set.Accounts, set.Regions, set.ProjectionStart = in.Accounts, in.Regions, in.FirstDay
	p, err := st.Pipeline(set)
	if err != nil {
		t.Fatal(err)
	}
	var days []time.Time
	for _, d := range truth.Days {
		day, _ := config.ParseDay(d)
		days = append(days, day)
	}
	return &env{stack: st, truth: truth, pipe: p, days: days, set: set, gen: filepath.Join(dir, "gen")}
}

func (e *env) runAll(t *testing.T) {
	t.Helper()
	for _, d := range e.days {
		if _, err := e.pipe.RunDay(context.Background(), d); err != nil {
			t.Fatalf("RunDay(%s): %v", d.Format(config.DayLayout), err)
		}
	}
}

func checkTotals(t *testing.T, e *env) {
	t.Helper()
	r, err := e.stack.Report(context.Background(), "user", e.days[0], e.days[len(e.days)-1], 5)
	if err != nil {
		t.Fatalf("Report: %v", err)
	}
	expected := want(e.truth, 5)
	if len(r.Groups) != len(expected) {
		t.Errorf("report has %d users, want %d", len(r.Groups), len(expected))
	}
	for _, got := range r.Groups {
		w, ok := expected[got.Key]
		if !ok {
			t.Errorf("report has unexpected user %q", got.Key)
			continue
		}
		gotCost, wantCost := got.CostUSD, w.CostUSD
		got.CostUSD, w.CostUSD = 0, 0
		if got != w {
			t.Errorf("user %s:\n got %+v\nwant %+v", got.Key, got, w)
		}
		if math.Abs(gotCost-wantCost) > 1e-9 {
			t.Errorf("user %s cost = %.12f, want %.12f", got.Key, gotCost, wantCost)
		}
	}
}

// checkAssumedRoles checks that the lookup assumed its role once in each account with queries
// other than the stack's own, however many days and regions had them.
func checkAssumedRoles(t *testing.T, e *env) {
	t.Helper()
	var want []string
	for _, q := range e.truth.Queries {
		arn := "arn:aws:iam::" + q.Account + ":role/athena-usage-lookup"
		if q.Account != AccountID && !slices.Contains(want, arn) {
			want = append(want, arn)
		}
	}
	slices.Sort(want)
	got := slices.Sorted(slices.Values(e.stack.AssumedRoles()))
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("roles assumed = %q, want %q, once each", got, want)
	}
}

// snapshot hashes every object the pipeline wrote to the data bucket.
func snapshot(t *testing.T, st *Stack) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	pages := s3.NewListObjectsV2Paginator(st.S3, &s3.ListObjectsV2Input{Bucket: aws.String(DataBucket)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			obj, err := st.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(DataBucket), Key: o.Key})
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			_, _ = io.Copy(h, obj.Body)
			obj.Body.Close()
			out[aws.ToString(o.Key)] = hex.EncodeToString(h.Sum(nil))
		}
	}
	return out
}

func TestPipelineEndToEnd(t *testing.T) {
	e := setup(t, athenaserver.Options{DisableQuotas: true}, Settings{})
	e.runAll(t)
	checkTotals(t, e)
	checkAssumedRoles(t, e)

	// A rerun of a day replaces its data with the same bytes.
	before := snapshot(t, e.stack)
	if len(before) == 0 {
		t.Fatal("pipeline wrote nothing to the data bucket")
	}
	first, err := e.pipe.RunDay(context.Background(), e.days[0])
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.pipe.RunDay(context.Background(), e.days[0])
	if err != nil {
		t.Fatal(err)
	}
	if first.Extract.QueryID == second.Extract.QueryID {
		t.Errorf("rerun reused extraction %s, want the day queried afresh", first.Extract.QueryID)
	}
	after := snapshot(t, e.stack)
	keys := make([]string, 0, len(before))
	for k := range before {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(after) != len(before) {
		t.Errorf("rerun left %d objects, want %d", len(after), len(before))
	}
	for _, k := range keys {
		if before[k] != after[k] {
			t.Errorf("rerun changed %s", k)
		}
	}
	checkTotals(t, e)
}

func TestPipelineWithThrottlingAndUnprocessed(t *testing.T) {
	e := setup(t, athenaserver.Options{
		Faults: athenaserver.Faults{
			Throttle:    0.25,
			ServerError: 0.2,
			Unprocessed: 0.2,
			Operations:  []string{athenaserver.OpBatchGetQueryExecution},
		},
		Seed: 3,
	}, Settings{LookupPartSize: 100, LookupMaxAttempts: 20})
	e.runAll(t)
	counts := e.stack.Athena().Counts()[athenaserver.OpBatchGetQueryExecution]
	if counts.Throttled == 0 || counts.ServerErrors == 0 {
		t.Errorf("BatchGetQueryExecution counts = %+v, want injected throttles and server errors", counts)
	}
	checkMetrics(t, e, counts)
	checkTotals(t, e)
}
