package athenaserver

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
)

func TestLatency(t *testing.T) {
	_, c := start(t, Options{DisableQuotas: true, Latency: map[string]Latency{
		"":                    {Min: 30 * time.Millisecond},
		OpGetQueryExecution:   {Min: 0},
		OpListQueryExecutions: {Min: 40 * time.Millisecond, Max: 60 * time.Millisecond},
	}})
	ctx := context.Background()
	tests := []struct {
		name     string
		call     func() error
		min, max time.Duration
	}{
		{"default", func() error {
			// An unknown ID is an error, but answered only after the latency.
			if _, err := c.StopQueryExecution(ctx, &athena.StopQueryExecutionInput{QueryExecutionId: aws.String("x")}); err == nil {
				return errors.New("StopQueryExecution(unknown ID) succeeded, want an error")
			}
			return nil
		}, 30 * time.Millisecond, time.Second},
		{"range", func() error {
			_, err := c.ListQueryExecutions(ctx, &athena.ListQueryExecutionsInput{})
			return err
		}, 40 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			begin := time.Now()
			if err := tt.call(); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(begin); d < tt.min || d > tt.max {
				t.Errorf("%s call took %v, want %v to %v", tt.name, d, tt.min, tt.max)
			}
		})
	}
}

func TestFaultsAreReproducible(t *testing.T) {
	sequence := func(seed int64) []bool {
		l := newLimits(Options{Seed: seed, DisableQuotas: true})
		var out []bool
		for range 64 {
			out = append(out, l.roll(0.5))
		}
		return out
	}
	a, b, other := sequence(42), sequence(42), sequence(43)
	same, differs := true, false
	for i := range a {
		same = same && a[i] == b[i]
		differs = differs || a[i] != other[i]
	}
	if !same {
		t.Errorf("two runs with seed 42 rolled differently")
	}
	if !differs {
		t.Errorf("seeds 42 and 43 rolled the same 64 times")
	}
}

func TestQueueTime(t *testing.T) {
	_, c := start(t, Options{DisableQuotas: true, QueueTime: 50 * time.Millisecond})
	id := startQuery(t, c, "SELECT 1")
	out, err := c.GetQueryExecution(context.Background(), &athena.GetQueryExecutionInput{QueryExecutionId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.QueryExecution.Status.State; got != types.QueryExecutionStateQueued {
		t.Errorf("state right after start = %s, want QUEUED", got)
	}
	q := wait(t, c, id)
	if q.Status.State != types.QueryExecutionStateSucceeded {
		t.Errorf("state = %s, want SUCCEEDED", q.Status.State)
	}
	if got := aws.ToInt64(q.Statistics.QueryQueueTimeInMillis); got < 50 {
		t.Errorf("QueryQueueTimeInMillis = %d, want at least 50", got)
	}
	if total, queue := aws.ToInt64(q.Statistics.TotalExecutionTimeInMillis), aws.ToInt64(q.Statistics.QueryQueueTimeInMillis); total < queue {
		t.Errorf("TotalExecutionTimeInMillis = %d, less than the queue time %d", total, queue)
	}
}

// TestQuotaPerAccountAndRegion checks that each account and region has its own bucket, as
// Athena's quotas do: one caller using up its quota does not throttle another.
func TestQuotaPerAccountAndRegion(t *testing.T) {
	l := newLimits(Options{Quotas: map[string]Quota{OpBatchGetQueryExecution: {Rate: 0.001, Burst: 1}}})
	a := Caller{Account: "111111111111", Region: "us-east-1"}
	for _, tt := range []struct {
		c         Caller
		throttled bool
	}{
		{a, false},
		{a, true},
		{Caller{Account: "222222222222", Region: "us-east-1"}, false},
		{Caller{Account: a.Account, Region: "eu-west-1"}, false},
	} {
		if got := l.admit(context.Background(), tt.c, OpBatchGetQueryExecution) != nil; got != tt.throttled {
			t.Errorf("admit(%+v) throttled = %v, want %v", tt.c, got, tt.throttled)
		}
	}
}
