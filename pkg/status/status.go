// Package status tells, for each day, what a deployed stack has of it: from the day's
// athena_queries object, the lookup's manifest (events.LookupManifest) and the failed
// invocations waiting in the stack's failure queue.
package status

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// State is what a day's data amounts to.
type State string

// The states of a day, from its athena_queries object (the extract's), its manifest (the
// lookup's) and the failure queue.
const (
	// Complete: the manifest says every part is written for the object as it is now.
	Complete State = "complete"
	// Partial: the lookup of the object as it is now has not finished: its manifest has a next
	// part (a continuation is pending, running, or was lost), or there is no manifest yet.
	Partial State = "partial"
	// Superseded: the manifest describes an earlier version of the object (a re-check found
	// late records and replaced it), and the lookup of the new one has not written yet.
	Superseded State = "superseded"
	// Missing: the day has not been extracted: no athena_queries object.
	Missing State = "missing"
	// Failed: the day is not complete and a failed invocation for it waits in the queue.
	Failed State = "failed"
)

// Day is the status of one UTC day.
type Day struct {
	Day   time.Time
	State State
	// Queries is the number of query IDs of the day: the manifest's count once complete, else
	// the rows of the athena_queries object.
	Queries int
	// WithStats and WithoutStats count the IDs written so far, with and without Athena's
	// statistics; Parts the parts written.
	WithStats, WithoutStats, Parts int
	// Written is when the manifest was written, or the object when there is no manifest.
	Written time.Time
	// Failures are the failed invocations for the day waiting in the queue.
	Failures []Failure
}

// ObjectAPI is the part of the S3 client that Checker uses.
type ObjectAPI interface {
	HeadObject(ctx context.Context, params *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	GetObject(ctx context.Context, params *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

var _ ObjectAPI = (*s3.Client)(nil)

// maxManifestBytes bounds what is read of a manifest: a few hundred bytes are expected.
const maxManifestBytes = 1 << 20

// Checker reads the status of days from a stack's data bucket and failure queue.
type Checker struct {
	s3     ObjectAPI
	queue  *Queue
	bucket string
	prefix string
}

// New returns a Checker over the tables under prefix in bucket. queue may be nil: no day is
// then known to have failed.
func New(s3 ObjectAPI, bucket, prefix string, queue *Queue) *Checker {
	return &Checker{s3: s3, queue: queue, bucket: bucket, prefix: prefix}
}

// Days returns the status of each day, in order, and the failures waiting in the queue that
// name none of them.
func (c *Checker) Days(ctx context.Context, days []time.Time) ([]Day, []Failure, error) {
	return c.DaysSince(ctx, days, time.Time{})
}

// DaysSince is Days with the failures that Lambda recorded before since left out: those of an
// earlier run, which a new one does not repeat.
func (c *Checker) DaysSince(ctx context.Context, days []time.Time, since time.Time) ([]Day, []Failure, error) {
	var failures []Failure
	if c.queue != nil {
		var err error
		if failures, err = c.queue.Failures(ctx); err != nil {
			return nil, nil, err
		}
		failures = slices.DeleteFunc(failures, func(f Failure) bool { return f.Time.Before(since) })
	}
	out := make([]Day, 0, len(days))
	used := make([]bool, len(failures))
	for _, d := range days {
		st, err := c.Day(ctx, d)
		if err != nil {
			return nil, nil, err
		}
		for i, f := range failures {
			if f.Names(d) {
				st.Failures = append(st.Failures, f)
				used[i] = true
			}
		}
		if len(st.Failures) > 0 && st.State != Complete {
			st.State = Failed
		}
		out = append(out, st)
	}
	var others []Failure
	for i, f := range failures {
		if !used[i] {
			others = append(others, f)
		}
	}
	return out, others, nil
}

// Day returns the status of one day from its objects, without the queue.
func (c *Checker) Day(ctx context.Context, day time.Time) (Day, error) {
	st := Day{Day: day}
	key := athenasql.QueriesKey(c.prefix, day)
	head, err := c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(c.bucket), Key: aws.String(key)})
	if isNotFound(err) {
		st.State = Missing
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("head s3://%s/%s: %w", c.bucket, key, err)
	}
	m, err := c.manifest(ctx, day)
	if err != nil {
		return st, err
	}
	etag := aws.ToString(head.ETag)
	st.Written = aws.ToTime(head.LastModified)
	switch {
	case m != nil && m.Key == key && m.CompleteFor(etag):
		st.State = Complete
		c.count(&st, m)
		st.Queries = m.Done.IDs
		return st, nil
	case m != nil && m.Key == key && m.ETag == etag:
		st.State = Partial
		c.count(&st, m)
	case m != nil:
		st.State = Superseded
		st.Written = m.Written
	default:
		st.State = Partial
	}
	if st.Queries, err = c.rows(ctx, key, etag); err != nil {
		return st, err
	}
	return st, nil
}

func (c *Checker) count(st *Day, m *events.LookupManifest) {
	st.Parts = m.Done.Parts
	st.WithoutStats = m.Done.LookupErrors
	st.WithStats = m.Done.IDs - m.Done.LookupErrors
	st.Written = m.Written
}

// manifest returns the day's manifest, or nil when there is none.
func (c *Checker) manifest(ctx context.Context, day time.Time) (*events.LookupManifest, error) {
	key := athenasql.LookupManifestKey(c.prefix, day)
	out, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(c.bucket), Key: aws.String(key)})
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", c.bucket, key, err)
	}
	defer out.Body.Close()
	var m events.LookupManifest
	if err := json.NewDecoder(io.LimitReader(out.Body, maxManifestBytes)).Decode(&m); err != nil {
		return nil, fmt.Errorf("s3://%s/%s: %w", c.bucket, key, err)
	}
	return &m, nil
}

// rows counts the query IDs of the athena_queries object, streaming it, as the lookup counts
// them: rows without one (refused submissions) are left out, and the object is sorted by ID, so
// a repeated ID follows itself. It reads the version etag, so that a replacement while reading is
// not counted half.
func (c *Checker) rows(ctx context.Context, key, etag string) (int, error) {
	out, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(c.bucket), Key: aws.String(key), IfMatch: aws.String(etag)})
	if err != nil {
		return 0, fmt.Errorf("get s3://%s/%s: %w", c.bucket, key, err)
	}
	defer out.Body.Close()
	r := csv.NewReader(out.Body)
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err == io.EOF {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read s3://%s/%s: %w", c.bucket, key, err)
	}
	col := slices.Index(header, "query_id")
	if col < 0 {
		return 0, fmt.Errorf("s3://%s/%s: no query_id column in %q", c.bucket, key, header)
	}
	r.ReuseRecord = true
	n, prev := 0, ""
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, fmt.Errorf("read s3://%s/%s: %w", c.bucket, key, err)
		}
		if col < len(rec) && rec[col] != "" && rec[col] != prev {
			n++
			prev = rec[col]
		}
	}
}

// isNotFound reports whether err is S3's answer for a missing key: NotFound to a HEAD,
// NoSuchKey to a GET.
func isNotFound(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode() == "NotFound" || apiErr.ErrorCode() == "NoSuchKey")
}

// Ended reports whether the day's state is final for a backfill: complete or failed.
func (d Day) Ended() bool { return d.State == Complete || d.State == Failed }

// String is the day as YYYY-MM-DD.
func (d Day) String() string { return d.Day.Format(config.DayLayout) }
