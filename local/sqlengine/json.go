package sqlengine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Trino's JSON type, on DuckDB's. DuckDB has a JSON type too, but its casts, functions and
// result values differ from Trino's (https://trino.io/docs/current/functions/json.html):
//
//   - CAST(json AS varchar) gives a JSON string's value without its quotes, a number's or a
//     boolean's text, NULL for JSON null, and fails for an object or an array; DuckDB gives the
//     JSON text, quotes included. The same holds for the casts to numbers and boolean.
//   - CAST(varchar AS json) makes a JSON string of the text, where DuckDB parses it.
//   - json_format, json_size and Trino's spelling of JSON paths ($["a b"]) are missing;
//     json_array_length and json_array_contains answer for non-arrays.
//   - A JSON value in a result is its JSON text, where duckdb-go decodes it into Go values
//     (which render as {b=1.0}).
//
// Each Trino function is a macro named trino_*, which translate substitutes; casts to the
// types below become trino_cast_<type>(x), which tells a JSON operand from others by typeof.

// jsonSetupSQL defines the macros behind Trino's JSON functions and casts.
var jsonSetupSQL = append([]string{
	// Trino writes a member whose name is not an identifier $["a b"]; DuckDB writes $."a b".
	`CREATE TEMP MACRO trino_json_path(p) AS regexp_replace(p, '\[\s*"([^"]*)"\s*\]', '."\1"', 'g')`,
	// Trino returns NULL for invalid JSON, and json_extract_scalar NULL for objects and arrays.
	`CREATE TEMP MACRO trino_json_extract(j, p) AS CASE WHEN json_valid(j) THEN json_extract(j, trino_json_path(p)) END`,
	`CREATE TEMP MACRO trino_json_extract_scalar(j, p) AS
		CASE WHEN json_valid(j) AND json_type(j, trino_json_path(p)) NOT IN ('OBJECT', 'ARRAY')
		THEN json_extract_string(j, trino_json_path(p)) END`,
	// json_parse fails on text that is not JSON, as Trino's does; both keep the members' order.
	`CREATE TEMP MACRO trino_json_parse(s) AS json(s)`,
	`CREATE TEMP MACRO trino_json_format(j) AS CAST(json(j) AS VARCHAR)`,
	// json_size: the members of an object or array, 0 for a scalar, NULL where the path is not.
	`CREATE TEMP MACRO trino_json_size(j, p) AS CASE
		WHEN NOT json_valid(j) OR json_type(j, trino_json_path(p)) IS NULL THEN NULL
		WHEN json_type(j, trino_json_path(p)) = 'OBJECT' THEN CAST(len(json_keys(j, trino_json_path(p))) AS BIGINT)
		WHEN json_type(j, trino_json_path(p)) = 'ARRAY' THEN CAST(json_array_length(j, trino_json_path(p)) AS BIGINT)
		ELSE CAST(0 AS BIGINT) END`,
	`CREATE TEMP MACRO trino_json_array_length(j) AS
		CASE WHEN json_valid(j) AND json_type(j) = 'ARRAY' THEN CAST(json_array_length(j) AS BIGINT) END`,
	// An element matches when it is the value's JSON text: 2 matches 2 but not "2" or 2.0.
	`CREATE TEMP MACRO trino_json_array_contains(j, v) AS
		CASE WHEN json_valid(j) AND json_type(j) = 'ARRAY' THEN list_contains(CAST(json(j) AS JSON[]), to_json(v)) END`,
	// trino_json_scalar is the SQL text of a JSON scalar, as CAST(json AS t) reads it: a string
	// without its quotes, NULL for null; an object or an array cannot be cast (t names the type).
	`CREATE TEMP MACRO trino_json_scalar(s, t) AS CASE json_type(s)
		WHEN 'VARCHAR' THEN json_extract_string(s, '$')
		WHEN 'NULL' THEN NULL
		WHEN 'OBJECT' THEN error('INVALID_CAST_ARGUMENT: Cannot cast JSON object ' || s || ' to ' || t)
		WHEN 'ARRAY' THEN error('INVALID_CAST_ARGUMENT: Cannot cast JSON array ' || s || ' to ' || t)
		ELSE s END`,
	`CREATE TEMP MACRO trino_try_json_scalar(s) AS
		CASE WHEN json_type(s) = 'VARCHAR' THEN json_extract_string(s, '$') WHEN json_type(s) NOT IN ('OBJECT', 'ARRAY', 'NULL') THEN s END`,
}, castMacros()...)

