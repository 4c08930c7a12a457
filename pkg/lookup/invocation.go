package lookup

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
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
	"github.com/athenausage/athena-usage/pkg/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"golang.org/x/sync/errgroup"
)

// invocation is one Handle call: the event, the day's object as it is read, and what has been
// written so far. Its methods are the invocation's steps, in the order run calls them.
type invocation struct {
	h   *Handler
	ev  events.Lookup
	day time.Time
	log *slog.Logger

	// obj streams the day's object from the event's offset, parts cuts its IDs into parts, and
	// etag is the version of the object they read.
	obj   *objectReader
	parts *partReader
	etag  string
	// before is what the day's earlier invocations wrote, from the manifest.
	before events.LookupTotals
	// old streams an earlier run's parts, whose final rows are reused.
	old *oldRows

	// mu guards what the parts in flight add up: the result, the time the written parts took
	// together, the IDs written with LookupErrorOtherAccount by account, and the engines'
	// counts of this invocation's lookups.
	mu      sync.Mutex
	res     Result
	elapsed time.Duration
	other   map[string]int
	calls   batchget.Stats

	// bad counts the bad records read, and named keeps the first maxBadRecordWarnings of them.
	// They follow the last ID, so only the invocation that reads to the end of the object
	// reports them; one that hands its last part over read them only to find that part's end.
	bad   int
	named []badRecord
}

// maxBadRecordWarnings is how many bad records a day logs one WARN line each for; the rest are
// counted in one more line, so that a corrupt file cannot flood the log.
const maxBadRecordWarnings = 20

// run opens the day's object, writes parts while time allows, then finishes the day or hands
// the rest of it to a new invocation.
func (inv *invocation) run(ctx context.Context) error {
	if inv.ev.Part > 0 {
		before, err := inv.bind(ctx)
		if err != nil {
			return err
		}
		inv.before = before
	}
	if err := inv.open(ctx); err != nil {
		return err
	}
	defer inv.obj.Close()
	inv.recallQuotas(ctx)
	next, err := inv.writeParts(ctx)
	inv.warnOtherAccounts(ctx)
	if err != nil {
		return err
	}
	inv.rememberQuotas(ctx)
	if err := ctx.Err(); err != nil {
		return err
	}
	if next == nil {
		return inv.finishDay(ctx)
	}
	return inv.continueAt(ctx, *next)
}

// open starts reading the event's object where its part starts.
func (inv *invocation) open(ctx context.Context) error {
	ev, store := inv.ev, inv.h.clients.S3
	var hdr *header
	if ev.Offset > 0 {
		// A ranged read starts past the header: read it first, from the same version.
		hh, err := readObjectHeader(ctx, store, ev.Bucket, ev.Key, ev.ETag)
		if err != nil {
			return err
		}
		hdr = &hh
	}
	obj, err := openObject(ctx, store, ev.Bucket, ev.Key, ev.ETag, ev.Offset)
	if err != nil {
		return err
	}
	ids, err := newIDReader(obj, ev.Offset, hdr)
	if err != nil {
		obj.Close()
		return fmt.Errorf("s3://%s/%s: %w", ev.Bucket, ev.Key, err)
	}
	ids.invalid = inv.logInvalid
	ids.bad = func(b badRecord) {
		inv.bad++
		if len(inv.named) < maxBadRecordWarnings {
			inv.named = append(inv.named, b)
		}
	}
	inv.obj, inv.etag = obj, obj.etag
	inv.parts = &partReader{r: ids, size: inv.h.cfg.PartSize, n: ev.Part}
	existing, err := listParts(ctx, store, inv.h.cfg.DataBucket, athenasql.APIOutputDayPrefix(inv.h.cfg.DataPrefix, inv.day))
	if err != nil {
		obj.Close()
		return err
	}
	// Parts before ev.Part were already replaced by this run's earlier invocations.
	inv.old = &oldRows{store: store, bucket: inv.h.cfg.DataBucket, parts: existing, next: ev.Part, key: func(n int) string {
		return athenasql.PartKey(inv.h.cfg.DataPrefix, inv.day, n)
	}}
	if ev.Part > 0 {
		// The manifest said where the part starts; the object must say the same.
		first, err := ids.next()
		if err != nil {
			obj.Close()
			return fmt.Errorf("%w: the record at byte %d of s3://%s/%s is not query %q: %w", errRejected, ev.Offset, ev.Bucket, ev.Key, ev.FirstID, err)
		}
		if first.id != ev.FirstID {
			obj.Close()
			return fmt.Errorf("%w: the record at byte %d of s3://%s/%s is not query %q but %q", errRejected, ev.Offset, ev.Bucket, ev.Key, ev.FirstID, first.id)
		}
		inv.parts.peeked = &first
	}
	return nil
}

