package cli

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/athenausage/athena-usage/local/pipeline"
)

// serveEnv starts `local serve` over state and points the AWS configuration chain at it through
// the variables it prints, as a user of the product commands would; it stops at the test's end.
// The host's AWS configuration files and profile are kept out.
func serveEnv(t *testing.T, state string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Execute(ctx, []string{"local", "serve", "--dir", state}, pw, io.Discard)
		pw.Close()
	}()
	vars := map[string]string{}
	sc := bufio.NewScanner(pr)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "Serving until interrupted") {
		if v, ok := strings.CutPrefix(sc.Text(), "export "); ok {
			for _, kv := range strings.Fields(v) {
				k, val, _ := strings.Cut(kv, "=")
				vars[k] = val
			}
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop after its context ended")
		}
	})
	if vars["AWS_ENDPOINT_URL_ATHENA"] == "" {
		t.Fatalf("serve printed %v, want endpoints", vars)
	}
	empty := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": empty, "AWS_SHARED_CREDENTIALS_FILE": empty, "AWS_PROFILE": "",
		"AWS_SESSION_TOKEN": "", "AWS_EC2_METADATA_DISABLED": "true", "AWS_DEFAULT_REGION": "",
	} {
		t.Setenv(k, v)
	}
	for k, v := range vars {
		t.Setenv(k, v)
	}
}

// TestReportMatchesLocalReport runs `report` against the local stack's endpoints, with the
// resource flags, and compares its output with `local report` over the same state: the same
// bytes on stdout, and the same line on stderr of what the report queries scanned.
func TestReportMatchesLocalReport(t *testing.T) {
	input, _ := generate(t)
	state := t.TempDir()
	if _, errs, err := execute(t, "local", "run", "--cloudtrail", input, "--day", "2025-03-03", "--dir", state); err != nil {
		t.Fatalf("local run: %v\n%s", err, errs)
	}
	window := []string{"--from", "2025-03-03", "--to", "2025-03-03"}
	cases := [][]string{
		{"--by", "user", "--format", "table"},
		{"--by", "role", "--format", "csv"},
		{"--by", "database", "--format", "csv"},
		{"--by", "user", "--format", "html"},
	}
	want, wantErrs := make([]string, len(cases)), make([]string, len(cases))
	for i, c := range cases {
		out, errs, err := execute(t, append(append([]string{"local", "report", "--dir", state}, window...), c...)...)
		if err != nil {
			t.Fatalf("local report %v: %v", c, err)
		}
		if !strings.HasPrefix(errs, "report queries: ") || !strings.Contains(errs, " scanned (about $") {
			t.Errorf("local report %v: stderr = %q, want the report queries' cost", c, errs)
		}
		want[i], wantErrs[i] = out, errs
	}
	serveEnv(t, state)
	resources := []string{"--workgroup", pipeline.Workgroup, "--database", pipeline.Database}
	for i, c := range cases {
		got, errs, err := execute(t, append(append(append([]string{"report"}, resources...), window...), c...)...)
		if err != nil {
			t.Fatalf("report %v: %v", c, err)
		}
		if got != want[i] {
			t.Errorf("report %v =\n%s\nwant (local report)\n%s", c, got, want[i])
		}
		if errs != wantErrs[i] {
			t.Errorf("report %v: stderr = %q, want (local report) %q", c, errs, wantErrs[i])
		}
	}
}

// TestOpsBadInput checks that bad input is refused with a clear error before any AWS call: no
// endpoint is reachable here, so a call would fail differently.
func TestOpsBadInput(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": empty, "AWS_SHARED_CREDENTIALS_FILE": empty, "AWS_PROFILE": "",
		"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y",
		// Every endpoint is a closed port: a call would fail with "connection refused".
		"AWS_ENDPOINT_URL": "http://127.0.0.1:1",
	} {
		t.Setenv(k, v)
	}
	day := time.Now().UTC().AddDate(0, 0, -2).Format(time.DateOnly)
	future := time.Now().UTC().AddDate(0, 0, 2).Format(time.DateOnly)
	old := time.Now().UTC().AddDate(0, 0, -60).Format(time.DateOnly)
	flags := []string{"--workgroup", "wg", "--database", "db", "--region", "us-east-1"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"report no range", append([]string{"report"}, flags...), "--from and --to are required"},
		{"report inverted", append([]string{"report", "--from", "2025-03-03", "--to", "2025-03-01"}, flags...), "empty range"},
		{"report no resources", []string{"report", "--from", day, "--to", day, "--region", "us-east-1"}, "give --stack NAME or --workgroup"},
		{"report bad database", []string{"report", "--from", day, "--to", day, "--region", "us-east-1", "--workgroup", "wg", "--database", "Bad-Name"}, "--database"},
		{"report no region", []string{"report", "--from", day, "--to", day, "--workgroup", "wg", "--database", "db"}, "no AWS region"},
	}
	_ = future
	_ = old
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := execute(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("athena-usage %s: error = %v, want %q", strings.Join(tt.args, " "), err, tt.want)
			}
		})
	}
	_ = os.Getenv
}
