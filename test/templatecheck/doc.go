// Package templatecheck holds the tests that check template.yaml for what cfn-lint cannot see:
// that the functions' environment satisfies the config loaders, that each function runs one
// invocation at a time, that the IAM policies are least privilege yet allow what the functions
// do (with the optional KMS and cross-account grants on and off), that the buckets are locked
// down, and that the Makefile builds every function. Run them with `go test ./test/templatecheck`, or against
// another template with `-args -template=path`.
package templatecheck
