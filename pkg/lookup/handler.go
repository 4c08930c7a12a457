// Package lookup is the lookup function's handler: for one day it streams the query IDs out of
// the extract's CSV, looks them up with BatchGetQueryExecution (package batchget) and writes the
// athena_api_output parts, handing the rest of the day to a new invocation of itself before
// Lambda's 15-minute limit.
package lookup

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/athenausage/athena-usage/pkg/events"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/athenausage/athena-usage/pkg/apioutput"
	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/batchget"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"golang.org/x/sync/errgroup"
)

// Defaults of Options.
const (
	// DefaultSafetyMargin is the time left at which no new part starts: enough for the parts in
	// flight to finish after a slow stretch, to delete stale parts and to invoke the continuation.
	DefaultSafetyMargin = 3 * time.Minute
	// DefaultPartsInFlight is how many parts are looked up at once: with two, the next part's
	// calls fill the gap while the last batches of a part and its upload finish, and memory
	// stays at about two parts.
	DefaultPartsInFlight = 2
)

// Options tune a Handler.
type Options struct {
	// FunctionName is the function to continue a day with; lambdacontext.FunctionName (the
	// running function) when empty.
	FunctionName string
	// SafetyMargin is the time left at which no new part starts.
	SafetyMargin time.Duration
	// PartsInFlight is how many parts are looked up at once.
	PartsInFlight int
	// Logger receives the handler's logs; slog.Default() when nil.
	Logger *slog.Logger
	// Now is the clock that measures parts against the deadline; time.Now unless a test sets it.
	Now func() time.Time
	// Engine tunes the batchget engines, one per account and region, beyond the configuration's
	// settings.
	Engine []func(*batchget.Options)
}

// Clients are the AWS clients a Handler calls.
type Clients struct {
	// S3 reads the day's IDs and deletes stale parts: an *s3.Client.
	S3 objectStore
	// Uploader writes parts: an *Uploader.
	Uploader uploader
	// Lambda invokes the continuation: a *lambda.Client.
	Lambda invoker
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
}

// place is where a query ran, and where it is looked up.
type place struct{ account, region string }

func (p place) String() string { return p.account + "/" + p.region }

