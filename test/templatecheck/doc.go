// Package templatecheck holds the tests that check template.yaml for what cfn-lint cannot see:
// that the functions' environment satisfies the config loaders; that the stack deploys in a new
// account (no reserved concurrency by default) and runs one invocation of each function at a
// time when ReservedConcurrency asks for it; that each function runs with a role of the
// template whose inline policies are least privilege yet allow what the function does (with the
// optional KMS and cross-account grants on and off), its logs going to a log group of its own
// with a retention; that the buckets are locked down and sam delete can remove the stack; and
// that the Makefile builds every function. Run them with `go test ./test/templatecheck`, or
// against another template with `-args -template=path`.
package templatecheck
