package report

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

var (
	update = flag.Bool("update", false, "rewrite the golden files in testdata")
	sample = flag.String("sample", "", "also write the sample HTML report to this file (e.g. ../../build/report-sample.html)")
)

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/report -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (run with -update if the change is intended); got:\n%s", path, clip(got))
	}
}

func clip(b []byte) string {
	if len(b) > 4000 {
		return string(b[:4000]) + "\n…"
	}
	return string(b)
}

func render(t *testing.T, write func(io.Writer, *Report) error, r *Report) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := write(&b, r); err != nil {
		t.Fatalf("write: %v", err)
	}
	return b.Bytes()
}

var groupings = []string{"user", "role", "database"}

func TestWriteCSVHeader(t *testing.T) {
	want := map[string]string{
		"user":     "user_arn,queries,queries_without_stats,succeeded,failed,cancelled,data_scanned_bytes,engine_execution_ms,cost_usd,failed_submissions",
		"role":     "role,queries,queries_without_stats,succeeded,failed,cancelled,data_scanned_bytes,engine_execution_ms,cost_usd,failed_submissions",
		"database": "database,queries,queries_without_stats,succeeded,failed,cancelled,data_scanned_bytes,engine_execution_ms,cost_usd,failed_submissions",
	}
	for _, by := range groupings {
		t.Run(by, func(t *testing.T) {
			for _, rows := range [][]usage{nil, sampleUsage()} {
				out := render(t, WriteCSV, build(by, rows))
				got, _, _ := strings.Cut(string(out), "\n")
				if got != want[by] {
					t.Errorf("WriteCSV(by %s) header = %q, want %q", by, got, want[by])
				}
			}
		})
	}
}

func TestWriteCSV(t *testing.T) {
	for _, by := range groupings {
		t.Run(by, func(t *testing.T) {
			r := build(by, sampleUsage())
			out := render(t, WriteCSV, r)
			golden(t, "sample-"+by+".csv", out)

			recs, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
			if err != nil {
				t.Fatalf("read back: %v", err)
			}
			if len(recs) != len(r.Groups)+1 {
				t.Fatalf("WriteCSV rows = %d, want %d groups + header", len(recs), len(r.Groups))
			}
			costRE := regexp.MustCompile(`^\d+\.\d{6}$`)
			for i, g := range r.Groups {
				rec := recs[i+1]
				if rec[0] != g.Key {
					t.Errorf("row %d key = %q, want the full key %q", i+1, rec[0], g.Key)
				}
				if !costRE.MatchString(rec[8]) {
					t.Errorf("row %d cost_usd = %q, want six decimals", i+1, rec[8])
				}
			}
		})
	}
}

func TestWriteCSVQuotes(t *testing.T) {
	r := &Report{By: "database", Groups: []Group{{Key: `odd,"name"`, Queries: 3, CostUSD: 0.0000475}}}
	got := string(render(t, WriteCSV, r))
	want := "database,queries,queries_without_stats,succeeded,failed,cancelled,data_scanned_bytes,engine_execution_ms,cost_usd,failed_submissions\n" +
		`"odd,""name""",3,0,0,0,0,0,0,0.000048,0` + "\n"
	if got != want {
		t.Errorf("WriteCSV = %q, want %q", got, want)
	}
}

func TestWriteTable(t *testing.T) {
	for _, by := range groupings {
		t.Run(by, func(t *testing.T) {
			r := build(by, sampleUsage())
			out := render(t, WriteTable, r)
			golden(t, "sample-"+by+".txt", out)
			checkWidth(t, out)
		})
	}
}

func checkWidth(t *testing.T, out []byte) {
	t.Helper()
	for i, line := range strings.Split(string(out), "\n") {
		if n := utf8.RuneCountInString(line); n > TableWidth {
			t.Errorf("WriteTable line %d is %d characters, want at most %d: %q", i+1, n, TableWidth, line)
		}
	}
}

