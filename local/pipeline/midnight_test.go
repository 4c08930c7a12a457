package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/athenausage/athena-usage/local/athenaserver"
	"github.com/athenausage/athena-usage/local/synth"
)

// TestCrossMidnightRetryCountedOnce adds, for the first day's last query, a retry with the same
// client request token just after midnight, as a client logs it: a second StartQueryExecution
// event with the same query ID, filed in the next day's folder. The query counts once, on the
// day of its earliest event, and every user's totals stay those of the generator's ground truth.
func TestCrossMidnightRetryCountedOnce(t *testing.T) {
	var q synth.Query
	e := setupCorpus(t, athenaserver.Options{DisableQuotas: true}, Settings{}, func(t *testing.T, gen string, truth *synth.Truth) {
		for _, c := range truth.Queries {
			if c.Day == truth.Days[0] && c.Submissions == 1 && c.InHistory {
				q = c // the last one: Queries are in order of event time
			}
		}
		var retry map[string]any
		editRecord(t, gen, q.ID, func(rec map[string]any) {
			retry = map[string]any{}
			for k, v := range rec {
				retry[k] = v
			}
		})
		retry["eventID"] = "retry-" + q.ID
		retry["eventTime"] = truth.Days[1] + "T00:00:05Z"
		appendRecord(t, gen, "/"+strings.ReplaceAll(truth.Days[1], "-", "/")+"/", retry)
	})
	e.runAll(t)
	checkTotals(t, e)
	rows, err := e.stack.Query(context.Background(), `SELECT day, count(*) FROM athena_usage WHERE query_id = '`+q.ID+`' GROUP BY day`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		if r[0] != nil && r[1] != nil {
			got = append(got, *r[1]+" on "+*r[0])
		}
	}
	if want := "1 on " + q.Day; len(got) != 1 || got[0] != want {
		t.Errorf("query %s (first event %s, retried after midnight) is counted %v, want %s", q.ID, q.EventTime.Format("2006-01-02T15:04:05Z"), got, want)
	}
}

// appendRecord adds rec to the first CloudTrail file under gen whose path contains folder.
func appendRecord(t *testing.T, gen, folder string, rec map[string]any) {
	t.Helper()
	var target string
	err := filepath.WalkDir(gen, func(path string, d os.DirEntry, err error) error {
		if err == nil && target == "" && !d.IsDir() && strings.HasSuffix(path, ".json.gz") && strings.Contains(filepath.ToSlash(path), folder) {
			target = path
		}
		return err
	})
	if err != nil || target == "" {
		t.Fatalf("no CloudTrail file in a folder %s: %v", folder, err)
	}
	var file struct {
		Records []map[string]any
	}
	if err := readGzipJSON(target, &file); err != nil {
		t.Fatal(err)
	}
	file.Records = append(file.Records, rec)
	if err := writeGzipJSON(target, file); err != nil {
		t.Fatal(err)
	}
}
