package main

import (
	"strings"
	"testing"
)

func TestCount(t *testing.T) {
	stream := strings.Join([]string{
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"pass","Package":"p","Test":"TestA"}`,
		`{"Action":"pass","Package":"p","Test":"TestA/sub"}`,
		`{"Action":"fail","Package":"p","Test":"TestB"}`,
		`{"Action":"skip","Package":"p","Test":"TestC"}`,
		`{"Action":"fail","Package":"p"}`,
		`# q [q.test]`,
		`{"Action":"fail","Package":"q"}`,
	}, "\n")
	var c counts
	broken := map[string]bool{}
	if err := count(strings.NewReader(stream), &c, broken); err != nil {
		t.Fatal(err)
	}
	if c.passed != 2 || c.failed != 1 || c.skipped != 1 {
		t.Errorf("count = %d passed, %d failed, %d skipped, want 2, 1, 1", c.passed, c.failed, c.skipped)
	}
	if !broken["q"] || broken["p"] {
		t.Errorf("broken = %v, want q only (p failed through a test)", broken)
	}
}
