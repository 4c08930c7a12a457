package sqlengine

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// site is a piece of SQL, the statement or a view's body, and the relations it names.
type site struct {
	src  string
	toks []token
	refs []ref
	// columns are the columns of the tables among refs (nil for views), set by plan.
	columns []map[string]bool
}

// use is one place where a table is read: which site and which of its references, and the
// filters on its columns pushed down from the queries and views around it.
type use struct {
	site   *site
	ref    ref
	pushed map[string]*filter
}

// noPushdown turns pushdown through views and joins off, leaving plain pruning on each
// reference's own literal predicates; only BenchmarkReport365 sets it, to measure what pushdown buys.
var noPushdown atomic.Bool

// plan is every relation a statement reads, directly or through views.
type plan struct {
	tables []*tableDef
	uses   map[*tableDef][]use
	views  []*viewDef // in dependency order
	sites  map[*viewDef]*site
	// path is set when a site reads Trino's hidden column "$path", which the tables then get.
	path bool
}

// pathColumn is the hidden column of a Hive table that holds the S3 URI of a row's file.
const pathColumn = "$path"

// readsPath reports whether toks name the hidden column "$path".
func readsPath(toks []token) bool {
	return slices.ContainsFunc(toks, func(t token) bool { return t.Kind == tokQuoted && t.name() == pathColumn })
}

// plan resolves the relations of s, recursing into views. A view is walked once for each
// place it is read, with what that place's predicates say of its columns.
func (e *Engine) plan(s *site) (*plan, error) {
	p := &plan{uses: map[*tableDef][]use{}, sites: map[*viewDef]*site{}}
	visiting := map[*viewDef]bool{}
	var visit func(s *site, outer map[string]*filter) error
	visit = func(s *site, outer map[string]*filter) error {
		p.path = p.path || readsPath(s.toks)
		if s.columns == nil {
			s.columns = make([]map[string]bool, len(s.refs))
			for i, r := range s.refs {
				if t := e.cat.table(r.Database, r.Name); t != nil && e.cat.view(r.Database, r.Name) == nil {
					s.columns[i] = map[string]bool{}
					for _, c := range append(slices.Clone(t.Columns), t.Partitions...) {
						s.columns[i][c.Name] = true
					}
				}
			}
		}
		pushed := make([]map[string]*filter, len(s.refs))
		if !noPushdown.Load() {
			pushed = pushdown(s, outer)
		}
		for i, r := range s.refs {
			if v := e.cat.view(r.Database, r.Name); v != nil {
				if visiting[v] {
					return userError(fmt.Sprintf("VIEW_IS_RECURSIVE: View '%s.%s' is recursive", v.Database, v.Name))
				}
				vs := p.sites[v]
				if vs == nil {
					var err error
					if vs, err = viewSite(v); err != nil {
						return err
					}
				}
				visiting[v] = true
				if err := visit(vs, pushed[i]); err != nil {
					return err
				}
				visiting[v] = false
				if p.sites[v] == nil {
					p.views = append(p.views, v)
					p.sites[v] = vs
				}
				continue
			}
			t := e.cat.table(r.Database, r.Name)
			if t == nil {
				return e.notFound(s.src, s.toks, r)
			}
			if p.uses[t] == nil {
				p.tables = append(p.tables, t)
			}
			p.uses[t] = append(p.uses[t], use{site: s, ref: r, pushed: pushed[i]})
		}
		return nil
	}
	return p, visit(s, nil)
}

func viewSite(v *viewDef) (*site, error) {
	toks, err := lex(v.SQL, modeSQL)
	if err != nil {
		return nil, fmt.Errorf("view %s.%s: %w", v.Database, v.Name, err)
	}
	return &site{src: v.SQL, toks: toks, refs: references(toks, v.Database)}, nil
}

// prepare creates in DuckDB the schemas, views over the tables of p (read from S3 unless empty is set)
// and its views; it returns the bytes read from S3.
func (e *Engine) prepare(ctx context.Context, p *plan, now time.Time, empty bool) (int64, error) {
	for _, name := range e.cat.databaseNames() {
		if _, err := e.conn.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+quoteIdent(name)); err != nil {
			return 0, fmt.Errorf("create schema %s: %w", name, err)
		}
	}
	var scanned int64
	for _, t := range p.tables {
		var files []partFiles
		if !empty {
			parts, err := e.partitions(ctx, t, p.uses[t], now)
			if err != nil {
				return 0, err
			}
			var n int64
			files, n, err = e.fetch(ctx, t, parts)
			if err != nil {
				return 0, err
			}
			scanned += n
		}
		if err := e.createDuckView(ctx, t, files, p.path); err != nil {
			return 0, err
		}
	}
	for _, v := range p.views {
		s := p.sites[v]
		stmt := fmt.Sprintf("CREATE OR REPLACE VIEW %s.%s AS %s", quoteIdent(v.Database), quoteIdent(v.Name),
			translate(s.src, s.toks, s.refs, now))
		if _, err := e.conn.ExecContext(ctx, stmt); err != nil {
			return 0, duckError(fmt.Sprintf("view %s.%s: ", v.Database, v.Name), err)
		}
	}
	return scanned, nil
}

