package lookup

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/athenausage/athena-usage/pkg/athenasql"
)

// TestHandleRewritesOnlyChangedParts reruns a day whose object gained one ID: the parts before
// the new ID's hold the same bytes, so they are not uploaded again.
func TestHandleRewritesOnlyChangedParts(t *testing.T) {
	tests := []struct {
		name    string
		id      string
		uploads []int // the parts uploaded by the rerun
	}{
		{"new ID last", "ffffffff-1111-4222-8333-000000000000", []int{4}},
		{"new ID in part 2", "0000000a-0000-4222-8333-000000000000", []int{2, 3, 4}},
		{"new ID first", "00000000-0000-0000-0000-000000000000", []int{0, 1, 2, 3, 4}},
		{"nothing new", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := dayRows(20)
			e := newEnv(t, rows, 5)
			if _, err := e.handler.Handle(context.Background(), e.event()); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if tt.id != "" {
				rows = append(rows, queryRow{id: tt.id, account: testAccount, region: "us-east-1"})
			}
			e.s3.put(testBucket, e.key, athenaCSV(sortRows(rows)))
			var mu sync.Mutex
			var uploaded []int
			e.s3.onUpload = func(key string) {
				for n := range 6 {
					if key == athenasql.PartKey(testPrefix, testDayTime, n) {
						mu.Lock()
						uploaded = append(uploaded, n)
						mu.Unlock()
					}
				}
			}
			res, err := e.handler.Handle(context.Background(), e.event())
			if err != nil {
				t.Fatalf("Handle (rerun): %v", err)
			}
			if got := slices.Sorted(slices.Values(uploaded)); !slices.Equal(got, tt.uploads) {
				t.Errorf("rerun uploaded parts %v, want %v", got, tt.uploads)
			}
			if want := res.Parts - len(tt.uploads); res.UnchangedParts != want {
				t.Errorf("Handle() UnchangedParts = %d, want %d", res.UnchangedParts, want)
			}
			ids := distinctIDs(sortRows(rows))
			diffParts(t, e.parts(), wantParts(t, ids, 5, usEast1))
		})
	}
}

// sortRows sorts the rows with an ID by ID, as the extraction does, and keeps the others last.
func sortRows(rows []queryRow) []queryRow {
	out := slices.Clone(rows)
	slices.SortStableFunc(out, func(a, b queryRow) int {
		return cmp.Or(cmp.Compare(noID(a), noID(b)), strings.Compare(a.id, b.id))
	})
	return out
}

// noID is 1 for a row without a query ID, which the extraction sorts after every ID.
func noID(r queryRow) int {
	if r.id == "" {
		return 1
	}
	return 0
}

// TestHandleWithoutListBucket runs the lookup against a store that answers a GET or HEAD of a
// missing key with AccessDenied, as S3 does for the lookup's role, which may list only some
// prefixes: a first run of a day (no earlier parts, no manifest) completes, and a continuation
// of a day without a manifest is rejected as such, not failed with AccessDenied.
func TestHandleWithoutListBucket(t *testing.T) {
	e := newEnv(t, dayRows(12), 5)
	e.s3.denyMissing = true
	res, err := e.handler.Handle(context.Background(), e.event())
	if err != nil || res.Parts != 3 {
		t.Fatalf("Handle() = %+v, %v, want 3 parts", res, err)
	}
	other := newEnv(t, dayRows(12), 5)
	other.s3.denyMissing = true
	ev := other.event()
	ev.Part, ev.Offset, ev.FirstID, ev.ETag = 1, 100, "x", other.s3.etags[testBucket+"/"+other.key]
	_, err = other.handler.Handle(context.Background(), ev)
	if !errors.Is(err, errRejected) || !strings.Contains(err.Error(), "the day has no manifest") {
		t.Errorf("Handle(continuation, no manifest) error = %v, want it rejected: the day has no manifest", err)
	}
}

// TestHandleCountsBadRecords reads a day whose object ends with more bad records than are
// logged one by one: each of the first maxBadRecordWarnings is logged with its kind, file and
// record, the rest in one line, and the manifest counts them all.
func TestHandleCountsBadRecords(t *testing.T) {
	const bad = maxBadRecordWarnings + 5
	var logs bytes.Buffer
	var mu sync.Mutex
	e := newEnv(t, nil, 5, func(o *Options) {
		o.Logger = slog.New(slog.NewJSONHandler(&lockedWriter{mu: &mu, w: &logs}, nil))
	})
	head := `"` + strings.Join(append(append([]string(nil), queriesColumns...), ColumnBadRecord, ColumnSourceFile, ColumnSourceRecord), `","`) + `"` + "\n"
	var b strings.Builder
	b.WriteString(head)
	empty := strings.Repeat(",", len(queriesColumns)-1)
	for i := range 7 {
		fmt.Fprintf(&b, "\"%08x-1111-4222-8333-000000000000\",,\"%s\",\"us-east-1\"%s,,,\n", i, testAccount, strings.Repeat(",", len(queriesColumns)-4))
	}
	for i := range bad {
		fmt.Fprintf(&b, "%s,\"eventTime\",\"s3://trail/AWSLogs/f%d.json.gz\",\"e%d\"\n", empty, i%3, i)
	}
	e.s3.put(testBucket, e.key, []byte(b.String()))
	res, err := e.handler.Handle(context.Background(), e.event())
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if res.IDs != 7 || res.BadRecords != bad {
		t.Errorf("Handle() IDs = %d, BadRecords = %d, want 7 and %d", res.IDs, res.BadRecords, bad)
	}
	m, err := readManifest(context.Background(), e.s3, testBucket, athenasql.LookupManifestKey(testPrefix, testDayTime))
	if err != nil || m == nil || m.Done.BadRecords != bad {
		t.Fatalf("manifest = %+v, %v, want done.bad_records %d", m, err, bad)
	}
	named, more := 0, ""
	for line := range strings.Lines(logs.String()) {
		var l struct {
			Msg, Kind, File, Record string
			Count                   int
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatal(err)
		}
		switch l.Msg {
		case "bad CloudTrail record left out of the day":
			if want := fmt.Sprintf("eventTime s3://trail/AWSLogs/f%d.json.gz e%d", named%3, named); l.Kind+" "+l.File+" "+l.Record != want {
				t.Errorf("bad record %d logged as %q, want %q", named, l.Kind+" "+l.File+" "+l.Record, want)
			}
			named++
		case "more bad CloudTrail records left out of the day":
			more = fmt.Sprint(l.Count)
		}
	}
	if named != maxBadRecordWarnings || more != "5" {
		t.Errorf("logged %d bad records one by one and %q more, want %d and 5", named, more, maxBadRecordWarnings)
	}
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
