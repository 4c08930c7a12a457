package lambdaemu

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// echoBinary is testdata/echo built the way the real functions are built.
var echoBinary string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "lambdaemu-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	echoBinary = filepath.Join(dir, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", echoBinary, "./testdata/echo")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build testdata/echo: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// syncBuffer is a bytes.Buffer the test can read while the emulator writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func start(t *testing.T, cfg Config) *Function {
	t.Helper()
	if cfg.Binary == "" {
		cfg.Binary = echoBinary
	}
	f, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func invoke(t *testing.T, f *Function, payload string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := f.Invoke(ctx, []byte(payload))
	if err != nil {
		t.Fatalf("Invoke(%s): %v", payload, err)
	}
	return res
}

// echoed is the echo function's response.
type echoed struct {
	Event         json.RawMessage   `json:"event"`
	RequestID     string            `json:"request_id"`
	FunctionARN   string            `json:"function_arn"`
	DeadlineMS    int64             `json:"deadline_ms"`
	FunctionName  string            `json:"function_name"`
	MemoryMB      int               `json:"memory_mb"`
	TraceID       string            `json:"trace_id"`
	ClientContext map[string]string `json:"client_context"`
	Env           map[string]string `json:"env"`
	PID           int               `json:"pid"`
}

func decodeEcho(t *testing.T, res Result) echoed {
	t.Helper()
	if res.FunctionError != "" {
		t.Fatalf("FunctionError = %q (payload %s), want none", res.FunctionError, res.Payload)
	}
	var e echoed
	if err := json.Unmarshal(res.Payload, &e); err != nil {
		t.Fatalf("decode %s: %v", res.Payload, err)
	}
	return e
}

// lambdaError is Lambda's error payload.
type lambdaError struct {
	Message    string            `json:"errorMessage"`
	Type       string            `json:"errorType"`
	StackTrace []json.RawMessage `json:"stackTrace"`
}

func decodeError(t *testing.T, res Result) lambdaError {
	t.Helper()
	if res.FunctionError != Unhandled {
		t.Fatalf("FunctionError = %q (payload %s), want %q", res.FunctionError, res.Payload, Unhandled)
	}
	var e lambdaError
	if err := json.Unmarshal(res.Payload, &e); err != nil {
		t.Fatalf("decode error payload %s: %v", res.Payload, err)
	}
	return e
}