// trinoCode matches an error code of Trino's (INVALID_CAST_ARGUMENT) that a macro's error() put
// at the start of its message.
var trinoCode = regexp.MustCompile(`^[A-Z]+(_[A-Z]+)+$`)

// jsonRenames maps Trino's JSON functions to the macros that implement them.
var jsonRenames = map[string]string{
	"json_extract":        "trino_json_extract",
	"json_extract_scalar": "trino_json_extract_scalar",
	"json_parse":          "trino_json_parse",
	"json_format":         "trino_json_format",
	"json_size":           "trino_json_size",
	"json_array_length":   "trino_json_array_length",
	"json_array_contains": "trino_json_array_contains",
}

// castTargets are the types Trino casts a JSON scalar to, as Trino and DuckDB both spell them.
var castTargets = map[string]bool{
	"varchar": true, "bigint": true, "integer": true, "int": true, "smallint": true,
	"tinyint": true, "double": true, "real": true, "boolean": true,
}

// castMacros defines trino_cast_<type> and trino_try_cast_<type> for each of castTargets.
// typeof is constant for a given operand, so DuckDB folds the CASE to one of its branches.
func castMacros() []string {
	var out []string
	for t := range castTargets {
		out = append(out,
			fmt.Sprintf(`CREATE TEMP MACRO trino_cast_%[1]s(x) AS CASE WHEN typeof(x) = 'JSON'
				THEN CAST(trino_json_scalar(CAST(x AS VARCHAR), '%[1]s') AS %[1]s) ELSE CAST(x AS %[1]s) END`, t),
			fmt.Sprintf(`CREATE TEMP MACRO trino_try_cast_%[1]s(x) AS CASE WHEN typeof(x) = 'JSON'
				THEN TRY_CAST(trino_try_json_scalar(CAST(x AS VARCHAR)) AS %[1]s) ELSE TRY_CAST(x AS %[1]s) END`, t))
	}
	return out
}

// castEdits rewrites CAST(x AS t) and TRY_CAST(x AS t) for t a JSON cast target: to
// trino_cast_t(x) and trino_try_cast_t(x) (a CAST within try() too), and to to_json(x) for
// t = json, which makes a JSON string of a varchar as Trino does. Other casts stay as they are.
func castEdits(toks []token) []edit {
	var edits []edit
	for i := 0; i+1 < len(toks); i++ {
		t := toks[i]
		if t.Kind != tokIdent || !(t.is("CAST") || t.is("TRY_CAST")) || !toks[i+1].is("(") || i > 0 && toks[i-1].is(".") {
			continue
		}
		end := matching(toks, i+1)
		// The type is the last word before the closing parenthesis, right after a top-level AS.
		if end < 0 || end-2 <= i+1 || !toks[end-2].is("AS") || toks[end-1].Kind != tokIdent || depthAt(toks, i+1, end-2) != 1 {
			continue
		}
		typ := toks[end-1].name()
		var name string
		switch {
		case typ == "json":
			name = "to_json"
		case castTargets[typ] && t.is("CAST") && !insideTry(toks, i):
			name = "trino_cast_" + typ
		case castTargets[typ]:
			name = "trino_try_cast_" + typ
		default:
			continue
		}
		edits = append(edits, edit{t.Pos, t.End, name}, edit{toks[end-2].Pos, toks[end-1].End, ""})
	}
	return edits
}

// insideTry tells whether toks[at] is within the argument of a try() call: there a failing
// cast is NULL anyway, and DuckDB refuses try() around trino_cast's error().
func insideTry(toks []token, at int) bool {
	for j := 0; j+1 < at; j++ {
		if toks[j].Kind == tokIdent && toks[j].is("TRY") && toks[j+1].is("(") && (j == 0 || !toks[j-1].is(".")) {
			if end := matching(toks, j+1); end > at {
				return true
			}
		}
	}
	return false
}

// depthAt returns the parenthesis depth at toks[at], counting from toks[open] (depth 1 inside).
func depthAt(toks []token, open, at int) int {
	depth := 0
	for i := open; i < at; i++ {
		if toks[i].is("(") {
			depth++
		} else if toks[i].is(")") {
			depth--
		}
	}
	return depth
}

// renderJSON writes a JSON value that duckdb-go decoded back as JSON text. Members come out in
// name order: the decoding lost theirs. JSON nested in an array, a map or a row is beyond it:
// DuckDB reports such a type as VARCHAR, and a JSON string decodes to a Go string like a
// VARCHAR's, so both render as Trino renders a varchar.
func renderJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
