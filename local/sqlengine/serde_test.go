package sqlengine

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"
)

// TestDecodeCloudTrail checks the streamed reading of a CloudTrail log file: what it makes of
// the shapes a file can take, a record at a time.
func TestDecodeCloudTrail(t *testing.T) {
	cols := []tableColumn{{Name: "eventname", Type: &hiveType{Kind: "string"}}}
	tests := []struct {
		name, in, want, err string
	}{
		{"records", `{"Records":[{"eventName":"A"},{"eventName":"B"}]}`, `{"eventname":"A"}` + "\n" + `{"eventname":"B"}` + "\n", ""},
		{"other keys around", `{"x":{"Records":[1]},"Records":[{"eventName":"A"}],"y":[2]}`, `{"eventname":"A"}` + "\n", ""},
		{"not an object", `{"Records":[null,{"eventName":"A"}]}`, `{"eventname":null}` + "\n" + `{"eventname":"A"}` + "\n", ""},
		{"no Records", `{"records":[{"eventName":"A"}]}`, "", ""},
		{"Records null", `{"Records":null}`, "", ""},
		{"Records not an array", `{"Records":{"eventName":"A"}}`, "", "CloudTrail Records"},
		{"not a file object", `[{"eventName":"A"}]`, "", "CloudTrail log file"},
		{"trailing data", `{"Records":[]} {}`, "", "after the top-level object"},
		{"truncated", `{"Records":[{"eventName":"A"}`, "", "CloudTrail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := decodeCloudTrail(strings.NewReader(tt.in), cols, &out)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("decodeCloudTrail(%s) = %v, want an error naming %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil || out.String() != tt.want {
				t.Errorf("decodeCloudTrail(%s) = %q, %v, want %q", tt.in, out.String(), err, tt.want)
			}
		})
	}
}

// TestEachLine checks the line splitting of the line-based SerDes, read a line at a time: the
// line ends Hadoop's LineReader knows, header lines skipped, and a line over the limit refused.
func TestEachLine(t *testing.T) {
	tests := []struct {
		name, in string
		skip     int
		want     []string
	}{
		{"lf", "a\nb\n", 0, []string{"a", "b"}},
		{"no final break", "a\nb", 0, []string{"a", "b"}},
		{"crlf", "a\r\nb\r\n", 0, []string{"a", "b"}},
		{"cr", "a\rb\r", 0, []string{"a", "b"}},
		{"mixed", "a\r\r\nb\n\nc", 0, []string{"a", "", "b", "", "c"}},
		{"skip", "h1\rh2\r\nx\n", 2, []string{"x"}},
		{"empty", "", 0, nil},
		// Longer than the reader's 64 KiB buffer, so the line is put together from pieces.
		{"long", strings.Repeat("x", 200_000) + "\r\ny", 0, []string{strings.Repeat("x", 200_000), "y"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			err := eachLine(strings.NewReader(tt.in), tt.skip, func(s string) error {
				got = append(got, s)
				return nil
			})
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("eachLine(%.20q, %d) = %.60q, %v, want %.60q", tt.in, tt.skip, got, err, tt.want)
			}
		})
	}
	t.Run("over the limit", func(t *testing.T) {
		r := io.MultiReader(strings.NewReader("ok\n"), io.LimitReader(xs{}, maxLineBytes+1<<20))
		n := 0
		err := eachLine(r, 0, func(string) error { n++; return nil })
		if err == nil || !strings.Contains(err.Error(), "line 2 is over") || n != 1 {
			t.Errorf("eachLine(a line of %d bytes) = %v after %d lines, want line 2 refused after 1", maxLineBytes+1<<20, err, n)
		}
	})
}

// xs reads as an endless run of 'x', with no line break.
type xs struct{}

func (xs) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}
