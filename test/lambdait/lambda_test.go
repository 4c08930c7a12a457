package lambdait

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/athenausage/athena-usage/local/pipeline"
	"github.com/athenausage/athena-usage/local/s3server"
	"github.com/athenausage/athena-usage/local/synth"
	"github.com/athenausage/athena-usage/pkg/apioutput"
	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/lambdalog"
	"github.com/athenausage/athena-usage/test/internal/lambdaemu"
	"github.com/athenausage/athena-usage/test/internal/samtemplate"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Logical IDs of the functions in template.yaml.
const (
	extractID = "ExtractFunction"
	lookupID  = "LookupFunction"
	alertID   = "AlertFunction"
)

// lookupWait bounds the wait for the asynchronous lookup to write its part.
const lookupWait = 60 * time.Second

// world is the local stack with one day of synthetic data and the template's functions.
type world struct {
	stack   *pipeline.Stack
	truth   *synth.Truth
	day     time.Time
	fns     map[string]samtemplate.Function
	extract *running
	lookup  *running
	alert   *running
}

// running is a function in the emulator with its captured output.
type running struct {
	*lambdaemu.Function
	out *syncBuffer
}

var (
	worldOnce sync.Once
	theWorld  *world
	worldErr  error
)

// sharedWorld starts the world once for every test of the run; the processes and servers are
// stopped by worldCleanup when the last test has finished.
func sharedWorld(t *testing.T) *world {
	t.Helper()
	worldOnce.Do(func() { theWorld, worldErr = startWorld() })
	if worldErr != nil {
		t.Fatal(worldErr)
	}
	return theWorld
}

// eventDay reads the day of events/extract-day.json, the day `sam local invoke` would extract.
func eventDay() (time.Time, error) {
	path := filepath.Join(moduleRoot, "events", "extract-day.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}, err
	}
	var ev struct {
		Day string `json:"day"`
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", path, err)
	}
	day, err := config.ParseDay(ev.Day)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: day: %w", path, err)
	}
	return day, nil
}

func startWorld() (w *world, err error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "lambdait-world-")
	if err != nil {
		return nil, err
	}
	w = &world{}
	defer func() {
		if err != nil {
			w.close()
			os.RemoveAll(dir)
		}
	}()
	if w.day, err = eventDay(); err != nil {
		return nil, err
	}
	gen := filepath.Join(dir, "synth")
	w.truth, err = synth.Generate(synth.Options{Start: w.day, Days: 1, Users: 6, QueriesPerDay: 120, Seed: 11}, gen)
	if err != nil {
		return nil, err
	}
	w.stack, err = pipeline.Start(ctx, pipeline.Options{
		Dir:    filepath.Join(dir, "stack"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return nil, err
	}
	in, err := w.stack.IngestCloudTrail(ctx, gen)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	if len(in.Skipped) > 0 {
		return nil, fmt.Errorf("ingest skipped %v", in.Skipped)
	}
	_, problems, err := w.stack.LoadHistory(filepath.Join(gen, synth.HistoryFile))
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("load history: %w", errors.Join(problems...))
	}

	tmpl, err := samtemplate.LoadFile(*templatePath, w.deployment())
	if err != nil {
		return nil, err
	}
	// Only the functions' environment must resolve locally; policies and queues may not.
	if w.fns, err = tmpl.Functions(); err != nil {
		return nil, fmt.Errorf("%s: %w", *templatePath, err)
	}
	if w.alert, err = w.start(ctx, alertID, pipeline.AlertFunction, nil); err != nil {
		return nil, err
	}
	if w.lookup, err = w.start(ctx, lookupID, pipeline.LookupFunction, nil); err != nil {
		return nil, err
	}
	if w.extract, err = w.start(ctx, extractID, pipeline.ExtractFunc, nil); err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { w.close(); os.RemoveAll(dir) })
	return w, nil
}

