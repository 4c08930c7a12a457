// Package athenaquery runs one Athena statement to completion: it starts the query with an
// idempotency token and waits for it with backoff, within the caller's deadline.
package athenaquery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
)

// API is the part of the Athena client that Runner uses.
type API interface {
	StartQueryExecution(ctx context.Context, params *athena.StartQueryExecutionInput, optFns ...func(*athena.Options)) (*athena.StartQueryExecutionOutput, error)
	GetQueryExecution(ctx context.Context, params *athena.GetQueryExecutionInput, optFns ...func(*athena.Options)) (*athena.GetQueryExecutionOutput, error)
	StopQueryExecution(ctx context.Context, params *athena.StopQueryExecutionInput, optFns ...func(*athena.Options)) (*athena.StopQueryExecutionOutput, error)
}

var _ API = (*athena.Client)(nil)

// Defaults for Options.
const (
	// DefaultFirstPoll is the first wait after starting a query; DDL usually finishes within it.
	DefaultFirstPoll = 250 * time.Millisecond
	// DefaultMaxPoll caps the wait between polls. GetQueryExecution's quota (100/s) is far away,
	// but a long extraction needs no finer progress than this.
	DefaultMaxPoll = 5 * time.Second
	// DefaultStopMargin is the time before the caller's deadline at which Run gives up waiting
	// and stops the query: StopQueryExecution answers in well under a second, and the caller
	// still has time to return its error before Lambda ends the invocation.
	DefaultStopMargin = 2 * time.Second
)

// maxPollErrors bounds the transient GetQueryExecution errors in a row that Run waits out: under
// a context without a deadline, an endpoint that keeps failing would otherwise be polled forever.
const maxPollErrors = 10

// Options tune a Runner. A zero duration means its default.
type Options struct {
	// Workgroup runs the queries; its settings (result location, scan cutoff) apply.
	Workgroup string
	// OutputLocation is used when the workgroup does not enforce its own; may be empty.
	OutputLocation string
	// FirstPoll is the wait before the first GetQueryExecution; each later wait doubles, up to
	// MaxPoll.
	FirstPoll time.Duration
	// MaxPoll caps the wait between polls.
	MaxPoll time.Duration
	// StopMargin is the time before the caller's deadline at which Run stops the query and
	// returns; it also bounds the StopQueryExecution call.
	StopMargin time.Duration
}

// Runner runs queries in one workgroup.
type Runner struct {
	client API
	opts   Options
}

// New returns a Runner.
func New(client API, optFns ...func(*Options)) *Runner {
	var o Options
	for _, fn := range optFns {
		fn(&o)
	}
	// A zero FirstPoll would poll in a tight loop, and zero MaxPoll would cap every wait at
	// nothing: zero means the default.
	if o.FirstPoll <= 0 {
		o.FirstPoll = DefaultFirstPoll
	}
	if o.MaxPoll <= 0 {
		o.MaxPoll = DefaultMaxPoll
	}
	if o.StopMargin <= 0 {
		o.StopMargin = DefaultStopMargin
	}
	return &Runner{client: client, opts: o}
}

// Query is one statement to run.
type Query struct {
	SQL      string
	Database string
	// Token is the ClientRequestToken: a retry with the same token gets the same execution
	// instead of starting a second query. See Token.
	Token string
}

// Token derives a ClientRequestToken (Athena takes 32-128 characters) from its parts.
func Token(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:64]
}

// Error reports a query that ended FAILED or CANCELLED, with Athena's reason.
type Error struct {
	QueryID  string
	State    types.QueryExecutionState
	Reason   string
	Category int32
	Type     int32
}

func (e *Error) Error() string {
	return fmt.Sprintf("query %s %s: %s", e.QueryID, e.State, e.Reason)
}

// Run starts q and waits until it finishes. It returns the final execution, or an *Error when
// the query failed or was cancelled. Polls that fail with a transient error (throttling, a
// server fault, a network error) are tried again with the same backoff. When ctx is cancelled,
// or its deadline is within StopMargin, Run stops the query before returning: nobody would
// read its result, and a retry starts it afresh (see below).
//
// A token names one execution: Athena answers a repeated token with the execution it started
// first. When that execution had already failed or been stopped before this call (a retry
// after a transient failure or a timeout), Run starts the query once more under a token
// derived from the failed one, so a retry can succeed instead of being handed the same failure
// again.
func (r *Runner) Run(ctx context.Context, q Query) (*types.QueryExecution, error) {
	called := time.Now()
	exec, err := r.run(ctx, q)
	var qe *Error
	if q.Token == "" || !errors.As(err, &qe) || !endedBefore(exec, called) {
		return exec, err
	}
	q.Token = Token(q.Token, qe.QueryID)
	return r.run(ctx, q)
}

