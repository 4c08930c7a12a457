package sqlengine

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// setupSQL prepares DuckDB to behave like Trino: UTC session, integer division, and the Trino
// functions DuckDB lacks or spells differently (renamed to trino_* by translate, so that they
// never clash with DuckDB's own functions of the same name); jsonSetupSQL follows it.
var setupSQL = []string{
	"SET TimeZone = 'UTC'",
	"SET integer_division = true",
	"SET autoinstall_known_extensions = false",
	`CREATE TEMP MACRO trino_from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ)`,
	`CREATE TEMP MACRO trino_from_iso8601_date(s) AS CAST(s AS DATE)`,
	`CREATE TEMP MACRO trino_date_add(unit, n, t) AS t + CASE lower(unit)
		WHEN 'millisecond' THEN to_milliseconds(n)
		WHEN 'second' THEN to_seconds(n)
		WHEN 'minute' THEN to_minutes(n)
		WHEN 'hour' THEN to_hours(n)
		WHEN 'day' THEN to_days(n)
		WHEN 'week' THEN to_weeks(n)
		WHEN 'month' THEN to_months(n)
		WHEN 'quarter' THEN to_months(3 * n)
		WHEN 'year' THEN to_years(n)
		ELSE error('INVALID_FUNCTION_ARGUMENT: ''' || unit || ''' is not a valid TIMESTAMP field') END`,
	// date_sub counts whole units, as Trino's date_diff does (DuckDB's date_diff counts boundaries).
	`CREATE TEMP MACRO trino_date_diff(unit, a, b) AS date_sub(lower(unit), a, b)`,
	`CREATE TEMP MACRO trino_to_iso8601(t) AS CASE typeof(t)
		WHEN 'DATE' THEN strftime(t, '%Y-%m-%d')
		WHEN 'TIMESTAMP WITH TIME ZONE' THEN strftime(t, '%Y-%m-%dT%H:%M:%S.%g') || 'Z'
		ELSE strftime(t, '%Y-%m-%dT%H:%M:%S.%g') END`,
	// MySQL format specifiers (Trino's date_format) to strftime's; %M (month name) goes through a
	// placeholder because strftime's %M is minutes.
	`CREATE TEMP MACRO trino_date_format(t, f) AS strftime(t,
		replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(
			replace(f, '%M', chr(1)),
			'%i', '%M'), '%s', '%S'), '%W', '%A'), '%T', '%H:%M:%S'), '%e', '%-d'), '%c', '%-m'),
			'%k', '%-H'), '%l', '%-I'), '%h', '%I'), '%r', '%I:%M:%S %p'), chr(1), '%B'))`,
	`CREATE TEMP MACRO trino_from_unixtime(s) AS to_timestamp(s)`,
	`CREATE TEMP MACRO trino_to_unixtime(t) AS epoch(t)`,
	`CREATE TEMP MACRO trino_cardinality(x) AS len(x)`,
}

// renames maps Trino functions to the DuckDB function or macro that implements them; the
// JSON functions are in jsonRenames.
var renames = map[string]string{
	"from_iso8601_timestamp": "trino_from_iso8601_timestamp",
	"from_iso8601_date":      "trino_from_iso8601_date",
	"date_add":               "trino_date_add",
	"date_diff":              "trino_date_diff",
	"to_iso8601":             "trino_to_iso8601",
	"date_format":            "trino_date_format",
	"from_unixtime":          "trino_from_unixtime",
	"to_unixtime":            "trino_to_unixtime",
	"cardinality":            "trino_cardinality",
	// Trino's min_by and max_by keep a NULL value of the picked row; DuckDB's skip it.
	"min_by":          "arg_min_null",
	"max_by":          "arg_max_null",
	"approx_distinct": "approx_count_distinct",
	"regexp_like":     "regexp_matches",
}

// edit replaces src[from:to] with text.
type edit struct {
	from, to int
	text     string
}

// ref is a table or view named in a FROM or JOIN clause.
type ref struct {
	Database, Name string
	// First and Last are the token indexes of the name; Alias is the correlation name, if any.
	First, Last int
	Alias       string
}

// notAlias are the words that may follow a table name without being its alias.
var notAlias = map[string]bool{
	"where": true, "join": true, "left": true, "right": true, "full": true, "inner": true,
	"cross": true, "on": true, "using": true, "group": true, "order": true, "having": true,
	"limit": true, "union": true, "except": true, "intersect": true, "natural": true,
	"window": true, "offset": true, "fetch": true, "tablesample": true, "outer": true,
}

