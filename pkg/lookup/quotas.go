package lookup

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/batchget"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
)

// QuotaMemory is how long a quota the rate limiter measured is remembered: a later invocation
// (a continuation, the next day) starts from it instead of finding it again, which costs an
// overshoot into the quota's burst, and, where another client shares the quota, a few of that
// client's calls (docs/design.md, "Throughput"). A quota is measured again only when a probe
// meets it, and a probe waits for a hold that a quiet shared quota extends to 5 minutes: after
// QuotaMemory the run finds it afresh, in case the other client has left.
const QuotaMemory = 7 * 24 * time.Hour

// quotaFile is the object at athenasql.LookupQuotasKey.
type quotaFile struct {
	Quotas []quotaEntry `json:"quotas"`
}

// quotaEntry is one engine's batchget.Quota.
type quotaEntry struct {
	Account string `json:"account"`
	Region  string `json:"region"`
	// CallsPerSecond is the BatchGetQueryExecution calls per second the quota let in, less
	// what other clients of the account took.
	CallsPerSecond float64 `json:"calls_per_second"`
	// BackgroundThrottled is the share of calls throttled whatever the rate.
	BackgroundThrottled float64   `json:"background_throttled"`
	Measured            time.Time `json:"measured"`
}

// validate returns what is wrong with the entry, nil if nothing.
func (q quotaEntry) validate() error {
	errs := []error{config.ValidateAccountID(q.Account), config.ValidateRegion(q.Region)}
	if !(q.CallsPerSecond > 0) || math.IsInf(q.CallsPerSecond, 1) {
		errs = append(errs, fmt.Errorf("calls_per_second %v: want a positive number", q.CallsPerSecond))
	}
	if !(q.BackgroundThrottled >= 0 && q.BackgroundThrottled < 1) {
		errs = append(errs, fmt.Errorf("background_throttled %v: want at least 0 and under 1", q.BackgroundThrottled))
	}
	if q.Measured.IsZero() {
		errs = append(errs, errors.New("measured: missing"))
	}
	return errors.Join(errs...)
}

// recallQuotas reads the quotas found before, once per Handler: a warm function's engines
// already know theirs. The file is a hint: one that cannot be read, or an entry that is not
// valid, is logged and left out (and replaced by the next rememberQuotas), never a failed day.
func (inv *invocation) recallQuotas(ctx context.Context) {
	h := inv.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.quotas != nil {
		return
	}
	h.quotas = map[place]batchget.Quota{}
	bucket, key := h.cfg.DataBucket, athenasql.LookupQuotasKey(h.cfg.DataPrefix)
	var f quotaFile
	if _, err := readState(ctx, h.clients.S3, bucket, key, &f); err != nil {
		// Written again at the end of the invocation.
		inv.log.WarnContext(ctx, "quotas found before not read: the rate limiters find them again", "error", err)
		return
	}
	bad := false
	for i, q := range f.Quotas {
		if err := q.validate(); err != nil {
			inv.log.WarnContext(ctx, "quota found before left out", "key", key, "entry", i, "error", err)
			bad = true
			continue
		}
		h.quotas[place{q.Account, q.Region}] = batchget.Quota{Rate: q.CallsPerSecond, Measured: q.Measured, Background: q.BackgroundThrottled}
	}
	if !bad {
		// Otherwise the file is written again without what was wrong.
		h.savedQuotas = quotaBytes(h.quotas)
	}
}

// recalled is the quota an engine for pl starts from: the one found before, unless it is
// forgotten.
func (h *Handler) recalled(pl place, now time.Time) batchget.Quota {
	if q := h.quotas[pl]; !forgotten(q, now) {
		return q
	}
	return batchget.Quota{}
}

// forgotten is whether q was measured more than QuotaMemory before now.
func forgotten(q batchget.Quota, now time.Time) bool {
	return now.Sub(q.Measured) > QuotaMemory
}

// rememberQuotas writes the quotas the engines found, with those of other accounts and regions
// found before and not yet forgotten, when they changed. A failure is logged: the next
// invocation finds its quotas again.
func (inv *invocation) rememberQuotas(ctx context.Context) {
	h := inv.h
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	for pl, e := range h.engines {
		if q := e.Quota(); q.Rate > 0 {
			h.quotas[pl] = q
		}
	}
	maps.DeleteFunc(h.quotas, func(_ place, q batchget.Quota) bool { return forgotten(q, now) })
	data := quotaBytes(h.quotas)
	if bytes.Equal(data, h.savedQuotas) {
		return
	}
	bucket, key := h.cfg.DataBucket, athenasql.LookupQuotasKey(h.cfg.DataPrefix)
	_, err := h.clients.Uploader.UploadObject(ctx, &transfermanager.UploadObjectInput{
		Bucket:      aws.String(bucket),
		Key:         aws.String(key),
		Body:        bytes.NewReader(data),
		ContentType: aws.String("application/json"),
	})
	if err != nil {
		inv.log.WarnContext(ctx, "quotas found not written: the next invocation finds them again", "error", fmt.Errorf("upload s3://%s/%s: %w", bucket, key, err))
		return
	}
	h.savedQuotas = data
}

// quotaBytes is the file of quotas, in the order of account and region.
func quotaBytes(quotas map[place]batchget.Quota) []byte {
	f := quotaFile{Quotas: []quotaEntry{}}
	for pl, q := range quotas {
		f.Quotas = append(f.Quotas, quotaEntry{Account: pl.account, Region: pl.region,
			CallsPerSecond: q.Rate, BackgroundThrottled: q.Background, Measured: q.Measured.UTC()})
	}
	slices.SortFunc(f.Quotas, func(a, b quotaEntry) int {
		return cmp.Or(cmp.Compare(a.Account, b.Account), cmp.Compare(a.Region, b.Region))
	})
	data, _ := json.MarshalIndent(f, "", "  ") // plain strings, numbers and times: cannot fail
	return append(data, '\n')
}
