package main

import (
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/config"
)

// Grammars check.mjs parses with (dt-sql-parser's TrinoSQL and HiveSQL).
const (
	trino = "trino"
	hive  = "hive"
)

// statement is one rendered statement, as check.mjs reads it.
type statement struct {
	// File is the embedded .sql file the text was rendered from, found by matching the text
	// against every template rather than taken from a label, so a mislabelled call cannot hide
	// a file that is never rendered.
	File   string `json:"file"`
	Config string `json:"config"`
	// Name says which call rendered it: "create cloudtrail_logs", "extract 2024-12-31", ...
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Grammar string `json:"grammar"`
	SQL     string `json:"sql"`
}

// configuration is one extract function environment, read by the same loader as the Lambda, so
// the SQL is rendered from a validated config exactly as in production.
type configuration struct {
	name string
	env  map[string]string
}

// Days the extraction and report queries are rendered for: a year boundary, so the day and next
// day partitions differ in every field, and a window across it.
var (
	extractDay = time.Date(2024, 12, 31, 0, 0, 0, 0, time.UTC)
	reportFrom = time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC)
	reportTo   = time.Date(2025, 1, 31, 0, 0, 0, 0, time.UTC)
)

// reportGroupings are every grouping athenasql.ReportGroups accepts.
var reportGroupings = []string{"user", "role", "database"}

// configurations cover what changes the rendered text: one or several accounts and regions, an
// organization trail, CloudTrail and data prefixes (given without their trailing slash, as a
// person would type them, so the loader's normalization is in the path), a non-default database
// and a fractional price.
func configurations() []configuration {
	base := func(name string, extra map[string]string) configuration {
		env := map[string]string{
			config.EnvRegion:           "us-east-1",
			config.EnvDataBucket:       "usage-data",
			config.EnvWorkgroup:        "primary",
			config.EnvCloudTrailBucket: "trail-logs",
			config.EnvAccounts:         "123456789012",
			config.EnvRegions:          "us-east-1",
			config.EnvProjectionStart:  "2024-01-01",
			config.EnvLookupFunction:   "athena-usage-lookup",
		}
		for k, v := range extra {
			env[k] = v
		}
		return configuration{name: name, env: env}
	}
	return []configuration{
		base("single-account", nil),
		base("multi-account", map[string]string{
			config.EnvAccounts: "123456789012,210987654321,111122223333",
			config.EnvRegions:  "us-east-1,eu-west-1,ap-southeast-2",
		}),
		base("organization", map[string]string{
			config.EnvOrgID:    "o-abcdef1234",
			config.EnvAccounts: "123456789012, 210987654321",
			config.EnvRegions:  "us-east-1, us-west-2, eu-central-1",
		}),
		base("prefixes-custom-database", map[string]string{
			config.EnvDatabase:         "finops_athena",
			config.EnvCloudTrailPrefix: "logs/cloudtrail",
			config.EnvDataPrefix:       "athena-usage/data",
			config.EnvOrgID:            "o-zyxwvu9876",
			config.EnvPricePerTB:       "6.25",
			config.EnvProjectionStart:  "2023-06-15",
		}),
	}
}

