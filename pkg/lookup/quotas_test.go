package lookup

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/batchget"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// quotasKey is where the quotas found are remembered.
var quotasKey = athenasql.LookupQuotasKey(testPrefix)

// TestHandleRemembersQuotas checks that a quota an engine found is written for the next
// invocation, which starts its engine from it, and that the file keeps the other accounts' and
// regions' quotas but forgets those older than QuotaMemory.
func TestHandleRemembersQuotas(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	other := quotaEntry{Account: "210987654321", Region: "eu-west-1", CallsPerSecond: 30, Measured: now.Add(-48 * time.Hour)}
	old := quotaEntry{Account: testAccount, Region: "ap-south-1", CallsPerSecond: 20, Measured: now.Add(-QuotaMemory - time.Hour)}
	rows := dayRows(120)

	// The first invocation's engine finds 42 calls/s (here, as if it had).
	found := batchget.Quota{Rate: 42, Measured: now, Background: 0.01}
	first := newEnv(t, rows, 50, func(o *Options) {
		o.Engine = append(o.Engine, func(o *batchget.Options) { o.Quota = found })
	})
	first.s3.put(testBucket, quotasKey, quotaJSON(t, other, old))
	if _, err := first.handler.Handle(context.Background(), first.event()); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	got := readQuotaFile(t, first.s3)
	want := []quotaEntry{
		{Account: testAccount, Region: "us-east-1", CallsPerSecond: 42, BackgroundThrottled: 0.01, Measured: now},
		other,
	}
	if !sameEntries(got.Quotas, want) {
		t.Fatalf("quotas written: %+v\nwant %+v", got.Quotas, want)
	}

	// A cold start of the function: its engine starts from the quota found.
	second := newEnv(t, rows, 50)
	second.s3.put(testBucket, quotasKey, quotaJSON(t, got.Quotas...))
	if _, err := second.handler.Handle(context.Background(), second.event()); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	e, err := second.handler.engine(place{testAccount, "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if q := e.Quota(); q.Rate != 42 || !q.Measured.Equal(now) || q.Background != 0.01 {
		t.Errorf("engine's quota = %+v, want the one found before, %+v", q, found)
	}
	if n := second.s3.uploadsOf(quotasKey); n != 0 {
		t.Errorf("quotas written %d times, want none: nothing changed", n)
	}
}

// TestHandleBadQuotas checks that quotas that cannot be read, or entries that are not valid,
// neither fail the day nor reach an engine: they are named in a warning and the file is
// written again without them.
func TestHandleBadQuotas(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	good := quotaEntry{Account: "210987654321", Region: "eu-west-1", CallsPerSecond: 30, Measured: now}
	for _, tc := range []struct {
		name, file, warning string
		want                []quotaEntry
	}{
		{name: "not JSON", file: "{not json", warning: quotasKey, want: []quotaEntry{}},
		{name: "bad entries", file: string(quotaJSON(t, good,
			quotaEntry{Account: testAccount, Region: "us-east-1", CallsPerSecond: -1, Measured: now},
			quotaEntry{Account: "12345", Region: "us-east-1", CallsPerSecond: 10, Measured: now},
			quotaEntry{Account: testAccount, Region: "us-east-1", CallsPerSecond: 10, BackgroundThrottled: 1.5, Measured: now},
		)), warning: "calls_per_second -1", want: []quotaEntry{good}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			rows := dayRows(60)
			e := newEnv(t, rows, 50, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
			e.s3.put(testBucket, quotasKey, []byte(tc.file))
			if _, err := e.handler.Handle(context.Background(), e.event()); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if len(e.parts()) != 2 {
				t.Errorf("%d parts written, want 2", len(e.parts()))
			}
			if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), tc.warning) {
				t.Errorf("logs do not warn about %q:\n%s", tc.warning, logs.String())
			}
			eng, err := e.handler.engine(place{testAccount, "us-east-1"})
			if err != nil {
				t.Fatal(err)
			}
			if q := eng.Quota(); q.Rate != 0 {
				t.Errorf("engine's quota = %+v, want none", q)
			}
			if got := readQuotaFile(t, e.s3); !sameEntries(got.Quotas, tc.want) {
				t.Errorf("quotas written: %+v, want %+v", got.Quotas, tc.want)
			}
		})
	}
}

func quotaJSON(t *testing.T, entries ...quotaEntry) []byte {
	t.Helper()
	data, err := json.Marshal(quotaFile{Quotas: entries})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func readQuotaFile(t *testing.T, f *fakeS3) quotaFile {
	t.Helper()
	body, err := f.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(testBucket), Key: aws.String(quotasKey)})
	if err != nil {
		t.Fatalf("quotas: %v", err)
	}
	data, err := io.ReadAll(body.Body)
	if err != nil {
		t.Fatal(err)
	}
	var q quotaFile
	if err := json.Unmarshal(data, &q); err != nil {
		t.Fatalf("quotas %s: %v", data, err)
	}
	return q
}

func sameEntries(a, b []quotaEntry) bool {
	return slices.EqualFunc(a, b, func(x, y quotaEntry) bool {
		return x.Account == y.Account && x.Region == y.Region && x.CallsPerSecond == y.CallsPerSecond &&
			x.BackgroundThrottled == y.BackgroundThrottled && x.Measured.Equal(y.Measured)
	})
}
