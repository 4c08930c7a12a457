package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/athenausage/athena-usage/local/pipeline"
	"github.com/athenausage/athena-usage/pkg/config"
)

// stateMarker marks a state directory, so that a run takes a folder it made (or an empty one)
// and refuses any other: it would write settings.json and make buckets of its folders.
const stateMarker = ".athena-usage-state"

// prepareState creates dir or checks that it is a state directory, and marks it. pipeline.Start
// with Lock then takes its lock.
func prepareState(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("state directory: %w", err)
		}
	case err != nil:
		return fmt.Errorf("state directory: %w", err)
	case len(entries) == 0, len(entries) == 1 && entries[0].Name() == pipeline.LockFile, exists(dir, stateMarker):
	case exists(dir, settingsFile) && exists(dir, "s3") && exists(dir, "athena"):
		// A state directory from before the marker.
	default:
		return fmt.Errorf("--dir %s is not empty and is not an athena-usage state directory: choose a new or empty folder", dir)
	}
	if !exists(dir, stateMarker) {
		err := os.WriteFile(filepath.Join(dir, stateMarker), []byte("athena-usage local state: buckets, catalog, query history and cache\n"), 0o644)
		if err != nil {
			return fmt.Errorf("state directory: %w", err)
		}
	}
	return nil
}

func exists(dir, name string) bool {
	_, err := os.Stat(filepath.Join(dir, name))
	return err == nil
}

// merge returns the settings of this run joined with those of the runs before it in the same
// state, so that no run hides another's days, accounts or regions: the projection starts at the
// earliest day any run needed.
func (s settings) merge(prev settings) settings {
	if prev.ProjectionStart != "" && prev.ProjectionStart < s.ProjectionStart {
		s.ProjectionStart = prev.ProjectionStart
	}
	s.Accounts = union(s.Accounts, prev.Accounts)
	s.Regions = union(s.Regions, prev.Regions)
	if s.OrgID == "" {
		s.OrgID = prev.OrgID
	}
	return s
}

func union(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// readOnly reports whether dir is not to be written to, which a report's queries need (results,
// the engine's cache, the executions file): its permissions allow no writes (a user who made it
// read-only means it, even where root could write), or a write fails.
func readOnly(dir string) bool {
	if info, err := os.Stat(dir); err == nil && info.Mode().Perm()&0o222 == 0 {
		return true
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err == nil {
		f.Close()
		os.Remove(f.Name())
		return false
	}
	return errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)
}

// scratchCopy copies a state directory to a new temporary one that a report may write to. The
// engine's cache files are written once, by name of their content, and replaced only by rename,
// so they are hard-linked where the file system allows; everything else is copied, so that
// nothing the report writes can reach the original.
func scratchCopy(dir string) (string, error) {
	tmp, err := os.MkdirTemp("", "athena-usage-report-*")
	if err != nil {
		return "", fmt.Errorf("copy read-only state: %w", err)
	}
	cache := filepath.Join(dir, "athena", "cache")
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		to := filepath.Join(tmp, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(to, 0o755)
		case d.Name() == pipeline.LockFile || !d.Type().IsRegular():
			return nil
		case filepath.Dir(path) == cache && os.Link(path, to) == nil:
			return nil
		}
		return copyFile(path, to)
	})
	if err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("copy read-only state: %w", err)
	}
	return tmp, nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Bounds of the local commands' flags, checked before any work. They keep a typo from costing
// hours or all of the machine's memory.
const (
	// maxRunDays is the longest --day..--to range: Athena keeps 45 days of query history, so a
	// longer range would be looked up against a history that no longer exists.
	maxRunDays = 45
	// maxPartSize bounds --part-size: ten times the default, about 50 MB of CSV a part.
	maxPartSize = 100_000
	// maxQueriesPerDay bounds the demo's --queries-per-day: a 1M-query day is the scale the
	// local stack is benchmarked at.
	maxQueriesPerDay = 1_000_000
)

// checkRange checks a run's range of days: at most maxRunDays, and none after today (UTC),
// as no CloudTrail can exist for them yet.
func checkRange(from, to, now time.Time) error {
	if n := int(to.Sub(from).Hours()/24) + 1; n > maxRunDays {
		return fmt.Errorf("--day %s to --to %s is %d days: at most %d at a time (Athena keeps %d days of query history)",
			from.Format(config.DayLayout), to.Format(config.DayLayout), n, maxRunDays, maxRunDays)
	}
	today := now.UTC().Truncate(24 * time.Hour)
	if to.After(today) {
		return fmt.Errorf("the range ends %s, after today (%s, UTC): no CloudTrail exists for it yet", to.Format(config.DayLayout), today.Format(config.DayLayout))
	}
	return nil
}

// checkPartSize checks --part-size.
func checkPartSize(n int) error {
	if n < 1 || n > maxPartSize {
		return fmt.Errorf("--part-size %d: want 1 to %d", n, maxPartSize)
	}
	return nil
}
