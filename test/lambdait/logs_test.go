package lambdait

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/athenausage/athena-usage/local/pipeline"
	"github.com/athenausage/athena-usage/pkg/lambdalog"
)

// TestFailedInvocationLogsOneError fails each function, once on a bad event and once deep in
// the handler (an object that is not there), and expects exactly one ERROR line for the
// invocation in the function's log, in Lambda's JSON format (the template's LoggingConfig),
// with the request ID and the same message Lambda returns to the caller.
func TestFailedInvocationLogsOneError(t *testing.T) {
	w := sharedWorld(t)
	logOnFailure(t, w.extract, w.lookup)
	day := w.day.Format("2006-01-02")
	tests := []struct {
		name  string
		fn    *running
		event string
	}{
		{"extract bad event", w.extract, `{"day":"2024-02-30"}`},
		{"lookup bad event", w.lookup, `{"day":"x"}`},
		{"lookup missing object", w.lookup, `{"day":"` + day + `","bucket":"` + pipeline.DataBucket + `","key":"athena_queries/dt=` + day + `/missing.csv"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := invoke(t, tt.fn, []byte(tt.event))
			if res.FunctionError == "" {
				t.Fatalf("%s(%s) = %s, want a function error", tt.fn.ARN(), tt.event, res.Payload)
			}
			var e errorPayload
			if err := json.Unmarshal(res.Payload, &e); err != nil {
				t.Fatalf("error payload %s: %v", res.Payload, err)
			}
			// The function writes its log through a pipe that the emulator reads on its own:
			// a later invocation's line in the output means this one's lines are all there.
			next := invoke(t, tt.fn, []byte(`{"day":"2024-02-30"}`))
			ctx, cancel := context.WithTimeout(context.Background(), lookupWait)
			defer cancel()
			if err := tt.fn.out.waitFor(ctx, `"requestId":"`+next.RequestID+`"`); err != nil {
				t.Fatal(err)
			}
			errs := errorLines(t, tt.fn.out.String(), res.RequestID)
			if len(errs) != 1 {
				t.Fatalf("%s(%s) logged %d ERROR lines for request %s, want 1: %v", tt.fn.ARN(), tt.event, len(errs), res.RequestID, errs)
			}
			if got := errs[0][lambdalog.KeyErrorMessage]; got != e.Message {
				t.Errorf("ERROR line %s = %q, want the invocation's errorMessage %q", lambdalog.KeyErrorMessage, got, e.Message)
			}
		})
	}
}

// errorLines returns the log records at level ERROR of one request. Every line a function
// writes must be JSON (Lambda's own START, END and REPORT lines aside), aws-lambda-go's own
// log lines included.
func errorLines(t *testing.T, out, requestID string) []map[string]any {
	t.Helper()
	var errs []map[string]any
	for _, line := range strings.Split(out, "\n") {
		if line == "" || strings.HasPrefix(line, "START ") || strings.HasPrefix(line, "END ") || strings.HasPrefix(line, "REPORT ") || strings.HasPrefix(line, "INIT_REPORT ") {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %s", line)
			continue
		}
		if rec["level"] == "ERROR" && rec["requestId"] == requestID {
			errs = append(errs, rec)
		}
	}
	return errs
}
