// Command testsummary reads `go test -json` streams and prints one closing line,
// "tests: N passed, N failed, N skipped", counting tests and subtests. It exits 1 when any test
// failed or a stream holds a package-level failure (a build error, a panic outside a test).
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
)

type event struct {
	Action  string
	Package string
	Test    string
}

type counts struct {
	passed, failed, skipped int
	brokenPackages          []string
}

func main() {
	c, err := run(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	for _, p := range c.brokenPackages {
		fmt.Printf("package failed outside its tests: %s\n", p)
	}
	fmt.Printf("tests: %d passed, %d failed, %d skipped\n", c.passed, c.failed, c.skipped)
	if c.failed > 0 || len(c.brokenPackages) > 0 {
		os.Exit(1)
	}
}

func run(files []string) (counts, error) {
	var c counts
	if len(files) == 0 {
		return c, errors.New("usage: testsummary FILE.json [FILE.json ...]")
	}
	broken := map[string]bool{}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return c, err
		}
		err = count(f, &c, broken)
		f.Close()
		if err != nil {
			return c, fmt.Errorf("%s: %w", name, err)
		}
	}
	for p := range broken {
		c.brokenPackages = append(c.brokenPackages, p)
	}
	sort.Strings(c.brokenPackages)
	return c, nil
}

func count(r io.Reader, c *counts, broken map[string]bool) error {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 1<<20), 16<<20)
	failedTests := map[string]bool{}
	for s.Scan() {
		var e event
		if json.Unmarshal(s.Bytes(), &e) != nil {
			continue // go test -json interleaves plain build output
		}
		switch {
		case e.Test != "" && e.Action == "pass":
			c.passed++
		case e.Test != "" && e.Action == "fail":
			c.failed++
			failedTests[e.Package] = true
		case e.Test != "" && e.Action == "skip":
			c.skipped++
		case e.Test == "" && e.Action == "fail" && !failedTests[e.Package]:
			broken[e.Package] = true
		}
	}
	return s.Err()
}