// deployment maps the template's parameters and resources onto the local stack and the
// synthetic data; the parameters not named keep the template's defaults.
func (w *world) deployment() samtemplate.Values {
	o := w.truth.Options
	return samtemplate.Values{
		Params: map[string]string{
			"CloudTrailBucket": pipeline.TrailBucket,
			"AccountIds":       strings.Join(o.Accounts, ","),
			"Regions":          strings.Join(o.Regions, ","),
			"ProjectionStart":  o.Start.Format(config.DayLayout),
			"DatabaseName":     pipeline.Database,
			// No LookupRoleName: there is no local STS to assume a role with, so the queries
			// of the trail's second account must come back as OtherAccount.
		},
		Names: map[string]string{
			"DataBucket":      pipeline.DataBucket,
			"ResultsBucket":   pipeline.ResultsBucket,
			"AthenaWorkGroup": pipeline.Workgroup,
			"GlueDatabase":    pipeline.Database,
			lookupID:          pipeline.LookupFunction,
			extractID:         pipeline.ExtractFunc,
			alertID:           pipeline.AlertFunction,
			"AlertTopic":      pipeline.AlertTopic,
		},
		StackName: "athena-usage",
		Region:    pipeline.Region,
		// The stack runs in the trail's first account: its queries are looked up directly.
		AccountID: o.Accounts[0],
		Partition: "aws",
	}
}

// env is the template's environment for the function plus what points the SDK at the local
// stack; edit changes it before the function starts.
func (w *world) env(id string) map[string]string {
	env := map[string]string{}
	for k, v := range w.fns[id].Env {
		env[k] = v
	}
	env["AWS_REGION"] = pipeline.Region
	env["AWS_ENDPOINT_URL_ATHENA"] = w.stack.AthenaURL
	env["AWS_ENDPOINT_URL_S3"] = w.stack.S3URL
	env[config.EnvS3PathStyle] = "true"
	// Over plain HTTP the SDK's default checksums need a body it can read twice; the stand-ins
	// check none, and real S3 is reached over HTTPS.
	env["AWS_REQUEST_CHECKSUM_CALCULATION"] = "when_required"
	env["AWS_RESPONSE_CHECKSUM_VALIDATION"] = "when_required"
	env["AWS_ACCESS_KEY_ID"] = s3server.AccessKeyID
	env["AWS_SECRET_ACCESS_KEY"] = s3server.SecretAccessKey
	env["AWS_SESSION_TOKEN"] = ""
	if id == extractID && w.lookup != nil {
		env["AWS_ENDPOINT_URL_LAMBDA"] = w.lookup.Endpoint()
	}
	// The lookup hands a completed day to the alert function, which publishes to the local
	// stack's topic.
	if id == lookupID && w.alert != nil {
		env["AWS_ENDPOINT_URL_LAMBDA"] = w.alert.Endpoint()
	}
	env["AWS_ENDPOINT_URL_SNS"] = w.stack.InvokeURL
	return env
}

// start runs the template's function id in the emulator under name.
func (w *world) start(ctx context.Context, id, name string, edit func(map[string]string)) (*running, error) {
	fn, ok := w.fns[id]
	if !ok {
		return nil, fmt.Errorf("template has no function %s", id)
	}
	env := w.env(id)
	if edit != nil {
		edit(env)
	}
	bin := binaries[strings.ToLower(strings.TrimSuffix(id, "Function"))]
	out := &syncBuffer{}
	f, err := lambdaemu.Start(ctx, lambdaemu.Config{
		Binary:       bin,
		Env:          env,
		FunctionName: name,
		Timeout:      fn.Timeout,
		MemoryMB:     fn.MemoryMB,
		LogFormat:    fn.LogFormat,
		LogLevel:     fn.LogLevel,
		Stdout:       out,
		Stderr:       out,
	})
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", id, err)
	}
	return &running{Function: f, out: out}, nil
}

func (w *world) close() {
	for _, r := range []*running{w.extract, w.lookup, w.alert} {
		if r != nil {
			r.Close()
		}
	}
	if w.stack != nil {
		_ = w.stack.Close()
	}
}

// cleanups stop the shared world after the last test; TestMain runs them.
var cleanups []func()

// syncBuffer collects a function's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	// wrote is closed and replaced at each write, to wake waitFor.
	wrote chan struct{}
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.wrote != nil {
		close(b.wrote)
		b.wrote = nil
	}
	return b.buf.Write(p)
}

// waitFor waits until the output contains s, or ctx ends.
func (b *syncBuffer) waitFor(ctx context.Context, s string) error { return b.waitForFrom(ctx, s, 0) }

