package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/athenausage/athena-usage/pkg/athenaquery"
	"github.com/athenausage/athena-usage/pkg/batchget"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/events"
	"github.com/athenausage/athena-usage/pkg/extract"
	"github.com/athenausage/athena-usage/pkg/lookup"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// lambdaTimeout is the deadline each handler gets, as the functions have in AWS: the lookup
// measures its parts against it to decide when to continue in a fresh invocation.
const lambdaTimeout = 15 * time.Minute

// Settings are the pipeline's parameters, as the SAM template's would be.
type Settings struct {
	Accounts        []string
	Regions         []string
	OrgID           string
	ProjectionStart time.Time
	PricePerTB      float64
	// Lookup tunes the lookup function; zero values take the config package's defaults.
	LookupRate        float64
	LookupConcurrency int
	LookupPartSize    int
	LookupMaxAttempts int
	// Lookup adds options to the lookup handler (tests shorten its safety margin).
	LookupOptions []func(*lookup.Options)
}

// DayRun is what the pipeline did for one day.
type DayRun struct {
	Day     string
	Extract extract.DayResult
	// Lookups are the lookup invocations, the first and its continuations.
	Lookups []lookup.Result
}

// IDs is the number of query IDs the lookup wrote rows for.
func (d DayRun) IDs() (ids, parts, lookupErrors int) {
	for _, l := range d.Lookups {
		ids += l.IDs
		parts += l.Parts
		lookupErrors += l.LookupErrors
	}
	return ids, parts, lookupErrors
}

// Pipeline runs the scheduled pipeline's handlers in process: the extract handler for a day,
// then the lookup invocations it asked for, as Lambda would run them asynchronously.
type Pipeline struct {
	stack   *Stack
	extract *extract.Handler
	lookup  *lookup.Handler
	queue   *queueInvoker
	log     *slog.Logger
}

// Pipeline returns a pipeline over the stack with the given settings.
func (s *Stack) Pipeline(set Settings) (*Pipeline, error) {
	if set.PricePerTB == 0 {
		set.PricePerTB = config.DefaultPricePerTB
	}
	shared := config.Shared{Region: Region, DataBucket: DataBucket, S3PathStyle: true}
	ec := config.Extract{
		Shared:           shared,
		Database:         Database,
		Workgroup:        Workgroup,
		CloudTrailBucket: TrailBucket,
		OrgID:            set.OrgID,
		Accounts:         set.Accounts,
		Regions:          set.Regions,
		ProjectionStart:  set.ProjectionStart,
		PricePerTB:       set.PricePerTB,
		LookupFunction:   LookupFunction,
	}
	lc := config.Lookup{
		Shared:    shared,
		AccountID: AccountID,
		// The synthetic trail's accounts are not the stack's own, and the Athena stand-in
		// answers for every account (it has one history for all), so the lookup is configured
		// as in an organization with a role in each account; the client below stands in for
		// the role in any account.
		RoleName:    "athena-usage-lookup",
		Rate:        orFloat(set.LookupRate, config.DefaultLookupRate),
		Concurrency: orInt(set.LookupConcurrency, config.DefaultLookupConcurrency),
		PartSize:    orInt(set.LookupPartSize, config.DefaultLookupPartSize),
		MaxAttempts: orInt(set.LookupMaxAttempts, config.DefaultLookupMaxAttempts),
	}
	q := &queueInvoker{}
	runner := athenaquery.New(s.AthenaClient(Region), func(o *athenaquery.Options) {
		o.Workgroup = Workgroup
		// The stand-in answers in milliseconds; poll faster than against Athena.
		o.FirstPoll, o.MaxPoll = 10*time.Millisecond, 200*time.Millisecond
	})
	eh := extract.New(ec, runner, s.S3, q)
	eh.Self = ExtractFunc
	eh.Log = s.log
	opts := append([]func(*lookup.Options){func(o *lookup.Options) {
		o.FunctionName = LookupFunction
		o.Logger = s.log
	}}, set.LookupOptions...)
	lh, err := lookup.New(lc, lookup.Clients{
		S3:       s.S3,
		Uploader: lookup.NewUploader(transfermanager.New(s.S3)),
		Lambda:   q,
		Athena: func(_, region string) batchget.BatchGetter {
			return s.AthenaClient(region, batchget.WithoutSDKRetries)
		},
	}, opts...)
	if err != nil {
		return nil, err
	}
	return &Pipeline{stack: s, extract: eh, lookup: lh, queue: q, log: s.log}, nil
}

func orFloat(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

func orInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// RunDay runs the pipeline for one UTC day, as the daily schedule would.
func (p *Pipeline) RunDay(ctx context.Context, day time.Time) (DayRun, error) {
	run := DayRun{Day: day.Format(config.DayLayout)}
	// Each run is a new invocation with its own request ID, as in Lambda: the extract derives
	// its query tokens from it, so a rerun queries afresh instead of being handed the last run's
	// execution.
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID:       newRequestID(),
		InvokedFunctionArn: "arn:aws:lambda:" + Region + ":" + AccountID + ":function:" + ExtractFunc,
	})
	ectx, cancel := context.WithTimeout(ctx, lambdaTimeout)
	res, err := p.extract.Handle(ectx, events.Extract{Day: run.Day})
	cancel()
	if err != nil {
		return run, fmt.Errorf("extract: %w", err)
	}
	if len(res.Days) == 1 {
		run.Extract = res.Days[0]
	}
	for {
		inv, ok := p.queue.pop()
		if !ok {
			return run, nil
		}
		if inv.function != LookupFunction {
			return run, fmt.Errorf("extract invoked %s, want %s", inv.function, LookupFunction)
		}
		var ev events.Lookup
		if err := json.Unmarshal(inv.payload, &ev); err != nil {
			return run, fmt.Errorf("lookup event: %w", err)
		}
		lctx, cancel := context.WithTimeout(ctx, lambdaTimeout)
		lr, err := p.lookup.Handle(lctx, ev)
		cancel()
		if err != nil {
			return run, fmt.Errorf("lookup part %d: %w", ev.Part, err)
		}
		run.Lookups = append(run.Lookups, lr)
	}
}

func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail on Linux
	return hex.EncodeToString(b)
}

// queueInvoker stands in for Lambda's asynchronous invoke: it queues the events, and the
// pipeline runs them after the invoking handler returns.
type queueInvoker struct {
	mu      sync.Mutex
	pending []invocation
}

type invocation struct {
	function string
	payload  []byte
}

func (q *queueInvoker) Invoke(_ context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	if in.InvocationType != "Event" {
		return nil, fmt.Errorf("invoke %s: only asynchronous (Event) invocations are supported locally", aws.ToString(in.FunctionName))
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pending = append(q.pending, invocation{function: aws.ToString(in.FunctionName), payload: in.Payload})
	return &lambda.InvokeOutput{StatusCode: 202}, nil
}

func (q *queueInvoker) pop() (invocation, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) == 0 {
		return invocation{}, false
	}
	inv := q.pending[0]
	q.pending = q.pending[1:]
	return inv, true
}

// discardLogger drops logs; the CLI prints its own progress lines.
func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
