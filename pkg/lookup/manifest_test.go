package lookup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/athenausage/athena-usage/pkg/apioutput"
	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/events"
)

// shortOf is an invocation with a minute left: it writes its first part and hands the rest on.
func shortOf() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), time.Minute)
}

// manifest reads the day's manifest out of the fake store.
func (e *env) manifest(t *testing.T) events.LookupManifest {
	t.Helper()
	key := athenasql.LookupManifestKey(testPrefix, testDayTime)
	data, ok := e.s3.objectsUnder(testBucket, key)[key]
	if !ok {
		t.Fatalf("no manifest at %s", key)
	}
	var m events.LookupManifest
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		t.Fatalf("manifest %s: %v", data, err)
	}
	return m
}

// offsetAfter returns where the first record of the distinct ID after the one at offset starts.
func offsetAfter(t *testing.T, data []byte, offset int64) int64 {
	t.Helper()
	r, err := newIDReader(bytes.NewReader(data), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for {
		rec, err := r.next()
		if err != nil {
			t.Fatalf("no ID after byte %d: %v", offset, err)
		}
		if rec.offset > offset {
			return rec.offset
		}
	}
}

// TestHandleManifest checks the manifest each invocation leaves: where the next one starts and
// what was written before it, then complete once the day is.
func TestHandleManifest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rows := dayRows(23)
		e := newEnv(t, rows, 5)
		ctx, cancel := shortOf()
		res, err := e.handler.Handle(ctx, e.event())
		cancel()
		if err != nil || !res.Continued {
			t.Fatalf("Handle(part 0) = %+v, %v, want it continued", res, err)
		}
		var next events.Lookup
		if err := json.Unmarshal(e.lambda.calls[0].Payload, &next); err != nil {
			t.Fatal(err)
		}
		m := e.manifest(t)
		wantNext := events.Position{Part: next.Part, Offset: next.Offset, FirstID: distinctIDs(rows)[5]}
		if m.Complete || m.Next == nil || *m.Next != wantNext || m.ETag != next.ETag || m.Done.Parts != 1 || m.Done.IDs != 5 || m.Before != (events.LookupTotals{}) {
			t.Errorf("manifest after part 0 = %+v, want next %+v, 1 part and 5 IDs done, not complete", m, wantNext)
		}
		if next.FirstID != wantNext.FirstID {
			t.Errorf("continuation first_id = %q, want %q", next.FirstID, wantNext.FirstID)
		}
		results := runAll(t, e, next, shortOf)
		m = e.manifest(t)
		if !m.Complete || m.Next != nil || m.Done.Parts != 5 || m.Done.IDs != 23 || m.From.Part != results[len(results)-1].FirstPart {
			t.Errorf("manifest of the finished day = %+v, want complete with 5 parts and 23 IDs", m)
		}
		if !m.CompleteFor(e.s3.etags[testBucket+"/"+e.key]) {
			t.Errorf("CompleteFor(the object's ETag) = false, want true")
		}
	})
}

// startDay writes the first part of a 23-ID day and returns the env and the continuation event
// it handed over.
func startDay(t *testing.T) (*env, events.Lookup) {
	t.Helper()
	e := newEnv(t, dayRows(23), 5)
	ctx, cancel := shortOf()
	_, err := e.handler.Handle(ctx, e.event())
	cancel()
	if err != nil || len(e.lambda.calls) != 1 {
		t.Fatalf("Handle(part 0) = %v with %d invocations, want one continuation", err, len(e.lambda.calls))
	}
	var next events.Lookup
	if err := json.Unmarshal(e.lambda.calls[0].Payload, &next); err != nil {
		t.Fatal(err)
	}
	return e, next
}

