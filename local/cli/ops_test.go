package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/athenausage/athena-usage/local/pipeline"
	"github.com/athenausage/athena-usage/local/synth"
	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/events"
	"github.com/athenausage/athena-usage/pkg/lookup"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// serveEnv starts `local serve` over state and points the AWS configuration chain at it through
// the variables it prints, as a user of the product commands would; it stops at the test's end.
// The host's AWS configuration files and profile are kept out.
func serveEnv(t *testing.T, state string) {
	t.Helper()
	vars := startServe(t, state)
	if vars["AWS_ENDPOINT_URL_ATHENA"] == "" {
		t.Fatalf("serve printed %v, want endpoints", vars)
	}
	isolateAWSConfig(t)
	for k, v := range vars {
		t.Setenv(k, v)
	}
}

// isolateAWSConfig keeps the host's AWS configuration files, profile and instance metadata out
// of the test's AWS configuration chain.
func isolateAWSConfig(t *testing.T) {
	t.Helper()
	empty := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": empty, "AWS_SHARED_CREDENTIALS_FILE": empty, "AWS_PROFILE": "",
		"AWS_SESSION_TOKEN": "", "AWS_EC2_METADATA_DISABLED": "true", "AWS_DEFAULT_REGION": "",
	} {
		t.Setenv(k, v)
	}
}

// stackEnv starts the local stack over state in the test, as `local serve` does, and points the
// AWS configuration chain at it with the variables serve prints: the test holds the stack, to
// turn its knobs and read what its Lambda stand-in received. It stops at the test's end.
func stackEnv(t *testing.T, state string) *pipeline.Stack {
	t.Helper()
	st, err := pipeline.Start(context.Background(), pipeline.Options{Dir: state, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close the local stack: %v", err)
		}
	})
	isolateAWSConfig(t)
	for _, line := range endpointEnv(st) {
		for _, kv := range line {
			k, v, _ := strings.Cut(kv, "=")
			t.Setenv(k, v)
		}
	}
	return st
}

// stateSettings returns the pipeline settings the last `local run` over state saved.
func stateSettings(t *testing.T, state string) pipeline.Settings {
	t.Helper()
	set, err := loadSettings(state)
	if err != nil {
		t.Fatal(err)
	}
	return set.pipeline()
}

// TestReportMatchesLocalReport runs `report` against the local stack's endpoints, with the
// resource flags, and compares its output with `local report` over the same state: the same
// bytes on stdout, and the same line on stderr of what the report queries scanned.
func TestReportMatchesLocalReport(t *testing.T) {
	input, _ := generate(t)
	state := t.TempDir()
	if _, errs, err := execute(t, "local", "run", "--cloudtrail", input, "--day", "2025-03-03", "--dir", state); err != nil {
		t.Fatalf("local run: %v\n%s", err, errs)
	}
	window := []string{"--from", "2025-03-03", "--to", "2025-03-03"}
	cases := [][]string{
		{"--by", "user", "--format", "table"},
		{"--by", "role", "--format", "csv"},
		{"--by", "database", "--format", "csv"},
		{"--by", "user", "--format", "html"},
	}
	want, wantErrs := make([]string, len(cases)), make([]string, len(cases))
	for i, c := range cases {
		out, errs, err := execute(t, append(append([]string{"local", "report", "--dir", state}, window...), c...)...)
		if err != nil {
			t.Fatalf("local report %v: %v", c, err)
		}
		if !strings.HasPrefix(errs, "report queries: ") || !strings.Contains(errs, " scanned (about $") {
			t.Errorf("local report %v: stderr = %q, want the report queries' cost", c, errs)
		}
		want[i], wantErrs[i] = out, errs
	}
	serveEnv(t, state)
	// The resources from the flags, and from the stack's outputs through DescribeStacks.
	for _, resources := range [][]string{{"--workgroup", pipeline.Workgroup, "--database", pipeline.Database}, {"--stack", pipeline.StackName}} {
		for i, c := range cases {
			got, errs, err := execute(t, append(append(append([]string{"report"}, resources...), window...), c...)...)
			if err != nil {
				t.Fatalf("report %v %v: %v", resources, c, err)
			}
			if got != want[i] {
				t.Errorf("report %v %v =\n%s\nwant (local report)\n%s", resources, c, got, want[i])
			}
			if errs != wantErrs[i] {
				t.Errorf("report %v %v: stderr = %q, want (local report) %q", resources, c, errs, wantErrs[i])
			}
		}
	}
}

