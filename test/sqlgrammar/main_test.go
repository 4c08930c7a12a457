package main

import (
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/athenausage/athena-usage/pkg/athenasql"
)

// templateNames lists the embedded .sql files.
func templateNames(t *testing.T, templates fs.FS) []string {
	t.Helper()
	names, err := fs.Glob(templates, "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("Glob(templates, *.sql) = %v, %v, want the .sql files", names, err)
	}
	return names
}

func TestCollectRendersEveryFileInEveryConfiguration(t *testing.T) {
	stmts, err := collect(athenasql.Templates())
	if err != nil {
		t.Fatalf("collect: %v", err)
	}
	want := templateNames(t, athenasql.Templates())
	for _, c := range configurations() {
		var got []string
		for _, s := range stmts {
			if s.Config != c.name {
				continue
			}
			if s.SQL == "" || s.Grammar == "" || s.Kind == "" || s.Name == "" {
				t.Errorf("%s: statement %+v has an empty field", c.name, s)
			}
			if !slices.Contains(got, s.File) {
				got = append(got, s.File)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("configuration %s renders %v, want every file %v", c.name, got, want)
		}
	}
}

func TestCollectFailsOnUnrenderedFile(t *testing.T) {
	templates := fstest.MapFS{}
	for _, name := range templateNames(t, athenasql.Templates()) {
		data, err := fs.ReadFile(athenasql.Templates(), name)
		if err != nil {
			t.Fatal(err)
		}
		templates[name] = &fstest.MapFile{Data: data}
	}
	templates["orphan.sql"] = &fstest.MapFile{Data: []byte(`SELECT 1 FROM "{{.Database}}"."nowhere"`)}
	stmts, err := collect(templates)
	if err == nil || !strings.Contains(err.Error(), "orphan.sql") {
		t.Errorf("collect(templates + orphan.sql) = %d statements, error %v, want an error naming orphan.sql", len(stmts), err)
	}
}

// TestConfigurationsCoverTheAxes checks that each configuration renders what it is there for.
func TestConfigurationsCoverTheAxes(t *testing.T) {
	stmts, err := collect(athenasql.Templates())
	if err != nil {
		t.Fatalf("collect: %v", err)
	}
	tests := []struct {
		config, file, want string
	}{
		{"single-account", "cloudtrail_logs.sql", "LOCATION 's3://trail-logs/AWSLogs/'"},
		{"single-account", "cloudtrail_logs.sql", "'projection.account.values' = '123456789012'"},
		{"single-account", "athena_usage.sql", `"athena_usage"."athena_queries"`},
		{"multi-account", "cloudtrail_logs.sql", "'projection.account.values' = '123456789012,210987654321,111122223333'"},
		{"multi-account", "cloudtrail_logs.sql", "'projection.region.values' = 'us-east-1,eu-west-1,ap-southeast-2'"},
		{"organization", "cloudtrail_logs.sql", "LOCATION 's3://trail-logs/AWSLogs/o-abcdef1234/'"},
		{"prefixes-custom-database", "cloudtrail_logs.sql", "LOCATION 's3://trail-logs/logs/cloudtrail/AWSLogs/o-zyxwvu9876/'"},
		{"prefixes-custom-database", "athena_queries.sql", "LOCATION 's3://usage-data/athena-usage/data/athena_queries/'"},
		{"prefixes-custom-database", "create_database.sql", "CREATE DATABASE IF NOT EXISTS `finops_athena`"},
		{"prefixes-custom-database", "extract.sql", `FROM "finops_athena"."cloudtrail_logs"`},
		{"prefixes-custom-database", "report_groups.sql", `FROM "finops_athena"."athena_usage_daily"`},
		{"prefixes-custom-database", "dashboard_avg_mb_scanned.sql", `FROM "finops_athena"."athena_usage"`},
		{"prefixes-custom-database", "dashboard_window.sql", `FROM "finops_athena"."athena_failed_submissions"`},
		{"single-account", "dashboard_window.sql", "WHERE day BETWEEN DATE '2024-12-01' AND DATE '2025-01-31'"},
		{"prefixes-custom-database", "athena_usage.sql", "* 6.25 AS cost_usd"},
	}
	for _, tt := range tests {
		found := slices.ContainsFunc(stmts, func(s statement) bool {
			return s.Config == tt.config && s.File == tt.file && strings.Contains(s.SQL, tt.want)
		})
		if !found {
			t.Errorf("configuration %s, %s: no statement holds %s", tt.config, tt.file, tt.want)
		}
	}
}

func TestGrammarFor(t *testing.T) {
	tests := []struct {
		sql, kind, grammar string
	}{
		{"CREATE DATABASE IF NOT EXISTS `db`", "CREATE DATABASE", hive},
		{"CREATE EXTERNAL TABLE `db`.`t` (a STRING)", "CREATE EXTERNAL TABLE", hive},
		{"drop  table if exists `db`.`t`", "DROP TABLE", hive},
		{"CREATE OR REPLACE VIEW \"db\".\"v\" AS\nSELECT 1", "CREATE OR REPLACE VIEW", trino},
		{"CREATE VIEW \"db\".\"v\" AS SELECT 1", "CREATE VIEW", trino},
		{"-- CREATE DATABASE in a comment\n-- and another\nSELECT 1", "SELECT", trino},
		{"-- a comment\nWITH x AS (SELECT 1) SELECT * FROM x", "WITH", trino},
		{"INSERT INTO t SELECT 1", "", ""},
		{"MSCK REPAIR TABLE t", "", ""},
		{"CREATE TABLE t AS SELECT 1", "", ""},
		{"-- only a comment", "", ""},
	}
	for _, tt := range tests {
		kind, grammar, err := grammarFor(tt.sql)
		if kind != tt.kind || grammar != tt.grammar || (err != nil) != (tt.kind == "") {
			t.Errorf("grammarFor(%q) = %q, %q, %v, want %q, %q", tt.sql, kind, grammar, err, tt.kind, tt.grammar)
		}
	}
}

func TestClassifyWantsExactlyOneTemplate(t *testing.T) {
	templates := fstest.MapFS{
		"a.sql": {Data: []byte("SELECT x FROM \"{{.Database}}\".\"a\"\n")},
		"b.sql": {Data: []byte("SELECT {{.Key}} FROM \"{{.Database}}\".\"b\"")},
		"c.sql": {Data: []byte("SELECT {{.Key}} FROM \"{{.Database}}\".\"b\"")},
	}
	sources, err := loadSources(templates)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		sql, file, err string
	}{
		{`SELECT x FROM "db"."a"`, "a.sql", ""},
		{`SELECT x FROM "db"."a" WHERE 1 = 1`, "", "matches 0 templates"},
		{"SELECT x FROM \"db\"\n.\"a\"", "", "matches 0 templates"},
		{`SELECT y FROM "db"."b"`, "", "matches 2 templates"},
	}
	for _, tt := range tests {
		s, err := classify(sources, "config", "name", tt.sql)
		if s.File != tt.file || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("classify(%q) = %q, %v, want %q, error %q", tt.sql, s.File, err, tt.file, tt.err)
		}
	}
}

func TestRunWritesStatements(t *testing.T) {
	out := filepath.Join(t.TempDir(), "statements.json")
	if err := run([]string{"-out", out}, io.Discard, io.Discard); err != nil {
		t.Fatalf("run(-out): %v", err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var got output
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("decode %s: %v", out, err)
	}
	want, err := collect(athenasql.Templates())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Statements, want) {
		t.Errorf("run wrote %d statements, want the %d collect renders", len(got.Statements), len(want))
	}
	if err := run([]string{"extra"}, io.Discard, io.Discard); err == nil {
		t.Error("run(extra) = nil, want an error for the unexpected argument")
	}
}
