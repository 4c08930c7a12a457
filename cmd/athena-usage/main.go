// Command athena-usage works a deployed athena-usage stack (report, status, backfill) and runs
// the pipeline locally (demo, local ...): see `athena-usage --help`.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/athenausage/athena-usage/local/cli"
)

func main() {
	if err := cli.Execute(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "athena-usage:", err)
		os.Exit(1)
	}
}
