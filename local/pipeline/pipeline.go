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

	"github.com/athenausage/athena-usage/pkg/alert"
	"github.com/athenausage/athena-usage/pkg/athenaquery"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/events"
	"github.com/athenausage/athena-usage/pkg/extract"
	"github.com/athenausage/athena-usage/pkg/lookup"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
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
	// Lookup tunes the lookup function; zero values take the lookup and batchget packages'
	// defaults.
	LookupRate        float64
	LookupConcurrency int
	LookupPartSize    int
	LookupMaxAttempts int
	// Lookup adds options to the lookup handler (tests shorten its safety margin).
	LookupOptions []func(*lookup.Options)
	// The alert rules, as the template's AlertThresholdUSD, AlertRatio and AlertMinCostUSD;
	// zero values take the alert package's defaults.
	AlertThresholdUSD float64
	AlertRatio        float64
	AlertMinCostUSD   float64
}

// DayRun is what the pipeline did for one day.
type DayRun struct {
	Day     string
	Extract extract.DayResult
	// Lookups are the lookup invocations, the first and its continuations.
	Lookups []lookup.Result
	// Alerts are the alert invocations the completed lookups asked for.
	Alerts []alert.Result
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
	alert   *alert.Handler
	queue   *queueInvoker
	log     *slog.Logger
}

// Pipeline returns a pipeline over the stack with the given settings. The pipelines of one
// stack share its Lambda stand-in's queue: run one at a time.
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
		LateDays:         config.DefaultLateDays,
	}
	lc := config.Lookup{
		Shared:    shared,
		AccountID: AccountID,
		// The synthetic trail's accounts are not the stack's own, and the Athena stand-in
		// answers for every account (it has one history for all), so the lookup is configured
		// as in an organization with a role in each account, which the STS stand-in lets it
		// assume.
		RoleName:    "athena-usage-lookup",
		Partition:   "aws",
		Rate:        set.LookupRate,
		Concurrency: set.LookupConcurrency,
		PartSize:    set.LookupPartSize,
		MaxAttempts: set.LookupMaxAttempts,
		// The lookup invokes the alert function when it completes a day, as in the stack.
		AlertFunction: AlertFunction,
	}
	// The stack's one queue takes the extract's invocations in process and the lookup's
	// through the Lambda stand-in.
	q := s.invoke.queue
	eh := extract.New(ec, athenaquery.New(s.AthenaClient(Region), localQueries), s.S3, q, func(o *extract.Options) {
		o.FunctionName = ExtractFunc
		o.Logger = s.log
		o.Metrics = s.metrics
	})
	opts := append([]func(*lookup.Options){func(o *lookup.Options) {
		o.FunctionName = LookupFunction
		o.Logger = s.log
		o.Metrics = s.metrics
	}}, set.LookupOptions...)
	lh, err := lookup.NewFromConfig(lc, s.awsConfig(), opts...)
	if err != nil {
		return nil, err
	}
	ah, err := s.alertHandler(set)
	if err != nil {
		return nil, err
	}
	return &Pipeline{stack: s, extract: eh, lookup: lh, alert: ah, queue: q, log: s.log}, nil
}

// alertHandler returns the alert function's handler, wired as the template wires it.
func (s *Stack) alertHandler(set Settings) (*alert.Handler, error) {
	ac := config.Alert{
		Shared:       config.Shared{Region: Region, DataBucket: DataBucket, S3PathStyle: true, StackName: StackName},
		Database:     Database,
		Workgroup:    Workgroup,
		TopicARN:     AlertTopic,
		ThresholdUSD: set.AlertThresholdUSD,
		Ratio:        set.AlertRatio,
		MinCostUSD:   set.AlertMinCostUSD,
	}
	return alert.NewFromConfig(ac, s.awsConfig(), func(o *alert.Options) {
		o.Logger = s.log
		o.Query = append(o.Query, localQueries)
	})
}

// localQueries tunes an athenaquery runner for the stack: its workgroup, and polls faster than
// against Athena, since the stand-in answers in milliseconds.
func localQueries(o *athenaquery.Options) {
	o.Workgroup = Workgroup
	o.FirstPoll, o.MaxPoll = 10*time.Millisecond, 200*time.Millisecond
}

// RunDay runs the pipeline for one UTC day, as a manual run of that day would.
func (p *Pipeline) RunDay(ctx context.Context, day time.Time) (DayRun, error) {
	run := DayRun{Day: day.Format(config.DayLayout)}
	res, done, err := p.run(ctx, events.Extract{Day: run.Day})
	if len(res.Days) == 1 {
		run.Extract = res.Days[0]
	}
	run.Lookups, run.Alerts = done.lookups, done.alerts
	return run, err
}

