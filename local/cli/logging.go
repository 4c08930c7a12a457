package cli

import (
	"io"
	"log/slog"
)

// quietLogger drops the handlers' structured logs: the CLI prints its own progress lines.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
