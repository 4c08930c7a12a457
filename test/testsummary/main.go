// Command testsummary reads `go test -json` streams and prints one closing line,
// "tests: N passed, N failed, N skipped", counting each distinct test and subtest once. It exits
// 1 when any test failed, a stream holds a package-level failure (a build error, a panic outside
// a test), or a test ran more than once: CI runs each test once, and a test counted twice would
// hide that it was not.
//
// A test that only contains subtests may appear in several streams, each time to reach other
// subtests (TestUploadStreaming/locals3 in the unit run, TestUploadStreaming/minio in the
// integration run); it is counted once and is not a repeat. A test that ran with no subtest in
// more than one place is.
//
// With -log NAME it prints instead what test NAME (in any package) logged, without go test's
// framing lines, and fails unless the streams hold exactly one passing run of it: so CI reads
// the figures a test measured from the run that already happened instead of running it again.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// key names one test or subtest.
type key struct{ pkg, test string }

// outcome is one finished run of a test: its action (pass, fail or skip) and whether it had
// subtests.
type outcome struct {
	action string
	parent bool
}

// results are the runs of every test in the streams, and the packages that failed outside
// their tests.
type results struct {
	runs   map[key][]outcome
	broken map[string]bool
}

type counts struct {
	passed, failed, skipped int
	brokenPackages          []string
	// repeated are the tests that ran more than once, as "package TestName (N runs)".
	repeated []string
}

func main() {
	logOf := flag.String("log", "", "print what test `NAME` logged instead of the summary")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: testsummary [-log NAME] FILE.json [FILE.json ...]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *logOf != "" {
		if err := printLog(os.Stdout, *logOf, flag.Args()); err != nil {
			fmt.Fprintln(os.Stderr, "testsummary:", err)
			os.Exit(1)
		}
		return
	}
	c, err := run(flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	for _, p := range c.brokenPackages {
		fmt.Printf("package failed outside its tests: %s\n", p)
	}
	for _, r := range c.repeated {
		fmt.Printf("test ran more than once: %s\n", r)
	}
	fmt.Printf("tests: %d passed, %d failed, %d skipped\n", c.passed, c.failed, c.skipped)
	if c.failed > 0 || len(c.brokenPackages) > 0 || len(c.repeated) > 0 {
		os.Exit(1)
	}
}

// run reads the streams in files and counts their tests.
func run(files []string) (counts, error) {
	if len(files) == 0 {
		return counts{}, errors.New("no files: testsummary FILE.json [FILE.json ...]")
	}
	res := results{runs: map[key][]outcome{}, broken: map[string]bool{}}
	for _, name := range files {
		if err := readFile(name, func(r io.Reader) error { return collect(r, &res) }); err != nil {
			return counts{}, err
		}
	}
	return summarise(res), nil
}

// readFile opens name and hands it to read; errors name the file.
func readFile(name string, read func(io.Reader) error) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := read(f); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// scan calls fn with each JSON event of a `go test -json` stream.
func scan(r io.Reader, fn func(e event)) error {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for s.Scan() {
		var e event
		if json.Unmarshal(s.Bytes(), &e) != nil {
			continue // go test -json interleaves plain build output
		}
		fn(e)
	}
	return s.Err()
}

// collect adds the finished tests of one stream to res. Whether a test had subtests is known
// only per stream: the same test may be a container in one run and a leaf in another.
func collect(r io.Reader, res *results) error {
	type finish struct {
		k      key
		action string
	}
	var finished []finish
	parents := map[key]bool{}
	failedTests := map[string]bool{}
	err := scan(r, func(e event) {
		if e.Test == "" {
			if e.Action == "fail" && !failedTests[e.Package] {
				res.broken[e.Package] = true
			}
			return
		}
		k := key{e.Package, e.Test}
		if i := strings.LastIndex(e.Test, "/"); i >= 0 {
			parents[key{e.Package, e.Test[:i]}] = true
		}
		switch e.Action {
		case "fail":
			failedTests[e.Package] = true
			fallthrough
		case "pass", "skip":
			finished = append(finished, finish{k, e.Action})
		}
	})
	for _, f := range finished {
		res.runs[f.k] = append(res.runs[f.k], outcome{action: f.action, parent: parents[f.k]})
	}
	return err
}

// summarise counts each test once, as failed if any of its runs failed, else as passed if any
// passed, and lists the tests that ran more than once outside a container's role.
func summarise(res results) counts {
	var c counts
	for k, runs := range res.runs {
		passed, failed, leaves := false, false, 0
		for _, r := range runs {
			passed = passed || r.action == "pass"
			failed = failed || r.action == "fail"
			if !r.parent {
				leaves++
			}
		}
		switch {
		case failed:
			c.failed++
		case passed:
			c.passed++
		default:
			c.skipped++
		}
		if len(runs) > 1 && leaves > 0 {
			c.repeated = append(c.repeated, fmt.Sprintf("%s %s (%d runs)", k.pkg, k.test, len(runs)))
		}
	}
	for p := range res.broken {
		c.brokenPackages = append(c.brokenPackages, p)
	}
	sort.Strings(c.brokenPackages)
	sort.Strings(c.repeated)
	return c
}

// printLog writes the lines test name logged in the streams in files, without the framing
// lines (=== RUN, --- PASS); it fails unless exactly one run of the test passed.
func printLog(w io.Writer, name string, files []string) error {
	var lines []string
	runs, passes := 0, 0
	for _, f := range files {
		err := readFile(f, func(r io.Reader) error {
			return scan(r, func(e event) {
				if e.Test != name {
					return
				}
				switch e.Action {
				case "output":
					if t := strings.TrimSpace(e.Output); t != "" && !strings.HasPrefix(t, "=== ") && !strings.HasPrefix(t, "--- ") {
						lines = append(lines, t)
					}
				case "pass":
					runs, passes = runs+1, passes+1
				case "fail", "skip":
					runs++
				}
			})
		})
		if err != nil {
			return err
		}
	}
	if runs != 1 || passes != 1 {
		return fmt.Errorf("%s: %d runs, %d passed, want exactly one passing run", name, runs, passes)
	}
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	return nil
}
