package sqlengine

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxPrefixes is how many projected partitions are listed one prefix at a time; above it the
// table's location is listed once and the keys matched to the template, which costs fewer calls.
const maxPrefixes = 64

// maxProjected bounds the values of one projected column, as Athena bounds projections.
const maxProjected = 1_000_000

// filter is what a query's WHERE clause says about one partition column: a set of allowed
// values (nil: any) and comparisons every value must pass. Partition columns are varchar, so
// comparisons are string comparisons, as in the query.
type filter struct {
	eq    []string
	tests []func(string) bool
}

func (f *filter) allows(v string) bool {
	if f == nil {
		return true
	}
	if f.eq != nil && !slices.Contains(f.eq, v) {
		return false
	}
	for _, t := range f.tests {
		if !t(v) {
			return false
		}
	}
	return true
}

// filters returns the literal predicates on partition columns in the WHERE clause that
// applies to the reference u. Only conjuncts are used: a clause with OR at its top level
// prunes nothing.
func filters(u use, cols []tableColumn) map[string]*filter {
	toks := u.site.toks
	i := u.ref.Last + 1
	depth := 0
	start := -1
scan:
	for ; i < len(toks) && toks[i].Kind != tokEOF; i++ {
		t := toks[i]
		switch {
		case t.is("("):
			depth++
		case t.is(")"):
			if depth--; depth < 0 {
				return nil
			}
		case depth == 0 && t.is("WHERE"):
			start = i + 1
			break scan
		case depth == 0 && isClauseEnd(t):
			return nil
		}
	}
	if start < 0 {
		return nil
	}
	end := start
	for depth = 0; toks[end].Kind != tokEOF; end++ {
		t := toks[end]
		switch {
		case t.is("("):
			depth++
			continue
		case t.is(")"):
			depth--
		}
		if depth < 0 || depth == 0 && isClauseEnd(t) {
			break
		}
	}
	conjuncts, ok := splitAnd(toks[start:end])
	if !ok {
		return nil
	}
	isPart := map[string]bool{}
	for _, c := range cols {
		isPart[c.Name] = true
	}
	out := map[string]*filter{}
	for _, c := range conjuncts {
		qual, col, f := predicate(c)
		if f == nil || !isPart[col] || qual != "" && qual != u.ref.Alias && !(u.ref.Alias == "" && qual == u.ref.Name) {
			continue
		}
		addFilter(out, col, f)
	}
	return out
}

// splitAnd splits a condition into its top-level conjuncts; false means it has OR at its top
// level, so that no conjunct holds on its own.
func splitAnd(toks []token) ([][]token, bool) {
	var out [][]token
	cur, depth := 0, 0
	between := false
	for i, t := range toks {
		switch {
		case t.is("("):
			depth++
		case t.is(")"):
			depth--
		case depth == 0 && t.is("OR"):
			return nil, false
		case depth == 0 && t.is("BETWEEN"):
			between = true
		case depth == 0 && t.is("AND"):
			if between {
				between = false
				continue
			}
			out = append(out, toks[cur:i])
			cur = i + 1
		}
	}
	return append(out, toks[cur:]), true
}

// addFilter adds f to the filter on col in m: a value must pass both.
func addFilter(m map[string]*filter, col string, f *filter) {
	g := m[col]
	if g == nil {
		g = &filter{}
		m[col] = g
	}
	if f.eq != nil {
		if g.eq == nil {
			g.eq = slices.Clone(f.eq)
		} else {
			g.eq = slices.DeleteFunc(slices.Clone(g.eq), func(v string) bool { return !slices.Contains(f.eq, v) })
			if g.eq == nil {
				g.eq = []string{}
			}
		}
	}
	g.tests = append(slices.Clip(g.tests), f.tests...)
}

func isClauseEnd(t token) bool {
	for _, k := range []string{"GROUP", "ORDER", "HAVING", "LIMIT", "UNION", "EXCEPT", "INTERSECT", "WINDOW", "OFFSET", "FETCH", ";"} {
		if t.is(k) {
			return true
		}
	}
	return false
}

