package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Out-of-bounds flags fail before any work: no state, no generated data, no time spent.
func TestFlagBounds(t *testing.T) {
	input, _ := generate(t)
	before := snapshot(t, input)
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format("2006-01-02")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"part size huge", []string{"local", "run", "--day", "2025-03-03", "--part-size", "2000000000"}, "--part-size 2000000000: want 1 to 100000"},
		{"part size over", []string{"local", "run", "--day", "2025-03-03", "--part-size", "100001"}, "--part-size 100001: want 1 to 100000"},
		{"part size zero", []string{"local", "run", "--day", "2025-03-03", "--part-size", "0"}, "--part-size 0: want 1 to 100000"},
		{"far future", []string{"local", "run", "--day", "2998-12-30", "--to", "2999-01-01"}, "the range ends 2999-01-01, after today"},
		{"tomorrow", []string{"local", "run", "--day", tomorrow}, "the range ends " + tomorrow + ", after today"},
		{"range too long", []string{"local", "run", "--day", "2025-01-01", "--to", "2025-02-15"}, "is 46 days: at most 45"},
		{"demo queries", []string{"demo", "--queries-per-day", "100000000"}, "--queries-per-day 100000000: at most 1000000"},
		{"demo days", []string{"demo", "--days", "400"}, "--days 400: at most 45"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			args := append(slices.Clone(tt.args), "--dir", dir)
			if tt.args[0] == "local" {
				args = append(args, "--cloudtrail", input)
			}
			_, _, err := execute(t, args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("athena-usage %s: error = %v, want %q", strings.Join(args, " "), err, tt.want)
			}
			if _, err := os.Stat(dir); err == nil {
				t.Errorf("athena-usage %s made %s before refusing", strings.Join(args, " "), dir)
			}
		})
	}
	assertUnchanged(t, input, before)
	// The edges are accepted: a 45-day range ending today.
	today := time.Now().UTC().Truncate(24 * time.Hour)
	if err := checkRange(today.AddDate(0, 0, -44), today, time.Now()); err != nil {
		t.Errorf("checkRange(45 days to today) = %v, want nil", err)
	}
	if err := checkPartSize(maxPartSize); err != nil {
		t.Errorf("checkPartSize(%d) = %v, want nil", maxPartSize, err)
	}
}