func TestInvokeRoundTrip(t *testing.T) {
	var stdout, stderr syncBuffer
	timeout := 7 * time.Second
	f := start(t, Config{
		Env:          map[string]string{"OUTPUT_BUCKET": "usage-bucket", "AWS_REGION": "eu-west-1"},
		FunctionName: "extract",
		Timeout:      timeout,
		MemoryMB:     512,
		Stdout:       &stdout,
		Stderr:       &stderr,
	})
	event := `{"hello":"world","env":["OUTPUT_BUCKET","AWS_REGION","TZ","LAMBDA_TASK_ROOT","AWS_LAMBDA_FUNCTION_VERSION","AWS_LAMBDA_LOG_GROUP_NAME","AWS_ACCESS_KEY_ID","HOME"]}`
	before := time.Now()
	res := invoke(t, f, event)
	got := decodeEcho(t, res)

	if string(got.Event) != event {
		t.Errorf("event = %s, want %s", got.Event, event)
	}
	if got.RequestID == "" || got.RequestID != res.RequestID {
		t.Errorf("handler request ID = %q, want Result.RequestID %q", got.RequestID, res.RequestID)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(res.RequestID) {
		t.Errorf("RequestID = %q, want a UUID", res.RequestID)
	}
	deadline := time.UnixMilli(got.DeadlineMS)
	if lo, hi := before.Add(timeout).Add(-time.Millisecond), time.Now().Add(timeout); deadline.Before(lo) || deadline.After(hi) {
		t.Errorf("handler deadline = %v, want within [%v, %v]", deadline, lo, hi)
	}
	if want := "arn:aws:lambda:eu-west-1:" + AccountID + ":function:extract"; got.FunctionARN != want || f.ARN() != want {
		t.Errorf("function ARN = %q (ARN() %q), want %q", got.FunctionARN, f.ARN(), want)
	}
	if got.FunctionName != "extract" || got.MemoryMB != 512 {
		t.Errorf("lambdacontext name, memory = %q, %d, want extract, 512", got.FunctionName, got.MemoryMB)
	}
	if !strings.HasPrefix(got.TraceID, "Root=1-") {
		t.Errorf("trace ID = %q, want an X-Ray trace header", got.TraceID)
	}
	wantEnv := map[string]string{
		"OUTPUT_BUCKET":               "usage-bucket",
		"AWS_REGION":                  "eu-west-1",
		"TZ":                          ":UTC",
		"LAMBDA_TASK_ROOT":            filepath.Dir(echoBinary),
		"AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
		"AWS_LAMBDA_LOG_GROUP_NAME":   "/aws/lambda/extract",
		"AWS_ACCESS_KEY_ID":           localAccessKeyID,
		"HOME":                        "", // not inherited from the test process
	}
	for k, want := range wantEnv {
		if got.Env[k] != want {
			t.Errorf("env %s = %q, want %q", k, got.Env[k], want)
		}
	}
	if res.InitDuration <= 0 || res.InitDuration != f.InitDuration() {
		t.Errorf("first invoke InitDuration = %v, InitDuration() = %v, want equal and > 0", res.InitDuration, f.InitDuration())
	}
	if res.Duration <= 0 || res.Duration > 2*time.Second {
		t.Errorf("Duration = %v, want in (0, 2s]", res.Duration)
	}
	t.Logf("cold start: init %v, duration %v, max memory %d MB", res.InitDuration, res.Duration, res.MaxMemoryUsedMB)

	warm := invoke(t, f, `{"second":true}`)
	got2 := decodeEcho(t, warm)
	if got2.PID != got.PID {
		t.Errorf("second invoke ran in PID %d, want the warm process %d", got2.PID, got.PID)
	}
	if warm.InitDuration != 0 {
		t.Errorf("warm invoke InitDuration = %v, want 0", warm.InitDuration)
	}
	if warm.RequestID == res.RequestID {
		t.Errorf("second invoke reused request ID %s", res.RequestID)
	}
	t.Logf("warm invoke: duration %v", warm.Duration)

	if !strings.Contains(stderr.String(), "handling "+res.RequestID) {
		t.Errorf("stderr = %q, want the handler's log line for %s", stderr.String(), res.RequestID)
	}
	for _, want := range []string{
		"START RequestId: " + res.RequestID + " Version: $LATEST",
		"END RequestId: " + res.RequestID,
		"REPORT RequestId: " + res.RequestID + "\tDuration: ",
		"Memory Size: 512 MB",
		"Init Duration: ",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout = %q, want it to contain %q", stdout.String(), want)
		}
	}
}

func TestFunctionError(t *testing.T) {
	f := start(t, Config{})
	pid := decodeEcho(t, invoke(t, f, `{}`)).PID
	got := decodeError(t, invoke(t, f, `{"fail":true}`))
	want := lambdaError{Message: "asked to fail: event said so", Type: "FailError"}
	if got.Message != want.Message || got.Type != want.Type {
		t.Errorf("error payload = %+v, want %+v", got, want)
	}
	// A returned error leaves the process running.
	if next := decodeEcho(t, invoke(t, f, `{}`)).PID; next != pid {
		t.Errorf("invoke after a function error ran in PID %d, want %d", next, pid)
	}
}

func TestPanic(t *testing.T) {
	f := start(t, Config{})
	pid := decodeEcho(t, invoke(t, f, `{}`)).PID
	got := decodeError(t, invoke(t, f, `{"panic":true}`))
	if got.Message != "event said panic" || got.Type != "string" || len(got.StackTrace) == 0 {
		t.Errorf("panic payload = %+v, want message %q, type string and a stack trace", got, "event said panic")
	}
	// aws-lambda-go exits after reporting a panic; the next invoke gets a new process.
	next := invoke(t, f, `{}`)
	if p := decodeEcho(t, next).PID; p == pid {
		t.Errorf("invoke after a panic ran in PID %d, want a new process", p)
	}
	if next.InitDuration == 0 {
		t.Errorf("invoke after a panic InitDuration = 0, want a cold start")
	}
}

