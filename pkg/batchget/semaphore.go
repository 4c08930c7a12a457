package batchget

import (
	"cmp"
	"context"
	"slices"
	"sync"
)

// semaphore bounds the calls in flight by a limit that can change while calls wait: the engine
// sets it from the limiter's rate and the calls' latency (Little's law), within max. Waiters
// are served by priority, the lowest first, then in order of arrival.
type semaphore struct {
	max int

	mu       sync.Mutex
	limit    int
	inFlight int
	waiters  []waiter
}

type waiter struct {
	prio uint64
	ch   chan struct{}
}

func newSemaphore(ceiling int) *semaphore {
	return &semaphore{max: ceiling, limit: min(ceiling, minConcurrency)}
}

// acquire waits for a slot, after the waiters of a lower or the same prio, or until ctx is done.
func (s *semaphore) acquire(ctx context.Context, prio uint64) error {
	s.mu.Lock()
	if s.inFlight < s.limit && len(s.waiters) == 0 {
		s.inFlight++
		s.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	i, _ := slices.BinarySearchFunc(s.waiters, prio+1, func(w waiter, p uint64) int { return cmp.Compare(w.prio, p) })
	s.waiters = slices.Insert(s.waiters, i, waiter{prio, ch})
	s.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, w := range s.waiters {
			if w.ch == ch {
				s.waiters = append(s.waiters[:i], s.waiters[i+1:]...)
				return ctx.Err()
			}
		}
		// The slot was granted as the context ended: hand it on.
		s.inFlight--
		s.grant()
		return ctx.Err()
	}
}

// release frees a slot.
func (s *semaphore) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight--
	s.grant()
}

// setLimit sets the bound to n within [minConcurrency, max].
func (s *semaphore) setLimit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limit = min(s.max, max(n, minConcurrency))
	s.grant()
}

// grant hands free slots to waiters, in order. s.mu is held.
func (s *semaphore) grant() {
	for s.inFlight < s.limit && len(s.waiters) > 0 {
		s.inFlight++
		close(s.waiters[0].ch)
		s.waiters = s.waiters[1:]
	}
}

// size is the current bound, for tests and logs.
func (s *semaphore) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limit
}
