package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/athenausage/athena-usage/pkg/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Serve makes the Lambda stand-in run what it is sent, as Lambda runs asynchronous invocations:
// an Invoke of the extract, lookup or alert function, by a client of the stack (`athena-usage
// backfill`) or by a handler (a day's lookup, a continuation), runs the real handler with set,
// one invocation at a time in the order they came, as with a reserved concurrency of 1. A
// failed invocation is recorded in the failure queue at once: Lambda would first retry it
// twice. Close stops it. Do not run a Pipeline of the stack besides.
func (s *Stack) Serve(set Settings) error {
	p, err := s.Pipeline(set)
	if err != nil {
		return err
	}
	s.invoke.mu.Lock()
	s.invoke.price = set.PricePerTB
	s.invoke.mu.Unlock()
	q := s.invoke.queue
	q.mu.Lock()
	if q.wake != nil {
		q.mu.Unlock()
		return errors.New("local stack: already serving invocations")
	}
	q.wake = make(chan struct{}, 1)
	q.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.stopServing = func() { cancel(); <-done }
	go func() {
		defer close(done)
		p.serve(ctx)
	}()
	return nil
}

// serve runs the queued invocations until ctx ends.
func (p *Pipeline) serve(ctx context.Context) {
	for {
		inv, ok := p.queue.pop()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-p.queue.wake:
				continue
			}
		}
		if err := p.invokeOne(ctx, inv); err != nil {
			if ctx.Err() != nil {
				return // stopping: the invocation was cut short, not failed
			}
			p.log.Error("invocation failed", "function", inv.function, "error", err)
			p.stack.Fail(inv.function, inv.payload, err)
		}
	}
}

// invokeOne runs one invocation as Lambda would: a fresh request ID and the function's timeout.
func (p *Pipeline) invokeOne(ctx context.Context, inv invocation) error {
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID:       newRequestID(),
		InvokedFunctionArn: "arn:aws:lambda:" + Region + ":" + AccountID + ":function:" + inv.function,
	})
	ctx, cancel := context.WithTimeout(ctx, lambdaTimeout)
	defer cancel()
	switch inv.function {
	case ExtractFunc:
		var ev events.Extract
		if err := json.Unmarshal(inv.payload, &ev); err != nil {
			return fmt.Errorf("extract event: %w", err)
		}
		_, err := p.extract.Handle(ctx, ev)
		return err
	case LookupFunction:
		var ev events.Lookup
		if err := json.Unmarshal(inv.payload, &ev); err != nil {
			return fmt.Errorf("lookup event: %w", err)
		}
		_, err := p.lookup.Handle(ctx, ev)
		return err
	case AlertFunction:
		var ev events.Alert
		if err := json.Unmarshal(inv.payload, &ev); err != nil {
			return fmt.Errorf("alert event: %w", err)
		}
		_, err := p.alert.Handle(ctx, ev)
		return err
	}
	return fmt.Errorf("function %s: the local stack has %s, %s and %s", inv.function, ExtractFunc, LookupFunction, AlertFunction)
}
