package sqlengine

import (
	"fmt"
	"strconv"
	"strings"
)

// hiveType is a column type of Hive DDL.
type hiveType struct {
	Kind   string      // string, varchar, char, bigint, int, smallint, tinyint, double, float, boolean, timestamp, date, decimal, binary, struct, array, map
	Params []int       `json:",omitempty"`
	Fields []hiveField `json:",omitempty"`
	Elem   *hiveType   `json:",omitempty"` // array element or map value
	Key    *hiveType   `json:",omitempty"` // map key
}

// hiveField is a STRUCT field.
type hiveField struct {
	Name string
	Type *hiveType
}

// duck returns the DuckDB type the column is read as.
func (t *hiveType) duck() string {
	switch t.Kind {
	case "string", "varchar", "char":
		return "VARCHAR"
	case "bigint":
		return "BIGINT"
	case "int":
		return "INTEGER"
	case "smallint":
		return "SMALLINT"
	case "tinyint":
		return "TINYINT"
	case "double":
		return "DOUBLE"
	case "float":
		return "FLOAT"
	case "boolean":
		return "BOOLEAN"
	case "timestamp":
		return "TIMESTAMP"
	case "date":
		return "DATE"
	case "binary":
		return "BLOB"
	case "decimal":
		p, s := 10, 0
		if len(t.Params) > 0 {
			p = t.Params[0]
		}
		if len(t.Params) > 1 {
			s = t.Params[1]
		}
		return fmt.Sprintf("DECIMAL(%d,%d)", p, s)
	case "array":
		return t.Elem.duck() + "[]"
	case "map":
		return "MAP(" + t.Key.duck() + ", " + t.Elem.duck() + ")"
	case "struct":
		parts := make([]string, len(t.Fields))
		for i, f := range t.Fields {
			parts[i] = quoteIdent(f.Name) + " " + f.Type.duck()
		}
		return "STRUCT(" + strings.Join(parts, ", ") + ")"
	}
	return "VARCHAR"
}

// String returns the type in Hive's spelling.
func (t *hiveType) String() string {
	switch t.Kind {
	case "array":
		return "array<" + t.Elem.String() + ">"
	case "map":
		return "map<" + t.Key.String() + "," + t.Elem.String() + ">"
	case "struct":
		parts := make([]string, len(t.Fields))
		for i, f := range t.Fields {
			parts[i] = f.Name + ":" + f.Type.String()
		}
		return "struct<" + strings.Join(parts, ",") + ">"
	}
	if len(t.Params) == 0 {
		return t.Kind
	}
	ps := make([]string, len(t.Params))
	for i, p := range t.Params {
		ps[i] = strconv.Itoa(p)
	}
	return t.Kind + "(" + strings.Join(ps, ",") + ")"
}

// tableColumn is a column of a table definition.
type tableColumn struct {
	Name    string
	Type    *hiveType
	Comment string `json:",omitempty"`
}

// tableDef is a table as CREATE EXTERNAL TABLE defined it.
type tableDef struct {
	Database     string
	Name         string
	Columns      []tableColumn
	Partitions   []tableColumn `json:",omitempty"`
	Comment      string        `json:",omitempty"`
	SerDe        string
	SerDeProps   map[string]string `json:",omitempty"`
	InputFormat  string            `json:",omitempty"`
	OutputFormat string            `json:",omitempty"`
	Location     string
	Props        map[string]string `json:",omitempty"`
	// Added are the partitions ALTER TABLE ADD PARTITION registered.
	Added []addedPartition `json:",omitempty"`
}

// Default SerDe and formats of STORED AS TEXTFILE and of a table with no ROW FORMAT.
const (
	lazySimpleSerDe = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
	openCSVSerDe    = "org.apache.hadoop.hive.serde2.OpenCSVSerde"
	cloudTrailSerDe = "com.amazon.emr.hive.serde.CloudTrailSerde"
	// cloudTrailInputFormat splits a CloudTrail log file, {"Records":[...]}, into one record per
	// event, whichever SerDe then decodes it: AWS's documented DDL pairs it with the Hive JSON
	// SerDe, the older one with the CloudTrail SerDe.
	cloudTrailInputFormat = "com.amazon.emr.cloudtrail.CloudTrailInputFormat"
	textInputFormat       = "org.apache.hadoop.mapred.TextInputFormat"
	textOutputFormat      = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
)

// ddlParser parses one Hive DDL statement.
type ddlParser struct {
	src  string
	toks []token
	i    int
}

func (p *ddlParser) peek() token { return p.toks[p.i] }

func (p *ddlParser) next() token {
	t := p.toks[p.i]
	if t.Kind != tokEOF {
		p.i++
	}
	return t
}

