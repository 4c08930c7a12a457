// Package lambdalog adds to aws-lambda-go's lambdacontext log handler what it lacks: one ERROR
// line for a failed invocation, and reporting why a function cannot start to Lambda's Runtime
// API. The logs themselves are lambdacontext's: Lambda's key names (timestamp, level, message,
// requestId), the format from AWS_LAMBDA_LOG_FORMAT and the level from AWS_LAMBDA_LOG_LEVEL,
// which Lambda sets from the template's LoggingConfig.
package lambdalog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/aws/smithy-go/logging"
)

// KeyErrorMessage is the key of the error in the ERROR line of a failed invocation: the name
// Lambda itself gives an error's text in its JSON logs.
const KeyErrorMessage = "errorMessage"

// Handle wraps a typed handler so that its error is logged once, at the top, with the request
// ID, before Lambda reports it. The handlers below it return errors and never log them.
func Handle[E, R any](log *slog.Logger, fn func(context.Context, E) (R, error)) func(context.Context, E) (R, error) {
	return func(ctx context.Context, e E) (R, error) {
		r, err := fn(ctx, e)
		if err != nil {
			log.ErrorContext(ctx, "invocation failed", KeyErrorMessage, err.Error())
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
	body, err := json.Marshal(map[string]string{KeyErrorMessage: initErr.Error(), "errorType": InitErrorType})
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

// ExitInit ends a function that could not start: it logs err once, reports it to the Runtime
// API at api (see ReportInitError) and exits with status 1. It logs first: once the Runtime API
// has the error, Lambda may stop the process, and a line written after that would be lost.
func ExitInit(log *slog.Logger, api string, err error) {
	log.Error("function cannot start", KeyErrorMessage, err.Error(), "errorType", InitErrorType)
	if rerr := ReportInitError(context.Background(), api, err); rerr != nil {
		log.Warn("the runtime API was not told why the function cannot start", KeyErrorMessage, rerr.Error())
	}
	os.Exit(1)
}

// SDKLogger returns a logger for the AWS SDK's own messages (aws.Config.Logger) that writes
// them through log, so that they too are Lambda JSON with the request ID: the SDK's default
// writes plain text to standard error. Warnings stay warnings; debug output stays debug.
func SDKLogger(log *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		level := slog.LevelDebug
		if c == logging.Warn {
			level = slog.LevelWarn
		}
		log.Log(context.Background(), level, fmt.Sprintf(format, v...), "source", "aws-sdk-go-v2")
	})
}
