package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeStreams writes each stream to its own file and returns the file names.
func writeStreams(t *testing.T, streams ...[]string) []string {
	t.Helper()
	var files []string
	for i, lines := range streams {
		name := filepath.Join(t.TempDir(), "s"+string(rune('a'+i))+".json")
		if err := os.WriteFile(name, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, name)
	}
	return files
}

func TestRun(t *testing.T) {
	unit := []string{
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"pass","Package":"p","Test":"TestA"}`,
		`{"Action":"pass","Package":"p","Test":"TestA/sub"}`,
		`{"Action":"fail","Package":"p","Test":"TestB"}`,
		`{"Action":"skip","Package":"p","Test":"TestC"}`,
		`{"Action":"fail","Package":"p"}`,
		`# q [q.test]`,
		`{"Action":"fail","Package":"q"}`,
		`{"Action":"pass","Package":"s3","Test":"TestUpload/local"}`,
		`{"Action":"pass","Package":"s3","Test":"TestUpload"}`,
	}
	// The integration run enters TestUpload again for another subtest: not a repeat.
	integration := []string{
		`{"Action":"pass","Package":"s3","Test":"TestUpload/minio"}`,
		`{"Action":"pass","Package":"s3","Test":"TestUpload"}`,
	}
	tests := []struct {
		name    string
		streams [][]string
		want    counts
	}{
		{"one stream", [][]string{unit}, counts{passed: 4, failed: 1, skipped: 1, brokenPackages: []string{"q"}}},
		{"container in two streams", [][]string{unit, integration}, counts{passed: 5, failed: 1, skipped: 1, brokenPackages: []string{"q"}}},
		{"leaf in two streams", [][]string{unit, {`{"Action":"fail","Package":"p","Test":"TestA/sub"}`}},
			counts{passed: 3, failed: 2, skipped: 1, brokenPackages: []string{"q"}, repeated: []string{"p TestA/sub (2 runs)"}}},
		{"container then leaf", [][]string{unit, {`{"Action":"pass","Package":"s3","Test":"TestUpload"}`}},
			counts{passed: 4, failed: 1, skipped: 1, brokenPackages: []string{"q"}, repeated: []string{"s3 TestUpload (2 runs)"}}},
		{"count 2", [][]string{{`{"Action":"pass","Package":"p","Test":"TestA"}`, `{"Action":"pass","Package":"p","Test":"TestA"}`}},
			counts{passed: 1, repeated: []string{"p TestA (2 runs)"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := run(writeStreams(t, tt.streams...))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("run(%s) = %+v, want %+v", tt.name, got, tt.want)
			}
		})
	}
}

func TestPrintLog(t *testing.T) {
	stream := []string{
		`{"Action":"run","Package":"lambdait","Test":"TestInit"}`,
		`{"Action":"output","Package":"lambdait","Test":"TestInit","Output":"=== RUN   TestInit\n"}`,
		`{"Action":"output","Package":"lambdait","Test":"TestInit","Output":"    lambda_test.go:556: extract: 9 bytes\n"}`,
		`{"Action":"output","Package":"lambdait","Test":"TestOther","Output":"    other.go:1: not this one\n"}`,
		`{"Action":"output","Package":"lambdait","Test":"TestInit","Output":"    lambda_test.go:560: lambda init: extract 20ms\n"}`,
		`{"Action":"output","Package":"lambdait","Test":"TestInit","Output":"--- PASS: TestInit (0.10s)\n"}`,
		`{"Action":"pass","Package":"lambdait","Test":"TestInit"}`,
	}
	failed := []string{`{"Action":"fail","Package":"lambdait","Test":"TestInit"}`}
	tests := []struct {
		name    string
		streams [][]string
		want    string
		wantErr bool
	}{
		{"one pass", [][]string{stream}, "lambda_test.go:556: extract: 9 bytes\nlambda_test.go:560: lambda init: extract 20ms\n", false},
		{"absent", [][]string{failed[:0]}, "", true},
		{"failed", [][]string{failed}, "", true},
		{"twice", [][]string{stream, stream}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := printLog(&out, "TestInit", writeStreams(t, tt.streams...))
			if (err != nil) != tt.wantErr || out.String() != tt.want {
				t.Errorf("printLog(%s) = %q, %v, want %q, error %v", tt.name, out.String(), err, tt.want, tt.wantErr)
			}
		})
	}
}