// TestOpsBadInput checks that bad input is refused with a clear error before any AWS call: no
// endpoint is reachable here, so a call would fail differently.
func TestOpsBadInput(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": empty, "AWS_SHARED_CREDENTIALS_FILE": empty, "AWS_PROFILE": "",
		"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y",
		// Every endpoint is a closed port: a call would fail with "connection refused".
		"AWS_ENDPOINT_URL": "http://127.0.0.1:1",
	} {
		t.Setenv(k, v)
	}
	day := time.Now().UTC().AddDate(0, 0, -2).Format(time.DateOnly)
	future := time.Now().UTC().AddDate(0, 0, 2).Format(time.DateOnly)
	old := time.Now().UTC().AddDate(0, 0, -60).Format(time.DateOnly)
	flags := []string{"--workgroup", "wg", "--database", "db", "--region", "us-east-1"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"report no range", append([]string{"report"}, flags...), "--from and --to are required"},
		{"report inverted", append([]string{"report", "--from", "2025-03-03", "--to", "2025-03-01"}, flags...), "empty range"},
		{"report no resources", []string{"report", "--from", day, "--to", day, "--region", "us-east-1"}, "give --stack NAME or --workgroup"},
		{"report bad database", []string{"report", "--from", day, "--to", day, "--region", "us-east-1", "--workgroup", "wg", "--database", "Bad-Name"}, "--database"},
		{"status no bucket", []string{"status", "--region", "us-east-1"}, "give --stack NAME or --data-bucket"},
		{"status both ranges", []string{"status", "--days", "3", "--from", day, "--to", day, "--data-bucket", "b-1"}, "not both"},
		{"status inverted", []string{"status", "--from", day, "--to", "2025-01-01", "--data-bucket", "b-1"}, "empty range"},
		{"backfill future", []string{"backfill", "--from", day, "--to", future, "--stack", "s"}, "is in the future"},
		{"backfill too old", []string{"backfill", "--from", old, "--to", day, "--stack", "s"}, "Athena keeps 45 days of query history"},
		{"backfill inverted", []string{"backfill", "--from", day, "--to", old, "--stack", "s"}, "empty range"},
		{"backfill no function", []string{"backfill", "--from", day, "--to", day, "--data-bucket", "b-1", "--region", "us-east-1"}, "give --stack NAME or --extract-function"},
		{"backfill no region", []string{"backfill", "--from", day, "--to", day, "--data-bucket", "b-1", "--extract-function", "f"}, "no AWS region"},
		{"report no region", []string{"report", "--from", day, "--to", day, "--workgroup", "wg", "--database", "db"}, "no AWS region"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := execute(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("athena-usage %s: error = %v, want %q", strings.Join(tt.args, " "), err, tt.want)
			}
		})
	}
}

