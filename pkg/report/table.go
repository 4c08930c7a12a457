package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode/utf8"
)

// TableWidth is the terminal width WriteTable aims for; keys are shortened to fit it.
const TableWidth = 100

// minKeyWidth keeps keys legible even when the numbers are very wide.
const minKeyWidth = 16

// tableColumn is one numeric column of the terminal table.
type tableColumn struct {
	header string
	value  func(Group) string
}

// tableColumns leave out Succeeded (nearly always Queries minus the rest) so that a typical
// assumed-role/role/session key still fits in 100 columns; the CSV has every field.
var tableColumns = []tableColumn{
	{"QUERIES", func(g Group) string { return commas(g.Queries) }},
	{"FAILED", func(g Group) string { return commas(g.Failed) }},
	{"CANCELLED", func(g Group) string { return commas(g.Cancelled) }},
	{"NO-STATS", func(g Group) string { return commas(g.QueriesWithoutStats) }},
	{"REFUSED", func(g Group) string { return commas(g.FailedSubmissions) }},
	{"SCANNED", func(g Group) string { return HumanBytes(g.DataScannedBytes) }},
	{"ENGINE", func(g Group) string { return duration(g.EngineExecutionMS) }},
	{"COST", func(g Group) string { return money(g.CostUSD) }},
}

// WriteTable writes a title line, one aligned row per group in r.Groups order, and a totals line,
// for a terminal: bytes, durations and costs in human units, ARNs shortened to fit TableWidth.
func WriteTable(w io.Writer, r *Report) error {
	if err := r.check(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	tot := total(r.Groups)
	tot.Key = fmt.Sprintf("TOTAL (%d %s)", len(r.Groups), noun(r.By, len(r.Groups)))

	keys := make([]string, len(r.Groups))
	for i, g := range r.Groups {
		keys[i] = g.Key
	}
	keys = shortKeys(keys)

	// Width of each numeric column, so that numbers can be right-aligned and the key gets what is
	// left of TableWidth.
	widths := make([]int, len(tableColumns))
	numbers := 0
	for j, c := range tableColumns {
		widths[j] = utf8.RuneCountInString(c.header)
		for _, g := range append(r.Groups, tot) {
			widths[j] = max(widths[j], utf8.RuneCountInString(c.value(g)))
		}
		numbers += widths[j] + 1
	}
	keyWidth := utf8.RuneCountInString(strings.ToUpper(r.By))
	for _, k := range append(keys, tot.Key) {
		keyWidth = max(keyWidth, utf8.RuneCountInString(k))
	}
	// The key column is followed by two spaces.
	keyWidth = max(min(keyWidth, TableWidth-numbers-1), minKeyWidth)

	var b strings.Builder
	fmt.Fprintf(&b, "Athena usage by %s, %s to %s (%s per TB scanned)\n\n", r.By, r.From, r.To, money2(r.PricePerTB))
	tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', 0)
	row := func(key string, cells func(j int) string) {
		fmt.Fprint(tw, padRight(fitKey(key, keyWidth), keyWidth), " \t")
		for j := range tableColumns {
			if j > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, padLeft(cells(j), widths[j]))
		}
		fmt.Fprint(tw, "\n")
	}
	rule := strings.Repeat("-", keyWidth+numbers+1) + "\n"
	row(strings.ToUpper(r.By), func(j int) string { return tableColumns[j].header })
	fmt.Fprint(tw, rule)
	if len(r.Groups) == 0 {
		fmt.Fprint(tw, "(no queries in this window)\n")
	}
	for i, g := range r.Groups {
		row(keys[i], func(j int) string { return tableColumns[j].value(g) })
	}
	fmt.Fprint(tw, rule)
	row(tot.Key, func(j int) string { return tableColumns[j].value(tot) })
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	b.WriteString("\nNO-STATS: queries Athena returned no statistics for; REFUSED: StartQueryExecution calls\n" +
		"Athena refused (not counted in QUERIES). ENGINE: engine execution time.\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// money2 formats a price such as the price per TB, where cents are enough.
func money2(usd float64) string {
	return "$" + commasFloat(usd, 2)
}

func padLeft(s string, n int) string {
	return strings.Repeat(" ", max(n-utf8.RuneCountInString(s), 0)) + s
}

func padRight(s string, n int) string {
	return s + strings.Repeat(" ", max(n-utf8.RuneCountInString(s), 0))
}