func TestTimeout(t *testing.T) {
	var stdout syncBuffer
	f := start(t, Config{Timeout: 300 * time.Millisecond, Stdout: &stdout})
	pid := decodeEcho(t, invoke(t, f, `{}`)).PID
	res := invoke(t, f, `{"sleep_ms":5000}`)
	got := decodeError(t, res)
	wantMsg := "RequestId: " + res.RequestID + " Error: Task timed out after 0.30 seconds"
	if got.Type != "Sandbox.Timedout" || got.Message != wantMsg {
		t.Errorf("timeout payload = %+v, want Sandbox.Timedout %q", got, wantMsg)
	}
	if res.Duration < 300*time.Millisecond || res.Duration > 2*time.Second {
		t.Errorf("timed out invoke Duration = %v, want about 300ms", res.Duration)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("timed out process %d: kill -0 = %v, want ESRCH (killed)", pid, err)
	}
	if !strings.Contains(stdout.String(), res.RequestID+" Task timed out after 0.30 seconds") {
		t.Errorf("stdout = %q, want the timeout log line", stdout.String())
	}
	if p := decodeEcho(t, invoke(t, f, `{}`)).PID; p == pid {
		t.Errorf("invoke after a timeout ran in PID %d, want a new process", p)
	}
}

func TestCrash(t *testing.T) {
	f := start(t, Config{})
	pid := decodeEcho(t, invoke(t, f, `{}`)).PID
	res := invoke(t, f, `{"exit":true}`)
	got := decodeError(t, res)
	wantMsg := "RequestId: " + res.RequestID + " Error: Runtime exited with error: exit status 3"
	if got.Type != "Runtime.ExitError" || got.Message != wantMsg {
		t.Errorf("crash payload = %+v, want Runtime.ExitError %q", got, wantMsg)
	}
	if p := decodeEcho(t, invoke(t, f, `{}`)).PID; p == pid {
		t.Errorf("invoke after a crash ran in PID %d, want a new process", p)
	}
}

func TestInitError(t *testing.T) {
	exitsAtOnce := filepath.Join(t.TempDir(), "bootstrap")
	if err := os.WriteFile(exitsAtOnce, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		cfg      Config
		wantType string
		wantMsg  string // after "RequestId: <id> Error: " where Lambda puts one
	}{
		{"exit before lambda.Start", Config{Env: map[string]string{"ECHO_INIT": "fail"}},
			"Runtime.ExitError", "Runtime exited with error: exit status 1"},
		{"binary exits at once", Config{Binary: exitsAtOnce},
			"Runtime.ExitError", "Runtime exited without providing a reason"},
		{"posts init error", Config{Env: map[string]string{"ECHO_INIT": "post"}},
			"InitConfigError", ""},
		{"init never finishes", Config{Env: map[string]string{"ECHO_INIT": "sleep"}, InitTimeout: 300 * time.Millisecond},
			"Sandbox.Timedout", "Init timed out after 0.30 seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout syncBuffer
			tt.cfg.Stdout = &stdout
			f := start(t, tt.cfg)
			// Lambda retries init on the next invoke; it fails the same way.
			for i := range 2 {
				res := invoke(t, f, `{}`)
				got := decodeError(t, res)
				wantMsg := "RequestId: " + res.RequestID + " Error: " + tt.wantMsg
				if tt.wantMsg == "" {
					wantMsg = "config missing BUCKET"
				}
				if got.Type != tt.wantType || got.Message != wantMsg {
					t.Errorf("invoke %d: error payload = %+v, want %s %q", i, got, tt.wantType, wantMsg)
				}
				if res.InitDuration != 0 {
					t.Errorf("invoke %d: InitDuration = %v, want 0 for a failed init", i, res.InitDuration)
				}
			}
			wantReport := "Phase: init\tStatus: error\tError Type: " + tt.wantType
			if tt.wantType == "Sandbox.Timedout" {
				wantReport = "Phase: init\tStatus: timeout"
			}
			if n := strings.Count(stdout.String(), wantReport); n != 2 {
				t.Errorf("stdout = %q, want 2 INIT_REPORT lines with %q", stdout.String(), wantReport)
			}
		})
	}
}

