package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/athenausage/athena-usage/local/synth"
)

// snapshot returns the contents of every file under dir, to show a command changed none.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		out[path] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func assertUnchanged(t *testing.T, dir string, before map[string]string) {
	t.Helper()
	after := snapshot(t, dir)
	if len(after) != len(before) {
		t.Errorf("%s holds %d files after the command, want the %d it held", dir, len(after), len(before))
	}
	for path, b := range before {
		if after[path] != b {
			t.Errorf("%s changed", path)
		}
	}
}

// prettyBatches rewrites JSON Lines as the AWS CLI prints batch-get-query-execution: pretty,
// {"QueryExecutions": [...]} of up to 50.
func prettyBatches(t *testing.T, jsonl []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	lines := strings.Split(strings.TrimSpace(string(jsonl)), "\n")
	for len(lines) > 0 {
		n := min(50, len(lines))
		batch := struct {
			QueryExecutions []json.RawMessage
			Unprocessed     []string `json:"UnprocessedQueryExecutionIds"`
		}{Unprocessed: []string{}}
		for _, l := range lines[:n] {
			batch.QueryExecutions = append(batch.QueryExecutions, json.RawMessage(l))
		}
		b, err := json.MarshalIndent(batch, "", "    ")
		if err != nil {
			t.Fatal(err)
		}
		out.Write(append(b, '\n'))
		lines = lines[n:]
	}
	return out.Bytes()
}

func TestRunReadsHistoryAsTheCLIPrintsIt(t *testing.T) {
	input, _ := generate(t)
	jsonl, err := os.ReadFile(filepath.Join(input, synth.HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(jsonl), []byte("\n"))
	half := len(lines) / 2
	// A folder: the first half pretty-printed with a BOM, the rest as JSON Lines.
	hist := filepath.Join(t.TempDir(), "history")
	if err := os.Mkdir(hist, 0o755); err != nil {
		t.Fatal(err)
	}
	pretty := append([]byte("\xef\xbb\xbf"), prettyBatches(t, bytes.Join(lines[:half], []byte("\n")))...)
	if err := os.WriteFile(filepath.Join(hist, "a.json"), pretty, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hist, "b.jsonl"), bytes.Join(lines[half:], []byte("\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, hist)
	state := filepath.Join(t.TempDir(), "state")
	_, errs, err := execute(t, "local", "run", "--cloudtrail", input, "--history", hist, "--day", "2025-03-03", "--dir", state)
	if err != nil {
		t.Fatalf("local run --history DIR: %v\n%s", err, errs)
	}
	if want := strconv.Itoa(len(lines)) + " query executions from " + hist + ", 0 lines skipped"; !strings.Contains(errs, want) {
		t.Errorf("local run --history DIR output lacks %q:\n%s", want, errs)
	}
	assertUnchanged(t, hist, before)
}

func TestRunFailsWithoutUsableHistory(t *testing.T) {
	input, _ := generate(t)
	dir := t.TempDir()
	junk := filepath.Join(dir, "history.jsonl")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not json\n", 150)), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, history, want string
	}{
		{"only bad lines", junk, "no usable query execution (150 entries skipped)"},
		{"empty folder", empty, "holds no files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, dir)
			state := filepath.Join(t.TempDir(), "state")
			_, errs, err := execute(t, "local", "run", "--cloudtrail", input, "--history", tt.history, "--day", "2025-03-03", "--dir", state)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("local run --history %s: error = %v, want %q", tt.name, err, tt.want)
			}
			if tt.name == "only bad lines" && !strings.Contains(errs, "50 more bad entries not shown") {
				t.Errorf("local run --history %s: output lacks the count of errors not shown:\n%.300s", tt.name, errs)
			}
			assertUnchanged(t, dir, before)
		})
	}
}
