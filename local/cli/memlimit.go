package cli

import (
	"os"
	"runtime/debug"
)

// goMemoryLimit is the soft limit on the Go runtime's memory while the local stack runs,
// unless GOMEMLIMIT sets one. Ingest, the stand-ins and the engine's transcoding make garbage
// much faster than they hold data (at a million queries: about 120 MB live, the history
// index, and up to 540 MB of heap left to the collector's default pacing). With DuckDB's own
// limit (sqlengine.DefaultMemoryLimit), it keeps `local run` of a million-query day near 1 GB.
const goMemoryLimit = 192 << 20

// limitGoHeap sets goMemoryLimit, unless the environment sets a limit of its own.
func limitGoHeap() {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(goMemoryLimit)
	}
}