// TestHandleRejectsUnboundContinuation sends continuation events that the day's last invocation
// did not hand over: each fails before it writes anything.
func TestHandleRejectsUnboundContinuation(t *testing.T) {
	rows := dayRows(23)
	data, ids := athenaCSV(rows), distinctIDs(rows)
	tests := []struct {
		name string
		edit func(*events.Lookup)
	}{
		{"part 99999", func(ev *events.Lookup) { ev.Part = 99999 }},
		{"offset one record late", func(ev *events.Lookup) { ev.Offset = offsetAfter(t, data, ev.Offset) }},
		{"offset one record late with its first ID", func(ev *events.Lookup) { ev.Offset, ev.FirstID = offsetAfter(t, data, ev.Offset), ids[6] }},
		{"offset at the file's last byte", func(ev *events.Lookup) { ev.Offset = int64(len(data) - 1) }},
		{"another first ID", func(ev *events.Lookup) { ev.FirstID = ids[0] }},
		{"a day that is not its key's", func(ev *events.Lookup) { ev.Day = "2025-03-05" }},
		{"replayed once the day moved on", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e, ev := startDay(t)
				if tt.edit != nil {
					tt.edit(&ev)
				} else {
					runAll(t, e, ev, shortOf)
				}
				before, calls := e.s3.objectsUnder(testBucket, ""), len(e.lambda.calls)
				_, err := e.handler.Handle(context.Background(), ev)
				if err == nil || !(errors.Is(err, errRejected) || strings.Contains(err.Error(), "invalid event")) {
					t.Errorf("Handle(%+v) error = %v, want it rejected", ev, err)
				}
				if after := e.s3.objectsUnder(testBucket, ""); !maps.Equal(after, before) || len(e.lambda.calls) != calls {
					t.Errorf("Handle(%+v) changed the bucket or invoked: %d objects before, %d after", ev, len(before), len(after))
				}
			})
		})
	}
}

// TestHandleInvalidPlace checks that a query whose account or region in the CSV is not valid is
// written with a lookup error, without a call, counted and logged, and the day still finishes.
func TestHandleInvalidPlace(t *testing.T) {
	rows := []queryRow{
		{id: "a-1", account: testAccount, region: "us-east-1"},
		{id: "b-1", account: testAccount, region: "moon-base-1"},
		{id: "c-1", account: "1234:role/x", region: "us-east-1"},
		{id: "d-1", account: testAccount, region: "attacker.example.com/"},
		{id: "e-1", account: testAccount, region: "moon-base-1"},
	}
	var logs bytes.Buffer
	e := newEnv(t, rows, 10, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	res, err := e.handler.Handle(context.Background(), e.event())
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if res.InvalidPlace != 4 || res.LookupErrors != 4 || res.IDs != 5 {
		t.Errorf("Handle() = %+v, want 5 IDs, 4 of them with an invalid place", res)
	}
	want := map[string]string{"b-1": LookupErrorInvalidRegion, "c-1": LookupErrorInvalidAccount, "d-1": LookupErrorInvalidRegion, "e-1": LookupErrorInvalidRegion}
	r := apioutput.NewReader(strings.NewReader(e.parts()[athenasql.PartKey(testPrefix, testDayTime, 0)]))
	for {
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if row.LookupError != want[row.QueryID] {
			t.Errorf("row %s lookup_error = %q, want %q", row.QueryID, row.LookupError, want[row.QueryID])
		}
	}
	if asked := e.athena[place{testAccount, "us-east-1"}].asked(); len(asked) != 1 || asked[0] != "a-1" || len(e.athena) != 1 {
		t.Errorf("Athena asked for %v in %d places, want only a-1", asked, len(e.athena))
	}
	// Logged once per value, naming the first query and line that carry it.
	for _, w := range []string{"value=moon-base-1 query_id=b-1 line=3", "query_id=c-1 line=4", "query_id=d-1 line=5"} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("logs lack %q:\n%s", w, logs.String())
		}
	}
	if n := strings.Count(logs.String(), "value=moon-base-1"); n != 1 {
		t.Errorf("moon-base-1 logged %d times, want once", n)
	}
}
