package s3conformance

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/athenausage/athena-usage/pkg/lookup"
)

// randomBytes returns n reproducible bytes that no compression or deduplication can shortcut.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, ^seed))
	b := make([]byte, n+7)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b[:n]
}

// queryRow is one row of the extract's result CSV, as far as these tests care.
type queryRow struct {
	id, region, agent string
}

// queriesColumns is the header of the extract's result CSV (pkg/athenasql/sql/extract.sql).
var queriesColumns = []string{
	lookup.ColumnQueryID, "event_time", lookup.ColumnAccount, lookup.ColumnRegion, "user_arn", "user_type",
	"principal_id", "user_name", "session_issuer", "source_ip", "user_agent", "workgroup",
	"query_database", "error_code", "submissions",
}

// dayRows is a day's CSV rows: n distinct IDs in order, every seventh repeated (a query logged
// twice), user agents with commas, quotes and line breaks, and two refused submissions (no query
// ID) at the end, as the extract's ORDER BY query_id puts them.
func dayRows(n int, regions ...string) []queryRow {
	agents := []string{"aws-cli/2.15.0", `Mozilla/5.0 (X11, "quoted", comma)`, "line one\nline two, \"three\"", ""}
	var rows []queryRow
	for i := range n {
		r := queryRow{id: queryID(i), region: regions[i%len(regions)], agent: agents[i%len(agents)]}
		rows = append(rows, r)
		if i%7 == 3 {
			rows = append(rows, r)
		}
	}
	return append(rows, queryRow{region: regions[0], agent: "refused, \"once\""}, queryRow{region: regions[len(regions)-1]})
}

// queryID is the i-th query ID; the IDs sort in the order of i, as Athena's do in the CSV.
func queryID(i int) string { return fmt.Sprintf("%08x-1111-4222-8333-%012x", i, i*7919) }

// distinct returns the rows' distinct query IDs in order, the IDs the lookup must write.
func distinct(rows []queryRow) []queryRow {
	var out []queryRow
	for _, r := range rows {
		if r.id != "" && (len(out) == 0 || out[len(out)-1].id != r.id) {
			out = append(out, r)
		}
	}
	return out
}

// athenaCSV writes rows as Athena writes a query result (every value quoted, quotes doubled,
// NULL as an empty unquoted field, LF line ends) and returns where each row starts.
func athenaCSV(rows []queryRow) (data []byte, offsets []int) {
	var b bytes.Buffer
	quote := func(v string) string {
		if v == "" {
			return ""
		}
		return `"` + strings.ReplaceAll(v, `"`, `""`) + `"`
	}
	line := func(fields []string) {
		for i := range fields {
			fields[i] = quote(fields[i])
		}
		b.WriteString(strings.Join(fields, ",") + "\n")
	}
	line(append([]string(nil), queriesColumns...))
	for _, r := range rows {
		offsets = append(offsets, b.Len())
		code := ""
		if r.id == "" {
			code = "AccessDeniedException"
		}
		line([]string{
			r.id, "2025-03-04T05:06:07Z", account, r.region,
			"arn:aws:sts::123456789012:assumed-role/analyst/jane", "AssumedRole", "AROAEXAMPLE:jane",
			"", "analyst", "10.0.0.1", r.agent, "primary", "sales", code, "1",
		})
	}
	return b.Bytes(), offsets
}
