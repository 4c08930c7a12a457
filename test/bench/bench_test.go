package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/athenausage/athena-usage/local/athenaserver"
	"github.com/athenausage/athena-usage/local/sqlengine"
	"github.com/athenausage/athena-usage/pkg/batchget"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/events"
	"github.com/athenausage/athena-usage/pkg/lookup"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

const (
	account = "123456789012"
	region  = "us-east-1"
)

// latency is the measured latency of BatchGetQueryExecution.
var latency = athenaserver.Latency{Min: 50 * time.Millisecond, Max: 150 * time.Millisecond}

// faults are issue 10's: 10 % of calls throttled at random, 5 % of IDs transiently unprocessed,
// 1 % of calls answered with HTTP 500.
var faults = athenaserver.Faults{Throttle: 0.10, Unprocessed: 0.05, ServerError: 0.01,
	Operations: []string{athenaserver.OpBatchGetQueryExecution}}

type benchCase struct {
	name   string
	quota  float64
	ids    int
	faults athenaserver.Faults
	// cotenant is another client of the account calling at this share of the quota throughout.
	cotenant float64
	// after, if set, is the case whose run the day before left the quotas found, which this
	// run starts from: a day after the first (run first, unprinted, if it has not run).
	after string
}

// result is what a case measured: its bench line's figures, and beside a co-tenant, our rate
// and the co-tenant's calls and throttles, with us and alone.
type result struct {
	name                       string
	fraction                   float64
	lost, dup                  int
	callsRatio, heapMB         float64
	ours                       float64 // our calls/s that the quota let in
	coCalls, coThrottled       int64
	aloneCalls, aloneThrottled int64
}

// BenchmarkLookup runs each case once, then prints their figures as a table; go test -bench .
// -benchtime 1x ./test/bench.
func BenchmarkLookup(b *testing.B) {
	var results []result
	defer func() { printTable(os.Stdout, results) }()
	cases := []benchCase{
		{name: "quota20", quota: 20, ids: 30_000},    // 600 calls: 30 s at 20/s
		{name: "quota200", quota: 200, ids: 200_000}, // 4,000 calls: 20 s at 200/s
		{name: "quota20-faults", quota: 20, ids: 30_000, faults: faults},
		{name: "quota200-faults", quota: 200, ids: 200_000, faults: faults},
		{name: "cotenant", quota: 20, ids: 30_000, cotenant: 0.5},
		{name: "1m", quota: 200, ids: 1_000_000}, // 20,000 calls: 100 s at 200/s
		// The next day's runs, from the quotas the first found.
		{name: "quota20-daily", quota: 20, ids: 30_000, after: "quota20"},
		{name: "quota200-daily", quota: 200, ids: 200_000, after: "quota200"},
		{name: "quota20-faults-daily", quota: 20, ids: 30_000, faults: faults, after: "quota20-faults"},
		{name: "quota200-faults-daily", quota: 200, ids: 200_000, faults: faults, after: "quota200-faults"},
		{name: "cotenant-daily", quota: 20, ids: 30_000, cotenant: 0.5, after: "cotenant"},
	}
	// state is what each case's run left in the state prefix.
	state := map[string]*stateStore{}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				from := newStateStore()
				if bc.after != "" {
					if state[bc.after] == nil {
						i := slices.IndexFunc(cases, func(c benchCase) bool { return c.name == bc.after })
						state[bc.after] = newStateStore()
						runDay(b, cases[i], state[bc.after])
					}
					from = state[bc.after]
				}
				r := runCase(b, bc, from)
				results = append(results, r)
				state[bc.name] = from
			}
		})
	}
}

type stubS3 struct{}

func (stubS3) PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	return nil, errors.New("the bench runs no queries")
}

func (stubS3) GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	return nil, errors.New("the bench runs no queries")
}

