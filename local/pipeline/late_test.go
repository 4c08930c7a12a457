package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/athenausage/athena-usage/local/athenaserver"
	"github.com/athenausage/athena-usage/local/synth"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// holdBack moves a CloudTrail file of the first day (one filed well after midnight, so all its
// records are that day's) out of gen into late, refiled in the folder two days later, as a
// delivery that late would be. It returns the query IDs of the file's StartQueryExecution
// records.
func holdBack(t *testing.T, gen, late string, truth *synth.Truth) []string {
	t.Helper()
	d := truth.Days[0]
	folder := "/" + strings.ReplaceAll(d, "-", "/") + "/"
	var moved string
	var ids []string
	err := filepath.WalkDir(gen, func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() || moved != "" || !strings.Contains(filepath.ToSlash(path), folder) || !strings.HasSuffix(path, ".json.gz") {
			return err
		}
		var file struct{ Records []map[string]any }
		if err := readGzipJSON(path, &file); err != nil {
			return err
		}
		var found []string
		for _, rec := range file.Records {
			resp, _ := rec["responseElements"].(map[string]any)
			at, _ := rec["eventTime"].(string)
			if !strings.HasPrefix(at, d) || at < d+"T01" {
				return nil
			}
			if id, _ := resp["queryExecutionId"].(string); rec["eventName"] == "StartQueryExecution" && id != "" {
				found = append(found, id)
			}
		}
		if len(found) > 0 {
			moved, ids = path, found
		}
		return nil
	})
	if err != nil || moved == "" {
		t.Fatalf("no file of %s to hold back: %v", d, err)
	}
	d2, _ := time.Parse("2006-01-02", d)
	later := d2.AddDate(0, 0, 2)
	rel, _ := filepath.Rel(gen, moved)
	rel = strings.Replace(filepath.ToSlash(rel), folder, "/"+later.Format("2006/01/02")+"/", 1)
	rel = strings.Replace(rel, "_"+d2.Format("20060102")+"T", "_"+later.Format("20060102")+"T", 1)
	dst := filepath.Join(late, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(moved, dst); err != nil {
		t.Fatal(err)
	}
	return ids
}

// objectStates returns each object of the data bucket with its ETag and time of last write.
func objectStates(t *testing.T, st *Stack) map[string]string {
	t.Helper()
	out := map[string]string{}
	pages := s3.NewListObjectsV2Paginator(st.S3, &s3.ListObjectsV2Input{Bucket: aws.String(DataBucket)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			out[aws.ToString(o.Key)] = aws.ToString(o.ETag) + " " + aws.ToTime(o.LastModified).Format(time.RFC3339Nano)
		}
	}
	return out
}

// TestLateDeliveryCounted delivers records of day D into the folder of D+2, after the schedule
// has extracted D: the schedule's re-check at D+2 counts them, with few BatchGetQueryExecution
// calls, and a later re-check that finds nothing new makes none and writes nothing.
func TestLateDeliveryCounted(t *testing.T) {
	ctx := context.Background()
	late := filepath.Join(t.TempDir(), "late")
	var heldBack []string
	e := setupCorpus(t, athenaserver.Options{DisableQuotas: true}, Settings{}, func(t *testing.T, gen string, truth *synth.Truth) {
		heldBack = holdBack(t, gen, late, truth)
	})
	calls := func() int { return e.stack.Athena().Counts()[athenaserver.OpBatchGetQueryExecution].Calls }
	day := e.days[0]
	at := func(n int) time.Time { return day.AddDate(0, 0, n).Add(5 * time.Minute) }

	first, err := e.pipe.RunSchedule(ctx, at(1))
	if err != nil {
		t.Fatalf("RunSchedule(D+1): %v", err)
	}
	var ids int
	for _, l := range first.Lookups {
		ids += l.IDs
	}
	t.Logf("D+1: %d IDs of D looked up with %d calls; %d records held back", ids, calls(), len(heldBack))

	if _, err := e.stack.IngestCloudTrail(ctx, late); err != nil {
		t.Fatal(err)
	}
	// The re-check of D alone first, to count its calls: only the new IDs are looked up.
	before := calls()
	if _, err := e.pipe.RunDay(ctx, day); err != nil {
		t.Fatalf("RunDay(D): %v", err)
	}
	if n, limit := calls()-before, (len(heldBack)+49)/50+2; n > limit {
		t.Errorf("re-check of D with %d new IDs: %d BatchGetQueryExecution calls, want at most %d", len(heldBack), n, limit)
	} else {
		t.Logf("re-check of D with %d new IDs: %d calls", len(heldBack), n)
	}
	before = calls()
	if _, err := e.pipe.RunSchedule(ctx, at(2)); err != nil {
		t.Fatalf("RunSchedule(D+2): %v", err)
	}
	t.Logf("D+2 (D+1 extracted, D and nothing new re-checked): %d calls", calls()-before)
	if _, err := e.pipe.RunSchedule(ctx, at(3)); err != nil {
		t.Fatalf("RunSchedule(D+3): %v", err)
	}
	checkTotals(t, e)

	// A re-check with nothing new: no call, no object written.
	states, before := objectStates(t, e.stack), calls()
	again, err := e.pipe.RunSchedule(ctx, at(3))
	if err != nil {
		t.Fatalf("RunSchedule(D+3) again: %v", err)
	}
	if n := calls() - before; n != 0 || len(again.Lookups) != 0 {
		t.Errorf("re-check with nothing new: %d BatchGetQueryExecution calls, %d lookups, want none", n, len(again.Lookups))
	}
	for _, d := range again.Extract.Days {
		if !d.Unchanged {
			t.Errorf("re-check with nothing new: day %s not unchanged", d.Day)
		}
	}
	after := objectStates(t, e.stack)
	if len(after) != len(states) {
		t.Errorf("re-check with nothing new: %d objects, want %d", len(after), len(states))
	}
	for k, v := range states {
		if after[k] != v {
			t.Errorf("re-check with nothing new rewrote %s: %s, was %s", k, after[k], v)
		}
	}
}
