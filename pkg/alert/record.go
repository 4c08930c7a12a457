package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// maxRecordBytes bounds what is read of a day's record: a few KB are expected.
const maxRecordBytes = 4 << 20

// record is what the alert function has published about a day, kept at athenasql.AlertsKey,
// so that a rerun of the day (a re-check that found late records, a retry) alerts about each
// user once.
type record struct {
	Day      string      `json:"day"`
	Messages []published `json:"messages"`
}

// published is one message and the users it named.
type published struct {
	MessageID string    `json:"message_id"`
	Published time.Time `json:"published"`
	Findings  []Finding `json:"findings"`
}

// without returns the findings about users that no message of the record named, in order.
func (r *record) without(findings []Finding) []Finding {
	done := map[string]bool{}
	for _, m := range r.Messages {
		for _, f := range m.Findings {
			done[f.User] = true
		}
	}
	return slices.DeleteFunc(slices.Clone(findings), func(f Finding) bool { return done[f.User] })
}

func (r *record) add(p published) { r.Messages = append(r.Messages, p) }

// readRecord returns the day's record, empty when there is none.
func (h *Handler) readRecord(ctx context.Context, day time.Time) (*record, error) {
	bucket, key := h.cfg.DataBucket, athenasql.AlertsKey(h.cfg.DataPrefix, day)
	rec := &record{Day: day.Format("2006-01-02")}
	out, err := h.clients.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "NoSuchKey" {
		return rec, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, maxRecordBytes))
	if err != nil {
		return nil, fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
	}
	if err := json.Unmarshal(data, rec); err != nil {
		return nil, fmt.Errorf("s3://%s/%s: %w", bucket, key, err)
	}
	return rec, nil
}

// writeRecord replaces the day's record.
func (h *Handler) writeRecord(ctx context.Context, day time.Time, rec *record) error {
	bucket, key := h.cfg.DataBucket, athenasql.AlertsKey(h.cfg.DataPrefix, day)
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("alerts record of %s: %w", rec.Day, err)
	}
	_, err = h.clients.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:      aws.String(bucket),
		Key:         aws.String(key),
		Body:        bytes.NewReader(append(data, '\n')),
		ContentType: aws.String("application/json"),
	})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}