// references returns the tables and views that toks name in FROM and JOIN clauses, leaving
// out the names of WITH queries.
func references(toks []token, database string) []ref {
	ctes := map[string]bool{}
	for i := 0; i+2 < len(toks); i++ {
		if toks[i].isName() && toks[i+1].is("AS") && toks[i+2].is("(") {
			ctes[toks[i].name()] = true
		}
		if toks[i].isName() && toks[i+1].is("(") && i > 0 && (toks[i-1].is("WITH") || toks[i-1].is(",")) {
			// WITH t(a, b) AS (...)
			depth, j := 0, i+1
			for ; j < len(toks); j++ {
				if toks[j].is("(") {
					depth++
				} else if toks[j].is(")") {
					if depth--; depth == 0 {
						break
					}
				}
			}
			if j+2 < len(toks) && toks[j+1].is("AS") && toks[j+2].is("(") {
				ctes[toks[i].name()] = true
			}
		}
	}
	var refs []ref
	for i := 0; i+1 < len(toks); i++ {
		if !toks[i].is("FROM") && !toks[i].is("JOIN") && !(toks[i].is(",") && inFromList(toks, i)) {
			continue
		}
		j := i + 1
		if !toks[j].isName() {
			continue
		}
		parts := []string{toks[j].name()}
		last := j
		for last+2 < len(toks) && toks[last+1].is(".") && toks[last+2].isName() {
			last += 2
			parts = append(parts, toks[last].name())
		}
		if toks[last+1].is("(") {
			continue // a table function
		}
		r := ref{First: j, Last: last}
		switch len(parts) {
		case 1:
			if ctes[parts[0]] {
				continue
			}
			r.Database, r.Name = database, parts[0]
		case 2:
			r.Database, r.Name = parts[0], parts[1]
		default:
			r.Database, r.Name = parts[len(parts)-2], parts[len(parts)-1]
		}
		k := last + 1
		if toks[k].is("AS") {
			k++
		}
		if toks[k].isName() && !(toks[k].Kind == tokIdent && notAlias[toks[k].name()]) {
			r.Alias = toks[k].name()
		}
		refs = append(refs, r)
	}
	return refs
}

// inFromList reports whether the comma at toks[i] separates relations of a FROM clause.
func inFromList(toks []token, i int) bool {
	depth := 0
	for j := i - 1; j >= 0; j-- {
		switch {
		case toks[j].is(")"):
			depth++
		case toks[j].is("("):
			if depth == 0 {
				return false
			}
			depth--
		case depth == 0 && toks[j].is("FROM"):
			return true
		case depth == 0 && (toks[j].is("SELECT") || toks[j].is("WHERE") || toks[j].is("ON") ||
			toks[j].is("BY") || toks[j].is("WITH")):
			return false
		}
	}
	return false
}

// translate rewrites Trino SQL for DuckDB: table names fully qualified, Trino functions
// renamed, and the clock fixed to now.
func translate(src string, toks []token, refs []ref, now time.Time) string {
	edits := castEdits(toks)
	for _, r := range refs {
		edits = append(edits, edit{toks[r.First].Pos, toks[r.Last].End, quoteIdent(r.Database) + "." + quoteIdent(r.Name)})
	}
	nowTZ := "TIMESTAMPTZ '" + now.UTC().Format("2006-01-02 15:04:05.000") + "+00'"
	for i, t := range toks {
		if t.Kind != tokIdent {
			continue
		}
		if i > 0 && toks[i-1].is(".") {
			continue // a field or qualified name, not a function
		}
		call := toks[i+1].is("(")
		name := t.name()
		switch {
		case call && renames[name] != "":
			edits = append(edits, edit{t.Pos, t.End, renames[name]})
		case call && jsonRenames[name] != "":
			edits = append(edits, edit{t.Pos, t.End, jsonRenames[name]})
		case call && name == "now" && toks[i+2].is(")"):
			edits = append(edits, edit{t.Pos, toks[i+2].End, nowTZ})
		case !call && name == "current_timestamp":
			edits = append(edits, edit{t.Pos, t.End, nowTZ})
		case !call && name == "current_date":
			edits = append(edits, edit{t.Pos, t.End, "DATE '" + now.UTC().Format("2006-01-02") + "'"})
		case !call && name == "localtimestamp":
			edits = append(edits, edit{t.Pos, t.End, "TIMESTAMP '" + now.UTC().Format("2006-01-02 15:04:05.000") + "'"})
		}
	}
	// Edits never overlap: references are names, the rest are single function names and the
	// AS type of a rewritten cast.
	slices.SortFunc(edits, func(a, b edit) int { return a.from - b.from })
	var b strings.Builder
	pos := 0
	for _, e := range edits {
		if e.from < pos {
			continue
		}
		b.WriteString(src[pos:e.from])
		b.WriteString(e.text)
		pos = e.to
	}
	b.WriteString(src[pos:])
	return b.String()
}

// notFound returns the error Athena gives for a name that is neither a table nor a view.
func (e *Engine) notFound(src string, toks []token, r ref) error {
	line, col := lineCol(src, toks[r.First].Pos)
	if e.cat.Databases[r.Database] == nil {
		return userError(fmt.Sprintf("SCHEMA_NOT_FOUND: line %d:%d: Schema '%s' does not exist", line, col, r.Database))
	}
	return userError(fmt.Sprintf("TABLE_NOT_FOUND: line %d:%d: Table '%s.%s' does not exist", line, col, r.Database, r.Name))
}
