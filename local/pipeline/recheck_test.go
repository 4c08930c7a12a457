package pipeline

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/athenausage/athena-usage/local/athenaserver"
	"github.com/athenausage/athena-usage/pkg/athenasql"
)

// putCounter sits in front of the S3 stand-in and counts the PUT requests per key prefix.
type putCounter struct {
	mu   sync.Mutex
	puts []string
}

func (c *putCounter) count(prefix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, p := range c.puts {
		if strings.HasPrefix(p, prefix) {
			n++
		}
	}
	return n
}

// countPuts routes the S3 calls of pipelines made from now on through a proxy that counts PUTs.
func countPuts(t *testing.T, st *Stack) *putCounter {
	t.Helper()
	target, err := url.Parse(st.S3URL)
	if err != nil {
		t.Fatal(err)
	}
	c := &putCounter{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			c.mu.Lock()
			c.puts = append(c.puts, strings.TrimPrefix(r.URL.Path, "/"+DataBucket+"/"))
			c.mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	st.S3URL = srv.URL
	return c
}

// TestRecheckRewritesOnlyChangedParts delivers one record of the first day late, whose query ID
// sorts after every other of the day: the re-check of that day PUTs its last part and its
// manifest, and no other part of the day.
func TestRecheckRewritesOnlyChangedParts(t *testing.T) {
	ctx := context.Background()
	e := setupCorpus(t, athenaserver.Options{DisableQuotas: true}, Settings{LookupPartSize: 10}, nil)
	puts := countPuts(t, e.stack)
	p, err := e.stack.Pipeline(e.set)
	if err != nil {
		t.Fatal(err)
	}
	day := e.days[0]
	if _, err := p.RunDay(ctx, day); err != nil {
		t.Fatalf("RunDay: %v", err)
	}
	partsPrefix := athenasql.APIOutputDayPrefix("", day)
	parts := puts.count(partsPrefix)
	if parts < 3 {
		t.Fatalf("first run PUT %d parts, want several", parts)
	}

	// The late record: a copy of one of the day's, with a new event and query ID, in a file
	// of the next day's folder.
	folder := "/" + strings.ReplaceAll(e.truth.Days[1], "-", "/") + "/"
	var file string
	var content struct{ Records []any }
	_ = filepath.WalkDir(e.gen, func(path string, d os.DirEntry, err error) error {
		if err == nil && file == "" && !d.IsDir() && strings.HasSuffix(path, ".json.gz") && strings.Contains(filepath.ToSlash(path), folder) {
			if err := readGzipJSON(path, &content); err != nil {
				return err
			}
			file = filepath.Base(path)
		}
		return nil
	})
	model := findStartQuery(t, e.gen, e.truth.Days[0])
	late := map[string]any{}
	for k, v := range model {
		late[k] = v
	}
	late["eventID"] = "late-record"
	late["eventTime"] = e.truth.Days[0] + "T23:59:00Z"
	late["responseElements"] = map[string]any{"queryExecutionId": "ffffffff-ffff-4fff-bfff-ffffffffffff"}
	content.Records = append(content.Records, late)
	putTrailObject(t, e.stack, file, content)

	before := len(puts.puts)
	if _, err := p.RunDay(ctx, day); err != nil {
		t.Fatalf("RunDay (re-check): %v", err)
	}
	puts.mu.Lock()
	again := puts.puts[before:]
	puts.mu.Unlock()
	var partPuts, manifestPuts int
	for _, k := range again {
		switch {
		case strings.HasPrefix(k, partsPrefix):
			partPuts++
		case k == athenasql.LookupManifestKey("", day):
			manifestPuts++
		}
	}
	if partPuts != 1 || manifestPuts != 1 {
		t.Errorf("re-check with 1 new ID (sorting last) of %d parts: %d part PUTs and %d manifest PUTs, want 1 and 1 (all PUTs: %q)", parts, partPuts, manifestPuts, again)
	}
}

// findStartQuery returns a StartQueryExecution record of day from the files under gen.
func findStartQuery(t *testing.T, gen, day string) map[string]any {
	t.Helper()
	folder := "/" + strings.ReplaceAll(day, "-", "/") + "/"
	var found map[string]any
	_ = filepath.WalkDir(gen, func(path string, d os.DirEntry, err error) error {
		if err != nil || found != nil || d.IsDir() || !strings.Contains(filepath.ToSlash(path), folder) {
			return err
		}
		var f struct{ Records []map[string]any }
		if readGzipJSON(path, &f) != nil {
			return nil
		}
		for _, r := range f.Records {
			if isStartQuery(r) && strings.HasPrefix(r["eventTime"].(string), day) {
				found = r
				return nil
			}
		}
		return nil
	})
	if found == nil {
		t.Fatalf("no StartQueryExecution record of %s", day)
	}
	return found
}
