package sqlengine

import "strings"

// Athena prunes the partitions of a table read through views: a literal predicate on a view's
// column reaches the table when the column is the table's column, passed through unchanged.
// pushdown does the same on tokens, conservatively: any shape it does not know (WITH, LIMIT,
// window functions, a computed column, a relation it cannot name) pushes nothing there, so the
// table is read whole, as without pushdown. What lets a filter move is that every predicate
// kept is false for NULL: a row it rejects above a join, a GROUP BY on the column or a UNION is
// a row whose table rows can be left out below it.

// relation is one entry of a FROM clause: a table or view reference (ref >= 0) or a subquery.
type relation struct {
	ref    int // index in site.refs, -1 for a subquery
	name   string
	alias  string
	lo, hi int // the subquery's tokens
}

// pushdown returns, for each reference of s, the filters on its columns that its query and
// outer (filters on the output columns of s's query, nil if none) imply.
func pushdown(s *site, outer map[string]*filter) []map[string]*filter {
	out := make([]map[string]*filter, len(s.refs))
	end := len(s.toks) - 1 // EOF
	if end > 0 && s.toks[end-1].is(";") {
		end--
	}
	pushQuery(s, 0, end, outer, out)
	return out
}

// pushQuery pushes filters on the output columns of the query in s.toks[lo:hi] down to the
// relations it reads.
func pushQuery(s *site, lo, hi int, fs map[string]*filter, out []map[string]*filter) {
	toks := s.toks
	for hi-lo >= 2 && toks[lo].is("(") && matching(toks, lo) == hi-1 {
		lo, hi = lo+1, hi-1
	}
	// Branches of a set operation; the first names the columns, the others match them by
	// position. Filters on the output pass into the branches of a UNION, not below a LIMIT;
	// a branch's own WHERE clause holds in any case.
	var branches [][2]int
	start, depth := lo, 0
	for i := lo; i < hi; i++ {
		t := toks[i]
		switch {
		case t.is("("):
			depth++
		case t.is(")"):
			depth--
		case depth > 0:
		case t.is("WITH"):
			return
		case t.is("LIMIT"), t.is("OFFSET"), t.is("FETCH"):
			fs = nil
		case t.is("UNION"), t.is("EXCEPT"), t.is("INTERSECT"):
			if !t.is("UNION") {
				fs = nil
			}
			branches = append(branches, [2]int{start, i})
			if i+1 < hi && (toks[i+1].is("ALL") || toks[i+1].is("DISTINCT")) {
				i++
			}
			start = i + 1
		}
	}
	branches = append(branches, [2]int{start, hi})
	var names []string
	for n, b := range branches {
		if !toks[b[0]].is("SELECT") {
			continue
		}
		items, ok := selectItems(toks, b[0], b[1])
		switch {
		case !ok || n > 0 && len(items) != len(names):
			fs = nil
		case n == 0:
			for _, it := range items {
				names = append(names, it.name)
			}
		}
		pos := map[string]int{}
		for i, name := range names {
			if _, dup := pos[name]; dup {
				pos[name] = -1
			} else {
				pos[name] = i
			}
		}
		// Each branch on its own: filtering a UNION is filtering each branch.
		mapped := map[string]map[string]*filter{} // "qual.col" of this branch -> filters
		for col, f := range fs {
			i, ok := pos[col]
			if !ok || i < 0 || items[i].col == "" {
				continue
			}
			key := items[i].qual + "." + items[i].col
			if mapped[key] == nil {
				mapped[key] = map[string]*filter{}
			}
			addFilter(mapped[key], "", f)
		}
		pushBlock(s, b[0], b[1], mapped, out)
	}
}

// item is one entry of a select list: its output name and, if it is a plain column
// reference, the column and its qualifier.
type item struct {
	name, qual, col string
}

// selectItems parses the select list of the SELECT in toks[lo:hi]; false if the block is not
// a plain SELECT whose output columns are known (a *, a window function).
func selectItems(toks []token, lo, hi int) ([]item, bool) {
	if lo >= hi || !toks[lo].is("SELECT") {
		return nil, false
	}
	i := lo + 1
	if toks[i].is("DISTINCT") || toks[i].is("ALL") {
		i++
	}
	var items []item
	start, depth := i, 0
	for ; i <= hi; i++ {
		t := toks[i]
		if i < hi {
			if t.is("OVER") {
				return nil, false
			}
			if t.is("(") {
				depth++
			} else if t.is(")") {
				depth--
			}
			if depth != 0 || !t.is(",") && !t.is("FROM") && !t.is("WHERE") && !isClauseEnd(t) {
				continue
			}
		}
		e := toks[start:i]
		if len(e) == 0 || e[len(e)-1].is("*") {
			return nil, false
		}
		items = append(items, parseItem(e))
		if i == hi || !t.is(",") {
			break
		}
		start = i + 1
	}
	return items, true
}

