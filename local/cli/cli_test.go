package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/athenausage/athena-usage/local/synth"
)

func execute(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = Execute(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), err
}

// generate writes a small synthetic trail and history, and returns the input folder.
func generate(t *testing.T) (string, *synth.Truth) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "input")
	truth, err := synth.Generate(synth.Options{Users: 5, Days: 1, QueriesPerDay: 40, Seed: 11, Start: time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)}, dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, truth
}

func TestRunSkipsBadInputAndGoesOn(t *testing.T) {
	input, truth := generate(t)
	// A truncated gzip file, a file with broken JSON, and a history with two bad lines.
	day := filepath.Join(input, "AWSLogs", truth.Options.Accounts[0], "CloudTrail", truth.Options.Regions[0], "2025", "03", "03")
	badGzip := filepath.Join(day, "broken_CloudTrail.json.gz")
	badJSON := filepath.Join(day, "garbled_CloudTrail.json")
	if err := os.WriteFile(badGzip, []byte("\x1f\x8b\x08\x00truncated"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(badJSON, []byte("{\"Records\": [\n  {\"eventName\": \"x\"},\n  oops\n]}"), 0o644); err != nil {
		t.Fatal(err)
	}
	history := filepath.Join(input, synth.HistoryFile)
	data, _ := os.ReadFile(history)
	lines := strings.SplitAfter(string(data), "\n")
	bad := strings.Join(lines[:2], "") + "{not json\n" + `{"QueryExecutionId":"x","Status":{"SubmissionDateTime":"yesterday"}}` + "\n" + strings.Join(lines[2:], "")
	if err := os.WriteFile(history, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "state")
	out, errs, err := execute(t, "local", "run", "--cloudtrail", input, "--history", history, "--day", "2025-03-03", "--dir", state)
	if err != nil {
		t.Fatalf("local run: %v\n%s", err, errs)
	}
	for _, want := range []string{badGzip, badJSON + ": line 3", history + ":3:", history + ":4:", "2 skipped", "2 lines skipped"} {
		if !strings.Contains(errs, want) {
			t.Errorf("progress output lacks %q:\n%s", want, errs)
		}
	}
	if !strings.Contains(out, "next: athena-usage local report") {
		t.Errorf("stdout = %q, want the next step", out)
	}

	csvOut, _, err := execute(t, "local", "report", "--dir", state, "--from", "2025-03-03", "--to", "2025-03-03", "--format", "csv")
	if err != nil {
		t.Fatalf("local report: %v", err)
	}
	rows, err := csv.NewReader(strings.NewReader(csvOut)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	wantHeader := "user_arn,queries,queries_without_stats,succeeded,failed,cancelled,data_scanned_bytes,engine_execution_ms,cost_usd,failed_submissions"
	if got := strings.Join(rows[0], ","); got != wantHeader {
		t.Errorf("CSV header = %s, want %s", got, wantHeader)
	}
	queries := 0
	for _, r := range rows[1:] {
		n, err := strconv.Atoi(r[1])
		if err != nil {
			t.Fatal(err)
		}
		queries += n
	}
	if queries != len(truth.Queries) {
		t.Errorf("report counts %d queries, want %d (one per distinct query ID)", queries, len(truth.Queries))
	}

	dbOut, _, err := execute(t, "local", "report", "--dir", state, "--from", "2025-03-03", "--to", "2025-03-03", "--format", "csv", "--by", "database")
	if err != nil || !strings.HasPrefix(dbOut, "database,queries,") {
		t.Errorf("report --by database = %.60q, %v, want a CSV with database first", dbOut, err)
	}
	htmlPath := filepath.Join(t.TempDir(), "usage.html")
	if _, _, err := execute(t, "local", "report", "--dir", state, "--from", "2025-03-03", "--to", "2025-03-03", "--format", "html", "--out", htmlPath); err != nil {
		t.Fatal(err)
	}
	page, _ := os.ReadFile(htmlPath)
	if strings.Count(string(page), "<svg") != 6 {
		t.Errorf("HTML report has %d charts, want 6, the dashboard's visuals", strings.Count(string(page), "<svg"))
	}
}

func TestBadArguments(t *testing.T) {
	input, _ := generate(t)
	state := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"day format", []string{"local", "run", "--cloudtrail", input, "--day", "03/03/2025", "--dir", state}, "--day: day \"03/03/2025\": want YYYY-MM-DD"},
		{"empty run window", []string{"local", "run", "--cloudtrail", input, "--day", "2025-03-03", "--to", "2025-03-01", "--dir", state}, "empty window"},
		{"missing flags", []string{"local", "run", "--day", "2025-03-03"}, "--cloudtrail is required"},
		{"not a trail", []string{"local", "run", "--cloudtrail", t.TempDir(), "--day", "2025-03-03", "--dir", state}, "no CloudTrail log files"},
		{"missing history", []string{"local", "run", "--cloudtrail", input, "--history", "/nonexistent.jsonl", "--day", "2025-03-03", "--dir", state}, "nonexistent.jsonl"},
		{"empty report window", []string{"local", "report", "--dir", state, "--from", "2025-03-03", "--to", "2025-03-02"}, "empty window"},
		{"report format", []string{"local", "report", "--dir", state, "--from", "2025-03-03", "--to", "2025-03-03", "--format", "pdf"}, `--format "pdf"`},
		{"report grouping", []string{"local", "report", "--dir", state, "--from", "2025-03-03", "--to", "2025-03-03", "--by", "team"}, `--by "team"`},
		{"report before run", []string{"local", "report", "--dir", state, "--from", "2025-03-03", "--to", "2025-03-03"}, "holds no pipeline run"},
		{"serve address", []string{"local", "serve", "--dir", state, "--addr", "nowhere"}, "--addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := execute(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("athena-usage %s: error = %v, want %q", strings.Join(tt.args, " "), err, tt.want)
			}
		})
	}
}

func TestDemoRefusesForeignDirectory(t *testing.T) {
	dir := t.TempDir()
	keep := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(keep, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := execute(t, "demo", "--dir", dir)
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("demo over a foreign directory: error = %v, want a refusal", err)
	}
	if b, err := os.ReadFile(keep); err != nil || string(b) != "mine" {
		t.Errorf("demo touched a file it does not own: %q, %v", b, err)
	}
}

func TestReportOutKeepsOldFileOnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "report.csv")
	if err := os.WriteFile(path, []byte("previous report\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An unknown grouping fails before anything is written.
	if _, _, err := execute(t, "local", "report", "--dir", t.TempDir(), "--from", "2025-03-03", "--to", "2025-03-03", "--by", "team", "--out", path); err == nil {
		t.Fatal("want an error")
	}
	if b, _ := os.ReadFile(path); string(b) != "previous report\n" {
		t.Errorf("report file = %q after a failed report, want the previous one", b)
	}
}
