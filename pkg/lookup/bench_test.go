package lookup

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/athenausage/athena-usage/pkg/batchget"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// csvGenerator is a day's Athena result CSV of n query IDs, written as it is read, so that a
// million rows (about 400 MB) never sit in memory.
type csvGenerator struct {
	n, i int
	buf  []byte
	head bool
}

func (g *csvGenerator) Read(p []byte) (int, error) {
	for len(g.buf) == 0 {
		switch {
		case !g.head:
			g.head = true
			g.buf = append(g.buf, `"query_id","event_time","account_id","aws_region","user_arn","user_type","principal_id","user_name","session_issuer","source_ip","user_agent","workgroup","query_database","error_code","submissions"`+"\n"...)
		case g.i < g.n:
			g.buf = fmt.Appendf(g.buf, `"%08x-1111-4222-8333-%012x","2025-03-04T05:06:07Z","123456789012","us-east-1","arn:aws:sts::123456789012:assumed-role/analyst/user%d","AssumedRole","AROAEXAMPLE:user%d",,"analyst","10.0.%d.%d","aws-cli/2.15.0 md/awscrt#0.19.19 ua/2.0 os/linux#6.1 md/arch#x86_64 lang/python#3.11.8 cmd/athena.start-query-execution, ""quoted""","primary","sales",,"1"`+"\n",
				g.i, g.i, g.i%97, g.i%97, g.i%256, g.i%251)
			g.i++
		default:
			return 0, io.EOF
		}
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	return n, nil
}

// generatedS3 serves one generated object and has no parts to list or delete.
type generatedS3 struct{ ids int }

func (s generatedS3) GetObject(ctx context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	if in.Range != nil {
		return nil, fmt.Errorf("unexpected ranged read %s", aws.ToString(in.Range))
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(&csvGenerator{n: s.ids}), ETag: aws.String(`"generated"`)}, nil
}

func (generatedS3) HeadObject(ctx context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	return &s3.HeadObjectOutput{ETag: aws.String(`"generated"`)}, nil
}

func (generatedS3) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	return &s3.ListObjectsV2Output{}, nil
}

func (generatedS3) DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, _ ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error) {
	return &s3.DeleteObjectsOutput{}, nil
}

// discardUploader reads each part and keeps only its size.
type discardUploader struct{ bytes atomic.Int64 }

func (u *discardUploader) UploadObject(ctx context.Context, in *transfermanager.UploadObjectInput, _ ...func(*transfermanager.Options)) (*transfermanager.UploadObjectOutput, error) {
	n, err := io.Copy(io.Discard, in.Body)
	u.bytes.Add(n)
	return &transfermanager.UploadObjectOutput{}, err
}

// quotaAthena is a fake Athena with a token-bucket quota of rate calls/s (burst 2×rate) and a
// latency of 50-150 ms per call.
type quotaAthena struct {
	rate, burst float64

	mu     sync.Mutex
	tokens float64
	last   time.Time

	throttled atomic.Int64
	ids       atomic.Int64
}

func (q *quotaAthena) BatchGetQueryExecution(ctx context.Context, in *athena.BatchGetQueryExecutionInput, _ ...func(*athena.Options)) (*athena.BatchGetQueryExecutionOutput, error) {
	q.mu.Lock()
	now := time.Now()
	q.tokens = min(q.burst, q.tokens+now.Sub(q.last).Seconds()*q.rate)
	q.last = now
	ok := q.tokens >= 1
	if ok {
		q.tokens--
	}
	q.mu.Unlock()
	t := time.NewTimer(50*time.Millisecond + rand.N(100*time.Millisecond))
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
		return nil, ctx.Err()
	}
	if !ok {
		q.throttled.Add(1)
		return nil, &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	}
	out := &athena.BatchGetQueryExecutionOutput{}
	for _, id := range in.QueryExecutionIds {
		out.QueryExecutions = append(out.QueryExecutions, executionIn(id, "us-east-1"))
	}
	q.ids.Add(int64(len(in.QueryExecutionIds)))
	return out, nil
}

// BenchmarkPipeline runs a day of a million IDs through the handler's real part pipeline (IDs
// streamed from a generated CSV, parts streamed to a discarding uploader) against a fast quota,
// and reports the peak heap, which must stay bounded by the parts an invocation holds
// (PartsInFlight+1), not by the day. At this
// quota a 10,000-ID part is only 0.1 s of calls, close to the calls' latency, so the tail of each
// part shows in pct_of_quota; at 200 calls/s the same pipeline reaches about 98%.
func BenchmarkPipeline(b *testing.B) {
	const (
		ids       = 1_000_000
		quota     = 2000 // calls/s: 100,000 IDs/s, 10-20 s for the day
		maxHeapMB = 64
	)
	var peak atomic.Uint64
	var elapsed time.Duration
	var throttled int64
	for b.Loop() {
		server := &quotaAthena{rate: quota, burst: 2 * quota, tokens: 2 * quota, last: time.Now()}
		up := &discardUploader{}
		cfg := config.Lookup{
			Shared:    config.Shared{Region: "us-east-1", DataBucket: "usage-data", DataPrefix: "athena-usage/"},
			AccountID: "123456789012",
			Rate:      quota,
			// Little's law: 2000 calls/s at up to 150 ms needs 300 in flight; twice that, as in
			// BenchmarkFanout, since a call holds its slot while it waits for the limiter.
			Concurrency: int(math.Ceil(quota * 0.15 * 2)),
		}
		h, err := New(cfg, Clients{
			S3: generatedS3{ids: ids}, Uploader: up, Lambda: &fakeLambda{},
			Athena: func(_, _ string) batchget.BatchGetter { return server },
		}, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) })
		if err != nil {
			b.Fatal(err)
		}

		runtime.GC()
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			var m runtime.MemStats
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > peak.Load() {
					peak.Store(m.HeapAlloc)
				}
				select {
				case <-done:
					return
				case <-tick.C:
				}
			}
		})
		start := time.Now()
		res, err := h.Handle(context.Background(), events.Lookup{Day: "2025-03-04", Bucket: "usage-data", Key: "athena-usage/athena_queries/dt=2025-03-04/queries.csv"})
		elapsed += time.Since(start)
		close(done)
		wg.Wait()
		if err != nil {
			b.Fatalf("Handle: %v", err)
		}
		if res.IDs != ids || res.Parts != ids/DefaultPartSize || server.ids.Load() != ids {
			b.Fatalf("Handle() = %+v with %d IDs looked up, want %d IDs in %d parts", res, server.ids.Load(), ids, ids/DefaultPartSize)
		}
		throttled += server.throttled.Load()
	}
	peakMB := float64(peak.Load()) / (1 << 20)
	idsPerSec := float64(ids*b.N) / elapsed.Seconds()
	b.ReportMetric(peakMB, "peak_heap_MB")
	b.ReportMetric(idsPerSec, "ids/s")
	b.ReportMetric(idsPerSec/(quota*batchget.MaxBatchSize)*100, "pct_of_quota")
	b.ReportMetric(float64(throttled), "throttled")
	if peakMB > maxHeapMB {
		b.Fatalf("peak_heap_MB = %.1f, want <= %d", peakMB, maxHeapMB)
	}
}