func (e *Engine) query(ctx context.Context, database, src string, toks []token, w RowWriter) (*Result, error) {
	s := &site{src: src, toks: toks, refs: references(toks, database)}
	p, err := e.plan(s)
	if err != nil {
		return nil, err
	}
	now := e.now()
	scanned, err := e.prepare(ctx, p, now, false)
	if err != nil {
		return nil, err
	}
	res := &Result{StatementType: "DML", SubstatementType: "SELECT", DataScannedBytes: scanned}
	res.Columns, err = e.run(ctx, translate(src, toks, s.refs, now), res.StatementType, toks, w)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// run executes DuckDB SQL and hands its result to w, rendered, one row at a time; toks, when
// given, is the Trino statement whose columns are named as Athena names them. The result is
// spooled (see spool.go) and read back a slice at a time, so no result is held whole.
func (e *Engine) run(ctx context.Context, stmt, statementType string, toks []token, w RowWriter) ([]Column, error) {
	names, err := e.columnNames(ctx, stmt)
	if err != nil {
		return nil, duckError("", err)
	}
	if err := e.spoolWithin(ctx, stmt); err != nil {
		return nil, err
	}
	defer e.exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+resultTable)
	cts, sel, jsonText, err := e.spooledColumns(ctx)
	if err != nil {
		return nil, err
	}
	if len(cts) != len(names) {
		return nil, fmt.Errorf("spooled result has %d columns, the statement %d", len(cts), len(names))
	}
	cols := make([]Column, len(cts))
	types := make([]*duckType, len(cts))
	for i, ct := range cts {
		types[i] = parseDuckType(ct)
		cols[i] = Column{Name: strings.ToLower(names[i]), Type: types[i].athena()}
	}
	if toks != nil {
		athenaNames(toks, cols)
	}
	if err := w.Header(statementType, cols); err != nil {
		return nil, err
	}
	// The table's rowids run from 0 in the result's order: a short slice is the last.
	for lo, n := 0, resultSlice; n == resultSlice; lo += resultSlice {
		q := fmt.Sprintf("SELECT %s FROM %s WHERE rowid >= %d AND rowid < %d", sel, resultTable, lo, lo+resultSlice)
		if n, err = e.readSlice(ctx, q, types, jsonText, w); err != nil {
			return nil, err
		}
	}
	return cols, nil
}

// readSlice hands the rows of q, a slice of the spooled result, to w, and returns how many
// there were.
func (e *Engine) readSlice(ctx context.Context, q string, types []*duckType, jsonText []bool, w RowWriter) (int, error) {
	rows, err := e.conn.QueryContext(ctx, q)
	if err != nil {
		return 0, duckError("", err)
	}
	defer rows.Close()
	vals := make([]any, len(types))
	ptrs := make([]any, len(types))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for ; rows.Next(); n++ {
		if err := rows.Scan(ptrs...); err != nil {
			return n, duckError("", err)
		}
		row := make([]*string, len(vals))
		for i, v := range vals {
			if v != nil && jsonText[i] {
				s := v.(string)
				row[i] = &s
			} else if v != nil {
				s := render(v, types[i], false)
				row[i] = &s
			}
		}
		if err := w.Row(row); err != nil {
			return n, err
		}
	}
	if err := rows.Err(); err != nil {
		return n, duckError("", err)
	}
	return n, nil
}

// duckError classifies a DuckDB error as Athena would: mistakes in the query or bad values
// are the user's, anything else the system's.
func duckError(context string, err error) error {
	msg := err.Error()
	first, _, _ := strings.Cut(msg, "\n")
	for _, p := range []struct{ prefix, code string }{
		{"Parser Error: ", "SYNTAX_ERROR"},
		{"Binder Error: ", "SYNTAX_ERROR"},
		{"Catalog Error: ", "SYNTAX_ERROR"},
		{"Conversion Error: ", "INVALID_CAST_ARGUMENT"},
		{"Invalid Input Error: ", "INVALID_FUNCTION_ARGUMENT"},
		{"Out of Range Error: ", "NUMERIC_VALUE_OUT_OF_RANGE"},
	} {
		if rest, ok := strings.CutPrefix(first, p.prefix); ok {
			if code, _, _ := strings.Cut(rest, ": "); trinoCode.MatchString(code) {
				// A macro's error() that already names Trino's error code.
				return userError(code + ": " + context + strings.TrimPrefix(rest, code+": "))
			}
			return userError(p.code + ": " + context + rest)
		}
	}
	return &Error{Category: categorySystem, Type: typeInternal, Msg: "GENERIC_INTERNAL_ERROR: " + context + msg}
}

