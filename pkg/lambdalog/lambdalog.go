// Package lambdalog sets up log/slog for the Lambda functions: JSON lines to standard output with
// the invocation's request ID, and one log line for a handler's error, at the top.
package lambdalog

import (
	"context"
	"io"
	"log/slog"

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