// waitForFrom waits until the output from byte from on contains s, or ctx ends.
func (b *syncBuffer) waitForFrom(ctx context.Context, s string, from int) error {
	for {
		b.mu.Lock()
		if strings.Contains(b.buf.String()[from:], s) {
			b.mu.Unlock()
			return nil
		}
		if b.wrote == nil {
			b.wrote = make(chan struct{})
		}
		wrote := b.wrote
		b.mu.Unlock()
		select {
		case <-wrote:
		case <-ctx.Done():
			return fmt.Errorf("output never contained %q: %w", s, ctx.Err())
		}
	}
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logOnFailure prints a function's output if the test fails.
func logOnFailure(t *testing.T, rs ...*running) {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			for _, r := range rs {
				t.Logf("output of %s:\n%s", r.ARN(), r.out)
			}
		}
	})
}

// errorPayload is Lambda's error payload.
type errorPayload struct {
	Message string `json:"errorMessage"`
	Type    string `json:"errorType"`
}

// invoke runs one synchronous invocation of payload.
func invoke(t *testing.T, r *running, payload []byte) lambdaemu.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), lookupWait)
	defer cancel()
	res, err := r.Invoke(ctx, payload)
	if err != nil {
		t.Fatalf("Invoke(%s, %s): %v", r.ARN(), payload, err)
	}
	return res
}

// extractResult is the extract function's success payload (extract.Result).
type extractResult struct {
	Days []struct {
		Day     string `json:"day"`
		QueryID string `json:"query_id"`
		Queries string `json:"queries"`
	} `json:"days"`
}

// wantIDs are the distinct query IDs Athena accepted on day, according to the synthetic data.
func (w *world) wantIDs(day string) map[string]synth.Query {
	ids := map[string]synth.Query{}
	for _, q := range w.truth.Queries {
		if q.Day == day {
			ids[q.ID] = q
		}
	}
	return ids
}