func TestHTTPInvoke(t *testing.T) {
	f := start(t, Config{FunctionName: "lookup"})
	post := func(t *testing.T, url, body string, header map[string]string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}

	t.Run("success", func(t *testing.T) {
		cc := base64.StdEncoding.EncodeToString([]byte(`{"custom":{"caller":"test"}}`))
		resp, body := post(t, f.InvokeURL(), `{"a":1}`, map[string]string{"X-Amz-Client-Context": cc})
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Amz-Function-Error") != "" {
			t.Fatalf("POST = %d, function error %q, body %s; want 200 without function error",
				resp.StatusCode, resp.Header.Get("X-Amz-Function-Error"), body)
		}
		got := decodeEcho(t, Result{Payload: body})
		if string(got.Event) != `{"a":1}` || got.ClientContext["caller"] != "test" {
			t.Errorf("handler saw event %s, client context %v; want {\"a\":1}, caller=test", got.Event, got.ClientContext)
		}
		if got.RequestID != resp.Header.Get("X-Amzn-Requestid") {
			t.Errorf("handler request ID %q, X-Amzn-Requestid %q, want equal", got.RequestID, resp.Header.Get("X-Amzn-Requestid"))
		}
	})
	t.Run("function error", func(t *testing.T) {
		resp, body := post(t, f.InvokeURL(), `{"fail":true}`, nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Amz-Function-Error") != Unhandled {
			t.Fatalf("POST = %d, function error %q, want 200, Unhandled", resp.StatusCode, resp.Header.Get("X-Amz-Function-Error"))
		}
		if got := decodeError(t, Result{Payload: body, FunctionError: Unhandled}); got.Type != "FailError" {
			t.Errorf("errorType = %q, want FailError", got.Type)
		}
	})
	t.Run("by function name", func(t *testing.T) {
		url := strings.Replace(f.InvokeURL(), "/functions/function/", "/functions/lookup/", 1)
		if resp, body := post(t, url, `{}`, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("POST %s = %d %s, want 200", url, resp.StatusCode, body)
		}
	})

	rejects := []struct {
		name       string
		url        string
		body       string
		header     map[string]string
		wantStatus int
		wantType   string
	}{
		{"unknown function", strings.Replace(f.InvokeURL(), "/functions/function/", "/functions/other/", 1), `{}`, nil, 404, "ResourceNotFoundException"},
		{"bad invocation type", f.InvokeURL(), `{}`, map[string]string{"X-Amz-Invocation-Type": "Later"}, 400, "InvalidParameterValueException"},
		{"not JSON", f.InvokeURL(), `{oops`, nil, 400, "InvalidRequestContentException"},
		{"bad client context", f.InvokeURL(), `{}`, map[string]string{"X-Amz-Client-Context": "%%%"}, 400, "InvalidParameterValueException"},
		{"too large", f.InvokeURL(), `"` + strings.Repeat("x", MaxPayloadBytes) + `"`, nil, 413, "RequestTooLargeException"},
		{"dry run", f.InvokeURL(), `{}`, map[string]string{"X-Amz-Invocation-Type": "DryRun"}, 204, ""},
	}
	for _, tt := range rejects {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, tt.url, tt.body, tt.header)
			if resp.StatusCode != tt.wantStatus || resp.Header.Get("X-Amzn-Errortype") != tt.wantType {
				t.Errorf("POST = %d %s (%s), want %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"), body, tt.wantStatus, tt.wantType)
			}
		})
	}
}