// RunAlert runs the alert function for day, as the lookup invokes it when the day completes.
func (p *Pipeline) RunAlert(ctx context.Context, day time.Time) (alert.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, lambdaTimeout)
	defer cancel()
	return p.alert.Handle(ctx, events.Alert{Day: day.Format(config.DayLayout)})
}

// ScheduleRun is what one firing of the daily schedule did.
type ScheduleRun struct {
	// Extract is the extract's result: the previous day and the days it re-checked.
	Extract extract.Result
	// Lookups are the lookup invocations the extract asked for, and their continuations.
	Lookups []lookup.Result
	// Alerts are the alert invocations the completed lookups asked for.
	Alerts []alert.Result
}

// RunSchedule runs the pipeline as the daily schedule fires at at: the extraction of the day
// before and the re-checks of the late-delivery days before that, then their lookups.
func (p *Pipeline) RunSchedule(ctx context.Context, at time.Time) (ScheduleRun, error) {
	ev := events.Extract{Schedule: events.Schedule{DetailType: "Scheduled Event", Time: at.UTC().Format(time.RFC3339)}}
	res, done, err := p.run(ctx, ev)
	return ScheduleRun{Extract: res, Lookups: done.lookups, Alerts: done.alerts}, err
}

// invoked is what the invocations an extract asked for did, in turn.
type invoked struct {
	lookups []lookup.Result
	alerts  []alert.Result
}

// run runs the extract handler for ev, then the invocations it asked for, and those they asked
// for (continuations, alerts), in order.
func (p *Pipeline) run(ctx context.Context, ev events.Extract) (extract.Result, invoked, error) {
	// Each run is a new invocation with its own request ID, as in Lambda: the extract derives
	// its query tokens from it, so a rerun queries afresh instead of being handed the last run's
	// execution.
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID:       newRequestID(),
		InvokedFunctionArn: "arn:aws:lambda:" + Region + ":" + AccountID + ":function:" + ExtractFunc,
	})
	ectx, cancel := context.WithTimeout(ctx, lambdaTimeout)
	res, err := p.extract.Handle(ectx, ev)
	cancel()
	var done invoked
	if err != nil {
		return res, done, fmt.Errorf("extract: %w", err)
	}
	for {
		inv, ok := p.queue.pop()
		if !ok {
			return res, done, nil
		}
		if err := p.runQueued(ctx, inv, &done); err != nil {
			return res, done, err
		}
	}
}

// runQueued runs one queued invocation of the lookup or alert function and records its result.
func (p *Pipeline) runQueued(ctx context.Context, inv invocation, done *invoked) error {
	ctx, cancel := context.WithTimeout(ctx, lambdaTimeout)
	defer cancel()
	switch inv.function {
	case LookupFunction:
		var ev events.Lookup
		if err := json.Unmarshal(inv.payload, &ev); err != nil {
			return fmt.Errorf("lookup event: %w", err)
		}
		lr, err := p.lookup.Handle(ctx, ev)
		if err != nil {
			return fmt.Errorf("lookup %s part %d: %w", ev.Day, ev.Part, err)
		}
		done.lookups = append(done.lookups, lr)
	case AlertFunction:
		var ev events.Alert
		if err := json.Unmarshal(inv.payload, &ev); err != nil {
			return fmt.Errorf("alert event: %w", err)
		}
		ar, err := p.alert.Handle(ctx, ev)
		if err != nil {
			return fmt.Errorf("alert %s: %w", ev.Day, err)
		}
		done.alerts = append(done.alerts, ar)
	default:
		return fmt.Errorf("invoked %s, want %s or %s", inv.function, LookupFunction, AlertFunction)
	}
	return nil
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
	// wake, once the stack serves invocations (Stack.Serve), signals a new one.
	wake chan struct{}
	// received records every invocation, kill is the stand-in's kill knob (Stack.Kill).
	received []Invocation
	kill     func(Invocation) bool
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
	q.received = append(q.received, Invocation{Function: aws.ToString(in.FunctionName), Payload: in.Payload})
	if q.wake != nil {
		select {
		case q.wake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
	return &lambda.InvokeOutput{StatusCode: 202}, nil
}

// pop returns the next invocation to run, skipping those the kill knob kills.
func (q *queueInvoker) pop() (invocation, bool) {
	for {
		q.mu.Lock()
		if len(q.pending) == 0 {
			q.mu.Unlock()
			return invocation{}, false
		}
		inv, kill := q.pending[0], q.kill
		q.pending = q.pending[1:]
		q.mu.Unlock()
		// Outside the lock: the knob may signal a test, which may call the stack back.
		if kill == nil || !kill(Invocation{Function: inv.function, Payload: inv.payload}) {
			return inv, true
		}
	}
}

// discardLogger drops logs; the CLI prints its own progress lines.
func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