// reserved are words that look like names in a select list but are not columns.
var reserved = map[string]bool{
	"not": true, "case": true, "exists": true, "null": true, "true": true, "false": true,
	"current_date": true, "current_time": true, "current_timestamp": true, "localtime": true,
	"localtimestamp": true, "current_user": true, "interval": true, "date": true, "timestamp": true,
}

func isColumn(t token) bool {
	return t.Kind == tokQuoted || t.Kind == tokIdent && !reserved[t.name()]
}

func parseItem(e []token) item {
	var it item
	switch n := len(e); {
	case n >= 2 && e[n-2].is("AS") && e[n-1].isName():
		it.name, e = e[n-1].name(), e[:n-2]
	case n == 2 && isColumn(e[0]) && isColumn(e[1]), n == 4 && e[1].is(".") && isColumn(e[3]):
		it.name, e = e[n-1].name(), e[:n-1] // an alias without AS
	}
	switch {
	case len(e) == 1 && isColumn(e[0]):
		it.col = e[0].name()
	case len(e) == 3 && e[0].isName() && e[1].is(".") && isColumn(e[2]):
		it.qual, it.col = e[0].name(), e[2].name()
	}
	if it.name == "" {
		it.name = it.col
	}
	return it
}

// pushBlock pushes filters into the relations of the SELECT in toks[lo:hi]: mapped holds the
// filters on its output columns, keyed by the "qual.col" they are; its own WHERE clause and
// the equalities between columns in its ON and WHERE clauses add more.
func pushBlock(s *site, lo, hi int, mapped map[string]map[string]*filter, out []map[string]*filter) {
	toks := s.toks
	var from, where [2]int
	var clause *[2]int
	depth := 0
	for i := lo; i < hi; i++ {
		t := toks[i]
		if depth == 0 {
			switch {
			case t.is("FROM"):
				from, clause = [2]int{i + 1, i + 1}, &from
				continue
			case t.is("WHERE"):
				where, clause = [2]int{i + 1, i + 1}, &where
				continue
			case t.is("ROLLUP"), t.is("CUBE"), t.is("GROUPING"), t.is("WINDOW"):
				return
			case isClauseEnd(t):
				clause = nil
			}
		}
		if t.is("(") {
			depth++
		} else if t.is(")") {
			depth--
		}
		if clause != nil {
			clause[1] = i + 1
		}
	}
	rels, ons, ok := relations(s, from[0], from[1])
	if !ok {
		return
	}
	known := make([]map[string]*filter, len(rels))
	for i := range known {
		known[i] = map[string]*filter{}
	}
	add := func(qual, col string, f *filter) bool {
		r := resolve(s, rels, qual, col)
		if r < 0 {
			return false
		}
		addFilter(known[r], col, f)
		return true
	}
	for key, m := range mapped {
		qual, col, _ := strings.Cut(key, ".")
		add(qual, col, m[""])
	}
	conds := ons
	if where[1] > where[0] {
		if cs, ok := splitAnd(toks[where[0]:where[1]]); ok {
			for _, c := range cs {
				conds = append(conds, cond{rel: -1, toks: c})
			}
			for _, c := range cs {
				if qual, col, f := predicate(c); f != nil {
					add(qual, col, f)
				}
			}
		}
	}
	// An equality between columns of two relations means the same values on both sides.
	type side struct {
		rel int
		col string
	}
	var eqs [][2]side
	for _, cd := range conds {
		c := cd.toks
		l, k := columnRef(c, 0)
		if k >= len(c) || !c[k].is("=") {
			continue
		}
		r, k2 := columnRef(c, k+1)
		if k2 != len(c) || l[1] == "" || r[1] == "" {
			continue
		}
		a, b := resolve(s, rels, l[0], l[1]), resolve(s, rels, r[0], r[1])
		// An ON clause says nothing of rows it null-extends unless it joins its own relation.
		if a >= 0 && b >= 0 && a != b && (cd.rel < 0 || a == cd.rel || b == cd.rel) {
			eqs = append(eqs, [2]side{{a, l[1]}, {b, r[1]}})
		}
	}
	for range eqs { // enough rounds to carry a filter along a chain of equalities
		for _, e := range eqs {
			for _, d := range [][2]side{{e[0], e[1]}, {e[1], e[0]}} {
				if f := known[d[0].rel][d[0].col]; f != nil && known[d[1].rel][d[1].col] == nil {
					known[d[1].rel][d[1].col] = &filter{eq: f.eq, tests: f.tests}
				}
			}
		}
	}
	for i, r := range rels {
		if len(known[i]) == 0 {
			continue
		}
		if r.ref < 0 {
			pushQuery(s, r.lo, r.hi, known[i], out)
			continue
		}
		if out[r.ref] == nil {
			out[r.ref] = map[string]*filter{}
		}
		for col, f := range known[i] {
			addFilter(out[r.ref], col, f)
		}
	}
}

