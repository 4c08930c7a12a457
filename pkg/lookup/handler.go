// Package lookup is the lookup function's handler: for one day it streams the query IDs out of
// the extract's CSV, looks them up with BatchGetQueryExecution (package batchget) and writes the
// athena_api_output parts, handing the rest of the day to a new invocation of itself before
// Lambda's 15-minute limit.
//
// Reading order: Handle (this file) starts an invocation (invocation.go), whose steps read the
// day's object (s3.go, ids.go), write its parts, then finish the day or continue it.
package lookup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/athenausage/athena-usage/pkg/batchget"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/emf"
	"github.com/athenausage/athena-usage/pkg/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Defaults of Options and of the configuration's PartSize.
const (
	// DefaultSafetyMargin is the time left at which no new part starts: enough for the parts in
	// flight to finish after a slow stretch, to delete stale parts and to invoke the continuation.
	DefaultSafetyMargin = 3 * time.Minute
	// DefaultPartsInFlight is how many parts are looked up at once: the other parts' calls
	// fill the gap while the last batches of a part (retries backing off) and its upload
	// finish. With two, both parts sometimes ended together and the limiter sat idle: under
	// 10 % random throttling at 200 calls/s, 0.69 of the no-fault rate over HTTP, 0.74–0.80
	// with three (docs/design.md, "Measured"). The part after them is read ahead, so that
	// reading is not in that gap either: an invocation holds the IDs and rows of
	// PartsInFlight+1 parts at most.
	DefaultPartsInFlight = 3
	// DefaultPartSize is the number of query IDs per output part: 10,000 rows is about 5 MB of
	// CSV, small enough to hold three parts while they are looked up, large enough to keep
	// parts few.
	DefaultPartSize = 10000
)

// Options tune a Handler; a zero field takes its default.
type Options struct {
	// FunctionName is the function to continue a day with; lambdacontext.FunctionName (the
	// running function) when empty.
	FunctionName string
	// SafetyMargin is the time left at which no new part starts; DefaultSafetyMargin when zero.
	SafetyMargin time.Duration
	// PartsInFlight is how many parts are looked up at once, besides the one read ahead;
	// DefaultPartsInFlight when zero.
	PartsInFlight int
	// Logger receives the handler's logs; slog.Default() when nil.
	Logger *slog.Logger
	// Engine tunes the batchget engines, one per account and region, beyond the configuration's
	// settings.
	Engine []func(*batchget.Options)
	// Metrics receives the metrics (metrics.go); none are written when nil.
	Metrics *emf.Writer
}

