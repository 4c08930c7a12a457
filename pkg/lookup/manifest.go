package lookup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// errRejected means a continuation event does not match the day's manifest: it was not handed
// over by the day's last invocation (a forged or stale event), so it writes nothing.
var errRejected = errors.New("continuation does not match the day's manifest")

// maxStateBytes bounds what is read of a state object: a few hundred bytes are expected.
const maxStateBytes = 1 << 20

// readManifest returns the manifest at key, or nil when there is none.
func readManifest(ctx context.Context, store ObjectStore, bucket, key string) (*events.LookupManifest, error) {
	var m events.LookupManifest
	if ok, err := readState(ctx, store, bucket, key, &m); err != nil || !ok {
		return nil, err
	}
	return &m, nil
}

// readState decodes the JSON state object at key into v and reports whether there was one. It
// lists the key first: the role may list the state prefix but not the bucket, so a GET of a
// missing object would answer 403 AccessDenied on AWS, not NoSuchKey.
func readState(ctx context.Context, store ObjectStore, bucket, key string, v any) (bool, error) {
	if ok, err := exists(ctx, store, bucket, key); err != nil || !ok {
		return false, err
	}
	out, err := store.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if isNotFound(err) {
		return false, nil // deleted since the listing
	}
	if err != nil {
		return false, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, maxStateBytes))
	if err != nil {
		return false, fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("s3://%s/%s: %w", bucket, key, err)
	}
	return true, nil
}

// isNotFound reports whether err is S3's answer for a missing key: NoSuchKey to a GET, NotFound
// to a HEAD.
func isNotFound(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode() == "NoSuchKey" || apiErr.ErrorCode() == "NotFound")
}

// manifestKey is the key of the invocation's day's manifest.
func (inv *invocation) manifestKey() string {
	return athenasql.LookupManifestKey(inv.h.cfg.DataPrefix, inv.day)
}

// bind checks a continuation event against the day's manifest and returns the totals written
// before its part. It runs before anything is written, so a rejected event changes no object.
func (inv *invocation) bind(ctx context.Context) (events.LookupTotals, error) {
	m, err := readManifest(ctx, inv.h.clients.S3, inv.h.cfg.DataBucket, inv.manifestKey())
	if err != nil {
		return events.LookupTotals{}, err
	}
	ev := inv.ev
	var before events.LookupTotals
	ok := false
	if m != nil {
		before, ok = m.Binds(ev)
	}
	if !ok {
		// A continuation of an older version of the object, which a rerun of the day
		// replaced, is stale rather than forged: it stops quietly, as it did before manifests.
		if err := stillCurrent(ctx, inv.h.clients.S3, ev.Bucket, ev.Key, ev.ETag); err != nil {
			return events.LookupTotals{}, err
		}
		if m == nil {
			return events.LookupTotals{}, fmt.Errorf("%w: part %d, and the day has no manifest", errRejected, ev.Part)
		}
		next := "none, the day is complete"
		if m.Next != nil {
			next = fmt.Sprintf("part %d at byte %d, first ID %q", m.Next.Part, m.Next.Offset, m.Next.FirstID)
		}
		return events.LookupTotals{}, fmt.Errorf("%w: part %d at byte %d, first ID %q, ETag %s; the manifest hands over %s of ETag %s",
			errRejected, ev.Part, ev.Offset, ev.FirstID, ev.ETag, next, m.ETag)
	}
	return before, nil
}

// writeManifest records what the day has written so far, after this invocation's parts: next is
// where the continuation starts, nil when the day is complete.
func (inv *invocation) writeManifest(ctx context.Context, next *events.Position) error {
	m := events.LookupManifest{
		Day:      inv.ev.Day,
		Key:      inv.ev.Key,
		ETag:     inv.etag,
		From:     events.Position{Part: inv.ev.Part, Offset: inv.ev.Offset, FirstID: inv.ev.FirstID},
		Next:     next,
		Before:   inv.before,
		Done:     inv.before.Add(inv.totals()),
		Complete: next == nil,
		Written:  time.Now().UTC(),
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	bucket, key := inv.h.cfg.DataBucket, inv.manifestKey()
	_, err = inv.h.clients.Uploader.UploadObject(ctx, &transfermanager.UploadObjectInput{
		Bucket:      aws.String(bucket),
		Key:         aws.String(key),
		Body:        bytes.NewReader(data),
		ContentType: aws.String("application/json"),
	})
	if err != nil {
		return fmt.Errorf("upload s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

// totals is what this invocation wrote.
func (inv *invocation) totals() events.LookupTotals {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return events.LookupTotals{Parts: inv.res.Parts, IDs: inv.res.IDs, LookupErrors: inv.res.LookupErrors, InvalidPlace: inv.res.InvalidPlace, BadRecords: inv.res.BadRecords}
}
