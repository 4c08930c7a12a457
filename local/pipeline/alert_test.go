package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/athenausage/athena-usage/local/athenaserver"
	"github.com/athenausage/athena-usage/local/synth"
	"github.com/athenausage/athena-usage/pkg/alert"
	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// setupSpike starts a stack over four days of synthetic data with the spike users.
func setupSpike(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	gen := filepath.Join(dir, "gen")
	truth, err := synth.Generate(synth.Options{Users: 6, Days: 4, QueriesPerDay: 60, Seed: 3, Spike: true}, gen)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Start(ctx, Options{Dir: filepath.Join(dir, "state"), Athena: athenaserver.Options{DisableQuotas: true}, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	in, err := st.IngestCloudTrail(ctx, gen)
	if err != nil || len(in.Skipped) > 0 {
		t.Fatalf("ingest: %v, skipped %v", err, in.Skipped)
	}
	if _, problems, err := st.LoadHistory(filepath.Join(gen, synth.HistoryFile)); err != nil || len(problems) > 0 {
		t.Fatalf("load history: %v %v", err, problems)
	}
	p, err := st.Pipeline(Settings{Accounts: in.Accounts, Regions: in.Regions, ProjectionStart: in.FirstDay})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{stack: st, truth: truth, pipe: p}
	for _, d := range truth.Days {
		day, _ := config.ParseDay(d)
		e.days = append(e.days, day)
	}
	return e
}

// spikeCost is what a user's queries of day cost at 5 USD per TB, from the synthetic truth (the
// spike users' queries are DML that succeeded, billed for their bytes).
func spikeCost(truth *synth.Truth, user, day string) float64 {
	var bytes int64
	for _, q := range truth.Queries {
		if q.UserARN == user && q.Day == day {
			bytes += q.DataScannedBytes
		}
	}
	return float64(bytes) / (1 << 40) * 5
}

// TestAlertsEndToEnd runs four days through the local stack, the lookup invoking the alert
// function as each day completes: the user whose last day costs 20 times their usual day is
// alerted about once, with that day's figures and the median of the three before as baseline;
// the user with the same jump under the minimum cost is not; a rerun sends nothing new.
func TestAlertsEndToEnd(t *testing.T) {
	e := setupSpike(t)
	ctx := context.Background()
	spike, small := e.truth.Spikes[0], e.truth.Spikes[1]
	last := e.truth.Days[len(e.truth.Days)-1]
	var found *alert.Finding
	for _, d := range e.days {
		run, err := e.pipe.RunDay(ctx, d)
		if err != nil {
			t.Fatalf("RunDay(%s): %v", d.Format(config.DayLayout), err)
		}
		if len(run.Alerts) != 1 {
			t.Fatalf("RunDay(%s) ran %d alert invocations, want 1 (the completed day's)", run.Day, len(run.Alerts))
		}
		for _, f := range run.Alerts[0].Alerted {
			switch {
			case f.User == small:
				t.Errorf("%s: alerted about %s, whose day is under the minimum cost", run.Day, small)
			case f.User == spike && run.Day != last:
				t.Errorf("%s: alerted about %s before their spike", run.Day, spike)
			case f.User == spike:
				found = &f
			}
		}
	}
	if found == nil {
		t.Fatalf("no alert about %s on %s", spike, last)
	}
	wantCost, wantBase := spikeCost(e.truth, spike, last), spikeCost(e.truth, spike, e.truth.Days[0])
	if found.CostUSD != wantCost || found.BaselineUSD != wantBase || found.HistoryDays != 3 || !found.OverRatio || found.Queries != synth.SpikeQueries {
		t.Errorf("alert about %s = %+v, want %v USD in %d queries over a baseline of %v USD (3 days)", spike, *found, wantCost, synth.SpikeQueries, wantBase)
	}
	msgs, err := e.stack.Messages()
	if err != nil {
		t.Fatal(err)
	}
	var body string
	for _, m := range msgs {
		if strings.Contains(m.Message, spike) {
			if body != "" {
				t.Errorf("%s is named in more than one message", spike)
			}
			body = m.Message
		}
	}
	for _, want := range []string{"6.25 USD, 4 queries", "0.31 USD a day (median of 3 days with queries); the day is 20.0x that", "user_arn = '" + spike + "'", "above 10x the baseline"} {
		if !strings.Contains(body, want) {
			t.Errorf("message lacks %q:\n%s", want, body)
		}
	}
	t.Logf("the alert:\n%s", body)
	checkRerun(t, e, len(msgs))
}

// checkRerun reruns the last day, and its alert, and expects no new message.
func checkRerun(t *testing.T, e *env, published int) {
	t.Helper()
	ctx := context.Background()
	day := e.days[len(e.days)-1]
	if _, err := e.stack.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(DataBucket), Key: aws.String(athenasql.AlertsKey("", day))}); err != nil {
		t.Errorf("the day's record of alerts: %v", err)
	}
	if _, err := e.pipe.RunDay(ctx, day); err != nil {
		t.Fatalf("RunDay again: %v", err)
	}
	res, err := e.pipe.RunAlert(ctx, day)
	if err != nil || len(res.Alerted) != 0 || res.Already == 0 {
		t.Errorf("RunAlert again = %+v, %v, want nothing alerted and the spike already", res, err)
	}
	msgs, err := e.stack.Messages()
	if err != nil || len(msgs) != published {
		t.Errorf("after the rerun: %d messages, %v, want still %d", len(msgs), err, published)
	}
	if _, err := os.Stat(filepath.Join(e.stack.dir, snsFile)); err != nil {
		t.Errorf("messages not kept in the state directory: %v", err)
	}
}
