package sqlengine

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestJSON checks Trino's JSON semantics against the examples of Trino's documentation,
// https://trino.io/docs/current/functions/json.html (sections "Cast to JSON", "Cast from JSON"
// and "Other JSON functions"); the doc column names the example each case follows.
func TestJSON(t *testing.T) {
	e := newTestEngine(t, newFakeS3(), t.TempDir())
	for _, c := range []struct{ doc, expr, want, typ string }{
		// json_extract returns JSON, rendered as JSON text in results.
		{"json_extract", `json_extract('{"id": "q-1"}', '$.id')`, `"q-1"`, "json"},
		{"json_extract", `json_extract('{"a": {"b": 1.0, "c": [1, 2]}}', '$.a')`, `{"b":1.0,"c":[1,2]}`, "json"},
		{"json_extract", `json_extract('{"store": {"book name": 3}}', '$.store["book name"]')`, `3`, "json"},
		{"json_extract", `json_extract('not json', '$.a')`, "NULL", "json"},
		{"json_extract", `json_extract('{"a": 1}', '$.b')`, "NULL", "json"},
		{"json_extract_scalar", `json_extract_scalar('[1, 2, 3]', '$[2]')`, "3", "varchar"},
		{"json_extract_scalar", `json_extract_scalar('{"a": {"b": "x"}}', '$.a')`, "NULL", "varchar"},
		// Cast from JSON: a string loses its quotes; null is NULL.
		{"CAST(JSON '\"abc\"' AS VARCHAR) -- abc", `CAST(JSON '"abc"' AS VARCHAR)`, "abc", "varchar"},
		{"CAST(JSON '42' AS VARCHAR) -- '42'", `CAST(JSON '42' AS VARCHAR)`, "42", "varchar"},
		{"CAST(JSON 'true' AS VARCHAR) -- 'true'", `CAST(JSON 'true' AS VARCHAR)`, "true", "varchar"},
		{"CAST(JSON 'null' AS VARCHAR) -- NULL", `CAST(JSON 'null' AS VARCHAR)`, "NULL", "varchar"},
		{"cast of json_extract (the original design's join)", `cast(json_extract('{"queryExecutionId": "q-1"}', '$.queryExecutionId') as varchar)`, "q-1", "varchar"},
		{"CAST(JSON '1' AS INTEGER) -- 1", `CAST(JSON '1' AS INTEGER)`, "1", "integer"},
		{"CAST(JSON '9223372036854775807' AS BIGINT)", `CAST(JSON '9223372036854775807' AS BIGINT)`, "9223372036854775807", "bigint"},
		{"CAST(JSON 'true' AS BOOLEAN) -- true", `CAST(JSON 'true' AS BOOLEAN)`, "true", "boolean"},
		{"CAST(JSON '1.234' AS DOUBLE) -- 1.234", `CAST(JSON '1.234' AS DOUBLE)`, "1.234", "double"},
		{"TRY_CAST of an object", `TRY_CAST(JSON '{"a": 1}' AS VARCHAR)`, "NULL", "varchar"},
		{"casts of other types stay", `CAST(CAST(2.5 AS DOUBLE) AS VARCHAR) || CAST(DATE '2024-03-05' AS VARCHAR)`, "2.52024-03-05", "varchar"},
		// Cast to JSON: a varchar becomes a JSON string, not parsed.
		{"CAST('abc' AS JSON) -- JSON '\"abc\"'", `CAST('abc' AS JSON)`, `"abc"`, "json"},
		{"CAST('[1, 2, 3]' AS JSON) -- JSON '\"[1, 2, 3]\"'", `CAST('[1, 2, 3]' AS JSON)`, `"[1, 2, 3]"`, "json"},
		{"CAST(1 AS JSON) -- JSON '1'", `CAST(1 AS JSON)`, `1`, "json"},
		{"CAST(ARRAY[1, NULL, 456] AS JSON) -- JSON '[1,null,456]'", `CAST(ARRAY[1, NULL, 456] AS JSON)`, `[1,null,456]`, "json"},
		{"CAST(NULL AS JSON) -- NULL", `CAST(NULL AS JSON)`, "NULL", "json"},
		// json_format and json_parse are each other's inverse.
		{"json_format(JSON '[1, 2, 3]') -- '[1,2,3]'", `json_format(JSON '[1, 2, 3]')`, "[1,2,3]", "varchar"},
		{"json_format(JSON '\"a\"') -- '\"a\"'", `json_format(JSON '"a"')`, `"a"`, "varchar"},
		{"json_format(JSON '{\"a\": 1, \"b\": 2}') -- '{\"a\":1,\"b\":2}'", `json_format(JSON '{"a": 1, "b": 2}')`, `{"a":1,"b":2}`, "varchar"},
		{"json_format(JSON 'null') -- 'null'", `json_format(JSON 'null')`, "null", "varchar"},
		{"json_parse('[1, 2, 3]') -- JSON '[1,2,3]'", `json_parse('[1, 2, 3]')`, "[1,2,3]", "json"},
		{"json_parse('\"abc\"') -- JSON '\"abc\"'", `json_parse('"abc"')`, `"abc"`, "json"},
		{"json_parse keeps the members' order", `json_parse('{"b": 1, "a": 2}')`, `{"b":1,"a":2}`, "json"},
		// json_size, json_array_length, json_array_contains.
		{"json_size('{\"x\": {\"a\": 1, \"b\": 2}}', '$.x') -- 2", `json_size('{"x": {"a": 1, "b": 2}}', '$.x')`, "2", "bigint"},
		{"json_size('{\"x\": [1, 2, 3]}', '$.x') -- 3", `json_size('{"x": [1, 2, 3]}', '$.x')`, "3", "bigint"},
		{"json_size('{\"x\": {\"a\": 1, \"b\": 2}}', '$.x.a') -- 0", `json_size('{"x": {"a": 1, "b": 2}}', '$.x.a')`, "0", "bigint"},
		{"json_size of a missing path", `json_size('{"x": 1}', '$.y')`, "NULL", "bigint"},
		{"json_array_length('[1, 2, 3]') -- 3", `json_array_length('[1, 2, 3]')`, "3", "bigint"},
		{"json_array_length of an object", `json_array_length('{"a": 1}')`, "NULL", "bigint"},
		{"json_array_contains('[1, 2, 3]', 2) -- true", `json_array_contains('[1, 2, 3]', 2)`, "true", "boolean"},
		{"json_array_contains: a string is not a number", `json_array_contains('["2"]', 2)`, "false", "boolean"},
		{"json_array_contains of a string", `json_array_contains('["a", "b"]', 'b')`, "true", "boolean"},
		{"json_array_contains of an object", `json_array_contains('{"a": 2}', 2)`, "NULL", "boolean"},
	} {
		res, err := e.Execute(context.Background(), "", "SELECT "+c.expr+" AS v")
		if err != nil {
			t.Errorf("SELECT %s (%s): %v", c.expr, c.doc, err)
			continue
		}
		got := "NULL"
		if v := res.Rows[0][0]; v != nil {
			got = *v
		}
		if got != c.want || res.Columns[0].Type != c.typ {
			t.Errorf("SELECT %s = %s (%s), want %s (%s), as in Trino's %s", c.expr, got, res.Columns[0].Type, c.want, c.typ, c.doc)
		}
	}
}