// renderAll renders every statement the pipeline sends, for every configuration: the setup DDL
// and views, the extraction query and the report queries.
func renderAll(templates fs.FS, configs []configuration) ([]statement, error) {
	sources, err := loadSources(templates)
	if err != nil {
		return nil, err
	}
	var out []statement
	for _, c := range configs {
		named, err := renderConfig(c)
		if err != nil {
			return nil, fmt.Errorf("configuration %s: %w", c.name, err)
		}
		for _, n := range named {
			s, err := classify(sources, c.name, n.Name, n.SQL)
			if err != nil {
				return nil, fmt.Errorf("configuration %s: %s: %w", c.name, n.Name, err)
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// renderConfig renders one configuration's statements through athenasql's exported calls, the
// ones the extract function and the report command make.
func renderConfig(c configuration) ([]athenasql.Statement, error) {
	cfg, err := config.LoadExtract(func(k string) string { return c.env[k] })
	if err != nil {
		return nil, err
	}
	stmts, err := athenasql.Setup(athenasql.FromConfig(cfg))
	if err != nil {
		return nil, err
	}
	sql, err := athenasql.Extract(cfg.Database, extractDay, cfg.LateDays)
	if err != nil {
		return nil, err
	}
	stmts = append(stmts, athenasql.Statement{Name: "extract " + extractDay.Format(config.DayLayout), SQL: sql})
	for _, by := range reportGroupings {
		sql, err := athenasql.ReportGroups(cfg.Database, by, reportFrom, reportTo)
		if err != nil {
			return nil, err
		}
		stmts = append(stmts, athenasql.Statement{Name: "report by " + by, SQL: sql})
	}
	// Each dashboard dataset as QuickSight sends it, and inside the report's window.
	for _, v := range athenasql.Visuals() {
		sql, err := athenasql.DashboardDataset(cfg.Database, v)
		if err != nil {
			return nil, err
		}
		stmts = append(stmts, athenasql.Statement{Name: "dashboard dataset " + v.Name, SQL: sql})
		sql, err = athenasql.DashboardWindow(cfg.Database, v, reportFrom, reportTo)
		if err != nil {
			return nil, err
		}
		stmts = append(stmts, athenasql.Statement{Name: "dashboard window " + v.Name, SQL: sql})
	}
	// The alert function's queries, over the same database (its configuration shares it).
	sql, err = athenasql.AlertCandidates(cfg.Database, extractDay, 14, 2.5)
	if err != nil {
		return nil, err
	}
	stmts = append(stmts, athenasql.Statement{Name: "alert candidates", SQL: sql})
	if sql, err = athenasql.AlertDrill(cfg.Database, extractDay, alertUser); err != nil {
		return nil, err
	}
	return append(stmts, athenasql.Statement{Name: "alert drill-in", SQL: sql}), nil
}

// alertUser is a user an alert's drill-in names: a session whose name holds a quote.
const alertUser = "arn:aws:sts::123456789012:assumed-role/Analyst/o'brien@example.com"

// source is one template as a pattern that matches exactly the texts it can render to.
type source struct {
	file    string
	pattern *regexp.Regexp
}

// placeholder is athenasql's template syntax, {{.Name}}.
var placeholder = regexp.MustCompile(`\{\{\s*\.([A-Za-z]+)\s*\}\}`)

// statementPlaceholder is the one placeholder whose value is a rendered statement
// (dashboard_window.sql's dataset), which spans lines.
const statementPlaceholder = "Dataset"

// loadSources turns every template into a pattern: the literal text quoted, each placeholder a
// run of characters on one line (no validated value holds a line break; a rendered statement
// is the one value that may), the whole trimmed as athenasql trims what it renders.
func loadSources(templates fs.FS) ([]source, error) {
	names, err := fs.Glob(templates, "*.sql")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, errors.New("no .sql templates")
	}
	var out []source
	for _, name := range names {
		text, err := fs.ReadFile(templates, name)
		if err != nil {
			return nil, err
		}
		trimmed := strings.TrimSpace(string(text))
		var b strings.Builder
		b.WriteString(`\A`)
		last := 0
		for _, m := range placeholder.FindAllStringSubmatchIndex(trimmed, -1) {
			b.WriteString(regexp.QuoteMeta(trimmed[last:m[0]]))
			if trimmed[m[2]:m[3]] == statementPlaceholder {
				b.WriteString(`(?s:.*?)`)
			} else {
				b.WriteString(`.*?`)
			}
			last = m[1]
		}
		b.WriteString(regexp.QuoteMeta(trimmed[last:]) + `\z`)
		pattern := regexp.MustCompile(b.String())
		out = append(out, source{file: name, pattern: pattern})
	}
	return out, nil
}

// classify finds the one template the text was rendered from and the grammar that parses it.
func classify(sources []source, configName, name, sql string) (statement, error) {
	var files []string
	for _, s := range sources {
		if s.pattern.MatchString(sql) {
			files = append(files, s.file)
		}
	}
	if len(files) != 1 {
		return statement{}, fmt.Errorf("text matches %d templates %v, want exactly one", len(files), files)
	}
	kind, grammar, err := grammarFor(sql)
	if err != nil {
		return statement{}, err
	}
	return statement{File: files[0], Config: configName, Name: name, Kind: kind, Grammar: grammar, SQL: sql}, nil
}

// kinds maps a statement's leading keywords to the grammar Athena runs it with. Athena sends
// DDL for databases and tables (CREATE DATABASE, CREATE EXTERNAL TABLE, DROP TABLE) to its Hive
// metastore layer, which parses HiveQL (backtick-quoted names, ROW FORMAT SERDE, TBLPROPERTIES);
// queries (SELECT, WITH) and CREATE VIEW run on the Trino engine, whose views are stored as
// Trino SQL. The grammar follows from the kind of statement, never from the file name, and a
// kind not listed here fails, so a new sort of statement gets a decision rather than a default.
var kinds = []struct {
	kind, grammar string
}{
	{"CREATE DATABASE", hive},
	{"CREATE EXTERNAL TABLE", hive},
	{"DROP TABLE", hive},
	{"CREATE OR REPLACE VIEW", trino},
	{"CREATE VIEW", trino},
	{"SELECT", trino},
	{"WITH", trino},
}

// lineComment is a leading "-- ..." comment line, which does not tell the kind.
var lineComment = regexp.MustCompile(`\A\s*--[^\n]*(\n|\z)`)

// grammarFor returns the statement's kind and the grammar to parse it with.
func grammarFor(sql string) (kind, grammar string, err error) {
	text := sql
	for lineComment.MatchString(text) {
		text = lineComment.ReplaceAllString(text, "")
	}
	words := strings.Fields(strings.ToUpper(text))
	for _, k := range kinds {
		n := len(strings.Fields(k.kind))
		if len(words) >= n && strings.Join(words[:n], " ") == k.kind {
			return k.kind, k.grammar, nil
		}
	}
	lead := words[:min(len(words), 4)]
	return "", "", fmt.Errorf("no grammar for a statement that starts %q", strings.Join(lead, " "))
}

// unrendered returns the templates no statement was rendered from.
func unrendered(templates fs.FS, stmts []statement) ([]string, error) {
	names, err := fs.Glob(templates, "*.sql")
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(names, func(name string) bool {
		return slices.ContainsFunc(stmts, func(s statement) bool { return s.File == name })
	}), nil
}
