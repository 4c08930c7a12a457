//go:build unix

package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockFile is the file in a state directory that a writer holds an exclusive flock(2) on.
const LockFile = ".lock"

// LockDir takes the state directory's write lock, or fails at once, naming the process that
// holds it. The lock is an advisory flock(2) on LockFile (Unix only: elsewhere LockDir locks
// nothing); the kernel releases it when the process exits, however it exits, so a crash never
// leaves a stale lock. Call the returned func to release it sooner.
func LockDir(dir string) (unlock func() error, err error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock state directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if pid := strings.TrimSpace(string(b[:n])); pid != "" {
				holder = "process " + pid
			}
			return nil, fmt.Errorf("state directory %s is in use by %s (another athena-usage run or serve): wait for it to finish, or choose another --dir", dir, holder)
		}
		return nil, fmt.Errorf("lock state directory: %w", err)
	}
	// The PID is only for the message above; the flock is the lock.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f.Close, nil
}
