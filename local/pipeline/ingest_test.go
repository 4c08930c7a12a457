package pipeline

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/athenausage/athena-usage/local/synth"
	"github.com/aws/aws-sdk-go-v2/aws"
)

// What ingest counts is what the engine reads: the codec follows the content, hidden names and a
// lower-case "records" are reported and left out, and a symlinked root is followed.
func TestIngestCountsWhatTheEngineReads(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	gen := filepath.Join(dir, "gen")
	truth, err := synth.Generate(synth.Options{Users: 5, Days: 1, QueriesPerDay: 30, Seed: 5, Start: time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)}, gen)
	if err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(gen, "AWSLogs", truth.Options.Accounts[0], "CloudTrail", truth.Options.Regions[0], "2025", "03", "03")
	plain := []byte(`{"Records":[{"eventSource":"s3.amazonaws.com","eventName":"GetObject","eventTime":"2025-03-03T01:00:00Z"}]}`)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(plain)
	_ = zw.Close()
	files := map[string][]byte{
		"plain-in-gz-name.json.gz": plain,
		"gzip-in-json-name.json":   gz.Bytes(),
		"_hidden.json.gz":          gz.Bytes(),
		".hidden.json.gz":          gz.Bytes(),
		"lower.json.gz":            []byte(`{"records":[{"eventName":"GetObject"}]}`),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(folder, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(gen, link); err != nil {
		t.Fatal(err)
	}
	st, err := Start(ctx, Options{Dir: filepath.Join(dir, "state"), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	in, err := st.IngestCloudTrail(ctx, link)
	if err != nil {
		t.Fatalf("IngestCloudTrail(symlink): %v", err)
	}
	var skipped []string
	for _, e := range in.Skipped {
		skipped = append(skipped, e.Error())
	}
	all := strings.Join(skipped, "\n")
	for _, want := range []string{"_hidden.json.gz: the name starts with \"_\"", ".hidden.json.gz: the name starts with \".\"", `lower.json.gz: the array is under "records"`} {
		if !strings.Contains(all, want) {
			t.Errorf("IngestCloudTrail skipped:\n%s\nwant one containing %q", all, want)
		}
	}
	if len(in.Skipped) != 3 {
		t.Errorf("IngestCloudTrail skipped %d files, want 3", len(in.Skipped))
	}
	pipe, err := st.Pipeline(Settings{Accounts: in.Accounts, Regions: in.Regions, ProjectionStart: in.FirstDay})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pipe.RunDay(ctx, in.FirstDay); err != nil {
		t.Fatal(err)
	}
	rows, err := st.Query(ctx, "SELECT count(*) FROM cloudtrail_logs WHERE day BETWEEN '2025/03/03' AND '2025/03/04'")
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(rows[0][0]); got != strconv.Itoa(in.Records) {
		t.Errorf("engine reads %s records, ingest counted %d", got, in.Records)
	}
}