// ObjectStore is the S3 calls the handler makes: reading the day's IDs, checking that they
// are still the current version, and listing and deleting parts an earlier run left.
type ObjectStore interface {
	GetObject(ctx context.Context, params *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadObject(ctx context.Context, params *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	ListObjectsV2(ctx context.Context, params *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	DeleteObjects(ctx context.Context, params *s3.DeleteObjectsInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error)
}

var _ ObjectStore = (*s3.Client)(nil)

// Uploader writes one part from a stream of unknown length. The S3 transfer manager streams
// such a body in multipart chunks (or one PutObject when it is small), so no part is built in
// memory.
type Uploader interface {
	UploadObject(ctx context.Context, input *transfermanager.UploadObjectInput, opts ...func(*transfermanager.Options)) (*transfermanager.UploadObjectOutput, error)
}

var _ Uploader = (*transfermanager.Client)(nil)

// Invoker starts the lookup function again, asynchronously, for the rest of a day.
type Invoker interface {
	Invoke(ctx context.Context, params *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

var _ Invoker = (*lambda.Client)(nil)

// Clients are the AWS clients a Handler calls.
type Clients struct {
	// S3 reads the day's IDs and deletes stale parts.
	S3 ObjectStore
	// Uploader writes parts.
	Uploader Uploader
	// Lambda invokes the continuation.
	Lambda Invoker
	// Athena returns the client for an account and region, called once per pair: an
	// *athena.Client made with batchget.WithoutSDKRetries. For an account other than the
	// configuration's AccountID it is only called when RoleName is set, and must return a
	// client with credentials for that account (the role assumed there).
	Athena func(account, region string) batchget.BatchGetter
}

// LookupErrorOtherAccount is the lookup_error of a query that ran in another account than the
// function's when no role to assume there is configured: Athena answers only for queries of
// the caller's own account.
const LookupErrorOtherAccount = "OtherAccount"

// LookupErrorOtherAccountFailed is the lookup_error of another account's queries when looking
// them up failed for good and the failure carried no error code of its own.
const LookupErrorOtherAccountFailed = "OtherAccountFailed"

// LookupErrorInvalidAccount and LookupErrorInvalidRegion are the lookup_error of a query whose
// account_id or aws_region in the CSV is not a valid one: it cannot be looked up anywhere, and
// failing the lookup for it would fail the day on every retry.
const (
	LookupErrorInvalidAccount = "InvalidAccount"
	LookupErrorInvalidRegion  = "InvalidRegion"
)

// Handler handles lookup events. It keeps one batchget engine per account and region across
// invocations, since quotas are per account and region, so that a warm function keeps what its
// limiters learned about them.
type Handler struct {
	cfg     config.Lookup
	clients Clients
	opts    Options
	log     *slog.Logger

	mu      sync.Mutex
	engines map[place]*batchget.Engine
	// quotas are the quotas found before (quotas.go), nil until the first invocation read
	// them; savedQuotas is the file as last read or written.
	quotas      map[place]batchget.Quota
	savedQuotas []byte
}

// place is where a query ran, and where it is looked up.
type place struct{ account, region string }

func (p place) String() string { return p.account + "/" + p.region }

// New returns a Handler for the configuration and clients. A zero PartSize is DefaultPartSize;
// Partition is required when RoleName is set, since it is then part of the role ARNs.
func New(cfg config.Lookup, clients Clients, optFns ...func(*Options)) (*Handler, error) {
	var o Options
	for _, fn := range optFns {
		fn(&o)
	}
	if o.SafetyMargin <= 0 {
		o.SafetyMargin = DefaultSafetyMargin
	}
	if o.PartsInFlight < 1 {
		o.PartsInFlight = DefaultPartsInFlight
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if err := validate(cfg, clients); err != nil {
		return nil, fmt.Errorf("lookup handler: %w", err)
	}
	return &Handler{cfg: cfg, clients: clients, opts: o, log: o.Logger, engines: map[place]*batchget.Engine{}}, nil
}

// validate returns every problem of the configuration and clients New is given.
func validate(cfg config.Lookup, clients Clients) error {
	errs := []error{
		config.ValidateBucket(cfg.DataBucket),
		config.ValidateRegion(cfg.Region),
		config.ValidateAccountID(cfg.AccountID),
	}
	if cfg.RoleName != "" {
		errs = append(errs, config.ValidateRoleName(cfg.RoleName), config.ValidatePartition(cfg.Partition))
	}
	if cfg.PartSize < 1 {
		errs = append(errs, fmt.Errorf("part size %d: want at least 1", cfg.PartSize))
	}
	if clients.S3 == nil || clients.Uploader == nil || clients.Lambda == nil || clients.Athena == nil {
		errs = append(errs, errors.New("clients: S3, Uploader, Lambda and Athena are all required"))
	}
	return errors.Join(errs...)
}

// NewFromConfig returns a Handler with clients made from awsCfg: S3 (path-style requests when
// cfg.S3PathStyle is set), the S3 transfer manager, Lambda, and one Athena client per account
// and region, without the SDK's retries (see batchget.WithoutSDKRetries). A query of another
// account is looked up as the role arn:<Partition>:iam::<account>:role/<RoleName>, assumed
// there with STS.
func NewFromConfig(cfg config.Lookup, awsCfg aws.Config, optFns ...func(*Options)) (*Handler, error) {
	s3c := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = cfg.S3PathStyle })
	roles := newAssumedRoles(sts.NewFromConfig(awsCfg), cfg.Partition, cfg.RoleName)
	return New(cfg, Clients{
		S3:       s3c,
		Uploader: transfermanager.New(s3c),
		Lambda:   lambda.NewFromConfig(awsCfg),
		// A query is looked up where it ran: in its region, and in another account as the role
		// assumed there (New's handler asks for another account only when RoleName is set).
		Athena: func(account, region string) batchget.BatchGetter {
			return athena.NewFromConfig(awsCfg, batchget.WithoutSDKRetries, func(o *athena.Options) {
				o.Region = region
				if account != cfg.AccountID {
					o.Credentials = roles.in(account)
				}
			})
		},
	}, optFns...)
}

// Handle writes the day's parts from ev.Part on, as many as time allows, and hands the rest to
// a new invocation. Run again with the same event, it writes the same objects. It does not log
// its error: the caller does, once.
func (h *Handler) Handle(ctx context.Context, ev events.Lookup) (Result, error) {
	day, err := ev.Validate()
	if err != nil {
		return Result{}, err
	}
	inv := &invocation{
		h:     h,
		ev:    ev,
		day:   day,
		log:   h.log.With("day", ev.Day),
		res:   Result{Day: ev.Day, FirstPart: ev.Part},
		other: map[string]int{},
	}
	err = inv.run(ctx)
	inv.putCallMetrics(ctx)
	if errors.Is(err, errSuperseded) {
		// Not a failure: a newer run of the day owns its parts.
		return inv.superseded(ctx), nil
	}
	return inv.res, err
}

// engine returns the engine of an account and region, made on first use.
func (h *Handler) engine(pl place) (*batchget.Engine, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e, ok := h.engines[pl]; ok {
		return e, nil
	}
	client := h.clients.Athena(pl.account, pl.region)
	if client == nil {
		return nil, fmt.Errorf("no Athena client for account %s in %s", pl.account, pl.region)
	}
	log := h.log.With("account", pl.account, "region", pl.region)
	quota := h.recalled(pl, time.Now())
	if quota.Rate > 0 {
		log.Info("rate limiter starts from the quota found before", "calls_per_second", quota.Rate, "measured", quota.Measured)
	}
	// Zero settings are left for batchget to default.
	opts := append([]func(*batchget.Options){func(o *batchget.Options) {
		o.Rate = h.cfg.Rate
		o.Headroom = h.cfg.Headroom
		o.Concurrency = h.cfg.Concurrency
		o.MaxAttempts = h.cfg.MaxAttempts
		o.Quota = quota
		o.Logger = log
	}}, h.opts.Engine...)
	e := batchget.New(client, opts...)
	h.engines[pl] = e
	return e, nil
}

// engineTotals returns each engine's counts by "account/region", for the logs.
func (h *Handler) engineTotals() map[string]batchget.Totals {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]batchget.Totals, len(h.engines))
	for pl, e := range h.engines {
		out[pl.String()] = e.Totals()
	}
	return out
}