func TestAsyncInvoke(t *testing.T) {
	var stderr syncBuffer
	f := start(t, Config{Stderr: &stderr})
	req, err := http.NewRequest(http.MethodPost, f.InvokeURL(), strings.NewReader(`{"sleep_ms":400}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Invocation-Type", "Event")
	began := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	answered := time.Since(began)
	id := resp.Header.Get("X-Amzn-Requestid")
	if resp.StatusCode != http.StatusAccepted || id == "" {
		t.Fatalf("Event invoke = %d, request ID %q, want 202 with a request ID", resp.StatusCode, id)
	}
	if answered >= 400*time.Millisecond {
		t.Errorf("Event invoke answered after %v, want before the 400ms handler finished", answered)
	}
	// The async invocation holds the environment, so this one runs after it.
	res := invoke(t, f, `{}`)
	decodeEcho(t, res)
	if !strings.Contains(stderr.String(), "handling "+id) {
		t.Errorf("stderr = %q, want the async invocation %s to have run", stderr.String(), id)
	}
	if took := time.Since(began); took < 400*time.Millisecond {
		t.Errorf("sync invoke after async finished after %v, want after the async one (>= 400ms)", took)
	}

	// A failed Event invocation is logged, as Lambda would send it to a destination.
	req, _ = http.NewRequest(http.MethodPost, f.InvokeURL(), strings.NewReader(`{"fail":true}`))
	req.Header.Set("X-Amz-Invocation-Type", "Event")
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id = resp.Header.Get("X-Amzn-Requestid")
	decodeEcho(t, invoke(t, f, `{}`))
	// The emulator logs the failure after it has released the environment to the invoke above;
	// Close waits for the async invocation to have logged.
	f.Close()
	if want := "async invocation " + id + " failed: "; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr = %q, want %q", stderr.String(), want)
	}
}

func TestConcurrentInvokesRunOneAtATime(t *testing.T) {
	f := start(t, Config{})
	decodeEcho(t, invoke(t, f, `{}`))
	var wg sync.WaitGroup
	pids := make([]int, 3)
	began := time.Now()
	for i := range pids {
		wg.Go(func() { pids[i] = decodeEcho(t, invoke(t, f, `{"sleep_ms":100}`)).PID })
	}
	wg.Wait()
	if took := time.Since(began); took < 300*time.Millisecond {
		t.Errorf("3 concurrent 100ms invokes took %v, want >= 300ms (one environment)", took)
	}
	if pids[0] != pids[1] || pids[1] != pids[2] {
		t.Errorf("concurrent invokes ran in PIDs %v, want one process", pids)
	}
}

func TestInvokeContextCanceled(t *testing.T) {
	f := start(t, Config{Timeout: 10 * time.Second})
	pid := decodeEcho(t, invoke(t, f, `{}`)).PID
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := f.Invoke(ctx, []byte(`{"sleep_ms":5000}`)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Invoke with expiring ctx = %v, want context.DeadlineExceeded", err)
	}
	// The abandoned invocation's process is stopped so the next one is not stuck behind it.
	next := invoke(t, f, `{}`)
	if p := decodeEcho(t, next).PID; p == pid || next.Duration > time.Second {
		t.Errorf("invoke after an abandoned one ran in PID %d (old %d) for %v, want a new process, quickly", p, pid, next.Duration)
	}
}

func TestCloseLeavesNothingBehind(t *testing.T) {
	baseline := runtime.NumGoroutine()
	f, err := Start(context.Background(), Config{Binary: echoBinary})
	if err != nil {
		t.Fatal(err)
	}
	pid := decodeEcho(t, invoke(t, f, `{}`)).PID
	// Leave an invocation running while Close happens.
	errc := make(chan error, 1)
	go func() {
		_, err := f.Invoke(context.Background(), []byte(`{"sleep_ms":5000}`))
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond)
	began := time.Now()
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("Close took %v, want at most SIGTERM grace plus a little", took)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Errorf("Invoke running during Close = %v, want ErrClosed", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("after Close, kill -0 %d = %v, want ESRCH", pid, err)
	}
	if _, err := f.Invoke(context.Background(), []byte(`{}`)); !errors.Is(err, ErrClosed) {
		t.Errorf("Invoke after Close = %v, want ErrClosed", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	// HTTP keep-alive connections of the test's client are not ours; drop them first.
	http.DefaultClient.CloseIdleConnections()
	for range 50 {
		if runtime.NumGoroutine() <= baseline {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	buf := make([]byte, 1<<16)
	t.Errorf("goroutines after Close = %d, want <= %d\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
}

func TestStartRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "bootstrap")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no binary", Config{}, "binary is empty"},
		{"missing binary", Config{Binary: filepath.Join(dir, "nope")}, "no such file"},
		{"directory", Config{Binary: dir}, "is not a regular file"},
		{"not executable", Config{Binary: notExec}, "is not executable"},
		{"memory", Config{Binary: echoBinary, MemoryMB: 64}, "MemoryMB 64 is outside [128, 10240]"},
		{"timeout", Config{Binary: echoBinary, Timeout: 901 * time.Second}, "timeout 15m1s is outside"},
		{"name", Config{Binary: echoBinary, FunctionName: "has space"}, `FunctionName "has space"`},
		{"env name", Config{Binary: echoBinary, Env: map[string]string{"1BAD": "x"}}, `env name "1BAD"`},
		{"reserved env", Config{Binary: echoBinary, Env: map[string]string{"AWS_LAMBDA_RUNTIME_API": "x"}}, "AWS_LAMBDA_RUNTIME_API"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Start(context.Background(), tt.cfg)
			if err == nil {
				f.Close()
				t.Fatalf("Start(%+v) = nil error, want %q", tt.cfg, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Start(%+v) = %v, want it to contain %q", tt.cfg, err, tt.want)
			}
		})
	}
}