// serve starts the Athena stand-in with bc's quota, the latency and bc's faults, and
// returns it with a function that makes clients of it; it stops when b's case ends.
func serve(b *testing.B, bc benchCase) (*athenaserver.Server, func(...func(*athena.Options)) *athena.Client) {
	srv, err := athenaserver.New(athenaserver.Options{
		Engine: (*sqlengine.Engine)(nil), S3: stubS3{}, AccountID: account, Region: region,
		Quotas:    map[string]athenaserver.Quota{athenaserver.OpBatchGetQueryExecution: {Rate: bc.quota, Burst: int(2 * bc.quota)}},
		Latency:   map[string]athenaserver.Latency{"": latency},
		Faults:    bc.faults,
		Generated: generated,
		Seed:      1,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	url, shutdown, err := srv.Listen("")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = shutdown(context.Background()) })
	return srv, func(optFns ...func(*athena.Options)) *athena.Client {
		return athena.New(athena.Options{
			Region: region, BaseEndpoint: aws.String(url),
			Credentials: credentials.NewStaticCredentialsProvider("AKIDBENCH", "secret", ""),
		}, optFns...)
	}
}

// aloneFor is how long the co-tenant calls alone, for the throttles it sees without us.
const aloneFor = 10 * time.Second

// runCase runs one case from the state a run before left (the quotas it found), on a stand-in
// of its own (its quota's bucket full, as a day later), and prints its line.
func runCase(b *testing.B, bc benchCase, state *stateStore) result {
	r := runDay(b, bc, state)
	fmt.Printf("bench: %s fraction=%.3f lost=%d dup=%d calls_ratio=%.3f heap_mb=%.1f\n",
		r.name, r.fraction, r.lost, r.dup, r.callsRatio, r.heapMB)
	if bc.cotenant > 0 {
		// The co-tenant alone, on a stand-in of its own, for the throttles it sees without us.
		_, alone := serve(b, benchCase{quota: bc.quota})
		var aloneCalls, aloneThrottled atomic.Int64
		ctx, cancel := context.WithTimeout(context.Background(), aloneFor)
		cotenant(ctx, alone(batchget.WithoutSDKRetries), bc.quota*bc.cotenant, &aloneCalls, &aloneThrottled)
		cancel()
		r.aloneCalls, r.aloneThrottled = aloneCalls.Load(), aloneThrottled.Load()
		b.Logf("cotenant alone: %d of its %d calls throttled", r.aloneThrottled, r.aloneCalls)
	}
	return r
}