// generateDays writes a synthetic trail and history of n days from start, with history, and
// returns the input folder.
func generateDays(t *testing.T, start time.Time, n int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "input")
	if _, err := synth.Generate(synth.Options{Users: 5, Days: n, QueriesPerDay: 30, Seed: 5, Start: start}, dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// failureRecord is a message as Lambda's on-failure destination sends it, for an extract of day
// that failed.
func failureRecord(day, msg string) string {
	return `{"version":"1.0","timestamp":"2025-03-06T01:00:00Z","requestContext":{"requestId":"r1",` +
		`"functionArn":"arn:aws:lambda:us-east-1:123456789012:function:athena-usage-extract:$LATEST",` +
		`"condition":"RetriesExhausted","approximateInvokeCount":3},"requestPayload":{"day":"` + day + `"},` +
		`"responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},` +
		`"responsePayload":{"errorMessage":"` + msg + `","errorType":"errorString"}}`
}

// TestStatusTellsDaysApart runs `status` against the local stack: a complete day, a partial day
// (its lookup killed between parts by the Lambda stand-in's kill knob), a failed day (an
// extract's failure waits in the queue) and a missing day.
func TestStatusTellsDaysApart(t *testing.T) {
	input := generateDays(t, time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC), 2)
	state := t.TempDir()
	if _, errs, err := execute(t, "local", "run", "--cloudtrail", input, "--history", filepath.Join(input, synth.HistoryFile),
		"--day", "2025-03-03", "--part-size", "10", "--dir", state); err != nil {
		t.Fatalf("local run: %v\n%s", err, errs)
	}
	st := stackEnv(t, state)
	ctx := context.Background()

	// The lookup of 2025-03-04 writes one part per invocation (no time is left for a second
	// one), and the stand-in kills the continuation that would write the second part.
	set := stateSettings(t, state)
	set.LookupPartSize = 10
	set.LookupOptions = []func(*lookup.Options){func(o *lookup.Options) { o.SafetyMargin = 24 * time.Hour }}
	pipe, err := st.Pipeline(set)
	if err != nil {
		t.Fatal(err)
	}
	var killed []events.Lookup
	st.Kill(func(inv pipeline.Invocation) bool {
		var ev events.Lookup
		if inv.Function != pipeline.LookupFunction || json.Unmarshal(inv.Payload, &ev) != nil || ev.Part == 0 {
			return false
		}
		killed = append(killed, ev)
		return true
	})
	day2, _ := config.ParseDay("2025-03-04")
	run, err := pipe.RunDay(ctx, day2)
	if err != nil {
		t.Fatalf("RunDay(2025-03-04): %v", err)
	}
	st.Kill(nil)
	if len(killed) != 1 || killed[0].Day != "2025-03-04" || killed[0].Part != 1 || len(run.Lookups) != 1 || !run.Lookups[0].Continued {
		t.Fatalf("RunDay(2025-03-04) = lookups %+v, killed %+v; want one invocation that wrote part 0 and handed part 1 to the continuation killed", run.Lookups, killed)
	}
	partIDs := run.Lookups[0].IDs

	cfg := awsConfig(t)
	queue := waitQueueURL(t, cfg)
	if _, err := sqs.NewFromConfig(cfg).SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queue), MessageBody: aws.String(failureRecord("2025-03-05", "extraction: query failed"))}); err != nil {
		t.Fatal(err)
	}

	out, _, err := execute(t, "status", "--data-bucket", pipeline.DataBucket, "--failure-queue", queue, "--from", "2025-03-03", "--to", "2025-03-06")
	if err == nil || !strings.Contains(err.Error(), "3 of 4 days not complete") {
		t.Errorf("status error = %v, want 3 of 4 days not complete", err)
	}
	// day, state, queries, with stats, without stats, parts.
	rows := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 5 && strings.HasPrefix(f[0], "2025-") && !strings.HasSuffix(f[0], ":") {
			wo, _ := strconv.Atoi(f[4])
			ws, _ := strconv.Atoi(f[3])
			rows[f[0]] = fmt.Sprintf("%s %s ids=%d parts=%s", f[1], f[2], wo+ws, f[5])
		}
	}
	// A partial day's queries are the rows of its athena_queries object, all the day's IDs; its
	// IDs and parts are what the killed lookup wrote.
	want := map[string]string{
		"2025-03-03": "complete 30 ids=30 parts=3",
		"2025-03-04": fmt.Sprintf("partial 30 ids=%d parts=1", partIDs),
		"2025-03-05": "failed 0 ids=0 parts=0",
		"2025-03-06": "missing 0 ids=0 parts=0",
	}
	for d, w := range want {
		if rows[d] != w {
			t.Errorf("status %s = %q, want %q\n%s", d, rows[d], w, out)
		}
	}
	if !strings.Contains(out, "2025-03-05: athena-usage-extract failed: errorString: extraction: query failed") {
		t.Errorf("status output lacks the failure's error:\n%s", out)
	}
	if _, _, err := execute(t, "status", "--data-bucket", pipeline.DataBucket, "--failure-queue", queue, "--from", "2025-03-03", "--to", "2025-03-03"); err != nil {
		t.Errorf("status of a complete day: error = %v, want nil", err)
	}
	// The same resources from the stack's outputs, through CloudFormation's DescribeStacks.
	if got, _, _ := execute(t, "status", "--stack", pipeline.StackName, "--from", "2025-03-03", "--to", "2025-03-06"); got != out {
		t.Errorf("status --stack %s =\n%s\nwant (with the resource flags)\n%s", pipeline.StackName, got, out)
	}
	if _, _, err := execute(t, "status", "--stack", "nope", "--days", "3"); err == nil || err.Error() != "stack nope does not exist in this account and region" {
		t.Errorf("status --stack nope: error = %v, want the stack does not exist", err)
	}
}

