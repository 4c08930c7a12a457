package cli

import (
	"fmt"
	"io"
	"time"
)

// progress prints one line per stage, with how long it took.
type progress struct {
	w     io.Writer
	n     int
	total int
	start time.Time
}

func newProgress(w io.Writer, total int) *progress {
	return &progress{w: w, total: total}
}

func (p *progress) stage(format string, args ...any) {
	p.n++
	p.start = time.Now()
	fmt.Fprintf(p.w, "[%d/%d] %s\n", p.n, p.total, fmt.Sprintf(format, args...))
}

func (p *progress) detail(format string, args ...any) {
	fmt.Fprintf(p.w, "      %s\n", fmt.Sprintf(format, args...))
}

func (p *progress) done(format string, args ...any) {
	fmt.Fprintf(p.w, "      %s (%.1fs)\n", fmt.Sprintf(format, args...), time.Since(p.start).Seconds())
}
