package sqlengine

import (
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

// duckType is a DuckDB result type as DatabaseTypeName spells it.
type duckType struct {
	Name   string // upper case base name: VARCHAR, STRUCT, LIST, MAP, DECIMAL, ...
	Args   string // the parenthesised arguments of DECIMAL and the like
	Fields []duckField
	Elem   *duckType // LIST element, MAP value
	Key    *duckType // MAP key
}

type duckField struct {
	Name string
	Type *duckType
}

// parseDuckType parses a DuckDB type name; unknown shapes become their plain name.
func parseDuckType(s string) *duckType {
	t, _ := parseDuckTypeAt(strings.TrimSpace(s))
	return t
}

func parseDuckTypeAt(s string) (*duckType, string) {
	i := 0
	for i < len(s) && s[i] != '(' && s[i] != '[' && s[i] != ',' && s[i] != ')' {
		i++
	}
	t := &duckType{Name: strings.ToUpper(strings.TrimSpace(s[:i]))}
	rest := s[i:]
	if strings.HasPrefix(rest, "(") {
		switch t.Name {
		case "STRUCT":
			rest = rest[1:]
			for {
				rest = strings.TrimLeft(rest, " ")
				var name string
				if strings.HasPrefix(rest, `"`) {
					j := 1
					var b strings.Builder
					for j < len(rest) {
						if rest[j] == '"' {
							if j+1 < len(rest) && rest[j+1] == '"' {
								b.WriteByte('"')
								j += 2
								continue
							}
							break
						}
						b.WriteByte(rest[j])
						j++
					}
					name, rest = b.String(), rest[min(j+1, len(rest)):]
				} else {
					j := strings.IndexByte(rest, ' ')
					if j < 0 {
						return t, ""
					}
					name, rest = rest[:j], rest[j:]
				}
				var ft *duckType
				ft, rest = parseDuckTypeAt(strings.TrimLeft(rest, " "))
				t.Fields = append(t.Fields, duckField{Name: name, Type: ft})
				rest = strings.TrimLeft(rest, " ")
				if strings.HasPrefix(rest, ",") {
					rest = rest[1:]
					continue
				}
				rest = strings.TrimPrefix(rest, ")")
				break
			}
		case "MAP":
			t.Key, rest = parseDuckTypeAt(strings.TrimLeft(rest[1:], " "))
			rest = strings.TrimPrefix(strings.TrimLeft(rest, " "), ",")
			t.Elem, rest = parseDuckTypeAt(strings.TrimLeft(rest, " "))
			rest = strings.TrimPrefix(strings.TrimLeft(rest, " "), ")")
		default:
			j := strings.IndexByte(rest, ')')
			if j < 0 {
				return t, ""
			}
			t.Args, rest = rest[1:j], rest[j+1:]
		}
	}
	for strings.HasPrefix(rest, "[") {
		j := strings.IndexByte(rest, ']')
		if j < 0 {
			break
		}
		t = &duckType{Name: "LIST", Elem: t}
		rest = rest[j+1:]
	}
	return t, rest
}

// athena returns the type in Athena's (Trino's) spelling.
func (t *duckType) athena() string {
	switch t.Name {
	case "VARCHAR", "CHAR", "TEXT", "STRING":
		return "varchar"
	case "BIGINT", "HUGEINT", "UBIGINT", "UINTEGER", "UHUGEINT", "INT8", "LONG":
		// DuckDB sums BIGINT into HUGEINT where Trino keeps bigint.
		return "bigint"
	case "INTEGER", "USMALLINT", "INT", "INT4":
		return "integer"
	case "SMALLINT", "UTINYINT":
		return "smallint"
	case "TINYINT":
		return "tinyint"
	case "DOUBLE":
		return "double"
	case "FLOAT", "REAL":
		return "real"
	case "BOOLEAN":
		return "boolean"
	case "TIMESTAMP", "TIMESTAMP_MS", "TIMESTAMP_NS", "TIMESTAMP_S":
		return "timestamp"
	case "TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE":
		return "timestamp with time zone"
	case "DATE":
		return "date"
	case "TIME":
		return "time"
	case "INTERVAL":
		return "interval day to second"
	case "BLOB":
		return "varbinary"
	case "JSON":
		return "json"
	case "UUID":
		return "uuid"
	case "DECIMAL":
		return "decimal(" + strings.ReplaceAll(t.Args, " ", "") + ")"
	case "LIST":
		return "array(" + t.Elem.athena() + ")"
	case "MAP":
		return "map(" + t.Key.athena() + ", " + t.Elem.athena() + ")"
	case "STRUCT":
		parts := make([]string, len(t.Fields))
		for i, f := range t.Fields {
			parts[i] = f.Name + " " + f.Type.athena()
		}
		return "row(" + strings.Join(parts, ", ") + ")"
	case `"NULL"`, "NULL":
		return "unknown"
	}
	return strings.ToLower(t.Name)
}

// render formats a non-NULL value as Athena's result CSV does; nested values are rendered
// as Trino renders them inside rows, arrays and maps.
func render(v any, t *duckType, nested bool) string {
	if v == nil {
		return "null"
	}
	if t.Name == "JSON" {
		return renderJSON(v)
	}
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return javaDouble(x, 64)
	case float32:
		return javaDouble(float64(x), 32)
	case *big.Int:
		return x.String()
	case duckdb.Decimal:
		return formatDecimal(x)
	case time.Time:
		switch t.Name {
		case "DATE":
			return x.Format("2006-01-02")
		case "TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE":
			return x.UTC().Format("2006-01-02 15:04:05.000") + " UTC"
		case "TIME":
			return x.Format("15:04:05.000")
		}
		return x.Format("2006-01-02 15:04:05.000")
	case []byte:
		parts := make([]string, len(x))
		for i, c := range x {
			parts[i] = fmt.Sprintf("%02x", c)
		}
		return strings.Join(parts, " ")
	case []any:
		elem := t.Elem
		if elem == nil {
			elem = &duckType{}
		}
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = render(e, elem, true)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		parts := make([]string, 0, len(x))
		if t.Name == "STRUCT" {
			for _, f := range t.Fields {
				parts = append(parts, f.Name+"="+render(x[f.Name], f.Type, true))
			}
		} else {
			for k, e := range x {
				parts = append(parts, k+"="+render(e, &duckType{}, true))
			}
			sort.Strings(parts)
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case duckdb.Map:
		key, val := t.Key, t.Elem
		if key == nil {
			key, val = &duckType{}, &duckType{}
		}
		parts := make([]string, 0, len(x))
		for k, e := range x {
			parts = append(parts, render(k, key, true)+"="+render(e, val, true))
		}
		sort.Strings(parts)
		return "{" + strings.Join(parts, ", ") + "}"
	case duckdb.UUID:
		return x.String()
	}
	return fmt.Sprint(v)
}

// javaDouble formats f as Java's Double.toString does, which is what Athena prints.
func javaDouble(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	if abs := math.Abs(f); abs >= 1e-3 && abs < 1e7 {
		s := strconv.FormatFloat(f, 'f', -1, bits)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'E', -1, bits)
	mant, exp, _ := strings.Cut(s, "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	n, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(n)
}

func formatDecimal(d duckdb.Decimal) string {
	if d.Value == nil {
		return "0"
	}
	s := new(big.Int).Abs(d.Value).String()
	scale := int(d.Scale)
	if scale > 0 {
		for len(s) <= scale {
			s = "0" + s
		}
		s = s[:len(s)-scale] + "." + s[len(s)-scale:]
	}
	if d.Value.Sign() < 0 {
		s = "-" + s
	}
	return s
}