// predicate matches one conjunct of the forms col = 'v', col IN ('a', ...), col BETWEEN 'a'
// AND 'b' and col <op> 'v' (either way round), where col may be qualified (qual). Every form
// is false for NULL, which is what lets a filter move below joins and views.
func predicate(c []token) (qual, col string, f *filter) {
	for len(c) >= 2 && c[0].is("(") && c[len(c)-1].is(")") {
		c = c[1 : len(c)-1]
	}
	colAt := func(i int) (string, string, int) {
		if i >= len(c) || !c[i].isName() {
			return "", "", i
		}
		if i+2 < len(c) && c[i+1].is(".") && c[i+2].isName() {
			return c[i].name(), c[i+2].name(), i + 3
		}
		return "", c[i].name(), i + 1
	}
	if qual, col, k := colAt(0); col != "" && k < len(c) {
		rest := c[k:]
		switch {
		case len(rest) == 2 && rest[1].Kind == tokString:
			if f := compare(rest[0].Text, rest[1].Text); f != nil && rest[0].Kind == tokPunct {
				return qual, col, f
			}
		case len(rest) >= 4 && rest[0].is("IN") && rest[1].is("(") && rest[len(rest)-1].is(")"):
			vals := []string{}
			for j := 2; j < len(rest)-1; j++ {
				if (j%2 == 0) != (rest[j].Kind == tokString) || j%2 == 1 && !rest[j].is(",") {
					return "", "", nil
				}
				if j%2 == 0 {
					vals = append(vals, rest[j].Text)
				}
			}
			return qual, col, &filter{eq: vals}
		case len(rest) == 4 && rest[0].is("BETWEEN") && rest[1].Kind == tokString && rest[2].is("AND") && rest[3].Kind == tokString:
			lo, hi := rest[1].Text, rest[3].Text
			return qual, col, &filter{tests: []func(string) bool{func(v string) bool { return v >= lo && v <= hi }}}
		}
	}
	if len(c) >= 3 && c[0].Kind == tokString {
		if qual, col, k := colAt(2); col != "" && k == len(c) {
			flip := map[string]string{"=": "=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}
			if op, ok := flip[c[1].Text]; ok && c[1].Kind == tokPunct {
				return qual, col, compare(op, c[0].Text)
			}
		}
	}
	return "", "", nil
}

func compare(op, lit string) *filter {
	var test func(string) bool
	switch op {
	case "=":
		return &filter{eq: []string{lit}}
	case "<":
		test = func(v string) bool { return v < lit }
	case "<=":
		test = func(v string) bool { return v <= lit }
	case ">":
		test = func(v string) bool { return v > lit }
	case ">=":
		test = func(v string) bool { return v >= lit }
	default:
		return nil
	}
	return &filter{tests: []func(string) bool{test}}
}

// projection is the partition projection of one column.
type projection struct {
	col, typ string
	values   []string // enum
	layout   string   // date, as a Go layout
	lo, hi   string   // range ends as written
	interval int
	unit     string
	digits   int
}

func projections(t *tableDef) (map[string]*projection, error) {
	if !strings.EqualFold(t.Props["projection.enabled"], "true") {
		return nil, nil
	}
	out := map[string]*projection{}
	for _, c := range t.Partitions {
		key := "projection." + c.Name + "."
		p := &projection{col: c.Name, typ: strings.ToLower(t.Props[key+"type"]), interval: 1}
		switch p.typ {
		case "enum":
			if t.Props[key+"values"] == "" {
				return nil, userError(fmt.Sprintf("partition projection of column %s: %svalues is missing", c.Name, key))
			}
			for _, v := range strings.Split(t.Props[key+"values"], ",") {
				p.values = append(p.values, strings.TrimSpace(v))
			}
		case "date", "integer":
			lo, hi, ok := strings.Cut(t.Props[key+"range"], ",")
			if !ok {
				return nil, userError(fmt.Sprintf("partition projection of column %s: %srange must be 'start,end'", c.Name, key))
			}
			p.lo, p.hi = strings.TrimSpace(lo), strings.TrimSpace(hi)
			if s := t.Props[key+"interval"]; s != "" {
				n, err := strconv.Atoi(s)
				if err != nil || n <= 0 {
					return nil, userError(fmt.Sprintf("partition projection of column %s: bad %sinterval %q", c.Name, key, s))
				}
				p.interval = n
			}
			if s := t.Props[key+"digits"]; s != "" {
				p.digits, _ = strconv.Atoi(s)
			}
			if p.typ == "date" {
				layout, err := javaLayout(t.Props[key+"format"])
				if err != nil {
					return nil, userError(fmt.Sprintf("partition projection of column %s: %v", c.Name, err))
				}
				p.layout = layout
				p.unit = strings.ToUpper(t.Props[key+"interval.unit"])
				if p.unit == "" {
					p.unit = "DAYS"
					if strings.Contains(layout, "15") {
						p.unit = "HOURS"
					}
				}
				if _, ok := units[p.unit]; !ok {
					return nil, userError(fmt.Sprintf("partition projection of column %s: bad interval unit %q", c.Name, p.unit))
				}
				if _, err := p.bound(p.lo, time.Now()); err != nil {
					return nil, err
				}
				if _, err := p.bound(p.hi, time.Now()); err != nil {
					return nil, err
				}
			}
		case "injected":
		default:
			return nil, userError(fmt.Sprintf("partition projection of column %s: %stype %q is not enum, date, integer or injected", c.Name, key, t.Props[key+"type"]))
		}
		out[c.Name] = p
	}
	return out, nil
}

var units = map[string]func(time.Time, int) time.Time{
	"YEARS":   func(t time.Time, n int) time.Time { return t.AddDate(n, 0, 0) },
	"MONTHS":  func(t time.Time, n int) time.Time { return t.AddDate(0, n, 0) },
	"WEEKS":   func(t time.Time, n int) time.Time { return t.AddDate(0, 0, 7*n) },
	"DAYS":    func(t time.Time, n int) time.Time { return t.AddDate(0, 0, n) },
	"HOURS":   func(t time.Time, n int) time.Time { return t.Add(time.Duration(n) * time.Hour) },
	"MINUTES": func(t time.Time, n int) time.Time { return t.Add(time.Duration(n) * time.Minute) },
	"SECONDS": func(t time.Time, n int) time.Time { return t.Add(time.Duration(n) * time.Second) },
}

var nowExpr = regexp.MustCompile(`^NOW(?:\s*([+-])\s*(\d+)\s*(YEARS?|MONTHS?|WEEKS?|DAYS?|HOURS?|MINUTES?|SECONDS?))?$`)

// bound returns a date range end: a date in the projection's format, or NOW[+-N UNIT].
func (p *projection) bound(s string, now time.Time) (time.Time, error) {
	if m := nowExpr.FindStringSubmatch(strings.ToUpper(s)); m != nil {
		t := now.UTC()
		if m[1] != "" {
			n, _ := strconv.Atoi(m[2])
			if m[1] == "-" {
				n = -n
			}
			u := m[3]
			if !strings.HasSuffix(u, "S") {
				u += "S"
			}
			t = units[u](t, n)
		}
		return t, nil
	}
	t, err := time.Parse(p.layout, s)
	if err != nil {
		return time.Time{}, userError(fmt.Sprintf("partition projection of column %s: range end %q does not match the format", p.col, s))
	}
	return t, nil
}

// javaLayout converts the Java date format of a date projection to a Go layout.
func javaLayout(f string) (string, error) {
	if f == "" {
		return "", fmt.Errorf("no format")
	}
	var b strings.Builder
	for i := 0; i < len(f); {
		switch {
		case strings.HasPrefix(f[i:], "yyyy"):
			b.WriteString("2006")
			i += 4
		case strings.HasPrefix(f[i:], "yy"):
			b.WriteString("06")
			i += 2
		case strings.HasPrefix(f[i:], "MM"):
			b.WriteString("01")
			i += 2
		case strings.HasPrefix(f[i:], "dd"):
			b.WriteString("02")
			i += 2
		case strings.HasPrefix(f[i:], "HH"):
			b.WriteString("15")
			i += 2
		case strings.HasPrefix(f[i:], "mm"):
			b.WriteString("04")
			i += 2
		case strings.HasPrefix(f[i:], "ss"):
			b.WriteString("05")
			i += 2
		case f[i] == '\'':
			j := strings.IndexByte(f[i+1:], '\'')
			if j < 0 {
				return "", fmt.Errorf("format %q: unterminated quote", f)
			}
			b.WriteString(f[i+1 : i+1+j])
			i += j + 2
		case f[i] >= 'a' && f[i] <= 'z' || f[i] >= 'A' && f[i] <= 'Z':
			return "", fmt.Errorf("format %q: pattern letter %q is not supported", f, f[i])
		default:
			b.WriteByte(f[i])
			i++
		}
	}
	return b.String(), nil
}

// candidates lists the values of a projected column that f allows.
func (p *projection) candidates(f *filter, now time.Time) ([]string, error) {
	var all []string
	switch p.typ {
	case "enum":
		all = p.values
	case "injected":
		if f == nil || f.eq == nil {
			return nil, userError(fmt.Sprintf("CONSTRAINT_VIOLATION: For the injected projected partition column %s, the WHERE clause must contain only static equality conditions, and at least one such condition must be present.", p.col))
		}
		return slices.Clone(f.eq), nil
	case "integer":
		lo, err1 := strconv.ParseInt(p.lo, 10, 64)
		hi, err2 := strconv.ParseInt(p.hi, 10, 64)
		if err1 != nil || err2 != nil {
			return nil, userError(fmt.Sprintf("partition projection of column %s: bad integer range %s,%s", p.col, p.lo, p.hi))
		}
		if (hi-lo)/int64(p.interval) > maxProjected {
			return nil, userError(fmt.Sprintf("partition projection of column %s: range too large", p.col))
		}
		for v := lo; v <= hi; v += int64(p.interval) {
			s := strconv.FormatInt(v, 10)
			for len(s) < p.digits {
				s = "0" + s
			}
			all = append(all, s)
		}
	case "date":
		lo, err := p.bound(p.lo, now)
		if err != nil {
			return nil, err
		}
		hi, err := p.bound(p.hi, now)
		if err != nil {
			return nil, err
		}
		add := units[p.unit]
		for t := lo; !t.After(hi); t = add(t, p.interval) {
			if len(all) >= maxProjected {
				return nil, userError(fmt.Sprintf("partition projection of column %s: range too large", p.col))
			}
			all = append(all, t.Format(p.layout))
		}
	}
	out := make([]string, 0, len(all))
	for _, v := range all {
		if f.allows(v) {
			out = append(out, v)
		}
	}
	return out, nil
}

// pattern is the regular expression that a projected value matches in a key.
func (p *projection) pattern() string {
	switch p.typ {
	case "date":
		re := regexp.QuoteMeta(p.layout)
		for _, r := range []struct{ from, to string }{{"2006", `\d{4}`}, {"01", `\d{2}`}, {"02", `\d{2}`}, {"15", `\d{2}`}, {"04", `\d{2}`}, {"05", `\d{2}`}, {"06", `\d{2}`}} {
			re = strings.ReplaceAll(re, r.from, r.to)
		}
		return re
	case "integer":
		return `-?\d+`
	}
	return `[^/]+`
}

// template returns the storage location template of t, with ${col} for each partition column.
func template(t *tableDef) string {
	if s := t.Props["storage.location.template"]; s != "" {
		return s
	}
	s := strings.TrimSuffix(t.Location, "/") + "/"
	for _, c := range t.Partitions {
		s += c.Name + "=${" + c.Name + "}/"
	}
	return s
}

// checkTable rejects definitions the engine could not read, at CREATE time as Athena would
// at query time, so that the mistake shows where it was made.
func checkTable(t *tableDef) error {
	if _, err := projections(t); err != nil {
		return err
	}
	if strings.EqualFold(t.Props["projection.enabled"], "true") {
		tmpl := template(t)
		if !strings.HasPrefix(tmpl, "s3://") {
			return userError(fmt.Sprintf("storage.location.template %q is not an s3:// URI", tmpl))
		}
		for _, c := range t.Partitions {
			if !strings.Contains(tmpl, "${"+c.Name+"}") {
				return userError(fmt.Sprintf("storage.location.template %q has no ${%s}", tmpl, c.Name))
			}
		}
	}
	if _, err := newDecoder(t); err != nil {
		return err
	}
	return nil
}