// waitForPart waits until key exists in the data bucket and returns its rows.
func (w *world) waitForPart(t *testing.T, key string) []apioutput.Row {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), lookupWait)
	defer cancel()
	for {
		obj, err := w.stack.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(pipeline.DataBucket), Key: aws.String(key)})
		if err == nil {
			defer obj.Body.Close()
			r := apioutput.NewReader(obj.Body)
			var rows []apioutput.Row
			for {
				row, err := r.Read()
				if errors.Is(err, io.EOF) {
					return rows
				}
				if err != nil {
					t.Fatalf("s3://%s/%s: %v", pipeline.DataBucket, key, err)
				}
				rows = append(rows, row)
			}
		}
		var missing *s3types.NoSuchKey
		if !errors.As(err, &missing) {
			t.Fatalf("get s3://%s/%s: %v", pipeline.DataBucket, key, err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the lookup did not write s3://%s/%s within %v", pipeline.DataBucket, key, lookupWait)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestExtractHandsDayToLookup runs the daily pipeline as Lambda would: the extract binary
// extracts the day of events/extract-day.json, invokes the lookup binary asynchronously through
// the Lambda API, and the lookup writes the day's athena_api_output part with one row per query.
// Then the scheduled event of events/extract-schedule.json, whose previous day is the same day,
// writes the part again.
func TestExtractHandsDayToLookup(t *testing.T) {
	w := sharedWorld(t)
	logOnFailure(t, w.extract, w.lookup)
	day := w.day.Format(config.DayLayout)
	key := athenasql.PartKey(w.fns[extractID].Env[config.EnvDataPrefix], w.day, 0)
	want := w.wantIDs(day)
	if len(want) == 0 {
		t.Fatalf("synth generated no queries on %s", day)
	}

	for _, file := range []string{"extract-day.json", "extract-schedule.json"} {
		t.Run(file, func(t *testing.T) {
			event, err := os.ReadFile(filepath.Join(moduleRoot, "events", file))
			if err != nil {
				t.Fatal(err)
			}
			// The part of an earlier run must not pass for this run's, and without the earlier
			// run's manifest the day is not an unchanged re-check, which the extract skips.
			for _, k := range []string{key, athenasql.LookupManifestKey(w.fns[extractID].Env[config.EnvDataPrefix], w.day)} {
				if _, err := w.stack.S3.DeleteObject(context.Background(), &s3.DeleteObjectInput{
					Bucket: aws.String(pipeline.DataBucket), Key: aws.String(k)}); err != nil {
					t.Fatal(err)
				}
			}
			res := invoke(t, w.extract, event)
			if res.FunctionError != "" {
				t.Fatalf("extract(%s) failed: %s", file, res.Payload)
			}
			var got extractResult
			if err := json.Unmarshal(res.Payload, &got); err != nil {
				t.Fatalf("extract(%s) payload %s: %v", file, res.Payload, err)
			}
			if len(got.Days) != 1 || got.Days[0].Day != day || got.Days[0].QueryID == "" {
				t.Fatalf("extract(%s) = %s, want day %s with the extraction's query ID", file, res.Payload, day)
			}
			t.Logf("extract(%s) = %s in %v", file, res.Payload, res.Duration)

			rows := w.waitForPart(t, key)
			if len(rows) != len(want) {
				t.Errorf("s3://%s/%s has %d rows, want %d (the distinct queries on %s)", pipeline.DataBucket, key, len(rows), len(want), day)
			}
			t.Logf("the lookup wrote %d rows to s3://%s/%s", len(rows), pipeline.DataBucket, key)
			seen := map[string]bool{}
			own := w.truth.Options.Accounts[0]
			for _, r := range rows {
				q, ok := want[r.QueryID]
				if !ok || seen[r.QueryID] {
					t.Errorf("s3://%s/%s: query ID %s is unexpected or repeated", pipeline.DataBucket, key, r.QueryID)
					continue
				}
				seen[r.QueryID] = true
				switch {
				case q.Account != own && r.LookupError != "OtherAccount":
					t.Errorf("query %s of account %s: lookup_error %q, want OtherAccount (no role to assume)", q.ID, q.Account, r.LookupError)
				case q.Account == own && q.InHistory && (r.LookupError != "" || r.Status != q.State):
					t.Errorf("query %s of the own account: status %q, lookup_error %q, want %s from the history", q.ID, r.Status, r.LookupError, q.State)
				}
			}
		})
	}
}

// TestBadEventsNameTheField sends events a person could get wrong and expects a Lambda error
// whose message says what was wrong with which field.
func TestBadEventsNameTheField(t *testing.T) {
	w := sharedWorld(t)
	logOnFailure(t, w.extract, w.lookup)
	tests := []struct {
		fn    *running
		event string
		// want are substrings the errorMessage must contain.
		want []string
	}{
		{w.extract, `{"day":"2024-02-30"}`, []string{"day", "2024-02-30"}},
		{w.extract, `{"from":"2024-03-02","to":"2024-03-01"}`, []string{"to 2024-03-01", "before from 2024-03-02"}},
		// Lambda's Invoke API refuses a payload that is not JSON; one that reaches the runtime
		// anyway must fail, not pass for an empty event (the previous day).
		{w.extract, `not json`, []string{"invalid character"}},
		{w.lookup, `{"day":"x"}`, []string{"day", `"x"`}},
		{w.alert, `{}`, []string{`give {"day":"YYYY-MM-DD"} or a scheduled event`}},
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			res := invoke(t, tt.fn, []byte(tt.event))
			if res.FunctionError != lambdaemu.Unhandled {
				t.Fatalf("%s(%s) = %s, FunctionError %q, want %q", tt.fn.ARN(), tt.event, res.Payload, res.FunctionError, lambdaemu.Unhandled)
			}
			var e errorPayload
			if err := json.Unmarshal(res.Payload, &e); err != nil {
				t.Fatalf("%s(%s) error payload %s: %v", tt.fn.ARN(), tt.event, res.Payload, err)
			}
			for _, s := range tt.want {
				if !strings.Contains(e.Message, s) {
					t.Errorf("%s(%s) errorMessage = %q, want it to contain %q", tt.fn.ARN(), tt.event, e.Message, s)
				}
			}
			t.Logf("%s(%s) = %s", tt.fn.ARN(), tt.event, res.Payload)
		})
	}
}

