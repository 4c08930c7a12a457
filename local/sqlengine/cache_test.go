package sqlengine

import (
	"slices"
	"testing"

	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/config"
)

// TestCacheAcrossRuns checks that a later engine on the same state directory (a second
// `local run`) reads the CloudTrail transcoded by an earlier one instead of transcoding it again,
// and that an object changed since is transcoded anew.
func TestCacheAcrossRuns(t *testing.T) {
	f, dir := newFakeS3(), t.TempDir()
	a := putTrail(t, f, "us-east-1", "2024/03/05", "a", started(t, "q1", "e1", "2024-03-05T10:00:00Z"))
	b := putTrail(t, f, "us-east-1", "2024/03/05", "b", started(t, "q2", "e2", "2024-03-05T11:00:00Z"))
	query, err := athenasql.Extract(testDB, testDay, config.DefaultLateDays)
	if err != nil {
		t.Fatal(err)
	}
	queryIDs := func(res *Result) []string {
		var ids []string
		for _, r := range records(res) {
			ids = append(ids, r["query_id"])
		}
		slices.Sort(ids)
		return ids
	}

	first := newTestEngine(t, f, dir)
	f.calls()
	if got, want := queryIDs(exec(t, first, query)), []string{"q1", "q2"}; !slices.Equal(got, want) {
		t.Fatalf("first run: query IDs = %v, want %v", got, want)
	}
	if gets, _ := f.calls(); len(gets) != 2 {
		t.Fatalf("first run fetched %v, want both objects", gets)
	}
	first.Close()

	second := newTestEngine(t, f, dir)
	f.calls()
	if got, want := queryIDs(exec(t, second, query)), []string{"q1", "q2"}; !slices.Equal(got, want) {
		t.Errorf("second run: query IDs = %v, want %v", got, want)
	}
	if gets, _ := f.calls(); len(gets) != 0 {
		t.Errorf("second run fetched %v, want none (the first run's transcoding reused)", gets)
	}

	putTrail(t, f, "us-east-1", "2024/03/05", "b", started(t, "q3", "e3", "2024-03-05T12:00:00Z"))
	if got, want := queryIDs(exec(t, second, query)), []string{"q1", "q3"}; !slices.Equal(got, want) {
		t.Errorf("after a change: query IDs = %v, want %v", got, want)
	}
	if gets, want := fst(f.calls()), []string{trailBucket + "/" + b}; !slices.Equal(gets, want) {
		t.Errorf("after a change fetched %v, want only the changed object %v (not %s)", gets, want, a)
	}
}

func fst(gets, _ []string) []string { return gets }
