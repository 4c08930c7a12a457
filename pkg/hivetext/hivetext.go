// Package hivetext encodes and decodes lines in the text format of Hive's LazySimpleSerDe with
// 'field.delim'=',', 'escape.delim'='\\' and 'serialization.escape.crlf'='true': a field's
// delimiter, escape character, carriage return and line feed are written escaped, so that any text
// (commas, quotes, newlines) survives one line per row, and NULL is the raw field \N.
package hivetext

import (
	"errors"
	"strings"
)

const (
	// Delim separates fields.
	Delim = ','
	// Escape precedes an escaped byte.
	Escape = '\\'
	// Null is the raw text of a NULL field (Hive's default serialization.null.format).
	Null = `\N`
)

// AppendField appends s, escaped, to dst.
func AppendField(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case Delim, Escape:
			dst = append(dst, Escape, c)
		case '\n':
			dst = append(dst, Escape, 'n')
		case '\r':
			dst = append(dst, Escape, 'r')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// AppendNull appends the NULL marker to dst.
func AppendNull(dst []byte) []byte { return append(dst, Null...) }

// Field is one decoded field.
type Field struct {
	Value string
	Null  bool
}

// ErrTrailingEscape reports a line that ends in a lone escape character.
var ErrTrailingEscape = errors.New("line ends in a lone escape character")

// Split decodes one line (without its line terminator) into fields.
func Split(line string) ([]Field, error) {
	var fields []Field
	var b strings.Builder
	raw := 0 // start of the current field in line
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch c {
		case Escape:
			if i+1 >= len(line) {
				return nil, ErrTrailingEscape
			}
			i++
			switch n := line[i]; n {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			default:
				b.WriteByte(n)
			}
		case Delim:
			fields = append(fields, field(line[raw:i], &b))
			raw = i + 1
		default:
			b.WriteByte(c)
		}
	}
	fields = append(fields, field(line[raw:], &b))
	return fields, nil
}

func field(raw string, b *strings.Builder) Field {
	// Hive compares the raw bytes with the null sequence before unescaping, so an escaped
	// "\\N" is the two-character text, not NULL.
	f := Field{Value: b.String(), Null: raw == Null}
	if f.Null {
		f.Value = ""
	}
	b.Reset()
	return f
}
