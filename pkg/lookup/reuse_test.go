package lookup

import (
	"context"
	"slices"
	"testing"
)

// TestHandleReusesFinalRows reruns a day with two IDs inserted and one dropped: only the new IDs
// are looked up, and the parts are what a fresh run writes.
func TestHandleReusesFinalRows(t *testing.T) {
	rows := dayRows(23)
	e := newEnv(t, rows, 5)
	if _, err := e.handler.Handle(context.Background(), e.event()); err != nil {
		t.Fatal(err)
	}
	asked := len(e.athena[place{testAccount, "us-east-1"}].asked())
	ids := distinctIDs(rows)
	var rerun []queryRow
	for i, id := range ids {
		if i == 4 {
			continue
		}
		rerun = append(rerun, queryRow{id: id, account: testAccount, region: "us-east-1"})
		if i == 1 || i == 12 {
			rerun = append(rerun, queryRow{id: id + "-late", account: testAccount, region: "us-east-1"})
		}
	}
	e.s3.replace(testBucket, e.key, athenaCSV(rerun))
	if _, err := e.handler.Handle(context.Background(), e.event()); err != nil {
		t.Fatal(err)
	}
	got := e.athena[place{testAccount, "us-east-1"}].asked()[asked:]
	slices.Sort(got)
	want := []string{ids[1] + "-late", ids[12] + "-late"}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("rerun looked up %q, want only the new %q", got, want)
	}
	diffParts(t, e.parts(), wantParts(t, distinctIDs(rerun), 5, usEast1))
}
