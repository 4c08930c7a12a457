package sqlengine

import (
	"fmt"
	"strings"
)

// tokKind is the kind of a lexical token.
type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokQuoted // "x" or `x`
	tokString
	tokNumber
	tokPunct
)

// token is one lexical token; Pos and End are byte offsets into the source.
type token struct {
	Kind     tokKind
	Text     string // identifier (as written), unquoted identifier, string value, number or punctuation
	Pos, End int
}

// is reports whether t is the bare keyword or punctuation s (case-insensitive).
func (t token) is(s string) bool {
	return (t.Kind == tokIdent || t.Kind == tokPunct) && strings.EqualFold(t.Text, s)
}

// name returns the identifier's name as Athena sees it: lower case.
func (t token) name() string { return strings.ToLower(t.Text) }

func (t token) isName() bool { return t.Kind == tokIdent || t.Kind == tokQuoted }

// lexMode picks how string literals are read: Hive DDL reads backslash escapes, Trino SQL
// doubles the quote.
type lexMode int

const (
	modeSQL lexMode = iota
	modeHive
)

// lex splits src into tokens, dropping comments and white space.
func lex(src string, mode lexMode) ([]token, error) {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case c == '-' && strings.HasPrefix(src[i:], "--"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '/' && strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, syntaxError(src, i, "unterminated comment")
			}
			i += end + 4
		case isIdentStart(c):
			j := i + 1
			for j < len(src) && isIdentPart(src[j]) {
				j++
			}
			toks = append(toks, token{Kind: tokIdent, Text: src[i:j], Pos: i, End: j})
			i = j
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9':
			j := i + 1
			for j < len(src) && (isIdentPart(src[j]) || src[j] == '.' ||
				(src[j] == '+' || src[j] == '-') && (src[j-1] == 'e' || src[j-1] == 'E')) {
				j++
			}
			toks = append(toks, token{Kind: tokNumber, Text: src[i:j], Pos: i, End: j})
			i = j
		case c == '"' || c == '`':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(src) {
					return nil, syntaxError(src, i, "unterminated quoted identifier")
				}
				if src[j] == c {
					if j+1 < len(src) && src[j+1] == c {
						b.WriteByte(c)
						j += 2
						continue
					}
					break
				}
				b.WriteByte(src[j])
				j++
			}
			toks = append(toks, token{Kind: tokQuoted, Text: b.String(), Pos: i, End: j + 1})
			i = j + 1
		case c == '\'':
			s, end, err := lexString(src, i, mode)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{Kind: tokString, Text: s, Pos: i, End: end})
			i = end
		default:
			n := 1
			for _, op := range []string{"<=", ">=", "<>", "!=", "||", "->", "=>"} {
				if mode == modeSQL && strings.HasPrefix(src[i:], op) {
					n = 2
				}
			}
			toks = append(toks, token{Kind: tokPunct, Text: src[i : i+n], Pos: i, End: i + n})
			i += n
		}
	}
	toks = append(toks, token{Kind: tokEOF, Pos: len(src), End: len(src)})
	return toks, nil
}

// lexString reads the string literal that starts at src[start].
func lexString(src string, start int, mode lexMode) (string, int, error) {
	var b strings.Builder
	j := start + 1
	for j < len(src) {
		c := src[j]
		switch {
		case c == '\'' && mode == modeSQL && j+1 < len(src) && src[j+1] == '\'':
			b.WriteByte('\'')
			j += 2
		case c == '\'':
			return b.String(), j + 1, nil
		case c == '\\' && mode == modeHive && j+1 < len(src):
			// Hive's unescapeSQLString: \n, \t, \r, \0 and \Z are control characters, any other
			// escaped character stands for itself ('\\' is one backslash).
			j++
			switch e := src[j]; e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '0':
				b.WriteByte(0)
			case 'Z':
				b.WriteByte(26)
			default:
				b.WriteByte(e)
			}
			j++
		default:
			b.WriteByte(c)
			j++
		}
	}
	return "", 0, syntaxError(src, start, "unterminated string literal")
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func isIdentPart(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' || c == '$' }

// lineCol returns the 1-based line and column of offset pos in src.
func lineCol(src string, pos int) (int, int) {
	if pos > len(src) {
		pos = len(src)
	}
	line := 1 + strings.Count(src[:pos], "\n")
	col := pos - strings.LastIndexByte(src[:pos], '\n')
	return line, col
}

func syntaxError(src string, pos int, format string, args ...any) *Error {
	line, col := lineCol(src, pos)
	return userError(fmt.Sprintf("line %d:%d: %s", line, col, fmt.Sprintf(format, args...)))
}
