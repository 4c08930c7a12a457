// Package report renders the Athena usage report (per user, role or database) as CSV, as an aligned
// terminal table, or as one self-contained HTML page with inline SVG charts.
//
// Every writer is deterministic: the same Report gives the same bytes, so outputs can be diffed and
// kept as golden files.
package report

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Group is one line of the report: the usage of one user, role or database over the window.
type Group struct {
	Key                 string // user ARN, role name or database
	Queries             int64  // distinct query IDs of successful StartQueryExecution events in the window
	QueriesWithoutStats int64  // of those, how many Athena returned no statistics for
	Succeeded           int64
	Failed              int64
	Cancelled           int64
	FailedSubmissions   int64 // StartQueryExecution calls Athena refused (no query ID)
	DataScannedBytes    int64
	EngineExecutionMS   int64
	CostUSD             float64
}

// Cell is the average MB scanned by one user in one database (the original blog's first visual).
type Cell struct {
	User, Database string
	Queries        int64
	AvgMBScanned   float64 // NaN when none of the queries has statistics
}

// Day is one day of the cost trend.
type Day struct {
	Day              string // YYYY-MM-DD
	Queries          int64
	DataScannedBytes int64
	CostUSD          float64
}

// Report is everything the writers render; the caller sorts and fills it, the writers only format.
type Report struct {
	By                 string  // "user", "role" or "database"
	From, To           string  // inclusive days YYYY-MM-DD
	Groups             []Group // sorted by the caller (cost desc, then key)
	UserDatabase       []Cell  // for the HTML chart of average MB scanned by user and database
	QueriesPerUser     []Group // for the "queries per user" chart (may be the same as Groups when By=user)
	QueriesPerDatabase []Group // for the "queries per database" chart
	CostPerUser        []Group // for the cost-per-user chart
	DailyCost          []Day   // for the daily cost trend, one per day of the window, in order
	FailuresPerUser    []Group // for the failed and refused chart: Failed and FailedSubmissions
	PricePerTB         float64
	GeneratedBy        string // e.g. "athena-usage v0.1.0"; no timestamps in output (outputs must be deterministic)
}

// keyColumn is the CSV name of the first column for each grouping.
var keyColumn = map[string]string{
	"user":     "user_arn",
	"role":     "role",
	"database": "database",
}

// check returns an error naming the first field of r a writer cannot render.
func (r *Report) check() error {
	if r == nil {
		return fmt.Errorf("report is nil")
	}
	if _, ok := keyColumn[r.By]; !ok {
		return fmt.Errorf("unknown grouping %q (want user, role or database)", r.By)
	}
	return nil
}

// noun is the plural word for the things a report with this grouping counts.
func noun(by string, n int) string {
	w := map[string]string{"user": "user", "role": "role", "database": "database"}[by]
	if n == 1 {
		return w
	}
	return w + "s"
}

// total adds up groups; its Key is empty.
func total(groups []Group) Group {
	var t Group
	for _, g := range groups {
		t.add(g)
	}
	return t
}

func (t *Group) add(g Group) {
	t.Queries += g.Queries
	t.QueriesWithoutStats += g.QueriesWithoutStats
	t.Succeeded += g.Succeeded
	t.Failed += g.Failed
	t.Cancelled += g.Cancelled
	t.FailedSubmissions += g.FailedSubmissions
	t.DataScannedBytes += g.DataScannedBytes
	t.EngineExecutionMS += g.EngineExecutionMS
	t.CostUSD += g.CostUSD
}

// top returns at most n groups, the largest by value first (ties by key), and folds the rest into
// one more group named "other (k more)" so that totals in a chart stay right.
func top(groups []Group, n int, value func(Group) float64) []Group {
	s := append([]Group(nil), groups...)
	sort.SliceStable(s, func(i, j int) bool {
		vi, vj := value(s[i]), value(s[j])
		if vi != vj {
			return vi > vj
		}
		return s[i].Key < s[j].Key
	})
	if len(s) <= n+1 {
		// Folding a single group into "other" would hide its name for nothing.
		return s
	}
	other := total(s[n:])
	other.Key = fmt.Sprintf("other (%d more)", len(s)-n)
	return append(s[:n:n], other)
}

// ShortKey shortens an ARN to the part after the account ("user/alice",
// "assumed-role/Analyst/alice"); keys that are not ARNs come back unchanged.
func ShortKey(key string) string {
	if !strings.HasPrefix(key, "arn:") {
		return key
	}
	// arn:partition:service:region:account:resource; the resource may itself contain colons.
	parts := strings.SplitN(key, ":", 6)
	if len(parts) < 6 || parts[5] == "" {
		return key
	}
	return parts[5]
}

