package athenaserver

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
)

// BenchmarkBatchGetQueryExecution measures a 50-ID BatchGetQueryExecution through the SDK
// client over loopback, quotas off.
func BenchmarkBatchGetQueryExecution(b *testing.B) {
	s, err := New(Options{Engine: &fakeEngine{}, S3: newFakeS3(), DisableQuotas: true})
	if err != nil {
		b.Fatal(err)
	}
	url, shutdown, err := s.Listen("")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := shutdown(context.Background()); err != nil {
			b.Errorf("shutdown: %v", err)
		}
	})
	c := newClient(url)
	ids := make([]string, maxBatchIDs)
	for i := range ids {
		ids[i] = newID()
	}
	// Known executions, as loaded from history.
	s.mu.Lock()
	for _, id := range ids {
		s.restore(record{QueryExecution: wireExecution{
			QueryExecutionId: aws.String(id), Query: new(string),
			Status: &types.QueryExecutionStatus{State: types.QueryExecutionStateSucceeded},
		}}, 0, 0)
	}
	s.mu.Unlock()
	in := &athena.BatchGetQueryExecutionInput{QueryExecutionIds: ids}
	b.ResetTimer()
	for b.Loop() {
		out, err := c.BatchGetQueryExecution(context.Background(), in)
		if err != nil || len(out.QueryExecutions) != maxBatchIDs {
			b.Fatalf("BatchGetQueryExecution: %v", err)
		}
	}
}