// TestJSONErrors checks the casts and parses that fail in Trino, with the error type Athena
// reports (https://trino.io/docs/current/functions/json.html, json_format's and json_parse's
// notes: "JSON object and JSON array cannot be cast to VARCHAR", json_parse('not_json') fails).
func TestJSONErrors(t *testing.T) {
	e := newTestEngine(t, newFakeS3(), t.TempDir())
	for _, c := range []struct{ expr, code string }{
		{`CAST(JSON '{"a": 1, "b": 2}' AS VARCHAR)`, "INVALID_CAST_ARGUMENT: "},
		{`CAST(JSON '[1, 2, 3]' AS VARCHAR)`, "INVALID_CAST_ARGUMENT: "},
		{`CAST(json_extract('{"a": {"b": 1}}', '$.a') AS varchar)`, "INVALID_CAST_ARGUMENT: "},
		{`json_parse('not_json')`, "INVALID_FUNCTION_ARGUMENT: "},
	} {
		_, err := e.Execute(context.Background(), "", "SELECT "+c.expr+" AS v")
		var qe *Error
		if !errors.As(err, &qe) || qe.Category != categoryUser || !strings.HasPrefix(qe.Msg, c.code) {
			t.Errorf("SELECT %s = %v, want a user error starting %q", c.expr, err, c.code)
		}
	}
}

// TestJSONColumnNames checks that reading JSON columns as text keeps the statement's column
// names, order and rows.
func TestJSONColumnNames(t *testing.T) {
	e := newTestEngine(t, newFakeS3(), t.TempDir())
	res, err := e.Execute(context.Background(), "", `SELECT n, json_extract(j, '$.id') AS id, json_parse(j)
		FROM (VALUES (2, '{"id": "b"}'), (1, '{"id": "a"}')) t(n, j) ORDER BY n`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range res.Columns {
		names = append(names, c.Name+" "+c.Type)
	}
	if got, want := strings.Join(names, ", "), "n integer, id json, _col2 json"; got != want {
		t.Errorf("columns = %s, want %s", got, want)
	}
	var rows []string
	for _, r := range res.Rows {
		rows = append(rows, *r[0]+" "+*r[1]+" "+*r[2])
	}
	if got, want := strings.Join(rows, "; "), `1 "a" {"id":"a"}; 2 "b" {"id":"b"}`; got != want {
		t.Errorf("rows = %s, want %s", got, want)
	}
}
