package cli

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// lastStep records when the run printed its last line ("done: ..."), after which only the
// stack's shutdown remains.
type lastStep struct {
	mu   sync.Mutex
	buf  strings.Builder
	done time.Time
}

func (l *lastStep) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if l.done.IsZero() && strings.Contains(l.buf.String(), "done: ") {
		l.done = time.Now()
	}
	return len(p), nil
}

// `local run` ends within 1 s of its last step, every time: an idle keep-alive connection once
// held a server's shutdown for 5 s, now and then.
func TestRunEndsPromptly(t *testing.T) {
	if testing.Short() {
		t.Skip("20 runs of the local stack")
	}
	input, _ := generate(t)
	state := t.TempDir()
	const runs, within = 20, time.Second
	var slowest time.Duration
	for i := range runs {
		out := &lastStep{}
		var errs strings.Builder
		err := Execute(context.Background(), []string{"local", "run", "--cloudtrail", input, "--day", "2025-03-03", "--dir", state}, out, &errs)
		ended := time.Now()
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i+1, err, errs.String())
		}
		out.mu.Lock()
		done := out.done
		out.mu.Unlock()
		if done.IsZero() {
			t.Fatalf("run %d printed no done line: %q", i+1, out.buf.String())
		}
		shutdown := ended.Sub(done)
		slowest = max(slowest, shutdown)
		if shutdown > within {
			t.Errorf("run %d ended %s after its last step, want within %s", i+1, shutdown, within)
		}
	}
	t.Logf("%d runs; slowest shutdown after the last step: %s", runs, slowest)
}
