package hivetext

import (
	"reflect"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		fields []Field
		line   string
	}{
		{"plain", []Field{{Value: "a"}, {Value: "b"}}, "a,b"},
		{"comma", []Field{{Value: "a,b"}, {Value: "c"}}, `a\,b,c`},
		{"quotes", []Field{{Value: `say "hi"`}}, `say "hi"`},
		{"newlines", []Field{{Value: "line1\nline2\r\n"}}, `line1\nline2\r\n`},
		{"backslash", []Field{{Value: `C:\tmp`}}, `C:\\tmp`},
		{"null", []Field{{Null: true}, {Value: ""}}, `\N,`},
		{"literal backslash N", []Field{{Value: `\N`}}, `\\N`},
		{"empty", []Field{{Value: ""}}, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var line []byte
			for i, f := range tt.fields {
				if i > 0 {
					line = append(line, Delim)
				}
				if f.Null {
					line = AppendNull(line)
				} else {
					line = AppendField(line, f.Value)
				}
			}
			if string(line) != tt.line {
				t.Errorf("encoded = %q, want %q", line, tt.line)
			}
			got, err := Split(string(line))
			if err != nil {
				t.Fatalf("Split(%q): %v", line, err)
			}
			if !reflect.DeepEqual(got, tt.fields) {
				t.Errorf("Split(%q) = %+v, want %+v", line, got, tt.fields)
			}
		})
	}
}

func TestSplitTrailingEscape(t *testing.T) {
	if _, err := Split(`a,b\`); err != ErrTrailingEscape {
		t.Errorf("Split(trailing escape) error = %v, want %v", err, ErrTrailingEscape)
	}
}

func FuzzRoundTrip(f *testing.F) {
	f.Add("a,b", "c\nd")
	f.Add(`\N`, `\`)
	f.Fuzz(func(t *testing.T, a, b string) {
		line := AppendField(nil, a)
		line = append(line, Delim)
		line = AppendField(line, b)
		got, err := Split(string(line))
		if err != nil {
			t.Fatal(err)
		}
		want := []Field{{Value: a}, {Value: b}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Split(%q) = %+v, want %+v", line, got, want)
		}
	})
}
