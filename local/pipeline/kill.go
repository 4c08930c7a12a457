package pipeline

import "slices"

// Invocation is an asynchronous invocation the Lambda stand-in received: from a client of the
// stack (`athena-usage backfill`) or from a handler (a day's lookup, a continuation).
type Invocation struct {
	Function string
	Payload  []byte
}

// Kill sets the Lambda stand-in's kill knob: before the stand-in runs an invocation, whether it
// serves them (Serve) or runs a day (Pipeline.RunDay), it asks kill, and an invocation kill
// returns true for is killed before it does anything, as when Lambda's execution environment
// dies: it is neither run, nor retried, nor recorded in the failure queue. A lookup
// continuation killed so leaves its day partial, stopped between two parts. kill is called on
// the stand-in's goroutine, one invocation at a time; nil kills none.
func (s *Stack) Kill(kill func(Invocation) bool) {
	q := s.invoke.queue
	q.mu.Lock()
	defer q.mu.Unlock()
	q.kill = kill
}

// Invocations returns every invocation the Lambda stand-in received so far, in order, those it
// killed included.
func (s *Stack) Invocations() []Invocation {
	q := s.invoke.queue
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.received)
}