// endedBefore reports whether the execution completed before t.
func endedBefore(q *types.QueryExecution, t time.Time) bool {
	return q != nil && q.Status != nil && q.Status.CompletionDateTime != nil && q.Status.CompletionDateTime.Before(t)
}

func (r *Runner) run(ctx context.Context, q Query) (*types.QueryExecution, error) {
	in := &athena.StartQueryExecutionInput{
		QueryString: aws.String(q.SQL),
		WorkGroup:   aws.String(r.opts.Workgroup),
	}
	if q.Token != "" {
		in.ClientRequestToken = aws.String(q.Token)
	}
	if q.Database != "" {
		in.QueryExecutionContext = &types.QueryExecutionContext{Database: aws.String(q.Database)}
	}
	if r.opts.OutputLocation != "" {
		in.ResultConfiguration = &types.ResultConfiguration{OutputLocation: aws.String(r.opts.OutputLocation)}
	}
	out, err := r.client.StartQueryExecution(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("start query: %w", err)
	}
	return r.wait(ctx, aws.ToString(out.QueryExecutionId))
}

// wait polls the query with id, which run started, until it reaches a final state.
func (r *Runner) wait(ctx context.Context, id string) (*types.QueryExecution, error) {
	delay := r.opts.FirstPoll
	// Transient poll errors in a row, and the last of them.
	var failures int
	var lastErr error
	for {
		if err := r.sleep(ctx, delay); err != nil {
			if failures > 0 {
				err = fmt.Errorf("%w (after %d failed polls, the last: %w)", err, failures, lastErr)
			}
			return nil, r.abandon(ctx, id, err)
		}
		delay = min(delay*2, r.opts.MaxPoll)
		out, err := r.client.GetQueryExecution(ctx, &athena.GetQueryExecutionInput{QueryExecutionId: aws.String(id)})
		if err != nil {
			if ctx.Err() != nil {
				return nil, r.abandon(ctx, id, ctx.Err())
			}
			if transient(err) && failures < maxPollErrors {
				failures, lastErr = failures+1, err
				continue
			}
			return nil, fmt.Errorf("get query %s: %w", id, err)
		}
		failures = 0
		q := out.QueryExecution
		if q == nil || q.Status == nil {
			return nil, fmt.Errorf("get query %s: no status in response", id)
		}
		switch q.Status.State {
		case types.QueryExecutionStateSucceeded:
			return q, nil
		case types.QueryExecutionStateFailed, types.QueryExecutionStateCancelled:
			return q, newError(id, q.Status)
		}
	}
}

// sleep waits for d, but returns early when ctx is done or when the deadline is within
// StopMargin: then the error says why waiting is over, and the query is to be stopped.
func (r *Runner) sleep(ctx context.Context, d time.Duration) error {
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline) - r.opts.StopMargin
		if left <= 0 {
			return context.DeadlineExceeded
		}
		// Wake at the margin rather than sleep past it: one last poll may find the query done.
		d = min(d, left)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// abandon stops the query with id, which the caller can no longer wait for, and returns why
// waiting ended. The call gets a fresh context: ctx is done, or about to be.
func (r *Runner) abandon(ctx context.Context, id string, cause error) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.StopMargin)
	defer cancel()
	_, err := r.client.StopQueryExecution(sctx, &athena.StopQueryExecutionInput{QueryExecutionId: aws.String(id)})
	if err != nil {
		return fmt.Errorf("wait for query %s: %w; stopping it failed: %w", id, cause, err)
	}
	return fmt.Errorf("wait for query %s: %w; stopped it", id, cause)
}

// transient reports whether a failed poll is worth trying again: the errors the SDK's own
// retryer retries (throttling, 5xx, connection errors), once its attempts are spent.
func transient(err error) bool {
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
}

func newError(id string, s *types.QueryExecutionStatus) *Error {
	e := &Error{QueryID: id, State: s.State, Reason: aws.ToString(s.StateChangeReason)}
	if ae := s.AthenaError; ae != nil {
		e.Category = aws.ToInt32(ae.ErrorCategory)
		e.Type = aws.ToInt32(ae.ErrorType)
		if e.Reason == "" {
			e.Reason = aws.ToString(ae.ErrorMessage)
		}
	}
	if e.Reason == "" {
		e.Reason = "no reason given"
	}
	return e
}

// IsQueryError reports whether err is a failed or cancelled query.
func IsQueryError(err error) bool {
	var qe *Error
	return errors.As(err, &qe)
}
