package cli

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/athenausage/athena-usage/local/pipeline"
	"github.com/athenausage/athena-usage/local/synth"
)

func TestRunRefusesForeignFolder(t *testing.T) {
	input, _ := generate(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "settings.json"), []byte(`{"theme":"dark"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "photos", "2024"), 0o755); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)
	for _, args := range [][]string{
		{"local", "run", "--cloudtrail", input, "--day", "2025-03-03", "--dir", dir},
		{"local", "serve", "--dir", dir},
	} {
		_, _, err := execute(t, args...)
		if err == nil || !strings.Contains(err.Error(), "is not an athena-usage state directory") {
			t.Errorf("%s over a foreign folder: error = %v, want a refusal", args[1], err)
		}
	}
	assertUnchanged(t, dir, before)
	if _, err := os.Stat(filepath.Join(dir, "s3")); err == nil {
		t.Error("a refused run made buckets in the user's folder")
	}
}

func TestLockRefusesSecondWriter(t *testing.T) {
	input, _ := generate(t)
	state := t.TempDir()
	// Another writer: flock locks per open file, so a second lock in this process conflicts
	// as one in another process would.
	unlock, err := pipeline.LockDir(state)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = execute(t, "local", "run", "--cloudtrail", input, "--day", "2025-03-03", "--dir", state)
	if want := "is in use by process " + strconv.Itoa(os.Getpid()); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("local run on a locked state: error = %v, want %q", err, want)
	}
	if entries, _ := os.ReadDir(state); len(entries) > 2 {
		t.Errorf("a refused run wrote %d entries into the locked state, want only the lock and marker", len(entries))
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if _, errs, err := execute(t, "local", "run", "--cloudtrail", input, "--day", "2025-03-03", "--dir", state); err != nil {
		t.Fatalf("local run once the lock is free: %v\n%s", err, errs)
	}
}

// cancelOn is a progress writer that cancels a run when a line containing marker is written:
// an interrupted run, as Ctrl-C would leave it.
type cancelOn struct {
	marker string
	cancel context.CancelFunc
	once   sync.Once
	buf    strings.Builder
}

func (c *cancelOn) Write(p []byte) (int, error) {
	c.buf.Write(p)
	if strings.Contains(c.buf.String(), c.marker) {
		c.once.Do(c.cancel)
	}
	return len(p), nil
}

func reportCSV(t *testing.T, state, from, to string) string {
	t.Helper()
	out, errs, err := execute(t, "local", "report", "--dir", state, "--from", from, "--to", to, "--format", "csv")
	if err != nil {
		t.Fatalf("local report %s to %s: %v\n%s", from, to, err, errs)
	}
	return out
}

// Runs over one state add up; an interrupted run leaves a state that reports read and that the
// next run completes; a read-only state reports without being changed.
func TestStateRunsAddUpAndRecover(t *testing.T) {
	input := generateDays(t, time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC), 2)
	run := func(state string, days ...string) error {
		return runFrom(t, input, input, state, days...)
	}
	a := filepath.Join(t.TempDir(), "a")
	if err := run(a, "2025-03-03"); err != nil {
		t.Fatal(err)
	}
	first := reportCSV(t, a, "2025-03-03", "2025-03-03")
	// A later run over one account's, one region's day must not hide the earlier day, nor the
	// other accounts and regions.
	narrow := filepath.Join(input, "AWSLogs", synth.DefaultAccounts[0], "CloudTrail", synth.DefaultRegions[0], "2025", "03", "04")
	if err := runFrom(t, input, narrow, a, "2025-03-04"); err != nil {
		t.Fatal(err)
	}
	if got := reportCSV(t, a, "2025-03-03", "2025-03-03"); got != first {
		t.Errorf("after a run over 2025-03-04, the report of 2025-03-03 =\n%s\nwant, as before it,\n%s", got, first)
	}
	both := reportCSV(t, a, "2025-03-03", "2025-03-04")

	b := filepath.Join(t.TempDir(), "b")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	progress := &cancelOn{marker: "2025-03-03  extract:", cancel: cancel}
	err := Execute(ctx, []string{"local", "run", "--cloudtrail", input, "--history", filepath.Join(input, "history.jsonl"),
		"--day", "2025-03-03", "--to", "2025-03-04", "--dir", b}, &strings.Builder{}, progress)
	if err == nil {
		t.Fatal("local run interrupted after its first day: no error")
	}
	if got := reportCSV(t, b, "2025-03-03", "2025-03-03"); got != first {
		t.Errorf("report after an interrupted run =\n%s\nwant the first day's\n%s", got, first)
	}
	if err := run(b, "2025-03-03", "2025-03-04"); err != nil {
		t.Fatalf("the run after an interrupted one: %v", err)
	}
	if got := reportCSV(t, b, "2025-03-03", "2025-03-04"); got != both {
		t.Errorf("report after the repairing run =\n%s\nwant an uninterrupted state's\n%s", got, both)
	}

	// Read-only: the permissions say so (as root, the only thing that does).
	before := snapshot(t, a)
	setWritable(t, a, false)
	t.Cleanup(func() { setWritable(t, a, true) })
	if got := reportCSV(t, a, "2025-03-03", "2025-03-04"); got != both {
		t.Errorf("report on a read-only state =\n%s\nwant\n%s", got, both)
	}
	assertUnchanged(t, a, before)
}

// setWritable adds or removes the write permissions of everything under dir.
func setWritable(t *testing.T, dir string, w bool) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode().Perm() &^ 0o222
		if w {
			mode |= 0o200
		}
		return os.Chmod(path, mode)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// runFrom runs `local run` over the CloudTrail under trail, with input's history.
func runFrom(t *testing.T, input, trail, state string, days ...string) error {
	t.Helper()
	args := []string{"local", "run", "--cloudtrail", trail, "--history", filepath.Join(input, synth.HistoryFile), "--day", days[0], "--dir", state}
	if len(days) > 1 {
		args = append(args, "--to", days[1])
	}
	_, errs, err := execute(t, args...)
	if err != nil {
		t.Logf("local run %v: %v\n%s", days, err, errs)
	}
	return err
}
