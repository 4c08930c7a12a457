package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/athenausage/athena-usage/local/cli"
	"github.com/athenausage/athena-usage/local/synth"
	"github.com/athenausage/athena-usage/pkg/config"
)

// Environment of the replay benchmark.
const (
	// replayQueriesEnv sizes the synthetic day (default 1,000,000 queries), for quicker runs.
	replayQueriesEnv = "BENCH_REPLAY_QUERIES"
	// replayCacheEnv names a folder that keeps the generated day between runs: generating a
	// million queries takes longer than replaying them.
	replayCacheEnv = "BENCH_REPLAY_CACHE"
	// replayChildEnv tells TestReplayChild, run in a child process, what to replay: the data
	// folder and the state folder, separated by a newline.
	replayChildEnv = "BENCH_REPLAY_CHILD"
)

// BenchmarkReplayMillion generates a synthetic day of a million queries (BENCH_REPLAY_QUERIES
// overrides the size) and replays it twice with `athena-usage local run` over one state
// folder, each run in a process of its own so that its peak RSS is its own. It prints, per run,
//
//	bench: replay-1m run=<1|2> queries=<n> peak_rss_mb=<m> heap_mb=<h> seconds=<s>
//
// which docs/design.md ("The local stack") records. The second run reuses the first's
// transcoded CloudTrail.
func BenchmarkReplayMillion(b *testing.B) {
	if testing.Short() {
		b.Skip("generates and replays a million queries")
	}
	n := 1_000_000
	if v := os.Getenv(replayQueriesEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < synth.MinQueriesPerDay {
			b.Fatalf("%s=%q: want a number of queries, at least %d", replayQueriesEnv, v, synth.MinQueriesPerDay)
		}
	}
	for b.Loop() {
		data := replayData(b, n)
		state := filepath.Join(b.TempDir(), "state")
		for run := 1; run <= 2; run++ {
			cmd := exec.Command(os.Args[0], "-test.run=^TestReplayChild$", "-test.v")
			cmd.Env = append(os.Environ(), replayChildEnv+"="+data+"\n"+state)
			out, err := cmd.CombinedOutput()
			if err != nil {
				b.Fatalf("replay run %d: %v\n%s", run, err, out)
			}
			line := benchLine(out)
			if line == "" {
				b.Fatalf("replay run %d printed no bench line:\n%s", run, out)
			}
			fmt.Printf("bench: replay-1m run=%d queries=%d %s\n", run, n, line)
		}
	}
}

// benchLine returns what follows "replay: " in the child's output.
func benchLine(out []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "replay: "); ok {
			return rest
		}
	}
	return ""
}

// replayData returns a folder holding a synthetic day of n queries, generated once per cache.
func replayData(b *testing.B, n int) string {
	dir := b.TempDir()
	if c := os.Getenv(replayCacheEnv); c != "" {
		dir = filepath.Join(c, fmt.Sprintf("replay-%d", n))
	}
	done := filepath.Join(dir, "generated")
	if _, err := os.Stat(done); err == nil {
		return dir
	}
	start := time.Now()
	if _, err := synth.Generate(synth.Options{Days: 1, QueriesPerDay: n, Seed: 1}, dir); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(done, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("generated %d queries in %s in %.1fs", n, dir, time.Since(start).Seconds())
	return dir
}

// TestReplayChild is BenchmarkReplayMillion's child process: one `local run` over the data
// folder, then its figures on a line of its own. It runs only as that child.
func TestReplayChild(t *testing.T) {
	spec := os.Getenv(replayChildEnv)
	if spec == "" {
		t.Skip("run by BenchmarkReplayMillion")
	}
	data, state, _ := strings.Cut(spec, "\n")
	day := synth.DefaultStart.Format(config.DayLayout)
	start := time.Now()
	var stderr bytes.Buffer
	err := cli.Execute(context.Background(), []string{"local", "run",
		"--cloudtrail", filepath.Join(data, "AWSLogs"), "--history", filepath.Join(data, synth.HistoryFile),
		"--day", day, "--dir", state,
		// The stack is measured, not the account's quota: at Athena's 20 calls/s the lookup
		// of a million IDs alone takes 1,000 s.
		"--batchget-quota", "2000"}, io.Discard, &stderr)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("local run: %v\n%s", err, stderr.String())
	}
	t.Logf("local run:\n%s", stderr.String())
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fmt.Printf("replay: peak_rss_mb=%d heap_mb=%d seconds=%.1f\n",
		peakRSS(t)>>20, m.HeapSys>>20, elapsed.Seconds())
}

// peakRSS is the process's peak resident set size (VmHWM) in bytes.
func peakRSS(t *testing.T) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("/proc/self/status has no VmHWM")
	return 0
}
