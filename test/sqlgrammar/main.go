// Command sqlgrammar writes every SQL statement athena-usage sends to Athena as JSON, rendered by
// pkg/athenasql for several configurations, for check.mjs to parse with dt-sql-parser's Trino and
// Hive grammars. Each statement carries the .sql file it came from, the configuration, its kind
// and the grammar that kind is parsed with. It fails when an embedded .sql file is never
// rendered, so a new file cannot escape the check. `make sql-grammar` runs it, then check.mjs.
//
// Usage:
//
//	go run ./test/sqlgrammar [-out FILE]   default: standard output
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/athenausage/athena-usage/pkg/athenasql"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sqlgrammar:", err)
		os.Exit(1)
	}
}

// output is the JSON document check.mjs reads.
type output struct {
	Statements []statement `json:"statements"`
}

func run(args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("sqlgrammar", flag.ContinueOnError)
	flags.SetOutput(stderr)
	out := flags.String("out", "", "write the JSON to this file instead of standard output")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flags.Args())
	}
	stmts, err := collect(athenasql.Templates())
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(output{Statements: stmts}, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if *out == "" {
		_, err = stdout.Write(data)
		return err
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "sqlgrammar: %d statements from %d configurations in %s\n", len(stmts), len(configurations()), *out)
	return nil
}

// collect renders every statement and fails when a template is never rendered.
func collect(templates fs.FS) ([]statement, error) {
	stmts, err := renderAll(templates, configurations())
	if err != nil {
		return nil, err
	}
	missing, err := unrendered(templates, stmts)
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		return nil, errors.New("never rendered, so never checked: " + strings.Join(missing, ", "))
	}
	return stmts, nil
}