// columnRef reads col or qual.col at c[i]; it returns {qual, col} and the index after it.
func columnRef(c []token, i int) ([2]string, int) {
	if i >= len(c) || !c[i].isName() {
		return [2]string{}, i
	}
	if i+2 < len(c) && c[i+1].is(".") && c[i+2].isName() {
		return [2]string{c[i].name(), c[i+2].name()}, i + 3
	}
	return [2]string{"", c[i].name()}, i + 1
}

// resolve returns the relation that qual.col names, or -1 if it is not sure which.
func resolve(s *site, rels []relation, qual, col string) int {
	found := -1
	for i, r := range rels {
		switch {
		case qual != "":
			if r.alias == qual || r.alias == "" && r.name == qual {
				return i
			}
			continue
		case len(rels) == 1:
			return 0
		case r.ref >= 0 && !s.hasColumn(r.ref, col):
			continue
		}
		if found >= 0 {
			return -1
		}
		found = i
	}
	if qual != "" {
		return -1
	}
	return found
}

// hasColumn reports whether reference i may have column col: false only for a table that
// does not have it.
func (s *site) hasColumn(i int, col string) bool {
	if i >= len(s.columns) || s.columns[i] == nil {
		return true
	}
	return s.columns[i][col]
}

// cond is a conjunct of the ON clause that joins relation rel, or of the WHERE clause (-1).
type cond struct {
	rel  int
	toks []token
}

// relations parses the FROM clause in toks[lo:hi]; it returns its relations and the
// conjuncts of its ON clauses, or false if it has a shape it does not know.
func relations(s *site, lo, hi int) ([]relation, []cond, bool) {
	toks := s.toks
	var rels []relation
	var ons []cond
	i := lo
	for i < hi {
		var r relation
		switch {
		case toks[i].is("("):
			k := matching(toks, i)
			if k < 0 || k >= hi {
				return nil, nil, false
			}
			r = relation{ref: -1, lo: i + 1, hi: k}
			i = k + 1
			if i < hi && toks[i].is("AS") {
				i++
			}
			if i < hi && toks[i].isName() && !(toks[i].Kind == tokIdent && notAlias[toks[i].name()]) {
				r.alias = toks[i].name()
				i++
			}
		default:
			r.ref = -1
			for j, rf := range s.refs {
				if rf.First == i {
					r = relation{ref: j, name: rf.Name, alias: rf.Alias}
					i = rf.Last + 1
				}
			}
			if r.ref < 0 {
				return nil, nil, false
			}
			if i < hi && toks[i].is("AS") {
				i++
			}
			if r.alias != "" {
				i++
			}
		}
		if i < hi && toks[i].is("(") {
			return nil, nil, false // column aliases
		}
		rels = append(rels, r)
		if i < hi && toks[i].is("ON") {
			j, depth := i+1, 0
			for ; j < hi; j++ {
				t := toks[j]
				if t.is("(") {
					depth++
				} else if t.is(")") {
					depth--
				}
				if depth == 0 && (t.is(",") || t.is("JOIN") || t.is("LEFT") || t.is("RIGHT") ||
					t.is("FULL") || t.is("INNER") || t.is("CROSS") || t.is("NATURAL")) {
					break
				}
			}
			if cs, ok := splitAnd(toks[i+1 : j]); ok {
				for _, c := range cs {
					ons = append(ons, cond{rel: len(rels) - 1, toks: c})
				}
			}
			i = j
		}
		if i >= hi {
			break
		}
		switch {
		case toks[i].is(","):
			i++
			continue
		case toks[i].is("LEFT"), toks[i].is("RIGHT"), toks[i].is("FULL"):
			i++
			if i < hi && toks[i].is("OUTER") {
				i++
			}
		case toks[i].is("INNER"), toks[i].is("CROSS"):
			i++
		}
		if i >= hi || !toks[i].is("JOIN") {
			return nil, nil, false
		}
		i++
	}
	return rels, ons, true
}

// matching returns the index of the parenthesis that closes toks[i], or -1.
func matching(toks []token, i int) int {
	depth := 0
	for j := i; j < len(toks) && toks[j].Kind != tokEOF; j++ {
		if toks[j].is("(") {
			depth++
		} else if toks[j].is(")") {
			if depth--; depth == 0 {
				return j
			}
		}
	}
	return -1
}
