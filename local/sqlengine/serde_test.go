package sqlengine

import (
	"bytes"
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
