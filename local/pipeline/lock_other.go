//go:build !unix

package pipeline

// LockFile is the file in a state directory that a writer holds a lock on (Unix only).
const LockFile = ".lock"

// LockDir locks nothing outside Unix: flock(2) is what the lock is built on.
func LockDir(string) (func() error, error) { return func() error { return nil }, nil }
