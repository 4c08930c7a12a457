package lambdait

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

var templatePath = flag.String("template", "../../template.yaml", "SAM template whose environment the functions get")

// moduleRoot is where the functions' packages are built from.
const moduleRoot = "../.."

// binaries are the bootstraps TestMain built, by function directory name.
var binaries = map[string]string{}

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "lambdait-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "lambdait:", err)
		os.Exit(1)
	}
	for _, fn := range []string{"extract", "lookup", "alert"} {
		bin, err := build(fn, dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "lambdait:", err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
		binaries[fn] = bin
	}
	code := m.Run()
	for _, c := range cleanups {
		c()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// build builds ./functions/<fn> into dir/<fn>/bootstrap with the Makefile's Lambda flags, for
// this machine's OS and architecture instead of linux/arm64 so that the emulator can run it.
func build(fn, dir string) (string, error) {
	out := filepath.Join(dir, fn, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w",
		"-o", out, "./functions/"+fn)
	cmd.Dir = moduleRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", fn, err, b)
	}
	return out, nil
}
