package pipeline

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/athenausage/athena-usage/local/athenaserver"
	"github.com/athenausage/athena-usage/local/synth"
)

// TestForgedRowsChangeNoOneElse plants line breaks and a forged athena_queries row in the free
// text of one user's StartQueryExecution event: the database, the user agent and the source
// address. The forged row reuses a real query ID of another user, so a row split at a line
// break would count that user's query a second time. The per-user and per-database reports
// must equal those of the same corpus without the forged text.
func TestForgedRowsChangeNoOneElse(t *testing.T) {
	clean := setup(t, athenaserver.Options{DisableQuotas: true}, Settings{})
	clean.runAll(t)
	var attacker, victim synth.Query
	forged := setupCorpus(t, athenaserver.Options{DisableQuotas: true}, Settings{}, func(t *testing.T, gen string, truth *synth.Truth) {
		attacker, victim = pickAttackerAndVictim(t, truth)
		row := strings.Join([]string{victim.ID, victim.EventTime.UTC().Format("2006-01-02T15:04:05Z"), victim.Account, victim.Region,
			victim.UserARN, victim.UserType, "AIDAFORGED", "victim", "", "192.0.2.1", "forged", victim.Workgroup, victim.Database, "", "1"}, ",")
		hostile := "sales\n" + row + "\r\n" + `"` + row + "\r" + row + `\`
		editRecord(t, gen, attacker.ID, func(rec map[string]any) {
			params, _ := rec["requestParameters"].(map[string]any)
			ctx, _ := params["queryExecutionContext"].(map[string]any)
			if ctx == nil {
				ctx = map[string]any{}
				params["queryExecutionContext"] = ctx
			}
			ctx["database"] = hostile
			rec["userAgent"] = hostile
			rec["sourceIPAddress"] = hostile
		})
	})
	forged.runAll(t)
	t.Logf("attacker %s (query %s) forged query %s of %s", attacker.UserARN, attacker.ID, victim.ID, victim.UserARN)

	from, to := clean.days[0], clean.days[len(clean.days)-1]
	for _, by := range []string{"user", "database"} {
		want, err := clean.stack.Report(context.Background(), by, from, to, 5)
		if err != nil {
			t.Fatal(err)
		}
		got, err := forged.stack.Report(context.Background(), by, from, to, 5)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Groups, want.Groups) {
			t.Errorf("report by %s with forged text:\n got %+v\nwant %+v", by, got.Groups, want.Groups)
		}
	}
	// The text itself survives, readable, on the attacker's own row.
	rows, err := forged.stack.Query(context.Background(), `SELECT user_agent FROM athena_usage WHERE query_id = '`+attacker.ID+`'`)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0][0] == nil || !strings.HasPrefix(*rows[0][0], `sales\n`+victim.ID+",") {
		t.Errorf("attacker's user_agent = %v, want the text with its line breaks written as \\n", rows)
	}
}

// pickAttackerAndVictim returns two queries of the first day, by different users of the
// trail's first account, both with statistics: the attacker's, whose event gets the forged
// text, and the victim's, whose ID the forged row reuses.
func pickAttackerAndVictim(t *testing.T, truth *synth.Truth) (attacker, victim synth.Query) {
	t.Helper()
	var found int
	for _, q := range truth.Queries {
		if q.Day != truth.Days[0] || !q.InHistory || q.Submissions != 1 || q.Account != truth.Options.Accounts[0] {
			continue
		}
		switch {
		case found == 0:
			attacker, found = q, 1
		case q.UserARN != attacker.UserARN && q.StatementType == "DML" && q.State == "SUCCEEDED":
			return attacker, q
		}
	}
	t.Fatal("synth generated no two queries of different users with statistics on the first day")
	return
}

// editRecord rewrites the CloudTrail file under gen that holds the StartQueryExecution record
// of query id, changing that record with fn.
func editRecord(t *testing.T, gen, id string, fn func(map[string]any)) {
	t.Helper()
	edited := 0
	err := filepath.WalkDir(gen, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json.gz") {
			return err
		}
		var file struct {
			Records []map[string]any
		}
		if err := readGzipJSON(path, &file); err != nil {
			return err
		}
		changed := false
		for _, rec := range file.Records {
			resp, _ := rec["responseElements"].(map[string]any)
			if rec["eventName"] == "StartQueryExecution" && resp != nil && resp["queryExecutionId"] == id {
				fn(rec)
				changed = true
				edited++
			}
		}
		if !changed {
			return nil
		}
		return writeGzipJSON(path, file)
	})
	if err != nil {
		t.Fatal(err)
	}
	if edited != 1 {
		t.Fatalf("edited %d records of query %s, want 1", edited, id)
	}
}

func readGzipJSON(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

func writeGzipJSON(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}