// New returns a Handler for the configuration and clients.
func New(cfg config.Lookup, clients Clients, optFns ...func(*Options)) (*Handler, error) {
	o := Options{SafetyMargin: DefaultSafetyMargin, PartsInFlight: DefaultPartsInFlight}
	for _, fn := range optFns {
		fn(&o)
	}
	if o.PartsInFlight < 1 {
		o.PartsInFlight = DefaultPartsInFlight
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	var errs []error
	if err := config.ValidateBucket(cfg.DataBucket); err != nil {
		errs = append(errs, err)
	}
	if err := config.ValidateRegion(cfg.Region); err != nil {
		errs = append(errs, err)
	}
	if err := config.ValidateAccountID(cfg.AccountID); err != nil {
		errs = append(errs, err)
	}
	if cfg.RoleName != "" {
		if err := config.ValidateRoleName(cfg.RoleName); err != nil {
			errs = append(errs, err)
		}
	}
	if cfg.PartSize < 1 {
		errs = append(errs, fmt.Errorf("part size %d: want at least 1", cfg.PartSize))
	}
	if clients.S3 == nil || clients.Uploader == nil || clients.Lambda == nil || clients.Athena == nil {
		errs = append(errs, errors.New("clients: S3, Uploader, Lambda and Athena are all required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("lookup handler: %w", err)
	}
	return &Handler{cfg: cfg, clients: clients, opts: o, log: o.Logger, engines: map[place]*batchget.Engine{}}, nil
}

// Handle writes the day's parts from ev.Part on, as many as time allows, and hands the rest to
// a new invocation. Run again with the same event, it writes the same objects.
func (h *Handler) Handle(ctx context.Context, ev events.Lookup) (Result, error) {
	res, err := h.handle(ctx, ev)
	if err != nil {
		h.log.ErrorContext(ctx, "lookup failed", "day", ev.Day, "part", ev.Part, "offset", ev.Offset, "err", err)
	}
	return res, err
}

func (h *Handler) handle(ctx context.Context, ev events.Lookup) (Result, error) {
	day, err := ev.Validate()
	if err != nil {
		return Result{}, err
	}
	log := h.log.With("day", ev.Day)
	res := Result{Day: ev.Day, FirstPart: ev.Part}
	before := h.unprocessed()
	superseded := func(etag string) (Result, error) {
		log.WarnContext(ctx, "the day's object was replaced since this run read it; the newer run owns the day's parts, so this invocation stops",
			"key", ev.Key, "etag", etag, "parts_written", res.Parts)
		res.Superseded = true
		return res, nil
	}

	obj, ids, err := h.openIDs(ctx, ev)
	if errors.Is(err, errSuperseded) {
		return superseded(ev.ETag)
	}
	if err != nil {
		return res, err
	}
	defer obj.Close()
	// The ETag guard of the GETs only covers reading. A rerun of the day can replace the object
	// while this invocation is still writing, so before each write it checks that the version
	// it reads is still the current one. A replacement between the check and the write still
	// gets through, but only for the parts in flight, and the newer run writes them again.
	current := func(ctx context.Context) error {
		return stillCurrent(ctx, h.clients.S3, ev.Bucket, ev.Key, obj.etag)
	}

	parts := &partReader{r: ids, size: h.cfg.PartSize, n: ev.Part}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	slots := make(chan struct{}, h.opts.PartsInFlight)
	var (
		mu       sync.Mutex
		took     []time.Duration
		other    = map[string]int{}
		next     *part
		finished bool
		readErr  error
	)
	estimate := func() time.Duration {
		mu.Lock()
		defer mu.Unlock()
		if len(took) == 0 {
			return 0
		}
		var sum time.Duration
		for _, d := range took {
			sum += d
		}
		return sum / time.Duration(len(took))
	}
	for {
		// The next part's IDs are read while the parts in flight finish, so that reading is
		// not in the gap between one part and the next.
		p, ok, err := parts.read()
		if err != nil {
			readErr = fmt.Errorf("read IDs of s3://%s/%s: %w", ev.Bucket, ev.Key, err)
			cancel()
			break
		}
		if !ok {
			finished = true
			break
		}
		select {
		case slots <- struct{}{}:
		case <-gctx.Done():
		}
		if gctx.Err() != nil {
			break
		}
		// The first part always starts, so that every invocation makes progress.
		if p.n > ev.Part && !h.timeFor(ctx, estimate()) {
			next = &p
			break
		}
		g.Go(func() error {
			defer func() { <-slots }()
			start := h.opts.Now()
			c, err := h.writePart(gctx, day, p, current)
			if err != nil {
				return fmt.Errorf("part %d: %w", p.n, err)
			}
			d := h.opts.Now().Sub(start)
			mu.Lock()
			took = append(took, d)
			res.Parts++
			res.IDs += c.written
			res.LookupErrors += c.lookupErrors
			for account, n := range c.otherAccount {
				other[account] += n
				res.OtherAccount += n
			}
			mu.Unlock()
			log.InfoContext(ctx, "part written", "part", p.n, "ids", c.written, "lookup_errors", c.lookupErrors, "duration", d)
			return nil
		})
	}
	err = g.Wait()
	res.Unprocessed = h.unprocessed() - before
	for _, account := range slices.Sorted(maps.Keys(other)) {
		log.WarnContext(ctx, "queries of another account written without statistics: "+config.EnvLookupRoleName+
			" is not set, so the function has no role to assume in that account",
			"account", account, "ids", other[account], "lookup_error", LookupErrorOtherAccount)
	}
	// A part that found the object replaced cancels the others, and a reader that found it
	// replaced cancels the parts: either way the run is superseded, and the other errors are
	// only the cancellation's.
	if errors.Is(readErr, errSuperseded) || errors.Is(err, errSuperseded) {
		return superseded(obj.etag)
	}
	if readErr != nil {
		return res, readErr
	}
	if err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}

	if finished {
		// A newer run may have fewer parts: deleting this run's idea of the stale ones would
		// delete some of the newer run's.
		if err := current(ctx); errors.Is(err, errSuperseded) {
			return superseded(obj.etag)
		} else if err != nil {
			return res, fmt.Errorf("before deleting stale parts: %w", err)
		}
		prefix := athenasql.APIOutputDayPrefix(h.cfg.DataPrefix, day)
		n, err := deleteParts(ctx, h.clients.S3, h.cfg.DataBucket, prefix, parts.n)
		if err != nil {
			return res, err
		}
		res.StaleParts = n
		log.InfoContext(ctx, "day done", "parts", parts.n, "stale_parts_deleted", n, "result", res, "engines", h.engineStats())
		return res, nil
	}

	cont := ev
	cont.Part, cont.Offset, cont.ETag = next.n, next.offset, obj.etag
	if err := h.continueWith(ctx, cont); err != nil {
		return res, err
	}
	res.Continued, res.NextPart, res.NextOffset = true, next.n, next.offset
	log.InfoContext(ctx, "continuing in a new invocation", "next_part", next.n, "next_offset", next.offset, "result", res, "engines", h.engineStats())
	return res, nil
}

// openIDs opens the event's object where its part starts and returns the reader of its IDs.
func (h *Handler) openIDs(ctx context.Context, ev events.Lookup) (*objectReader, *idReader, error) {
	name := fmt.Sprintf("s3://%s/%s", ev.Bucket, ev.Key)
	var hdr *header
	if ev.Offset > 0 {
		// A ranged read starts past the header: read it first, from the same version.
		hh, err := readObjectHeader(ctx, h.clients.S3, ev.Bucket, ev.Key, ev.ETag)
		if err != nil {
			if errors.Is(err, errSuperseded) {
				return nil, nil, err
			}
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		hdr = &hh
	}
	obj, err := openObject(ctx, h.clients.S3, ev.Bucket, ev.Key, ev.ETag, ev.Offset)
	if err != nil {
		return nil, nil, err
	}
	ids, err := newIDReader(obj, ev.Offset, hdr)
	if err != nil {
		obj.Close()
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return obj, ids, nil
}

// timeFor reports whether a part that takes about estimate can start and finish before the
// context's deadline, with the safety margin to spare.
func (h *Handler) timeFor(ctx context.Context, estimate time.Duration) bool {
	deadline, ok := ctx.Deadline()
	if !ok {
		return true
	}
	return deadline.Sub(h.opts.Now()) >= h.opts.SafetyMargin+estimate
}

// partCounts says what writing one part did.
type partCounts struct {
	// written is the number of rows, lookupErrors of those with a lookup error.
	written, lookupErrors int
	// otherAccount counts by account the rows written with LookupErrorOtherAccount.
	otherAccount map[string]int
}

// writePart looks up one part's IDs and, if current still finds the day's object unchanged,
// uploads its rows.
func (h *Handler) writePart(ctx context.Context, day time.Time, p part, current func(context.Context) error) (partCounts, error) {
	rows, other, err := h.lookUp(ctx, p)
	if err != nil {
		return partCounts{}, err
	}
	c := partCounts{written: len(rows), otherAccount: other}
	for _, r := range rows {
		if r.LookupError != "" {
			c.lookupErrors++
		}
	}
	if err := current(ctx); err != nil {
		return partCounts{}, err
	}
	key := athenasql.PartKey(h.cfg.DataPrefix, day, p.n)
	if err := h.upload(ctx, key, rows); err != nil {
		return partCounts{}, err
	}
	return c, nil
}

// lookUp looks up a part's IDs, each through the engine of its account and region, and returns
// the rows in the part's (ID) order. The IDs of other accounts are written with
// LookupErrorOtherAccount, without a call, when there is no role to assume there; it counts
// them by account.
func (h *Handler) lookUp(ctx context.Context, p part) ([]apioutput.Row, map[string]int, error) {
	byPlace := map[place][]int{}
	// engines are the places' engines, all found before any lookup starts, so that no error
	// returns while lookups run; nil for an account without a role.
	engines := map[place]*batchget.Engine{}
	for i, id := range p.ids {
		pl := place{account: cmp.Or(p.accounts[i], h.cfg.AccountID), region: cmp.Or(p.regions[i], h.cfg.Region)}
		pos, seen := byPlace[pl]
		if !seen {
			// Both come from the CSV: the account becomes part of a role ARN, the region of
			// an endpoint's host name.
			if err := errors.Join(config.ValidateAccountID(pl.account), config.ValidateRegion(pl.region)); err != nil {
				return nil, nil, fmt.Errorf("query %s: %w", id, err)
			}
			if pl.account == h.cfg.AccountID || h.cfg.RoleName != "" {
				e, err := h.engine(pl)
				if err != nil {
					return nil, nil, fmt.Errorf("query %s: %w", id, err)
				}
				engines[pl] = e
			}
		}
		byPlace[pl] = append(pos, i)
	}
	rows := make([]apioutput.Row, len(p.ids))
	var other map[string]int
	g, ctx := errgroup.WithContext(ctx)
	for pl, pos := range byPlace {
		engine := engines[pl]
		if engine == nil {
			for _, i := range pos {
				rows[i] = apioutput.Unprocessed(p.ids[i], LookupErrorOtherAccount)
			}
			if other == nil {
				other = map[string]int{}
			}
			other[pl.account] += len(pos)
			continue
		}
		ids := make([]string, len(pos))
		for j, i := range pos {
			ids[j] = p.ids[i]
		}
		g.Go(func() error {
			got, err := engine.Lookup(ctx, ids)
			if err != nil && pl.account != h.cfg.AccountID && batchget.Permanent(err) {
				// One member account whose role is missing or refuses us must not cost every
				// other account its statistics: its IDs are written with the error's code.
				// The function's own account fails loudly instead: that is our misconfiguration.
				code := cmp.Or(batchget.ErrorCode(err), LookupErrorOtherAccountFailed)
				h.log.WarnContext(ctx, "cannot look up another account's queries; written with lookup_error",
					"account", pl.account, "region", pl.region, "ids", len(ids), "lookup_error", code, "err", err)
				for _, i := range pos {
					rows[i] = apioutput.Unprocessed(p.ids[i], code)
				}
				return nil
			}
			if err != nil {
				return fmt.Errorf("look up %d IDs of account %s in %s: %w", len(ids), pl.account, pl.region, err)
			}
			for j, i := range pos {
				rows[i] = got[j]
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	return rows, other, nil
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
	opts := append([]func(*batchget.Options){func(o *batchget.Options) {
		o.Rate = h.cfg.Rate
		o.Concurrency = h.cfg.Concurrency
		o.MaxAttempts = h.cfg.MaxAttempts
	}}, h.opts.Engine...)
	e := batchget.New(client, opts...)
	h.engines[pl] = e
	return e, nil
}

// engineStats returns each engine's counts by "account/region", for the logs.
func (h *Handler) engineStats() map[string]batchget.Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]batchget.Stats, len(h.engines))
	for pl, e := range h.engines {
		out[pl.String()] = e.Stats()
	}
	return out
}

// unprocessed is the engines' count of transient unprocessed IDs so far.
func (h *Handler) unprocessed() int64 {
	var n int64
	for _, s := range h.engineStats() {
		n += s.UnprocessedTransient
	}
	return n
}

// upload streams rows to key through a pipe: the uploader reads the CSV as it is written.
func (h *Handler) upload(ctx context.Context, key string, rows []apioutput.Row) error {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		w := apioutput.NewWriter(pw)
		var err error
		for _, r := range rows {
			if err = w.Write(r); err != nil {
				break
			}
		}
		if err == nil {
			err = w.Flush()
		}
		pw.CloseWithError(err)
		done <- err
	}()
	err := h.clients.Uploader.Upload(ctx, h.cfg.DataBucket, key, pr)
	// Unblocks the writer if the upload stopped reading early.
	pr.CloseWithError(io.ErrClosedPipe)
	werr := <-done
	if err != nil {
		return fmt.Errorf("upload %s: %w", key, err)
	}
	if werr != nil {
		return fmt.Errorf("write %s: %w", key, werr)
	}
	return nil
}

// continueWith invokes the function asynchronously with ev.
func (h *Handler) continueWith(ctx context.Context, ev events.Lookup) error {
	name := h.opts.FunctionName
	if name == "" {
		name = lambdacontext.FunctionName
	}
	if name == "" {
		return fmt.Errorf("continue at part %d: no function name (not in Lambda, and Options.FunctionName is empty)", ev.Part)
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("continue at part %d: %w", ev.Part, err)
	}
	_, err = h.clients.Lambda.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   aws.String(name),
		InvocationType: lambdatypes.InvocationTypeEvent,
		Payload:        payload,
	})
	if err != nil {
		return fmt.Errorf("invoke %s to continue at part %d: %w", name, ev.Part, err)
	}
	return nil
}