func (p *ddlParser) errorf(t token, format string, args ...any) *Error {
	what := t.Text
	if t.Kind == tokEOF {
		what = "<EOF>"
	}
	return syntaxError(p.src, t.Pos, "mismatched input '%s'. %s", what, fmt.Sprintf(format, args...))
}

// accept consumes the keywords kws if they come next.
func (p *ddlParser) accept(kws ...string) bool {
	for k, kw := range kws {
		if !p.toks[min(p.i+k, len(p.toks)-1)].is(kw) {
			return false
		}
	}
	p.i += len(kws)
	return true
}

func (p *ddlParser) expect(kws ...string) error {
	if !p.accept(kws...) {
		return p.errorf(p.peek(), "Expecting: '%s'", strings.Join(kws, " "))
	}
	return nil
}

func (p *ddlParser) ident() (string, error) {
	t := p.next()
	if !t.isName() {
		return "", p.errorf(t, "Expecting: an identifier")
	}
	return t.name(), nil
}

func (p *ddlParser) str() (string, error) {
	t := p.next()
	if t.Kind != tokString {
		return "", p.errorf(t, "Expecting: a string literal")
	}
	return t.Text, nil
}

// qualifiedName reads [db.]name; db defaults to def.
func (p *ddlParser) qualifiedName(def string) (string, string, error) {
	a, err := p.ident()
	if err != nil {
		return "", "", err
	}
	if !p.accept(".") {
		return def, a, nil
	}
	b, err := p.ident()
	return a, b, err
}

// parseCreateTable parses CREATE EXTERNAL TABLE; p is positioned after TABLE.
func (p *ddlParser) parseCreateTable(database string) (*tableDef, bool, error) {
	ifNotExists := p.accept("IF", "NOT", "EXISTS")
	db, name, err := p.qualifiedName(database)
	if err != nil {
		return nil, false, err
	}
	t := &tableDef{Database: db, Name: name, SerDe: lazySimpleSerDe, InputFormat: textInputFormat,
		OutputFormat: textOutputFormat, SerDeProps: map[string]string{}, Props: map[string]string{}}
	if t.Columns, err = p.columns(); err != nil {
		return nil, false, err
	}
	for p.peek().Kind != tokEOF && !p.peek().is(";") {
		switch {
		case p.accept("COMMENT"):
			if t.Comment, err = p.str(); err != nil {
				return nil, false, err
			}
		case p.accept("PARTITIONED", "BY"):
			if t.Partitions, err = p.columns(); err != nil {
				return nil, false, err
			}
		case p.accept("ROW", "FORMAT", "SERDE"):
			if t.SerDe, err = p.str(); err != nil {
				return nil, false, err
			}
			if p.accept("WITH", "SERDEPROPERTIES") {
				if err := p.properties(t.SerDeProps); err != nil {
					return nil, false, err
				}
			}
		case p.accept("ROW", "FORMAT", "DELIMITED"):
			if err := p.delimited(t.SerDeProps); err != nil {
				return nil, false, err
			}
		case p.accept("STORED", "AS", "INPUTFORMAT"):
			if t.InputFormat, err = p.str(); err != nil {
				return nil, false, err
			}
			if err := p.expect("OUTPUTFORMAT"); err != nil {
				return nil, false, err
			}
			if t.OutputFormat, err = p.str(); err != nil {
				return nil, false, err
			}
		case p.accept("STORED", "AS", "TEXTFILE"):
			t.InputFormat, t.OutputFormat = textInputFormat, textOutputFormat
		case p.accept("LOCATION"):
			if t.Location, err = p.str(); err != nil {
				return nil, false, err
			}
		case p.accept("TBLPROPERTIES"):
			if err := p.properties(t.Props); err != nil {
				return nil, false, err
			}
		default:
			return nil, false, p.errorf(p.peek(), "Expecting: COMMENT, PARTITIONED BY, ROW FORMAT, STORED AS, LOCATION or TBLPROPERTIES")
		}
	}
	if t.Location == "" {
		return nil, false, userError("LOCATION is required for an external table " + db + "." + name)
	}
	if !strings.HasPrefix(t.Location, "s3://") {
		return nil, false, userError(fmt.Sprintf("location %q is not an s3:// URI", t.Location))
	}
	seen := map[string]bool{}
	for _, c := range append(append([]tableColumn{}, t.Columns...), t.Partitions...) {
		if seen[c.Name] {
			return nil, false, userError(fmt.Sprintf("column %q is defined twice in table %s.%s", c.Name, db, name))
		}
		seen[c.Name] = true
	}
	return t, ifNotExists, nil
}