// waitQueueURL returns the failure queue's URL, as GetQueueUrl gives it.
func waitQueueURL(t *testing.T, cfg aws.Config) string {
	t.Helper()
	out, err := sqs.NewFromConfig(cfg).GetQueueUrl(context.Background(), &sqs.GetQueueUrlInput{QueueName: aws.String(pipeline.FailureQueue)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.QueueUrl)
}

// manifestWritten returns when the lookup last wrote day's manifest.
func manifestWritten(t *testing.T, s3c *s3.Client, day string) time.Time {
	t.Helper()
	d, _ := config.ParseDay(day)
	obj, err := s3c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(pipeline.DataBucket), Key: aws.String(athenasql.LookupManifestKey("", d))})
	if err != nil {
		t.Fatalf("manifest of %s: %v", day, err)
	}
	defer obj.Body.Close()
	var m events.LookupManifest
	if err := json.NewDecoder(obj.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m.Written
}

// recentDays generates a synthetic trail and history of the 4 days ending 3 days ago and runs
// the pipeline on the first of them, so that the state has the settings `local serve` needs and
// the 3 days after it are left to backfill. It returns the state and day(n), n days ago.
func recentDays(t *testing.T) (string, func(n int) string) {
	t.Helper()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	day := func(n int) string { return today.AddDate(0, 0, -n).Format(time.DateOnly) }
	input := generateDays(t, today.AddDate(0, 0, -6), 4)
	state := t.TempDir()
	if _, errs, err := execute(t, "local", "run", "--cloudtrail", input, "--history", filepath.Join(input, synth.HistoryFile),
		"--day", day(6), "--dir", state); err != nil {
		t.Fatalf("local run: %v\n%s", err, errs)
	}
	return state, day
}

// TestBackfillThreeDays backfills 3 days against `local serve` with --stack, whose Lambda
// stand-in runs the real handlers: they reach complete, with a progress line per day as it ends (stdout is not a
// terminal) and the summary. A day before the stack's projection start fails in the extract,
// and the summary gives its error from the failure queue.
func TestBackfillThreeDays(t *testing.T) {
	state, day := recentDays(t)
	serveEnv(t, state)
	// The resources from the stack's outputs, through CloudFormation's DescribeStacks.
	flags := []string{"--stack", pipeline.StackName, "--poll", "20ms"}

	out, _, err := execute(t, append([]string{"backfill", "--from", day(5), "--to", day(3)}, flags...)...)
	if err != nil {
		t.Fatalf("backfill %s to %s: %v\n%s", day(5), day(3), err, out)
	}
	for _, want := range []string{"started athena-usage-extract for " + day(5) + " to " + day(3) + "\n",
		"3 of 3 day(s) complete, 0 failed\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("backfill output lacks %q:\n%s", want, out)
		}
	}
	// One progress line per day as it ends, counting the days ended and the IDs written at the
	// look that saw it; the last look sees them all.
	for _, d := range []string{day(5), day(4), day(3)} {
		line := regexp.MustCompile(`(?m)^` + d + ` complete \([123]/3 days done, [0-9]+ queries looked up\)$`)
		if n := len(line.FindAllString(out, -1)); n != 1 {
			t.Errorf("backfill output has %d progress lines for %s, want 1:\n%s", n, d, out)
		}
		if !strings.Contains(out, "  "+d+" complete: 30 queries, ") {
			t.Errorf("backfill summary lacks %s complete with its 30 queries:\n%s", d, out)
		}
	}
	if !strings.Contains(out, " complete (3/3 days done, 90 queries looked up)\n") {
		t.Errorf("backfill output lacks the last look's progress, 3/3 days and 90 queries:\n%s", out)
	}
	if out, _, err := execute(t, "status", "--from", day(5), "--to", day(3), "--stack", pipeline.StackName); err != nil {
		t.Errorf("status after the backfill: %v\n%s", err, out)
	}

	out, _, err = execute(t, append([]string{"backfill", "--from", day(7), "--to", day(7)}, flags...)...)
	if err == nil || !strings.Contains(out, "  "+day(7)+" failed: athena-usage-extract: errorString: day "+day(7)+" is before PROJECTION_START") {
		t.Errorf("backfill of a day before the projection = %v, want its failure in the summary:\n%s", err, out)
	}
}

