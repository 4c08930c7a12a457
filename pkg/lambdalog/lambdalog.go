// Package lambdalog sets up log/slog for the Lambda functions: JSON lines to standard output with
// the invocation's request ID, and one log line for a handler's error, at the top.
package lambdalog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// New returns a JSON logger writing to w that adds the request ID of the invocation in the
// context to every record logged with a *Context method.
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(requestIDHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})})
}

type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		r.AddAttrs(slog.String("request_id", lc.AwsRequestID))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// Handle wraps a typed handler so that its error is logged once, with the request ID, before
// Lambda reports it.
func Handle[E, R any](log *slog.Logger, fn func(context.Context, E) (R, error)) func(context.Context, E) (R, error) {
	return func(ctx context.Context, e E) (R, error) {
		r, err := fn(ctx, e)
		if err != nil {
			log.ErrorContext(ctx, "invocation failed", "error", err)
		}
		return r, err
	}
}

// InitErrorType is the errorType reported for a function that cannot start.
const InitErrorType = "Runtime.ConfigError"

// ReportInitError tells Lambda's Runtime API at api (host:port) why the function cannot start,
// so that the invoker sees the reason (for example, which variables are missing) instead of a
// bare exit status. aws-lambda-go has no call for this. It does nothing when api is empty.
func ReportInitError(ctx context.Context, api string, initErr error) error {
	if api == "" {
		return nil
	}
	body, err := json.Marshal(map[string]string{"errorMessage": initErr.Error(), "errorType": InitErrorType})
	if err != nil {
		return fmt.Errorf("encode init error: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+api+"/2018-06-01/runtime/init/error", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("report init error: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Lambda-Runtime-Function-Error-Type", InitErrorType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("report init error: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("report init error: runtime API answered %s", resp.Status)
	}
	return nil
}

// ExitInit ends a function that could not start: it logs err, reports it to the Runtime API at
// api (see ReportInitError) and exits with status 1.
func ExitInit(log *slog.Logger, api string, err error) {
	log.Error("function cannot start", "error", err)
	if rerr := ReportInitError(context.Background(), api, err); rerr != nil {
		log.Error("report init error", "error", rerr)
	}
	os.Exit(1)
}
