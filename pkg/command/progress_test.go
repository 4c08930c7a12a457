package command

import (
	"bytes"
	"testing"
	"testing/synctest"
	"time"

	"github.com/athenausage/athena-usage/pkg/backfill"
	"github.com/athenausage/athena-usage/pkg/status"
)

// look is a Progress over 4 days whose first done days are complete, the next failed (when
// failed), and the rest partial, with ids written.
func look(done int, failed bool, ids int) backfill.Progress {
	var sts []status.Day
	for i := range 4 {
		d := status.Day{Day: time.Date(2025, 3, 1+i, 0, 0, 0, 0, time.UTC), State: status.Partial}
		switch {
		case i < done:
			d.State = status.Complete
		case i == done && failed:
			d.State = status.Failed
		}
		sts = append(sts, d)
	}
	p := backfill.Progress{Days: sts, Complete: done, IDs: ids}
	if failed {
		p.Failed = 1
	}
	return p
}

// TestProgressTerminal checks the bar a terminal shows, redrawn in place: days done, queries
// looked up, the rate since the first look, and the time left at the pace so far.
func TestProgressTerminal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		v := newProgressView(&buf, 4)
		v.terminal = true
		v.update(look(0, false, 40))
		time.Sleep(10 * time.Second)
		v.update(look(1, false, 140))
		time.Sleep(10 * time.Second)
		v.update(look(3, true, 340))
		v.end()
		want := "\r[..............................] 0/4 days, 40 queries looked up, 0/s, ETA -   " +
			"\r[#######.......................] 1/4 days, 140 queries looked up, 10/s, ETA 30s   " +
			"\r[##############################] 4/4 days, 340 queries looked up, 15/s, ETA -   \n"
		if got := buf.String(); got != want {
			t.Errorf("terminal progress =\n%q\nwant\n%q", got, want)
		}
	})
}

// TestProgressLines checks the lines written when stdout is not a terminal: one per day, when
// it ends, with the days done and queries looked up at that look.
func TestProgressLines(t *testing.T) {
	var buf bytes.Buffer
	v := newProgressView(&buf, 4)
	if v.terminal {
		t.Fatal("newProgressView(bytes.Buffer).terminal = true, want false")
	}
	v.update(look(0, false, 40))
	v.update(look(1, false, 140))
	v.update(look(1, false, 150))
	v.update(look(3, true, 340))
	v.end()
	want := "2025-03-01 complete (1/4 days done, 140 queries looked up)\n" +
		"2025-03-02 complete (4/4 days done, 340 queries looked up)\n" +
		"2025-03-03 complete (4/4 days done, 340 queries looked up)\n" +
		"2025-03-04 failed (4/4 days done, 340 queries looked up)\n"
	if got := buf.String(); got != want {
		t.Errorf("progress lines =\n%s\nwant\n%s", got, want)
	}
}