// columns reads ( name type [COMMENT 'x'], ... ).
func (p *ddlParser) columns() ([]tableColumn, error) {
	if err := p.expect("("); err != nil {
		return nil, err
	}
	var cols []tableColumn
	for {
		name, err := p.ident()
		if err != nil {
			return nil, err
		}
		typ, err := p.typ()
		if err != nil {
			return nil, err
		}
		c := tableColumn{Name: name, Type: typ}
		if p.accept("COMMENT") {
			if c.Comment, err = p.str(); err != nil {
				return nil, err
			}
		}
		cols = append(cols, c)
		if p.accept(")") {
			return cols, nil
		}
		if err := p.expect(","); err != nil {
			return nil, err
		}
	}
}

// typ reads a Hive column type.
func (p *ddlParser) typ() (*hiveType, error) {
	t := p.next()
	if t.Kind != tokIdent {
		return nil, p.errorf(t, "Expecting: a column type")
	}
	kind := strings.ToLower(t.Text)
	switch kind {
	case "integer":
		kind = "int"
	case "real":
		kind = "float"
	}
	h := &hiveType{Kind: kind}
	switch kind {
	case "string", "bigint", "int", "smallint", "tinyint", "double", "float", "boolean", "timestamp", "date", "binary":
		if kind == "double" {
			p.accept("PRECISION")
		}
		return h, nil
	case "varchar", "char", "decimal":
		if !p.accept("(") {
			if kind == "decimal" {
				return h, nil
			}
			return nil, p.errorf(p.peek(), "Expecting: '(' after %s", kind)
		}
		for {
			n := p.next()
			v, err := strconv.Atoi(n.Text)
			if n.Kind != tokNumber || err != nil {
				return nil, p.errorf(n, "Expecting: a number")
			}
			h.Params = append(h.Params, v)
			if p.accept(")") {
				return h, nil
			}
			if err := p.expect(","); err != nil {
				return nil, err
			}
		}
	case "array":
		if err := p.expect("<"); err != nil {
			return nil, err
		}
		elem, err := p.typ()
		if err != nil {
			return nil, err
		}
		h.Elem = elem
		return h, p.expect(">")
	case "map":
		if err := p.expect("<"); err != nil {
			return nil, err
		}
		key, err := p.typ()
		if err != nil {
			return nil, err
		}
		if err := p.expect(","); err != nil {
			return nil, err
		}
		val, err := p.typ()
		if err != nil {
			return nil, err
		}
		h.Key, h.Elem = key, val
		return h, p.expect(">")
	case "struct":
		if err := p.expect("<"); err != nil {
			return nil, err
		}
		for {
			name, err := p.ident()
			if err != nil {
				return nil, err
			}
			if err := p.expect(":"); err != nil {
				return nil, err
			}
			ft, err := p.typ()
			if err != nil {
				return nil, err
			}
			if p.accept("COMMENT") {
				if _, err := p.str(); err != nil {
					return nil, err
				}
			}
			h.Fields = append(h.Fields, hiveField{Name: name, Type: ft})
			if p.accept(">") {
				return h, nil
			}
			if err := p.expect(","); err != nil {
				return nil, err
			}
		}
	}
	return nil, syntaxError(p.src, t.Pos, "Unknown type '%s'", t.Text)
}

// properties reads ( 'k' = 'v', ... ) into m.
func (p *ddlParser) properties(m map[string]string) error {
	if err := p.expect("("); err != nil {
		return err
	}
	if p.accept(")") {
		return nil
	}
	for {
		k, err := p.str()
		if err != nil {
			return err
		}
		if err := p.expect("="); err != nil {
			return err
		}
		v, err := p.str()
		if err != nil {
			return err
		}
		m[k] = v
		if p.accept(")") {
			return nil
		}
		if err := p.expect(","); err != nil {
			return err
		}
	}
}

// delimited reads the clauses of ROW FORMAT DELIMITED as LazySimpleSerDe properties.
func (p *ddlParser) delimited(m map[string]string) error {
	for {
		var key string
		switch {
		case p.accept("FIELDS", "TERMINATED", "BY"):
			key = "field.delim"
		case p.accept("ESCAPED", "BY"):
			key = "escape.delim"
		case p.accept("COLLECTION", "ITEMS", "TERMINATED", "BY"):
			key = "collection.delim"
		case p.accept("MAP", "KEYS", "TERMINATED", "BY"):
			key = "mapkey.delim"
		case p.accept("LINES", "TERMINATED", "BY"):
			key = "line.delim"
		case p.accept("NULL", "DEFINED", "AS"):
			key = "serialization.null.format"
		default:
			return nil
		}
		v, err := p.str()
		if err != nil {
			return err
		}
		m[key] = v
	}
}