// signalWriter collects what is written to it and calls on once, when a line containing match
// has been written.
type signalWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	match string
	on    func()
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if w.on != nil && strings.Contains(w.buf.String(), w.match) {
		w.on()
		w.on = nil
	}
	return n, err
}

func (w *signalWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestBackfillResumesAfterInterrupt interrupts a backfill of 3 days once the first is complete
// (the Lambda stand-in kills the other days' lookups, so they cannot end first), runs it again,
// and checks at the stand-in that the second run invoked nothing for the complete day, and that
// all 3 days end complete.
func TestBackfillResumesAfterInterrupt(t *testing.T) {
	state, day := recentDays(t)
	st := stackEnv(t, state)
	if err := st.Serve(stateSettings(t, state)); err != nil {
		t.Fatal(err)
	}
	st.Kill(func(inv pipeline.Invocation) bool {
		var ev events.Lookup
		return inv.Function == pipeline.LookupFunction && json.Unmarshal(inv.Payload, &ev) == nil && ev.Day != day(5)
	})
	flags := []string{"--from", day(5), "--to", day(3), "--data-bucket", pipeline.DataBucket, "--extract-function", pipeline.ExtractFunc,
		"--failure-queue", st.FailureQueueURL, "--poll", "20ms"}

	// Interrupted as by Ctrl-C when the progress line of the first day is printed.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &signalWriter{match: day(5) + " complete (1/3 days done", on: cancel}
	err := Execute(ctx, append([]string{"backfill"}, flags...), out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "interrupted") || !strings.Contains(out.String(), "1 of 3 day(s) complete, 0 failed") {
		t.Fatalf("interrupted backfill = %v, want interrupted after 1 of 3 days complete:\n%s", err, out)
	}
	st.Kill(nil)
	s3c := s3.NewFromConfig(awsConfig(t), func(o *s3.Options) { o.UsePathStyle = true })
	first := manifestWritten(t, s3c, day(5))
	before := len(st.Invocations())

	again, _, err := execute(t, append([]string{"backfill"}, flags...)...)
	if err != nil {
		t.Fatalf("backfill run again: %v\n%s", err, again)
	}
	for _, want := range []string{"skipped 1 complete day(s): " + day(5) + "\n", "started athena-usage-extract for " + day(4) + " to " + day(3) + "\n",
		"3 of 3 day(s) complete, 0 failed\n"} {
		if !strings.Contains(again, want) {
			t.Errorf("resumed backfill output lacks %q:\n%s", want, again)
		}
	}
	var got []string
	for _, inv := range st.Invocations()[before:] {
		var ev struct{ Day, From, To string }
		if err := json.Unmarshal(inv.Payload, &ev); err != nil {
			t.Fatalf("invocation %s %s: %v", inv.Function, inv.Payload, err)
		}
		got = append(got, strings.TrimSpace(inv.Function+" "+ev.Day+" "+ev.From+" "+ev.To))
	}
	// Each lookup that completes a day invokes the alert function for it.
	want := []string{pipeline.ExtractFunc + "  " + day(4) + " " + day(3), pipeline.LookupFunction + " " + day(4), pipeline.LookupFunction + " " + day(3),
		pipeline.AlertFunction + " " + day(4), pipeline.AlertFunction + " " + day(3)}
	if !slices.Equal(got, want) {
		t.Errorf("invocations of the resumed backfill = %q, want %q: none for the complete day %s", got, want, day(5))
	}
	if got := manifestWritten(t, s3c, day(5)); !got.Equal(first) {
		t.Errorf("manifest of %s written at %v, want %v: the complete day was redone", day(5), got, first)
	}
}

// awsConfig loads the AWS configuration the commands load, for the test's own calls.
func awsConfig(t *testing.T) aws.Config {
	t.Helper()
	// The stand-ins send no checksums, and the SDK would log that it cannot check them.
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
