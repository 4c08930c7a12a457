package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/athenausage/athena-usage/local/athenaserver"
	"github.com/athenausage/athena-usage/local/synth"
	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/events"
	"github.com/athenausage/athena-usage/pkg/lookup"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// badRecordCase is one kind of bad record: how it is made from a real StartQueryExecution
// record (nil: the record is replaced by value), and the kind and name the day reports.
type badRecordCase struct {
	kind, record string
	edit         func(rec map[string]any)
	value        any
}

var badRecordCases = []badRecordCase{
	{kind: "record", record: "#1", value: nil},
	{kind: "record", record: "#2", value: 42},
	{kind: "eventTime", record: "bad-time", edit: func(r map[string]any) { r["eventTime"] = "05/03/2025 10:00:00" }},
	{kind: "eventTime", record: "no-time", edit: func(r map[string]any) { delete(r, "eventTime") }},
	{kind: "recipientAccountId", record: "bad-account", edit: func(r map[string]any) { r["recipientAccountId"] = "moon" }},
	{kind: "awsRegion", record: "bad-region", edit: func(r map[string]any) { r["awsRegion"] = "moon-base-1" }},
	{kind: "responseElements", record: "no-response", edit: func(r map[string]any) { delete(r, "responseElements") }},
	{kind: "responseElements", record: "text-response", edit: func(r map[string]any) { r["responseElements"] = "{not json" }},
	{kind: "queryExecutionId", record: "no-id", edit: func(r map[string]any) { r["responseElements"] = map[string]any{} }},
	{kind: "queryExecutionId", record: "bad-id", edit: func(r map[string]any) {
		r["responseElements"] = map[string]any{"queryExecutionId": "x,\"y\"\nforged"}
	}},
}

// TestBadRecordsCountedAndNamed adds to the first day's folder one bad record of each kind, in
// one CloudTrail file: each one is left out (every user's totals stay the generator's ground
// truth, and the day completes), counted in the day's lookup manifest, and logged with its
// file and its eventID, or its rank among the file's records without one. The next day's
// extraction, which reads that folder too, does not count them again.
func TestBadRecordsCountedAndNamed(t *testing.T) {
	var file string
	var full any
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	set := Settings{LookupOptions: []func(*lookup.Options){func(o *lookup.Options) { o.Logger = logger }}}
	e := setupCorpus(t, athenaserver.Options{DisableQuotas: true}, set, func(t *testing.T, gen string, truth *synth.Truth) {
		file, full = addBadRecords(t, gen, truth)
	})
	// The ingest reads the files as CloudTrail records and refuses one with a record that is
	// not an object (but null): the whole file goes into the bucket behind its back.
	putTrailObject(t, e.stack, file, full)
	e.runAll(t)
	checkTotals(t, e)

	for i, d := range e.days {
		m := readManifest(t, e.stack, athenasql.LookupManifestKey("", d))
		want := 0
		if i == 0 {
			want = len(badRecordCases)
		}
		if !m.Complete || m.Done.BadRecords != want {
			t.Errorf("manifest of %s: complete %v, bad_records %d, want complete with %d", m.Day, m.Complete, m.Done.BadRecords, want)
		}
	}
	var got []string
	for line := range strings.Lines(logs.String()) {
		var l struct{ Msg, Kind, File, Record string }
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if l.Msg != "bad CloudTrail record left out of the day" {
			continue
		}
		if !strings.HasPrefix(l.File, "s3://"+TrailBucket+"/") || !strings.HasSuffix(l.File, "/"+file) {
			t.Errorf("bad record %s %s: file %q, want s3://%s/.../%s", l.Kind, l.Record, l.File, TrailBucket, file)
		}
		got = append(got, l.Kind+" "+l.Record)
	}
	var want []string
	for _, c := range badRecordCases {
		want = append(want, c.kind+" "+c.record)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("bad records logged = %q, want %q", got, want)
	}
}

// addBadRecords appends badRecordCases to a CloudTrail file of the first day's folder, made from
// a copy of one of its StartQueryExecution records with a new eventID and query ID, and returns
// the file's name and content; the file written holds only the records the ingest accepts.
func addBadRecords(t *testing.T, gen string, truth *synth.Truth) (string, any) {
	t.Helper()
	folder := "/" + strings.ReplaceAll(truth.Days[0], "-", "/") + "/"
	var target string
	var file struct{ Records []any }
	err := filepath.WalkDir(gen, func(path string, d os.DirEntry, err error) error {
		if err != nil || target != "" || d.IsDir() || !strings.HasSuffix(path, ".json.gz") || !strings.Contains(filepath.ToSlash(path), folder) {
			return err
		}
		file.Records = nil
		if err := readGzipJSON(path, &file); err != nil {
			return err
		}
		if slices.ContainsFunc(file.Records, isStartQuery) {
			target = path
		}
		return nil
	})
	if err != nil || target == "" {
		t.Fatalf("no CloudTrail file with a StartQueryExecution record in a folder %s: %v", folder, err)
	}
	model := file.Records[slices.IndexFunc(file.Records, isStartQuery)].(map[string]any)
	for i, c := range badRecordCases {
		if c.edit == nil {
			file.Records = append(file.Records, c.value)
			continue
		}
		rec := map[string]any{}
		for k, v := range model {
			rec[k] = v
		}
		rec["eventID"] = c.record
		rec["responseElements"] = map[string]any{"queryExecutionId": fmt.Sprintf("00000000-0000-4000-8000-%012d", i)}
		c.edit(rec)
		file.Records = append(file.Records, rec)
	}
	ingestible := struct{ Records []any }{slices.DeleteFunc(slices.Clone(file.Records), func(r any) bool {
		_, ok := r.(map[string]any)
		return r != nil && !ok
	})}
	if err := writeGzipJSON(target, ingestible); err != nil {
		t.Fatal(err)
	}
	return filepath.Base(target), file
}

// putTrailObject replaces the trail bucket's object whose name is file with v, gzipped JSON.
func putTrailObject(t *testing.T, st *Stack, file string, v any) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), file)
	if err := writeGzipJSON(path, v); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pages := s3.NewListObjectsV2Paginator(st.S3, &s3.ListObjectsV2Input{Bucket: aws.String(TrailBucket)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			if strings.HasSuffix(aws.ToString(o.Key), "/"+file) {
				if _, err := st.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(TrailBucket), Key: o.Key, Body: bytes.NewReader(data)}); err != nil {
					t.Fatal(err)
				}
				return
			}
		}
	}
	t.Fatalf("no object %s in the trail bucket", file)
}

func isStartQuery(r any) bool {
	m, ok := r.(map[string]any)
	return ok && m["eventName"] == "StartQueryExecution" && m["errorCode"] == nil
}

// readManifest reads the lookup's manifest at key of the data bucket.
func readManifest(t *testing.T, st *Stack, key string) events.LookupManifest {
	t.Helper()
	out, err := st.S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(DataBucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m events.LookupManifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return m
}

// syncBuffer is a bytes.Buffer that the lookup's goroutines may log to at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