// writeParts writes parts, PartsInFlight at a time, while there is time for one more. It
// returns the first part left for a continuation, or nil when the object was read to its end.
func (inv *invocation) writeParts(ctx context.Context) (*part, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	slots := make(chan struct{}, inv.h.opts.PartsInFlight)
	var next *part
	var readErr error
	for {
		// The next part's IDs are read while the parts in flight finish, so that reading is
		// not in the gap between one part and the next: this is the part read ahead.
		p, ok, err := inv.parts.read()
		if err != nil {
			readErr = fmt.Errorf("read IDs of s3://%s/%s: %w", inv.ev.Bucket, inv.ev.Key, err)
			cancel()
			break
		}
		if !ok {
			break
		}
		if err := inv.old.reuse(ctx, &p); err != nil {
			readErr = fmt.Errorf("part %d: earlier rows: %w", p.n, err)
			cancel()
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
		if p.n > inv.ev.Part && !inv.timeFor(ctx) {
			next = &p
			break
		}
		g.Go(func() error {
			defer func() { <-slots }()
			if err := inv.writePart(gctx, p); err != nil {
				return fmt.Errorf("part %d: %w", p.n, err)
			}
			return nil
		})
	}
	err := g.Wait()
	// A part that found the object replaced cancels the others, and a reader that found it
	// replaced cancels the parts: either way the run is superseded, and the other errors are
	// only the cancellation's.
	if errors.Is(readErr, errSuperseded) || errors.Is(err, errSuperseded) {
		return nil, errSuperseded
	}
	return next, cmp.Or(readErr, err)
}

// timeFor reports whether a part that takes as long as the written ones did on average can
// start and finish before ctx's deadline, with the safety margin to spare.
func (inv *invocation) timeFor(ctx context.Context) bool {
	deadline, ok := ctx.Deadline()
	if !ok {
		return true
	}
	inv.mu.Lock()
	var estimate time.Duration
	if inv.res.Parts > 0 {
		estimate = inv.elapsed / time.Duration(inv.res.Parts)
	}
	inv.mu.Unlock()
	return time.Until(deadline) >= inv.h.opts.SafetyMargin+estimate
}

// writePart looks up one part's IDs and, if the day's object is still the version read, uploads
// its rows. The ETag guard of the GETs only covers reading: a rerun of the day can replace the
// object while this invocation is still writing, so each write checks first. A replacement
// between the check and the write still gets through, but only for the parts in flight, and
// the newer run writes them again.
func (inv *invocation) writePart(ctx context.Context, p part) error {
	start := time.Now()
	rows, other, err := inv.lookUp(ctx, p)
	if err != nil {
		return err
	}
	same, err := sameContent(rows, p.oldSum)
	if err != nil {
		return err
	}
	if !same {
		if err := stillCurrent(ctx, inv.h.clients.S3, inv.ev.Bucket, inv.ev.Key, inv.etag); err != nil {
			return err
		}
		if err := inv.upload(ctx, athenasql.PartKey(inv.h.cfg.DataPrefix, inv.day, p.n), rows); err != nil {
			return err
		}
	}
	took := time.Since(start)
	lookupErrors := 0
	for _, r := range rows {
		if r.LookupError != "" {
			lookupErrors++
		}
	}
	inv.mu.Lock()
	inv.res.Parts++
	if same {
		inv.res.UnchangedParts++
	}
	inv.res.IDs += len(rows)
	inv.res.LookupErrors += lookupErrors
	inv.elapsed += took
	for account, n := range other {
		inv.other[account] += n
		inv.res.OtherAccount += n
	}
	inv.mu.Unlock()
	inv.log.InfoContext(ctx, "part written", "part", p.n, "ids", len(rows), "lookup_errors", lookupErrors, "unchanged", same, "duration", took)
	inv.putPartMetrics(ctx, rows, took)
	return nil
}

// lookUp looks up a part's IDs, each through the engine of its account and region, and returns
// the rows in the part's (ID) order. The IDs of other accounts are written with
// LookupErrorOtherAccount, without a call, when there is no role to assume there; it counts
// them by account.
func (inv *invocation) lookUp(ctx context.Context, p part) ([]apioutput.Row, map[string]int, error) {
	byPlace, engines, invalid, err := inv.places(p)
	if err != nil {
		return nil, nil, err
	}
	if len(byPlace) == 1 && p.reused == nil {
		for pl, pos := range byPlace {
			// Every ID ran in one place with an engine, the usual part: the engine's rows, in
			// the part's order, are the part's. A copy held a second set of rows (about 3 MB a
			// part) while the part was looked up and uploaded.
			if engine := engines[pl]; engine != nil {
				rows, err := inv.lookUpIn(ctx, pl, engine, p, pos)
				return rows, nil, err
			}
		}
	}
	rows := make([]apioutput.Row, len(p.ids))
	if p.reused != nil {
		copy(rows, p.reused)
	}
	var other map[string]int
	g, ctx := errgroup.WithContext(ctx)
	for pl, pos := range byPlace {
		engine := engines[pl]
		if code := invalid[pl]; code != "" {
			for _, i := range pos {
				rows[i] = apioutput.Unprocessed(p.ids[i], code)
			}
			inv.mu.Lock()
			inv.res.InvalidPlace += len(pos)
			inv.mu.Unlock()
			continue
		}
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
		g.Go(func() error {
			got, err := inv.lookUpIn(ctx, pl, engine, p, pos)
			if err != nil {
				return err
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

// places groups a part's IDs, by position, by where they ran. It finds each place's engine
// before any lookup starts, so that no error returns while lookups run; nil for an account
// without a role.
func (inv *invocation) places(p part) (map[place][]int, map[place]*batchget.Engine, map[place]string, error) {
	cfg := inv.h.cfg
	byPlace := map[place][]int{}
	engines := map[place]*batchget.Engine{}
	invalid := map[place]string{}
	for i, id := range p.ids {
		if p.reused != nil && p.reused[i].QueryID != "" {
			continue
		}
		pl := place{account: cmp.Or(p.accounts[i], cfg.AccountID), region: cmp.Or(p.regions[i], cfg.Region)}
		pos, seen := byPlace[pl]
		if !seen {
			// Both come from the CSV: the account becomes part of a role ARN, the region of
			// an endpoint's host name. An invalid one is written as a lookup error (the
			// reader logged it) rather than failing the day on every retry.
			if code := invalidPlace(pl); code != "" {
				invalid[pl] = code
			} else if pl.account == cfg.AccountID || cfg.RoleName != "" {
				e, err := inv.h.engine(pl)
				if err != nil {
					return nil, nil, nil, fmt.Errorf("query %s: %w", id, err)
				}
				engines[pl] = e
			}
		}
		byPlace[pl] = append(pos, i)
	}
	return byPlace, engines, invalid, nil
}

// invalidPlace returns the lookup_error of a place whose account or region is not valid, or "".
func invalidPlace(pl place) string {
	switch {
	case config.ValidateAccountID(pl.account) != nil:
		return LookupErrorInvalidAccount
	case config.ValidateRegion(pl.region) != nil:
		return LookupErrorInvalidRegion
	}
	return ""
}

// logInvalid logs, once per value and invocation, an account or region of the CSV that is not
// valid, naming the first query and line that carry it.
func (inv *invocation) logInvalid(column, value, id string, line int) {
	inv.log.Warn("query written with lookup_error: its "+column+" is not valid",
		"column", column, "value", value, "query_id", id, "line", line, "key", inv.ev.Key)
}

// lookUpIn looks up the IDs at positions pos of part p, which all ran in pl, and returns their
// rows in the order of pos.
func (inv *invocation) lookUpIn(ctx context.Context, pl place, engine *batchget.Engine, p part, pos []int) ([]apioutput.Row, error) {
	ids := make([]string, len(pos))
	for j, i := range pos {
		ids[j] = p.ids[i]
	}
	got, stats, err := engine.Lookup(ctx, ids)
	inv.mu.Lock()
	inv.res.Unprocessed += stats.UnprocessedTransient
	inv.calls.Add(stats)
	inv.mu.Unlock()
	if err != nil && pl.account != inv.h.cfg.AccountID && batchget.Permanent(err) {
		// One member account whose role is missing or refuses us must not cost every other
		// account its statistics: its IDs are written with the error's code. The function's
		// own account fails loudly instead: that is our misconfiguration.
		code := cmp.Or(batchget.ErrorCode(err), LookupErrorOtherAccountFailed)
		inv.log.WarnContext(ctx, "cannot look up another account's queries; written with lookup_error",
			"account", pl.account, "region", pl.region, "ids", len(ids), "lookup_error", code, "err", err)
		rows := make([]apioutput.Row, len(ids))
		for j, id := range ids {
			rows[j] = apioutput.Unprocessed(id, code)
		}
		return rows, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up %d IDs of account %s in %s: %w", len(ids), pl.account, pl.region, err)
	}
	return got, nil
}

// upload streams rows to key through a pipe: the uploader reads the CSV as it is written.
func (inv *invocation) upload(ctx context.Context, key string, rows []apioutput.Row) error {
	bucket := inv.h.cfg.DataBucket
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := writeRows(pw, rows)
		pw.CloseWithError(err)
		done <- err
	}()
	_, err := inv.h.clients.Uploader.UploadObject(ctx, &transfermanager.UploadObjectInput{
		Bucket: aws.String(bucket),
		Key:    aws.String(key),
		Body:   pr,
	})
	// Unblocks the writer if the upload stopped reading early.
	pr.CloseWithError(io.ErrClosedPipe)
	werr := <-done
	if err != nil {
		return fmt.Errorf("upload s3://%s/%s: %w", bucket, key, err)
	}
	if werr != nil {
		return fmt.Errorf("write s3://%s/%s: %w", bucket, key, werr)
	}
	return nil
}

// sameContent reports whether rows, written as a part, hash to sum: the earlier run's part holds
// them already, and writing it again would change nothing but its time.
func sameContent(rows []apioutput.Row, sum []byte) (bool, error) {
	if sum == nil {
		return false, nil
	}
	h := sha256.New()
	if err := writeRows(h, rows); err != nil {
		return false, fmt.Errorf("hash part: %w", err)
	}
	return bytes.Equal(h.Sum(nil), sum), nil
}

// writeRows writes rows to w as an athena_api_output part.
func writeRows(w io.Writer, rows []apioutput.Row) error {
	cw := apioutput.NewWriter(w)
	for _, r := range rows {
		if err := cw.Write(r); err != nil {
			return err
		}
	}
	return cw.Flush()
}

// warnOtherAccounts logs, once per account, that its queries were written without statistics.
func (inv *invocation) warnOtherAccounts(ctx context.Context) {
	for _, account := range slices.Sorted(maps.Keys(inv.other)) {
		inv.log.WarnContext(ctx, "queries of another account written without statistics: "+config.EnvLookupRoleName+
			" is not set, so the function has no role to assume in that account",
			"account", account, "ids", inv.other[account], "lookup_error", LookupErrorOtherAccount)
	}
}

// warnBadRecords logs the bad records the extraction left out of the day: one line each up to
// maxBadRecordWarnings, then one line with the count of the rest.
func (inv *invocation) warnBadRecords(ctx context.Context) {
	for _, b := range inv.named {
		inv.log.WarnContext(ctx, "bad CloudTrail record left out of the day", "kind", b.Kind, "file", b.File, "record", b.Record, "key", inv.ev.Key)
	}
	if more := inv.bad - len(inv.named); more > 0 {
		inv.log.WarnContext(ctx, "more bad CloudTrail records left out of the day", "count", more, "logged", len(inv.named), "key", inv.ev.Key)
	}
}

// finishDay deletes the parts an earlier run of the day with more IDs left past this run's last.
func (inv *invocation) finishDay(ctx context.Context) error {
	// A newer run may have fewer parts: deleting this run's idea of the stale ones would
	// delete some of the newer run's.
	if err := stillCurrent(ctx, inv.h.clients.S3, inv.ev.Bucket, inv.ev.Key, inv.etag); err != nil {
		return fmt.Errorf("before deleting stale parts: %w", err)
	}
	prefix := athenasql.APIOutputDayPrefix(inv.h.cfg.DataPrefix, inv.day)
	n, err := deleteParts(ctx, inv.h.clients.S3, inv.h.cfg.DataBucket, prefix, inv.parts.n)
	if err != nil {
		return err
	}
	inv.res.StaleParts = n
	inv.res.BadRecords = inv.bad
	if err := inv.writeManifest(ctx, nil); err != nil {
		return err
	}
	inv.putDayMetrics(ctx)
	inv.warnBadRecords(ctx)
	if err := inv.alert(ctx); err != nil {
		return err
	}
	inv.log.InfoContext(ctx, "day done", "parts", inv.parts.n, "stale_parts_deleted", n, "result", inv.res, "engines", inv.h.engineTotals())
	return nil
}

// alert invokes the alert function asynchronously for the completed day, when one is
// configured. After the manifest, so that the day is complete when it looks; a failed invoke
// fails the invocation, whose retry writes the same objects and invokes again.
func (inv *invocation) alert(ctx context.Context) error {
	name := inv.h.cfg.AlertFunction
	if name == "" {
		return nil
	}
	payload, err := json.Marshal(events.Alert{Day: inv.ev.Day})
	if err != nil {
		return fmt.Errorf("alert: %w", err)
	}
	_, err = inv.h.clients.Lambda.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   aws.String(name),
		InvocationType: lambdatypes.InvocationTypeEvent,
		Payload:        payload,
	})
	if err != nil {
		return fmt.Errorf("invoke %s for the completed day: %w", name, err)
	}
	inv.res.Alerted = true
	return nil
}

// continueAt invokes the function asynchronously for the rest of the day, from part p on.
func (inv *invocation) continueAt(ctx context.Context, p part) error {
	name := cmp.Or(inv.h.opts.FunctionName, lambdacontext.FunctionName)
	if name == "" {
		return fmt.Errorf("continue at part %d: no function name (not in Lambda, and Options.FunctionName is empty)", p.n)
	}
	ev := inv.ev
	ev.Part, ev.Offset, ev.ETag, ev.FirstID = p.n, p.offset, inv.etag, p.ids[0]
	payload, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("continue at part %d: %w", p.n, err)
	}
	// Written before the invoke, so that the continuation finds what it must match; if the
	// invoke fails, Lambda's retry of this event still matches the manifest's From.
	if err := inv.writeManifest(ctx, &events.Position{Part: p.n, Offset: p.offset, FirstID: p.ids[0]}); err != nil {
		return fmt.Errorf("continue at part %d: %w", p.n, err)
	}
	_, err = inv.h.clients.Lambda.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   aws.String(name),
		InvocationType: lambdatypes.InvocationTypeEvent,
		Payload:        payload,
	})
	if err != nil {
		return fmt.Errorf("invoke %s to continue at part %d: %w", name, p.n, err)
	}
	inv.res.Continued, inv.res.NextPart, inv.res.NextOffset = true, p.n, p.offset
	inv.log.InfoContext(ctx, "continuing in a new invocation", "next_part", p.n, "next_offset", p.offset, "result", inv.res, "engines", inv.h.engineTotals())
	return nil
}

// superseded is the result of an invocation that found the day's object replaced by a rerun of
// the day: the newer run owns the day's parts, so this one stopped writing (Parts says how many
// it wrote before it noticed) and deleted nothing.
func (inv *invocation) superseded(ctx context.Context) Result {
	inv.log.WarnContext(ctx, "the day's object was replaced since this run read it; the newer run owns the day's parts, so this invocation stops",
		"key", inv.ev.Key, "etag", cmp.Or(inv.etag, inv.ev.ETag), "parts_written", inv.res.Parts)
	inv.res.Superseded = true
	return inv.res
}