// TestMissingVariableFailsInit starts each function without a variable the template sets and
// expects the first invocation to fail in init, with the variable named where a person looks:
// the function's log (CloudWatch on Lambda).
func TestMissingVariableFailsInit(t *testing.T) {
	w := sharedWorld(t)
	for _, tt := range []struct{ id, name, unset string }{
		{extractID, "missing-data-bucket-extract", config.EnvDataBucket},
		{extractID, "missing-workgroup-extract", config.EnvWorkgroup},
		{lookupID, "missing-data-bucket-lookup", config.EnvDataBucket},
		{alertID, "missing-topic-alert", config.EnvAlertTopic},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := w.fns[tt.id].Env[tt.unset]; !ok {
				t.Fatalf("the template does not set %s for %s", tt.unset, tt.id)
			}
			f, err := w.start(context.Background(), tt.id, tt.name, func(env map[string]string) { delete(env, tt.unset) })
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			logOnFailure(t, f)
			res := invoke(t, f, []byte(`{}`))
			if res.FunctionError != lambdaemu.Unhandled {
				t.Fatalf("%s without %s = %s, FunctionError %q, want %q", tt.id, tt.unset, res.Payload, res.FunctionError, lambdaemu.Unhandled)
			}
			var e errorPayload
			if err := json.Unmarshal(res.Payload, &e); err != nil {
				t.Fatalf("%s without %s: error payload %s: %v", tt.id, tt.unset, res.Payload, err)
			}
			t.Logf("%s without %s = %s", tt.id, tt.unset, res.Payload)
			if !strings.Contains(f.out.String(), "INIT_REPORT") {
				t.Errorf("%s without %s: no INIT_REPORT in the log, want init to fail", tt.id, tt.unset)
			}
			if want := tt.unset + " is required"; !strings.Contains(f.out.String(), want) {
				t.Errorf("%s without %s: log does not contain %q", tt.id, tt.unset, want)
			}
			// The mains post their configuration error to /runtime/init/error (aws-lambda-go has
			// no call for it), so the invoker sees which variable is missing.
			if e.Type != lambdalog.InitErrorType || !strings.Contains(e.Message, tt.unset) {
				t.Errorf("%s without %s: error %q %q, want type %s naming %s", tt.id, tt.unset, e.Type, e.Message, lambdalog.InitErrorType, tt.unset)
			}
		})
	}
}

// maxBootstrapBytes is the Makefile's MAX_BOOTSTRAP_BYTES: a bigger bootstrap means something
// heavy (DuckDB, the plotting stack) leaked into a function.
const maxBootstrapBytes = 15 << 20

// coldStarts is how many fresh processes each function is started in to measure its init.
const coldStarts = 5

// TestInitDurationAndSize measures each binary's size and its init duration (process start to
// its first poll for work, as Lambda's REPORT line gives it), median of a few cold starts, and
// checks the build is the static, DuckDB-free binary the Makefile ships.
func TestInitDurationAndSize(t *testing.T) {
	w := sharedWorld(t)
	var summary []string
	for _, tt := range []struct{ id, fn, event string }{
		{extractID, "extract", `{"day":"2024-02-30"}`},
		{lookupID, "lookup", `{"day":"x"}`},
		{alertID, "alert", `{"day":"x"}`},
	} {
		bin := binaries[tt.fn]
		st, err := os.Stat(bin)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > maxBootstrapBytes {
			t.Errorf("%s bootstrap is %d bytes, want at most %d", tt.fn, st.Size(), maxBootstrapBytes)
		}
		info, err := buildinfo.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range info.Settings {
			if s.Key == "CGO_ENABLED" && s.Value != "0" {
				t.Errorf("%s bootstrap built with CGO_ENABLED=%s, want 0", tt.fn, s.Value)
			}
		}
		for _, d := range info.Deps {
			if strings.Contains(strings.ToLower(d.Path), "duckdb") {
				t.Errorf("%s bootstrap links %s", tt.fn, d.Path)
			}
		}

		var inits []time.Duration
		for i := range coldStarts {
			f, err := w.start(context.Background(), tt.id, fmt.Sprintf("cold-%s-%d", tt.fn, i), nil)
			if err != nil {
				t.Fatal(err)
			}
			res := invoke(t, f, []byte(tt.event))
			f.Close()
			if res.InitDuration <= 0 || res.InitDuration > lambdaemu.DefaultInitTimeout {
				t.Fatalf("%s cold start %d: init duration %v, want within (0, %v]; output:\n%s",
					tt.fn, i, res.InitDuration, lambdaemu.DefaultInitTimeout, f.out)
			}
			inits = append(inits, res.InitDuration)
		}
		slices.Sort(inits)
		median := inits[len(inits)/2]
		t.Logf("%s: bootstrap %d bytes (%.1f MiB), init median %v over %d cold starts (min %v, max %v)",
			tt.fn, st.Size(), float64(st.Size())/(1<<20), median, coldStarts, inits[0], inits[len(inits)-1])
		summary = append(summary, fmt.Sprintf("%s %dms", tt.fn, median.Milliseconds()))
	}
	t.Logf("lambda init: %s", strings.Join(summary, ", "))
}