// shortKeys returns ShortKey of every key, but keeps the account ID in front of names that would
// otherwise look the same (user/alice in two accounts).
func shortKeys(keys []string) []string {
	out := make([]string, len(keys))
	seen := make(map[string]int, len(keys))
	for i, k := range keys {
		out[i] = ShortKey(k)
		seen[out[i]]++
	}
	for i, k := range keys {
		if seen[out[i]] < 2 || out[i] == k {
			continue
		}
		parts := strings.SplitN(k, ":", 6)
		out[i] = parts[4] + ":" + parts[5]
	}
	return out
}

// ssoRole matches the role IAM Identity Center creates for a permission set; the random suffix
// says nothing to a reader.
var ssoRole = regexp.MustCompile(`AWSReservedSSO_(.+?)_[0-9a-f]{16}(/|$)`)

// fitKey shortens a key that ShortKey already shortened to at most n characters, losing the least
// useful parts first: the random suffix of SSO role names, the "assumed-role/" prefix, then the
// ends of the role and the session name, the session (the person) keeping at least half.
func fitKey(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	s = ssoRole.ReplaceAllString(s, "SSO_$1$2")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	rest, ok := strings.CutPrefix(s, "assumed-role/")
	if !ok {
		return truncate(s, n)
	}
	if utf8.RuneCountInString(rest) <= n {
		return rest
	}
	role, session, ok := strings.Cut(rest, "/")
	if !ok || n < 9 {
		return truncate(rest, n)
	}
	sn := max(n/2, n-1-utf8.RuneCountInString(role))
	session = cutEnd(session, sn)
	return cutEnd(role, n-1-utf8.RuneCountInString(session)) + "/" + session
}

// cutEnd shortens s to at most n runes, replacing its end with "…".
func cutEnd(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n < 1 {
		return ""
	}
	return string(r[:n-1]) + "…"
}

// truncate shortens s to at most n runes, replacing the middle with "…" so that both the kind of
// principal and the session or user name stay visible.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n < 2 {
		return string([]rune(s)[:n])
	}
	r := []rune(s)
	tail := (n - 1) / 2
	head := n - 1 - tail
	return string(r[:head]) + "…" + string(r[len(r)-tail:])
}

// HumanBytes formats b with binary units and three significant digits ("1.23 GiB").
func HumanBytes(b int64) string {
	const units = "KMGTPE"
	if b < 1024 && b > -1024 {
		return strconv.FormatInt(b, 10) + " B"
	}
	v := float64(b)
	i := -1
	for math.Abs(v) >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	// Rounding can push 1023.7 to "1024"; move up a unit instead.
	if math.Abs(v) >= 999.5 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return sig3(v) + " " + units[i:i+1] + "iB"
}

// sig3 formats v with three significant digits and no exponent.
func sig3(v float64) string {
	switch a := math.Abs(v); {
	case a >= 99.5:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 9.995:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// money formats a cost in dollars: four decimals below $100, where Athena's per-query minimum
// ($0.00005) would otherwise vanish, and cents above it.
func money(usd float64) string {
	if math.Abs(usd) >= 100 {
		return "$" + commasFloat(usd, 2)
	}
	return "$" + strconv.FormatFloat(usd, 'f', 4, 64)
}

// duration formats milliseconds of engine time for a person ("850ms", "12.3s", "4m05s", "3h02m").
func duration(ms int64) string {
	switch {
	case ms < 1000:
		return strconv.FormatInt(ms, 10) + "ms"
	case ms < 60_000:
		return strconv.FormatFloat(float64(ms)/1000, 'f', 1, 64) + "s"
	case ms < 3_600_000:
		s := ms / 1000
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	default:
		m := ms / 60_000
		return fmt.Sprintf("%dh%02dm", m/60, m%60)
	}
}

// commas formats n with thousands separators.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// commasFloat formats v with prec decimals and thousands separators.
func commasFloat(v float64, prec int) string {
	s := strconv.FormatFloat(math.Abs(v), 'f', prec, 64)
	whole, frac, _ := strings.Cut(s, ".")
	n, _ := strconv.ParseInt(whole, 10, 64)
	out := commas(n)
	if frac != "" {
		out += "." + frac
	}
	if v < 0 {
		out = "-" + out
	}
	return out
}
