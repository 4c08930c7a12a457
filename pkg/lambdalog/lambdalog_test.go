package lambdalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/smithy-go/logging"
)

// lambdacontext reads AWS_LAMBDA_LOG_FORMAT and AWS_LAMBDA_LOG_LEVEL when the process starts,
// as Lambda sets them before it does; the tests run in a child process that has them.
func TestMain(m *testing.M) {
	if os.Getenv("AWS_LAMBDA_LOG_FORMAT") == "JSON" {
		os.Exit(m.Run())
	}
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), "AWS_LAMBDA_LOG_FORMAT=JSON", "AWS_LAMBDA_LOG_LEVEL=WARN")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			os.Exit(exit.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "lambdalog test:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// capture returns lambdacontext's logger writing to a file instead of standard output, and a
// function that returns what it wrote.
func capture(t *testing.T) (*slog.Logger, func() []map[string]any) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = f
	log := lambdacontext.NewLogger()
	os.Stdout = stdout
	return log, func() []map[string]any {
		b, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		var recs []map[string]any
		for i, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			var rec map[string]any
			if err := json.Unmarshal(line, &rec); err != nil {
				t.Fatalf("line %d is not JSON: %s", i+1, line)
			}
			recs = append(recs, rec)
		}
		return recs
	}
}

func TestOneErrorLineWithLambdaKeys(t *testing.T) {
	log, lines := capture(t)
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-42"})
	h := Handle(log, func(ctx context.Context, in string) (string, error) {
		log.InfoContext(ctx, "below AWS_LAMBDA_LOG_LEVEL", "in", in)
		log.WarnContext(ctx, "working", "in", in)
		return "", errors.New("day 2024-03-05: boom")
	})
	if _, err := h(ctx, "x"); err == nil {
		t.Fatal("wrapped handler lost the error")
	}
	recs := lines()
	if len(recs) != 2 {
		t.Fatalf("logged %d lines, want 2 (the INFO line is below AWS_LAMBDA_LOG_LEVEL=WARN): %v", len(recs), recs)
	}
	for i, rec := range recs {
		if rec["requestId"] != "req-42" {
			t.Errorf("line %d requestId = %v, want req-42", i+1, rec["requestId"])
		}
		if _, ok := rec["timestamp"]; !ok {
			t.Errorf("line %d has no timestamp: %v", i+1, rec)
		}
	}
	if got := recs[1]; got["level"] != "ERROR" || got["message"] != "invocation failed" || got[KeyErrorMessage] != "day 2024-03-05: boom" {
		t.Errorf("error line = %v, want level ERROR, message \"invocation failed\" and %s", got, KeyErrorMessage)
	}
}

func TestSuccessLogsNoError(t *testing.T) {
	log, lines := capture(t)
	h := Handle(log, func(ctx context.Context, in string) (string, error) { return in, nil })
	if got, err := h(context.Background(), "ok"); err != nil || got != "ok" {
		t.Fatalf("Handle(ok) = %q, %v", got, err)
	}
	if recs := lines(); len(recs) != 0 {
		t.Errorf("a successful invocation logged %v, want nothing", recs)
	}
}

func TestReportInitError(t *testing.T) {
	var gotBody map[string]string
	var gotType, gotPath string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotType = r.URL.Path, r.Header.Get("Lambda-Runtime-Function-Error-Type")
		_ = json.NewDecoder(r.Body).Decode(&gotBody)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	err := ReportInitError(context.Background(), strings.TrimPrefix(srv.URL, "http://"), errors.New("DATA_BUCKET is required"))
	if err != nil {
		t.Fatalf("ReportInitError: %v", err)
	}
	if gotPath != "/2018-06-01/runtime/init/error" || gotType != InitErrorType || gotBody["errorMessage"] != "DATA_BUCKET is required" || gotBody["errorType"] != InitErrorType {
		t.Errorf("runtime API got %s %s %v", gotPath, gotType, gotBody)
	}
	if err := ReportInitError(context.Background(), "", errors.New("x")); err != nil {
		t.Errorf("ReportInitError outside Lambda = %v, want nil", err)
	}
}

func TestSDKLogger(t *testing.T) {
	log, lines := capture(t)
	l := SDKLogger(log)
	l.Logf(logging.Warn, "failed to discard %d bytes", 12)
	l.Logf(logging.Debug, "request %s", "below AWS_LAMBDA_LOG_LEVEL")
	recs := lines()
	if len(recs) != 1 {
		t.Fatalf("logged %v, want only the warning (debug is below WARN)", recs)
	}
	if recs[0]["level"] != "WARN" || recs[0]["message"] != "failed to discard 12 bytes" {
		t.Errorf("SDK warning = %v, want level WARN and the formatted message", recs[0])
	}
}
