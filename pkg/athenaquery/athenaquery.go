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
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
)

// API is the part of the Athena client that Runner uses.
type API interface {
	StartQueryExecution(ctx context.Context, params *athena.StartQueryExecutionInput, optFns ...func(*athena.Options)) (*athena.StartQueryExecutionOutput, error)
	GetQueryExecution(ctx context.Context, params *athena.GetQueryExecutionInput, optFns ...func(*athena.Options)) (*athena.GetQueryExecutionOutput, error)
}

var _ API = (*athena.Client)(nil)

// Defaults for Options.
const (
	// DefaultFirstPoll is the first wait after starting a query; DDL usually finishes within it.
	DefaultFirstPoll = 250 * time.Millisecond
	// DefaultMaxPoll caps the wait between polls. GetQueryExecution's quota (100/s) is far away,
	// but a long extraction needs no finer progress than this.
	DefaultMaxPoll = 5 * time.Second
)

// Options tune a Runner.
type Options struct {
	// Workgroup runs the queries; its settings (result location, scan cutoff) apply.
	Workgroup string
	// OutputLocation is used when the workgroup does not enforce its own; may be empty.
	OutputLocation string
	FirstPoll      time.Duration
	MaxPoll        time.Duration
	// Sleep waits for d or until ctx is done; tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock Run compares Athena's completion times with; tests replace it.
	Now func() time.Time
}

// Runner runs queries in one workgroup.
type Runner struct {
	client API
	opts   Options
}

// New returns a Runner.
func New(client API, optFns ...func(*Options)) *Runner {
	o := Options{FirstPoll: DefaultFirstPoll, MaxPoll: DefaultMaxPoll, Sleep: sleep, Now: time.Now}
	for _, fn := range optFns {
		fn(&o)
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
// the query failed or was cancelled. When ctx ends first, the query keeps running in Athena; a
// retry with the same token picks it up.
//
// A token names one execution: Athena answers a repeated token with the execution it started
// first. When that execution had already failed before this call (a retry after a transient
// failure), Run starts the query once more under a token derived from the failed one, so a
// retry can succeed instead of being handed the same failure again.
func (r *Runner) Run(ctx context.Context, q Query) (*types.QueryExecution, error) {
	called := r.opts.Now()
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
	id := aws.ToString(out.QueryExecutionId)
	return r.Wait(ctx, id)
}

// Wait polls the query with id until it reaches a final state.
func (r *Runner) Wait(ctx context.Context, id string) (*types.QueryExecution, error) {
	wait := r.opts.FirstPoll
	for {
		if err := r.opts.Sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("wait for query %s: %w", id, err)
		}
		out, err := r.client.GetQueryExecution(ctx, &athena.GetQueryExecutionInput{QueryExecutionId: aws.String(id)})
		if err != nil {
			return nil, fmt.Errorf("get query %s: %w", id, err)
		}
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
		wait = min(wait*2, r.opts.MaxPoll)
	}
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

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