func (e *Engine) createView(ctx context.Context, p *ddlParser, database string, replace bool) (*Result, error) {
	db, name, err := p.qualifiedName(database)
	if err != nil {
		return nil, err
	}
	if err := p.expect("AS"); err != nil {
		return nil, err
	}
	body := strings.TrimSpace(p.src[p.peek().Pos:])
	d := e.cat.Databases[db]
	if d == nil {
		return nil, userError(fmt.Sprintf("SCHEMA_NOT_FOUND: Schema '%s' does not exist", db))
	}
	if d.Tables[name] != nil {
		return nil, userError(fmt.Sprintf("Table %s.%s is a table, not a view", db, name))
	}
	if d.Views[name] != nil && !replace {
		return nil, userError(fmt.Sprintf("View '%s.%s' already exists", db, name))
	}
	v := &viewDef{Database: db, Name: name, SQL: body}
	vs, err := viewSite(v)
	if err != nil {
		return nil, err
	}
	if k := vs.toks[0]; !k.is("SELECT") && !k.is("WITH") && !k.is("VALUES") && !k.is("(") {
		return nil, syntaxError(body, k.Pos, "mismatched input '%s'. Expecting: 'SELECT', 'WITH'", k.Text)
	}
	// Athena analyzes the view when it is created: bind it over empty tables, which reads nothing.
	pl, err := e.plan(vs)
	if err != nil {
		return nil, err
	}
	pl.views = append(pl.views, v)
	pl.sites[v] = vs
	if _, err := e.prepare(ctx, pl, e.now(), true); err != nil {
		return nil, err
	}
	if d.Views == nil {
		d.Views = map[string]*viewDef{}
	}
	d.Views[name] = v
	if err := e.cat.save(e.dir); err != nil {
		return nil, err
	}
	return ddlResult("CREATE_VIEW"), nil
}

// utility runs SHOW and DESCRIBE.
func (e *Engine) utility(ctx context.Context, database, src string, toks []token) (*Result, error) {
	p := &ddlParser{src: src, toks: toks}
	res := &Result{StatementType: "UTILITY"}
	add := func(vals ...string) {
		row := make([]*string, len(vals))
		for i := range vals {
			row[i] = &vals[i]
		}
		res.Rows = append(res.Rows, row)
	}
	switch {
	case p.accept("SHOW", "DATABASES"), p.accept("SHOW", "SCHEMAS"):
		res.SubstatementType = "SHOW_DATABASES"
		res.Columns = []Column{{"database_name", "varchar"}}
		for _, n := range e.cat.databaseNames() {
			add(n)
		}
	case p.accept("SHOW", "TABLES"), p.accept("SHOW", "VIEWS"):
		views := toks[1].is("VIEWS")
		res.SubstatementType = "SHOW_TABLES"
		if views {
			res.SubstatementType = "SHOW_VIEWS"
		}
		db := database
		if p.accept("IN") || p.accept("FROM") {
			var err error
			if db, err = p.ident(); err != nil {
				return nil, err
			}
		}
		d := e.cat.Databases[db]
		if d == nil {
			return nil, userError(fmt.Sprintf("SCHEMA_NOT_FOUND: Schema '%s' does not exist", db))
		}
		res.Columns = []Column{{"tab_name", "varchar"}}
		var names []string
		for n := range d.Views {
			names = append(names, n)
		}
		if !views {
			for n := range d.Tables {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		for _, n := range names {
			add(n)
		}
	case p.accept("DESCRIBE"), p.accept("DESC"):
		res.SubstatementType = "DESCRIBE_TABLE"
		db, name, err := p.qualifiedName(database)
		if err != nil {
			return nil, err
		}
		res.Columns = []Column{{"col_name", "varchar"}, {"data_type", "varchar"}, {"comment", "varchar"}}
		if t := e.cat.table(db, name); t != nil {
			for _, c := range append(append([]tableColumn{}, t.Columns...), t.Partitions...) {
				add(c.Name, c.Type.String(), c.Comment)
			}
			return res, nil
		}
		if v := e.cat.view(db, name); v != nil {
			vs, err := viewSite(v)
			if err != nil {
				return nil, err
			}
			pl, err := e.plan(vs)
			if err != nil {
				return nil, err
			}
			if _, err := e.prepare(ctx, pl, e.now(), true); err != nil {
				return nil, err
			}
			cols, err := e.run(ctx, "SELECT * FROM ("+translate(vs.src, vs.toks, vs.refs, e.now())+") LIMIT 0", "", nil, &collector{})
			if err != nil {
				return nil, err
			}
			for _, c := range cols {
				add(c.Name, c.Type, "")
			}
			return res, nil
		}
		return nil, e.notFound(src, toks, ref{Database: db, Name: name, First: 1, Last: 1})
	default:
		return nil, syntaxError(src, toks[1].Pos, "unsupported statement: only SHOW DATABASES, SHOW TABLES, SHOW VIEWS and DESCRIBE are")
	}
	return res, nil
}
