package sqlengine

import "fmt"

// Athena (Trino) names an output column that is neither a plain column reference nor aliased
// _colN, N its 0-based position in the output: SELECT a, count(*) gives a and _col1, where
// DuckDB would say count_star(). Clients read these names from ResultSetMetadata, so the
// stand-in renames what it can tell for sure is unaliased and leaves any shape it does not
// know as DuckDB named it.

// athenaNames renames in cols the output columns of the statement in toks that Athena would
// call _colN.
func athenaNames(toks []token, cols []Column) {
	lo, hi := 0, len(toks)-1 // EOF
	if hi > 0 && toks[hi-1].is(";") {
		hi--
	}
	lo, hi = unwrap(toks, lo, hi)
	if toks[lo].is("WITH") {
		if lo = skipWith(toks, lo, hi); lo < 0 {
			return
		}
		lo, hi = unwrap(toks, lo, hi)
	}
	// The first branch of a set operation names the columns.
	for toks[lo].is("(") {
		if hi = matching(toks, lo); hi < 0 {
			return
		}
		lo++
	}
	if toks[lo].is("VALUES") {
		for i := range cols {
			cols[i].Name = fmt.Sprintf("_col%d", i)
		}
		return
	}
	exprs := selectList(toks, lo, hi)
	if exprs == nil {
		return
	}
	stars := 0
	for _, e := range exprs {
		if e[len(e)-1].is("*") {
			stars++
		}
	}
	if stars > 1 || stars == 0 && len(exprs) != len(cols) || len(exprs) > len(cols)+stars {
		return
	}
	pos := 0
	for _, e := range exprs {
		if e[len(e)-1].is("*") {
			pos += len(cols) - (len(exprs) - 1)
			continue
		}
		if unaliased(e) {
			cols[pos].Name = fmt.Sprintf("_col%d", pos)
		}
		pos++
	}
}

// unwrap strips parentheses around the whole of toks[lo:hi].
func unwrap(toks []token, lo, hi int) (int, int) {
	for hi-lo >= 2 && toks[lo].is("(") && matching(toks, lo) == hi-1 {
		lo, hi = lo+1, hi-1
	}
	return lo, hi
}

// skipWith returns the index of the query after the WITH clause at toks[lo], or -1.
func skipWith(toks []token, lo, hi int) int {
	i := lo + 1
	if toks[i].is("RECURSIVE") {
		i++
	}
	for i < hi {
		if !toks[i].isName() {
			return -1
		}
		i++
		if toks[i].is("(") { // column names
			if i = matching(toks, i); i < 0 {
				return -1
			}
			i++
		}
		if !toks[i].is("AS") || !toks[i+1].is("(") {
			return -1
		}
		if i = matching(toks, i+1); i < 0 {
			return -1
		}
		i++
		if !toks[i].is(",") {
			return i
		}
		i++
	}
	return -1
}

// selectList splits the select list of the first SELECT of the query in toks[lo:hi] into its
// expressions; nil if toks[lo] is not SELECT.
func selectList(toks []token, lo, hi int) [][]token {
	if lo >= hi || !toks[lo].is("SELECT") {
		return nil
	}
	i := lo + 1
	if toks[i].is("DISTINCT") || toks[i].is("ALL") {
		i++
	}
	var exprs [][]token
	start, depth := i, 0
	for ; i <= hi; i++ {
		t := toks[i]
		if i < hi {
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
		if len(e) == 0 {
			return nil
		}
		exprs = append(exprs, e)
		if i == hi || !t.is(",") {
			break
		}
		start = i + 1
	}
	return exprs
}

// unaliased reports whether the select expression e is surely neither aliased nor a plain
// (possibly qualified) column reference. An expression that ends in a name after anything
// but an operator may carry an alias without AS (count(*) n), so it is not sure.
func unaliased(e []token) bool {
	if it := parseItem(e); it.name != "" || isPath(e) {
		return false
	}
	n := len(e)
	last := e[n-1]
	if n >= 2 && isColumn(last) && !last.is("END") {
		prev := e[n-2]
		if prev.Kind != tokPunct || prev.is(")") || prev.is("]") {
			return false
		}
	}
	return true
}

// isPath reports whether e is a dotted path of names (a column, or a field of a row column,
// which Athena names by its last part).
func isPath(e []token) bool {
	for i, t := range e {
		if i%2 == 0 && (!t.isName() || t.Kind == tokIdent && literalWords[t.name()]) || i%2 == 1 && !t.is(".") {
			return false
		}
	}
	return len(e)%2 == 1
}

// literalWords are the words that stand alone as values, not as column names; others that
// reserved lists (date, timestamp) name columns when alone.
var literalWords = map[string]bool{
	"null": true, "true": true, "false": true, "current_date": true, "current_time": true,
	"current_timestamp": true, "localtime": true, "localtimestamp": true, "current_user": true,
}