func TestWriteTableTotals(t *testing.T) {
	r := &Report{By: "user", From: "2024-05-01", To: "2024-05-02", PricePerTB: 5, Groups: []Group{
		{Key: "arn:aws:iam::123456789012:user/alice", Queries: 1200, Failed: 3, Cancelled: 1, QueriesWithoutStats: 2,
			FailedSubmissions: 1, DataScannedBytes: 1 << 30, EngineExecutionMS: 61_000, CostUSD: 0.5},
		{Key: "arn:aws:sts::123456789012:assumed-role/Analyst/bob", Queries: 34, Failed: 1,
			DataScannedBytes: 1 << 29, EngineExecutionMS: 500, CostUSD: 0.25},
	}}
	out := string(render(t, WriteTable, r))
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "Athena usage by user, 2024-05-01 to 2024-05-02") {
		t.Errorf("WriteTable title = %q, want the grouping and window", lines[0])
	}
	var totalLine string
	for _, l := range lines {
		if strings.HasPrefix(l, "TOTAL") {
			totalLine = l
		}
	}
	want := []string{"TOTAL (2 users)", "1,234", "4", "1", "2", "1", "1.50 GiB", "1m01s", "$0.7500"}
	got := strings.Fields(strings.ReplaceAll(strings.ReplaceAll(totalLine, "TOTAL (2 users)", "TOTAL_(2_users)"), " GiB", "_GiB"))
	for i := range got {
		got[i] = strings.ReplaceAll(got[i], "_", " ")
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("WriteTable totals = %q, want %q", got, want)
	}
	for _, short := range []string{"user/alice ", "assumed-role/Analyst/bob "} {
		if !strings.Contains(out, short) {
			t.Errorf("WriteTable output has no %q; want ARNs shortened", short)
		}
	}
	if strings.Contains(out, "arn:aws") {
		t.Errorf("WriteTable output has a full ARN; want them shortened:\n%s", out)
	}
}

func TestWriteTableWidth(t *testing.T) {
	for _, n := range []int{0, 1, 100} {
		r := build("user", manyUsage(n))
		out := render(t, WriteTable, r)
		checkWidth(t, out)
		if n == 0 && !strings.Contains(string(out), "no queries in this window") {
			t.Errorf("WriteTable(no groups) = %q, want a no-queries line", out)
		}
	}
	// Absurd numbers may push the table past TableWidth, but a long key still gives way first.
	long := &Report{By: "role", Groups: []Group{{Key: strings.Repeat("x", 150), Queries: 1 << 40, DataScannedBytes: math.MaxInt64, CostUSD: 1e9}}}
	out := string(render(t, WriteTable, long))
	if want := truncate(strings.Repeat("x", 150), minKeyWidth) + "  "; !strings.Contains(out, want) {
		t.Errorf("WriteTable(150-character key) = %q, want the key cut to %d characters", out, minKeyWidth)
	}
}

// checkPage parses a page as XML (the template writes XHTML-compatible markup, so that a strict
// XML parse checks nesting and escaping everywhere, SVG included) and returns how many <svg>
// elements it has.
func checkPage(t *testing.T, page []byte) int {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(page))
	d.Strict = true
	d.Entity = map[string]string{}
	svgs := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line, _ := d.InputPos()
			lines := strings.Split(string(page), "\n")
			t.Fatalf("page is not well-formed at line %d: %v\n%s", line, err, lines[min(line, len(lines))-1])
		}
		if se, ok := tok.(xml.StartElement); ok {
			switch se.Name.Local {
			case "svg":
				svgs++
			case "script", "iframe", "object", "embed", "link":
				t.Errorf("page has a <%s> element; want none", se.Name.Local)
			}
			for _, a := range se.Attr {
				if a.Name.Local == "src" || a.Name.Local == "href" || strings.HasPrefix(a.Name.Local, "on") {
					t.Errorf("page has attribute %s=%q on <%s>; want no references or handlers", a.Name.Local, a.Value, se.Name.Local)
				}
			}
		}
	}
	// The only URLs allowed are the SVG and XLink namespace names, which browsers never fetch.
	urls := regexp.MustCompile(`https?://[^\s"'<>)]*`).FindAllString(string(page), -1)
	for _, u := range urls {
		if u != "http://www.w3.org/2000/svg" && u != "http://www.w3.org/1999/xlink" {
			t.Errorf("page references %q; want no external URLs", u)
		}
	}
	return svgs
}