// runDay runs one case from state, and leaves in it what the run wrote there.
func runDay(b *testing.B, bc benchCase, state *stateStore) result {
	srv, client := serve(b, bc)

	up := newCheckingUploader(bc.ids, state)
	// The shipped defaults: no rate, no concurrency, as template.yaml deploys them.
	h, err := lookup.New(config.Lookup{
		Shared:    config.Shared{Region: region, DataBucket: "usage-data", DataPrefix: "athena-usage/"},
		AccountID: account,
	}, lookup.Clients{
		S3: generatedS3{ids: bc.ids, state: state}, Uploader: up, Lambda: &noLambda{},
		Athena: func(_, _ string) batchget.BatchGetter { return client(batchget.WithoutSDKRetries) },
	}, func(o *lookup.Options) { o.Logger = benchLogger(b) })
	if err != nil {
		b.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var coCalls, coThrottled atomic.Int64
	if bc.cotenant > 0 {
		wg.Go(func() {
			cotenant(ctx, client(batchget.WithoutSDKRetries), bc.quota*bc.cotenant, &coCalls, &coThrottled)
		})
	}
	var peak atomic.Uint64
	runtime.GC()
	wg.Go(func() { watchHeap(ctx, &peak) })

	start := time.Now()
	res, err := h.Handle(ctx, events.Lookup{Day: "2025-03-04", Bucket: "usage-data", Key: "athena-usage/athena_queries/dt=2025-03-04/queries.csv"})
	elapsed := time.Since(start)
	cancel()
	wg.Wait()
	if err != nil {
		b.Fatalf("Handle: %v", err)
	}
	if up.err != nil {
		b.Fatal(up.err)
	}
	counts := srv.Counts()[athenaserver.OpBatchGetQueryExecution]
	calls := int64(counts.Calls) - coCalls.Load()
	want := (bc.ids + batchget.MaxBatchSize - 1) / batchget.MaxBatchSize
	fraction := float64(bc.ids) / elapsed.Seconds() / (bc.quota * batchget.MaxBatchSize)
	r := result{name: bc.name, fraction: fraction, lost: up.lost(), dup: up.dup,
		callsRatio: float64(calls) / float64(want), heapMB: float64(peak.Load()) / (1 << 20)}
	b.Logf("%s: %d IDs in %.1fs, %d parts, %d calls (%d throttled, %d server errors)",
		bc.name, bc.ids, elapsed.Seconds(), res.Parts, calls, counts.Throttled-int(coThrottled.Load()), counts.ServerErrors)
	if bc.cotenant > 0 {
		r.ours = float64(calls-int64(counts.Throttled)+coThrottled.Load()) / elapsed.Seconds()
		r.coCalls, r.coThrottled = coCalls.Load(), coThrottled.Load()
		b.Logf("cotenant: it made %d calls at %.1f/s, %d throttled; ours got through at %.1f/s of the %.1f/s left to us",
			r.coCalls, bc.quota*bc.cotenant, r.coThrottled, r.ours, bc.quota*(1-bc.cotenant))
	}
	return r
}

// printTable prints the cases' figures as a table, the co-tenant's throttles with us and alone.
func printTable(w io.Writer, results []result) {
	if len(results) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "case\tfraction\tlost\tdup\tcalls_ratio\theap_mb\tours/s\tco-tenant throttled\talone\t")
	for _, r := range results {
		ours, co, alone := "", "", ""
		if r.coCalls > 0 {
			ours = fmt.Sprintf("%.1f", r.ours)
			co = fmt.Sprintf("%d of %d", r.coThrottled, r.coCalls)
			alone = fmt.Sprintf("%d of %d", r.aloneThrottled, r.aloneCalls)
		}
		fmt.Fprintf(tw, "%s\t%.3f\t%d\t%d\t%.3f\t%.1f\t%s\t%s\t%s\t\n",
			r.name, r.fraction, r.lost, r.dup, r.callsRatio, r.heapMB, ours, co, alone)
	}
	_ = tw.Flush()
}

// cotenant calls BatchGetQueryExecution at rate calls/s until ctx ends, as another client of
// the account would, counting its calls and the throttled ones.
func cotenant(ctx context.Context, c *athena.Client, rate float64, calls, throttled *atomic.Int64) {
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		wg.Go(func() {
			_, err := c.BatchGetQueryExecution(ctx, &athena.BatchGetQueryExecutionInput{QueryExecutionIds: []string{queryID(i)}})
			if ctx.Err() != nil {
				return
			}
			calls.Add(1)
			if batchget.ErrorCode(err) == "ThrottlingException" {
				throttled.Add(1)
			}
		})
	}
}

// watchHeap keeps the peak HeapAlloc until ctx ends.
func watchHeap(ctx context.Context, peak *atomic.Uint64) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var m runtime.MemStats
	for {
		runtime.ReadMemStats(&m)
		if m.HeapAlloc > peak.Load() {
			peak.Store(m.HeapAlloc)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// benchLogger is the handler's logger: discarded, or with BENCH_LOG=file appended to that file
// at debug level, the rate limiter's decisions included.
func benchLogger(b *testing.B) *slog.Logger {
	path := os.Getenv("BENCH_LOG")
	if path == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		b.Fatalf("BENCH_LOG: %v", err)
	}
	b.Cleanup(func() { _ = f.Close() })
	return slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
