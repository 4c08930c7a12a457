package lambdalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

func TestRequestIDAndErrorLoggedOnce(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, slog.LevelInfo)
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-42"})
	h := Handle(log, func(ctx context.Context, in string) (string, error) {
		log.InfoContext(ctx, "working", "in", in)
		return "", errors.New("day 2024-03-05: boom")
	})
	if _, err := h(ctx, "x"); err == nil {
		t.Fatal("wrapped handler lost the error")
	}
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("logged %d lines, want 2:\n%s", len(lines), buf.String())
	}
	for i, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("line %d is not JSON: %s", i, line)
		}
		if rec["request_id"] != "req-42" {
			t.Errorf("line %d request_id = %v, want req-42", i, rec["request_id"])
		}
	}
	var last map[string]any
	_ = json.Unmarshal(lines[1], &last)
	if last["level"] != "ERROR" || last["error"] != "day 2024-03-05: boom" {
		t.Errorf("error line = %v, want level ERROR with the error", last)
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