func TestWriteHTML(t *testing.T) {
	tests := []struct {
		name  string
		rows  []usage
		want  []string
		avoid []string
	}{
		{"no rows", nil, []string{"no data", "No queries in this window.", "Total (0 users)"}, nil},
		{"one row", manyUsage(1), []string{"person-000@example.com", "Total (1 user)"}, []string{"no data", "other ("}},
		{"100 users", manyUsage(100), []string{"other (80 more)", "other (80 users)", "other (2 databases)", "Total (100 users)"}, []string{"no data"}},
		{"sample", sampleUsage(), []string{"assumed-role/DataAnalyst/carol@example.com", "210987654321:user/alice", ">n/a</text>",
			">May 1</text>", ">refused</li>"}, []string{"no data", "other ("}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := build("user", tt.rows)
			page := render(t, WriteHTML, r)
			if n := checkPage(t, page); n != 6 {
				t.Errorf("WriteHTML(%s) has %d <svg> charts, want 6", tt.name, n)
			}
			for _, s := range []string{`aria-label="Daily cost"`, `aria-label="Failed and refused queries per user"`} {
				if !bytes.Contains(page, []byte(s)) {
					t.Errorf("WriteHTML(%s) has no chart %s", tt.name, s)
				}
			}
			for _, s := range tt.want {
				if !bytes.Contains(page, []byte(s)) {
					t.Errorf("WriteHTML(%s) has no %q", tt.name, s)
				}
			}
			for _, s := range tt.avoid {
				if bytes.Contains(page, []byte(s)) {
					t.Errorf("WriteHTML(%s) has %q, want none", tt.name, s)
				}
			}
			if again := render(t, WriteHTML, r); !bytes.Equal(page, again) {
				t.Errorf("WriteHTML(%s) differs between two runs; want the same bytes", tt.name)
			}
		})
	}
}

func TestWriteHTMLSample(t *testing.T) {
	page := render(t, WriteHTML, build("user", sampleUsage()))
	golden(t, "sample-user.html", page)
	if *sample != "" {
		if err := os.MkdirAll(filepath.Dir(*sample), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(*sample, page, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWriteHTMLEscapes(t *testing.T) {
	evil := `<script>alert("x")</script>&amp;'`
	r := &Report{By: "database", From: "2024-05-01", To: "2024-05-01", GeneratedBy: evil,
		Groups:             []Group{{Key: evil, Queries: 2, Succeeded: 2, CostUSD: 1}},
		UserDatabase:       []Cell{{User: evil, Database: evil, Queries: 2, AvgMBScanned: 3}},
		QueriesPerUser:     []Group{{Key: evil, Queries: 2, Succeeded: 2}},
		QueriesPerDatabase: []Group{{Key: evil, Queries: 2, Succeeded: 2}},
		CostPerUser:        []Group{{Key: evil, CostUSD: 1}},
		DailyCost:          []Day{{Day: evil, CostUSD: 1}},
		FailuresPerUser:    []Group{{Key: evil, Failed: 1, FailedSubmissions: 2}},
	}
	page := render(t, WriteHTML, r)
	checkPage(t, page)
	if bytes.Contains(page, []byte("<script")) {
		t.Errorf("WriteHTML(key %q) wrote the key unescaped", evil)
	}
}

func TestWritersRejectBadGrouping(t *testing.T) {
	for name, write := range map[string]func(io.Writer, *Report) error{"csv": WriteCSV, "table": WriteTable, "html": WriteHTML} {
		var b bytes.Buffer
		err := write(&b, &Report{By: "workgroup"})
		if err == nil || !strings.Contains(err.Error(), `"workgroup"`) {
			t.Errorf("%s writer(By workgroup) error = %v, want one naming the grouping", name, err)
		}
		if b.Len() != 0 {
			t.Errorf("%s writer(By workgroup) wrote %d bytes, want none", name, b.Len())
		}
	}
}
