package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"
)

//go:embed report.html.tmpl
var pageTemplate string

var page = template.Must(template.New("report.html").Parse(pageTemplate))

// htmlPage is what the page template renders.
type htmlPage struct {
	Title       string
	By          string
	KeyHeader   string
	From, To    string
	Price       string
	GeneratedBy string
	Summary     []stat
	Charts      []chart
	Rows        []htmlRow
	Total       htmlRow
}

// stat is one number of the summary at the top of the page.
type stat struct {
	Label, Value, Detail string
}

// htmlRow is one row of the page's table, already formatted.
type htmlRow struct {
	Name, Key                                                        string // Key is set only when Name shortens it
	Queries, Succeeded, Failed, Cancelled, NoStats, Refused, Scanned string
	ScannedBytes, Engine, Cost, CostExact                            string
}

// WriteHTML writes one self-contained HTML page (no scripts, no external resources) with a totals
// summary, six inline SVG charts (the dashboard's visuals) and the table of r.Groups.
func WriteHTML(w io.Writer, r *Report) error {
	if err := r.check(); err != nil {
		return fmt.Errorf("write html: %w", err)
	}
	cs, err := charts(r)
	if err != nil {
		return fmt.Errorf("write html: %w", err)
	}
	tot := total(r.Groups)
	p := htmlPage{
		Title:       fmt.Sprintf("Athena usage by %s, %s to %s", r.By, r.From, r.To),
		By:          r.By,
		KeyHeader:   strings.ToUpper(r.By[:1]) + r.By[1:],
		From:        r.From,
		To:          r.To,
		Price:       money2(r.PricePerTB),
		GeneratedBy: r.GeneratedBy,
		Charts:      cs,
		Summary: []stat{
			{"Queries", commas(tot.Queries), fmt.Sprintf("%s succeeded", commas(tot.Succeeded))},
			{"Data scanned", HumanBytes(tot.DataScannedBytes), commas(tot.DataScannedBytes) + " bytes"},
			{"Estimated cost", money(tot.CostUSD), "at " + money2(r.PricePerTB) + " per TB"},
			{strings.ToUpper(noun(r.By, 2)[:1]) + noun(r.By, 2)[1:], commas(int64(len(r.Groups))), "with activity"},
			{"Failed", commas(tot.Failed), fmt.Sprintf("%s cancelled", commas(tot.Cancelled))},
			{"Refused submissions", commas(tot.FailedSubmissions), "no query ID, not counted as queries"},
			{"Without statistics", commas(tot.QueriesWithoutStats), "Athena returned none"},
			{"Engine time", duration(tot.EngineExecutionMS), commas(tot.EngineExecutionMS) + " ms"},
		},
	}
	keys := make([]string, len(r.Groups))
	for i, g := range r.Groups {
		keys[i] = g.Key
	}
	names := shortKeys(keys)
	for i, g := range r.Groups {
		row := newHTMLRow(g)
		row.Name = names[i]
		if names[i] != g.Key {
			row.Key = g.Key
		}
		p.Rows = append(p.Rows, row)
	}
	p.Total = newHTMLRow(tot)
	p.Total.Name = fmt.Sprintf("Total (%d %s)", len(r.Groups), noun(r.By, len(r.Groups)))

	// Render to a buffer so that a template error never leaves half a page behind.
	var b bytes.Buffer
	if err := page.Execute(&b, p); err != nil {
		return fmt.Errorf("write html: %w", err)
	}
	if _, err := b.WriteTo(w); err != nil {
		return fmt.Errorf("write html: %w", err)
	}
	return nil
}

func newHTMLRow(g Group) htmlRow {
	return htmlRow{
		Queries:      commas(g.Queries),
		Succeeded:    commas(g.Succeeded),
		Failed:       commas(g.Failed),
		Cancelled:    commas(g.Cancelled),
		NoStats:      commas(g.QueriesWithoutStats),
		Refused:      commas(g.FailedSubmissions),
		Scanned:      HumanBytes(g.DataScannedBytes),
		ScannedBytes: commas(g.DataScannedBytes) + " bytes",
		Engine:       duration(g.EngineExecutionMS),
		Cost:         money(g.CostUSD),
		CostExact:    fmt.Sprintf("$%.6f", g.CostUSD),
	}
}
