// Package sqlengine is the SQL engine behind the local Athena stand-in: it keeps a Hive-style
// catalog of external tables and views, reads the tables' S3 objects through their SerDes
// (CloudTrail, OpenCSV, LazySimple) with partition projection and pruning, and runs the Trino
// SQL that athena-usage sends to Athena on an embedded DuckDB.
package sqlengine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/duckdb/duckdb-go/v2" // registers the "duckdb" driver
)

// S3 is the part of the S3 API the engine reads tables with.
type S3 interface {
	GetObject(ctx context.Context, params *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	ListObjectsV2(ctx context.Context, params *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

var _ S3 = (*s3.Client)(nil)

// Options configure an Engine.
type Options struct {
	// Dir holds the catalog (catalog.json) and the cache of transcoded S3 objects.
	Dir string
	// S3 reads the tables' objects.
	S3 S3
	// Now is the clock for now(), current_date and NOW in projection ranges; time.Now if nil.
	Now func() time.Time
	// MemoryLimit bounds DuckDB's memory in bytes; DefaultMemoryLimit if 0.
	MemoryLimit int64
}

// Column is a result column with its type in Athena's spelling (varchar, bigint, row(...), ...).
type Column struct {
	Name, Type string
}

// Result is what one statement returned.
type Result struct {
	// StatementType is "DDL", "DML" or "UTILITY", as Athena's StatementType.
	StatementType string
	// SubstatementType is e.g. "SELECT", "CREATE_TABLE", "CREATE_VIEW", "DROP_TABLE".
	SubstatementType string
	Columns          []Column
	// Rows hold the values rendered as Athena renders them in its result CSV; nil is NULL.
	Rows [][]*string
	// DataScannedBytes is the total size of the S3 objects the statement read.
	DataScannedBytes int64
}

// RowWriter receives a statement's result as the engine produces it, so that a large result
// goes to its destination row by row instead of being held in memory.
type RowWriter interface {
	// Header is called once, before any row, with the statement type ("DDL", "DML" or
	// "UTILITY", as Result.StatementType) and the result's columns.
	Header(statementType string, cols []Column) error
	// Row is called for each row, with values as Result.Rows holds them; w may keep values.
	Row(values []*string) error
}

// Send hands r to w: its header, then its rows.
func (r *Result) Send(w RowWriter) error {
	if err := w.Header(r.StatementType, r.Columns); err != nil {
		return err
	}
	for _, row := range r.Rows {
		if err := w.Row(row); err != nil {
			return err
		}
	}
	return nil
}

// collector is the RowWriter that Execute gathers a result with.
type collector struct {
	cols []Column
	rows [][]*string
}

func (c *collector) Header(_ string, cols []Column) error {
	c.cols = cols
	return nil
}

func (c *collector) Row(values []*string) error {
	c.rows = append(c.rows, values)
	return nil
}

// Error is a failed statement, classified as Athena classifies it in AthenaError.
type Error struct {
	// Category is 1 for a system error, 2 for a user error.
	Category int32
	// Type is Athena's error type (1000 user error, 1001 data error, 100 internal error).
	Type int32
	Msg  string
}

// Error returns the message.
func (e *Error) Error() string { return e.Msg }

// Error categories and types of the Athena error catalog.
const (
	categorySystem  = 1
	categoryUser    = 2
	typeInternal    = 100
	typeUserError   = 1000
	typeDataError   = 1001
	defaultDatabase = "default"
)

func userError(msg string) *Error {
	return &Error{Category: categoryUser, Type: typeUserError, Msg: msg}
}

func dataError(msg string) *Error {
	return &Error{Category: categoryUser, Type: typeDataError, Msg: msg}
}

func systemError(err error) *Error {
	return &Error{Category: categorySystem, Type: typeInternal, Msg: "GENERIC_INTERNAL_ERROR: " + err.Error()}
}

// Engine executes statements; it is safe for concurrent use and runs one statement at a time.
type Engine struct {
	mu   sync.Mutex
	db   *sql.DB
	conn *sql.Conn
	dir  string
	tmp  string // this engine's temporary folder, removed by Close
	// memoryLimit is DuckDB's memory limit, which a statement may raise while it runs.
	memoryLimit int64
	s3          S3
	now         func() time.Time
	cat         *catalog
}

// Open opens the engine whose state lives in opts.Dir.
func Open(opts Options) (*Engine, error) {
	if opts.Dir == "" {
		return nil, errors.New("open local SQL engine: no state directory")
	}
	if opts.S3 == nil {
		return nil, errors.New("open local SQL engine: no S3 client")
	}
	if err := os.MkdirAll(filepath.Join(opts.Dir, cacheDir), 0o755); err != nil {
		return nil, fmt.Errorf("open local SQL engine: %w", err)
	}
	cat, err := loadCatalog(opts.Dir)
	if err != nil {
		return nil, err
	}
	if opts.MemoryLimit == 0 {
		opts.MemoryLimit = DefaultMemoryLimit
	}
	tmp, err := newTmp(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("open local SQL engine: %w", err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("open duckdb: %w", err)
	}
	// Temporary macros belong to one connection: keep that connection for the engine's life.
	conn, err := db.Conn(context.Background())
	if err != nil {
		db.Close()
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("open duckdb: %w", err)
	}
	e := &Engine{db: db, conn: conn, dir: opts.Dir, tmp: tmp, memoryLimit: opts.MemoryLimit, s3: opts.S3, now: opts.Now, cat: cat}
	if e.now == nil {
		e.now = time.Now
	}
	for _, stmt := range slices.Concat(duckSettings(tmp, opts.MemoryLimit), setupSQL, jsonSetupSQL) {
		if _, err := conn.ExecContext(context.Background(), stmt); err != nil {
			e.Close()
			return nil, fmt.Errorf("set up duckdb: %s: %w", stmt, err)
		}
	}
	return e, nil
}

// Close releases DuckDB and removes the engine's temporary folder; the catalog and cache stay
// in Dir.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	if e.conn != nil {
		errs = append(errs, e.conn.Close())
		e.conn = nil
	}
	if e.db != nil {
		errs = append(errs, e.db.Close())
		e.db = nil
	}
	if e.tmp != "" {
		errs = append(errs, os.RemoveAll(e.tmp))
		e.tmp = ""
	}
	return errors.Join(errs...)
}

// Execute runs one statement; database is the default database for unqualified names.
// A failed statement returns an *Error.
func (e *Engine) Execute(ctx context.Context, database, query string) (*Result, error) {
	var c collector
	res, err := e.ExecuteTo(ctx, database, query, &c)
	if err != nil {
		return nil, err
	}
	res.Rows = c.rows
	return res, nil
}

// ExecuteTo runs one statement as Execute does, but hands its result to w as DuckDB produces
// it; the Result it returns has no Rows. An error of w fails the statement (as a system error).
func (e *Engine) ExecuteTo(ctx context.Context, database, query string, w RowWriter) (*Result, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conn == nil {
		return nil, errors.New("local SQL engine is closed")
	}
	// Another process may have changed the catalog since the last statement.
	cat, err := loadCatalog(e.dir)
	if err != nil {
		return nil, systemError(err)
	}
	e.cat = cat
	database = strings.ToLower(database)
	if database == "" {
		database = defaultDatabase
	}
	res, err := e.execute(ctx, database, strings.TrimRight(strings.TrimSpace(query), "; \t\r\n"), w)
	if err != nil {
		var qe *Error
		if !errors.As(err, &qe) {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, systemError(err)
		}
		return nil, qe
	}
	return res, nil
}

func (e *Engine) execute(ctx context.Context, database, query string, w RowWriter) (*Result, error) {
	toks, err := lex(query, modeSQL)
	if err != nil {
		return nil, err
	}
	first := toks[0]
	var res *Result
	switch {
	case first.Kind == tokEOF:
		return nil, userError("line 1:1: empty statement")
	case first.is("SELECT"), first.is("WITH"), first.is("VALUES"), first.is("("):
		return e.query(ctx, database, query, toks, w)
	case first.is("CREATE"), first.is("DROP"), first.is("ALTER"):
		res, err = e.ddl(ctx, database, query)
	case first.is("SHOW"), first.is("DESCRIBE"), first.is("DESC"):
		res, err = e.utility(ctx, database, query, toks)
	default:
		return nil, syntaxError(query, first.Pos, "mismatched input '%s'. Expecting: 'CREATE', 'DESCRIBE', 'DROP', 'SELECT', 'SHOW', 'WITH'", first.Text)
	}
	if err != nil {
		return nil, err
	}
	// DDL and utility results are a few rows, built whole.
	if err := res.Send(w); err != nil {
		return nil, err
	}
	res.Rows = nil
	return res, nil
}

func ddlResult(sub string) *Result {
	return &Result{StatementType: "DDL", SubstatementType: sub}
}

// ddl runs CREATE and DROP statements, which Athena parses as Hive DDL (except views).
func (e *Engine) ddl(ctx context.Context, database, query string) (*Result, error) {
	toks, err := lex(query, modeHive)
	if err != nil {
		return nil, err
	}
	p := &ddlParser{src: query, toks: toks}
	switch {
	case p.accept("CREATE", "DATABASE"), p.accept("CREATE", "SCHEMA"):
		return e.createDatabase(p)
	case p.accept("CREATE", "EXTERNAL", "TABLE"):
		return e.createTable(p, database)
	case p.accept("CREATE", "TABLE"):
		return nil, userError("only CREATE EXTERNAL TABLE is supported by the local engine (no CTAS, no managed tables)")
	case p.accept("CREATE", "OR", "REPLACE", "VIEW"):
		return e.createView(ctx, p, database, true)
	case p.accept("CREATE", "VIEW"):
		return e.createView(ctx, p, database, false)
	case p.accept("DROP", "TABLE"):
		return e.drop(ctx, p, database, "TABLE")
	case p.accept("DROP", "VIEW"):
		return e.drop(ctx, p, database, "VIEW")
	case p.accept("DROP", "DATABASE"), p.accept("DROP", "SCHEMA"):
		return e.dropDatabase(ctx, p)
	case p.accept("ALTER", "TABLE"):
		return e.alterTable(p, database)
	}
	return nil, p.errorf(toks[1], "Expecting: DATABASE, EXTERNAL TABLE, VIEW or SCHEMA")
}

func (p *ddlParser) end() error {
	if t := p.peek(); t.Kind != tokEOF {
		return p.errorf(t, "Expecting: <EOF>")
	}
	return nil
}

func (e *Engine) createDatabase(p *ddlParser) (*Result, error) {
	ifNotExists := p.accept("IF", "NOT", "EXISTS")
	name, err := p.ident()
	if err != nil {
		return nil, err
	}
	d := &dbDef{Name: name}
	for p.peek().Kind != tokEOF {
		switch {
		case p.accept("COMMENT"):
			if d.Comment, err = p.str(); err != nil {
				return nil, err
			}
		case p.accept("LOCATION"):
			if _, err = p.str(); err != nil {
				return nil, err
			}
		case p.accept("WITH", "DBPROPERTIES"):
			if err := p.properties(map[string]string{}); err != nil {
				return nil, err
			}
		default:
			return nil, p.errorf(p.peek(), "Expecting: COMMENT, LOCATION or WITH DBPROPERTIES")
		}
	}
	if e.cat.Databases[name] != nil {
		if ifNotExists {
			return ddlResult("CREATE_DATABASE"), nil
		}
		return nil, userError(fmt.Sprintf("Database %s already exists", name))
	}
	e.cat.Databases[name] = d
	if err := e.cat.save(e.dir); err != nil {
		return nil, err
	}
	return ddlResult("CREATE_DATABASE"), nil
}

func (e *Engine) dropDatabase(ctx context.Context, p *ddlParser) (*Result, error) {
	ifExists := p.accept("IF", "EXISTS")
	name, err := p.ident()
	if err != nil {
		return nil, err
	}
	cascade := p.accept("CASCADE")
	if !cascade {
		p.accept("RESTRICT")
	}
	if err := p.end(); err != nil {
		return nil, err
	}
	if name == defaultDatabase {
		// The catalog always has it (loadCatalog), so dropping it could not stick.
		return nil, userError("Can not drop default database")
	}
	d := e.cat.Databases[name]
	if d == nil {
		if ifExists {
			return ddlResult("DROP_DATABASE"), nil
		}
		return nil, userError(fmt.Sprintf("SCHEMA_NOT_FOUND: Schema '%s' does not exist", name))
	}
	if !cascade && len(d.Tables)+len(d.Views) > 0 {
		return nil, userError(fmt.Sprintf("Database %s is not empty. One or more tables exist.", name))
	}
	delete(e.cat.Databases, name)
	if err := e.cat.save(e.dir); err != nil {
		return nil, err
	}
	e.exec(ctx, "DROP SCHEMA IF EXISTS "+quoteIdent(name)+" CASCADE")
	return ddlResult("DROP_DATABASE"), nil
}

func (e *Engine) createTable(p *ddlParser, database string) (*Result, error) {
	t, ifNotExists, err := p.parseCreateTable(database)
	if err != nil {
		return nil, err
	}
	d := e.cat.Databases[t.Database]
	if d == nil {
		return nil, userError(fmt.Sprintf("SCHEMA_NOT_FOUND: Database %s does not exist", t.Database))
	}
	if d.Tables[t.Name] != nil || d.Views[t.Name] != nil {
		if ifNotExists {
			return ddlResult("CREATE_TABLE"), nil
		}
		return nil, userError(fmt.Sprintf("AlreadyExistsException: Table %s.%s already exists", t.Database, t.Name))
	}
	if err := checkTable(t); err != nil {
		return nil, err
	}
	if d.Tables == nil {
		d.Tables = map[string]*tableDef{}
	}
	d.Tables[t.Name] = t
	if err := e.cat.save(e.dir); err != nil {
		return nil, err
	}
	return ddlResult("CREATE_TABLE"), nil
}

func (e *Engine) drop(ctx context.Context, p *ddlParser, database, what string) (*Result, error) {
	ifExists := p.accept("IF", "EXISTS")
	db, name, err := p.qualifiedName(database)
	if err != nil {
		return nil, err
	}
	if err := p.end(); err != nil {
		return nil, err
	}
	sub := "DROP_" + what
	d := e.cat.Databases[db]
	if d == nil {
		if ifExists {
			return ddlResult(sub), nil
		}
		return nil, userError(fmt.Sprintf("SCHEMA_NOT_FOUND: Schema '%s' does not exist", db))
	}
	found := false
	if what == "TABLE" {
		_, found = d.Tables[name]
		delete(d.Tables, name)
	} else {
		_, found = d.Views[name]
		delete(d.Views, name)
	}
	if !found {
		if ifExists {
			return ddlResult(sub), nil
		}
		if what == "TABLE" {
			return nil, userError(fmt.Sprintf("TABLE_NOT_FOUND: Table '%s.%s' does not exist", db, name))
		}
		return nil, userError(fmt.Sprintf("VIEW_NOT_FOUND: View '%s.%s' does not exist", db, name))
	}
	if err := e.cat.save(e.dir); err != nil {
		return nil, err
	}
	// Tables and views alike are DuckDB views (createDuckView).
	e.exec(ctx, fmt.Sprintf("DROP VIEW IF EXISTS %s.%s", quoteIdent(db), quoteIdent(name)))
	return ddlResult(sub), nil
}

// exec runs DuckDB housekeeping whose failure changes no result.
func (e *Engine) exec(ctx context.Context, stmt string) {
	_, _ = e.conn.ExecContext(ctx, stmt)
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
