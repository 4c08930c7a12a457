// Package extract is the extract function: for each day asked for, it brings the tables and views
// up to date, runs the extraction query over CloudTrail, saves the result as that day's
// athena_queries partition and hands the day to the lookup function.
package extract

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/athenausage/athena-usage/pkg/athenaquery"
	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/emf"
	"github.com/athenausage/athena-usage/pkg/events"
	"github.com/athenausage/athena-usage/pkg/s3uri"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// DefaultMargin is the time an invocation keeps in hand before starting another day: one
// extraction over a busy account's CloudTrail can take minutes. When less is left, the
// invocation hands the rest of its range to a fresh one.
const DefaultMargin = 4 * time.Minute

// Metric names of the extract function, in namespace emf.DefaultNamespace with the dimension
// emf.StackDimension; one line per day extracted, re-checks of earlier days included.
const (
	// MetricQueriesFound is the number of queries the day's extraction found: the rows of its
	// result with a query ID (refused submissions have none).
	MetricQueriesFound = "QueriesFound"
	// MetricCloudTrailBytesScanned is what the day's extraction scanned of CloudTrail, the
	// bytes Athena bills (the execution's DataScannedInBytes).
	MetricCloudTrailBytesScanned = "CloudTrailBytesScanned"
)

// Runner runs one Athena statement to completion: an *athenaquery.Runner.
type Runner interface {
	Run(ctx context.Context, q athenaquery.Query) (*types.QueryExecution, error)
}

var _ Runner = (*athenaquery.Runner)(nil)

// ObjectStore copies the extraction's result object to the day's partition, after checking
// (HeadObject, and GetObject of the lookup's manifest) whether the partition already holds it,
// and reads the result to count its rows for the metrics: an *s3.Client.
type ObjectStore interface {
	CopyObject(ctx context.Context, params *s3.CopyObjectInput, optFns ...func(*s3.Options)) (*s3.CopyObjectOutput, error)
	HeadObject(ctx context.Context, params *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	GetObject(ctx context.Context, params *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

var _ ObjectStore = (*s3.Client)(nil)

// MetadataSourceETag is the user metadata (x-amz-meta-source-etag) of a day's athena_queries
// object that holds the ETag of the result object it was copied from. A copy's own ETag need not
// be its source's (a multipart source's is not), so the source's is recorded to tell a new result
// with the same content.
const MetadataSourceETag = "source-etag"

// Invoker invokes the lookup function, and this one to continue a range: a *lambda.Client.
type Invoker interface {
	Invoke(ctx context.Context, params *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

var _ Invoker = (*lambda.Client)(nil)

// Options tune a Handler. Zero values mean the defaults.
type Options struct {
	// FunctionName is the function a range that outlasts the deadline continues in;
	// lambdacontext.FunctionName (the running function) when empty. When both are empty (not
	// in Lambda), the whole range runs in one invocation.
	FunctionName string
	// Margin is the time left at which no new day starts; DefaultMargin when zero.
	Margin time.Duration
	// Logger receives the handler's progress logs; slog.Default() when nil.
	Logger *slog.Logger
	// Metrics receives the metrics (MetricQueriesFound, MetricCloudTrailBytesScanned); none
	// are written when nil, and then the result is not read to count its queries.
	Metrics *emf.Writer
}

// Handler is the extract function's handler.
type Handler struct {
	cfg    config.Extract
	runner Runner
	s3     ObjectStore
	lambda Invoker
	opts   Options
	log    *slog.Logger
}

// New returns a Handler that runs the statements with runner, saves the day's partition with s3
// and invokes functions with lambda.
func New(cfg config.Extract, runner Runner, s3 ObjectStore, lambda Invoker, optFns ...func(*Options)) *Handler {
	var o Options
	for _, fn := range optFns {
		fn(&o)
	}
	if o.FunctionName == "" {
		o.FunctionName = lambdacontext.FunctionName
	}
	if o.Margin <= 0 {
		o.Margin = DefaultMargin
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Handler{cfg: cfg, runner: runner, s3: s3, lambda: lambda, opts: o, log: o.Logger}
}

// NewFromConfig returns a Handler with clients made from awsCfg: Athena queries run in the
// configuration's workgroup, and S3 is addressed path-style when the configuration says so.
func NewFromConfig(cfg config.Extract, awsCfg aws.Config, optFns ...func(*Options)) *Handler {
	runner := athenaquery.New(athena.NewFromConfig(awsCfg), func(o *athenaquery.Options) {
		o.Workgroup = cfg.Workgroup
	})
	s3c := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = cfg.S3PathStyle })
	return New(cfg, runner, s3c, lambda.NewFromConfig(awsCfg), optFns...)
}

// DayResult is what one day's extraction produced.
type DayResult struct {
	Day              string `json:"day"`
	QueryID          string `json:"query_id"`
	DataScannedBytes int64  `json:"data_scanned_bytes"`
	// Queries is the S3 URI of the day's athena_queries object.
	Queries string `json:"queries"`
	// Unchanged is true when the extraction found what the day's partition already holds, and
	// the lookup had finished the day for it: nothing was copied, and the lookup not invoked.
	Unchanged bool `json:"unchanged,omitempty"`
}

// Result is the extract function's output.
type Result struct {
	Days []DayResult `json:"days"`
	// ContinuedFrom is the first day handed to a fresh invocation, if any.
	ContinuedFrom string `json:"continued_from,omitempty"`
}

// Handle runs the extraction for the days the event asks for.
func (h *Handler) Handle(ctx context.Context, e events.Extract) (Result, error) {
	var res Result
	days, err := h.days(e)
	if err != nil {
		return res, err
	}
	for _, d := range days {
		if d.Before(h.cfg.ProjectionStart) {
			return res, fmt.Errorf("day %s is before %s %s: its partitions are not projected",
				d.Format(config.DayLayout), config.EnvProjectionStart, h.cfg.ProjectionStart.Format(config.DayLayout))
		}
	}
	runID := ""
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		// Lambda retries an async event with the same request ID, so a retry reuses the
		// tokens and picks up the queries already started (athenaquery.Run starts one that
		// failed or was stopped afresh); a new run scans afresh.
		runID = lc.AwsRequestID
	}
	if err := h.setup(ctx, runID); err != nil {
		return res, err
	}
	for i, d := range days {
		if i > 0 && h.opts.FunctionName != "" && h.lowOnTime(ctx) {
			next := events.Extract{From: d.Format(config.DayLayout), To: days[len(days)-1].Format(config.DayLayout)}
			if err := h.invoke(ctx, h.opts.FunctionName, next); err != nil {
				return res, fmt.Errorf("continue from %s: %w", next.From, err)
			}
			res.ContinuedFrom = next.From
			h.log.InfoContext(ctx, "continuing in a new invocation", "from", next.From, "to", next.To)
			return res, nil
		}
		dr, err := h.day(ctx, d, runID)
		if err != nil {
			return res, fmt.Errorf("day %s: %w", d.Format(config.DayLayout), err)
		}
		res.Days = append(res.Days, dr)
	}
	return res, nil
}

// days returns the days to extract. The schedule's run extracts the previous day and re-checks
// the LateDays days before it, for records that CloudTrail delivered late; a re-check of a day
// before the projection's start (the stack's first days) is left out.
func (h *Handler) days(e events.Extract) ([]time.Time, error) {
	days, err := e.Days(time.Now())
	if err != nil || !e.Scheduled() {
		return days, err
	}
	var out []time.Time
	for n := h.cfg.LateDays; n > 0; n-- {
		if d := days[0].AddDate(0, 0, -n); !d.Before(h.cfg.ProjectionStart) {
			out = append(out, d)
		}
	}
	return append(out, days...), nil
}

func (h *Handler) lowOnTime(ctx context.Context) bool {
	deadline, ok := ctx.Deadline()
	return ok && time.Until(deadline) < h.opts.Margin
}

// setup creates or replaces the database, tables and views. DDL is free in Athena, so doing it
// every run costs nothing and makes a changed parameter take effect at the next run.
func (h *Handler) setup(ctx context.Context, runID string) error {
	stmts, err := athenasql.Setup(athenasql.FromConfig(h.cfg))
	if err != nil {
		return fmt.Errorf("setup SQL: %w", err)
	}
	for _, s := range stmts {
		_, err := h.runner.Run(ctx, athenaquery.Query{
			SQL:      s.SQL,
			Database: h.cfg.Database,
			Token:    athenaquery.Token("setup", s.SQL, runID),
		})
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
	}
	h.log.InfoContext(ctx, "tables and views up to date", "statements", len(stmts), "database", h.cfg.Database)
	return nil
}

func (h *Handler) day(ctx context.Context, day time.Time, runID string) (DayResult, error) {
	name := day.Format(config.DayLayout)
	sql, err := athenasql.Extract(h.cfg.Database, day, h.cfg.LateDays)
	if err != nil {
		return DayResult{}, fmt.Errorf("extraction SQL: %w", err)
	}
	q, err := h.runner.Run(ctx, athenaquery.Query{
		SQL:      sql,
		Database: h.cfg.Database,
		Token:    athenaquery.Token("extract", name, sql, runID),
	})
	if err != nil {
		return DayResult{}, fmt.Errorf("extraction: %w", err)
	}
	src := ""
	if q.ResultConfiguration != nil {
		src = aws.ToString(q.ResultConfiguration.OutputLocation)
	}
	srcBucket, srcKey, err := resultObject(src)
	if err != nil {
		return DayResult{}, fmt.Errorf("extraction %s result location: %w", aws.ToString(q.QueryExecutionId), err)
	}
	// Before the copy: the extraction scanned and found this whether or not the rest succeeds.
	h.putMetrics(ctx, name, q, srcBucket, srcKey)
	key := athenasql.QueriesKey(h.cfg.DataPrefix, day)
	unchanged, err := h.save(ctx, day, srcBucket, srcKey, key)
	if err != nil {
		return DayResult{}, err
	}
	if !unchanged {
		ev := events.Lookup{Day: name, Bucket: h.cfg.DataBucket, Key: key}
		if err := h.invoke(ctx, h.cfg.LookupFunction, ev); err != nil {
			return DayResult{}, err
		}
	}
	dr := DayResult{Day: name, QueryID: aws.ToString(q.QueryExecutionId), Queries: "s3://" + h.cfg.DataBucket + "/" + key, Unchanged: unchanged}
	if q.Statistics != nil {
		dr.DataScannedBytes = aws.ToInt64(q.Statistics.DataScannedInBytes)
	}
	h.log.InfoContext(ctx, "day extracted", "day", name, "query_id", dr.QueryID, "data_scanned_bytes", dr.DataScannedBytes, "queries", dr.Queries, "unchanged", unchanged)
	return dr, nil
}

// putMetrics writes the day's extraction's metrics. A count that fails or a line that cannot be
// written is logged, and costs the day nothing.
func (h *Handler) putMetrics(ctx context.Context, day string, q *types.QueryExecution, bucket, key string) {
	if h.opts.Metrics == nil {
		return
	}
	var scanned int64
	if q.Statistics != nil {
		scanned = aws.ToInt64(q.Statistics.DataScannedInBytes)
	}
	metrics := []emf.Metric{{Name: MetricCloudTrailBytesScanned, Unit: emf.Bytes, Value: float64(scanned)}}
	if n, err := h.countQueries(ctx, bucket, key); err != nil {
		h.log.WarnContext(ctx, "queries found not counted for the metrics", "day", day, "err", err)
	} else {
		metrics = append(metrics, emf.Metric{Name: MetricQueriesFound, Unit: emf.Count, Value: float64(n)})
	}
	if err := h.opts.Metrics.Put(nil, metrics...); err != nil {
		h.log.WarnContext(ctx, "metrics not written", "day", day, "err", err)
	}
}

// queryIDColumn is the extraction's query ID column (extract.sql), as the lookup reads it.
const queryIDColumn = "query_id"

// countQueries counts the queries in the extraction's result: its rows with a query_id, the
// refused submissions (one row per user and error, without a query_id) aside. The execution
// does not carry its row count (GetQueryRuntimeStatistics would, for another permission), so
// the result is streamed through once, as the lookup reads it in full too.
func (h *Handler) countQueries(ctx context.Context, bucket, key string) (int64, error) {
	out, err := h.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return 0, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	r := csv.NewReader(out.Body)
	r.FieldsPerRecord, r.ReuseRecord = -1, true
	header, err := r.Read()
	if err != nil {
		return 0, fmt.Errorf("read s3://%s/%s: header: %w", bucket, key, err)
	}
	col := slices.IndexFunc(header, func(name string) bool { return strings.TrimPrefix(name, "\ufeff") == queryIDColumn })
	if col < 0 {
		return 0, fmt.Errorf("s3://%s/%s: no %s column in %q", bucket, key, queryIDColumn, header)
	}
	var n int64
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return 0, fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
		}
		if col < len(rec) && rec[col] != "" {
			n++
		}
	}
}

// save copies the extraction's result to the day's partition, key, unless the partition already
// holds a copy of it (the same source ETag) and the lookup's manifest says the day is complete for
// that copy: then a re-check that found nothing new writes nothing and costs the lookup nothing.
func (h *Handler) save(ctx context.Context, day time.Time, srcBucket, srcKey, key string) (unchanged bool, err error) {
	src, err := h.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(srcBucket), Key: aws.String(srcKey)})
	if err != nil {
		return false, fmt.Errorf("head s3://%s/%s: %w", srcBucket, srcKey, err)
	}
	srcETag := aws.ToString(src.ETag)
	if unchanged, err := h.holds(ctx, day, key, srcETag); err != nil || unchanged {
		return unchanged, err
	}
	// A server-side copy to a fixed key: re-running the day replaces the partition.
	_, err = h.s3.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket:            aws.String(h.cfg.DataBucket),
		Key:               aws.String(key),
		CopySource:        aws.String(copySource(srcBucket, srcKey)),
		MetadataDirective: s3types.MetadataDirectiveReplace,
		ContentType:       src.ContentType,
		Metadata:          map[string]string{MetadataSourceETag: srcETag},
	})
	if err != nil {
		return false, fmt.Errorf("save %s partition: %w", athenasql.QueriesTable, err)
	}
	return false, nil
}

// holds reports whether the day's partition, key, is a copy of the result with ETag srcETag that
// the lookup finished the day for.
func (h *Handler) holds(ctx context.Context, day time.Time, key, srcETag string) (bool, error) {
	bucket := h.cfg.DataBucket
	dst, err := h.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("head s3://%s/%s: %w", bucket, key, err)
	}
	if srcETag == "" || metadata(dst.Metadata, MetadataSourceETag) != srcETag {
		return false, nil
	}
	mkey := athenasql.LookupManifestKey(h.cfg.DataPrefix, day)
	out, err := h.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(mkey)})
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get s3://%s/%s: %w", bucket, mkey, err)
	}
	defer out.Body.Close()
	var m events.LookupManifest
	if err := json.NewDecoder(io.LimitReader(out.Body, 1<<20)).Decode(&m); err != nil {
		// A manifest that cannot be read proves nothing: the day is looked up again.
		h.log.WarnContext(ctx, "unreadable lookup manifest; the day is looked up again", "key", mkey, "err", err)
		return false, nil
	}
	return m.Key == key && m.CompleteFor(aws.ToString(dst.ETag)), nil
}

// metadata returns the user metadata name of an object, whatever the case of its key: S3 sends
// the names as x-amz-meta-* headers, which are not case sensitive.
func metadata(md map[string]string, name string) string {
	for k, v := range md {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// isNotFound reports whether err is S3's answer for a missing key: NotFound to a HEAD, NoSuchKey
// to a GET. Without s3:ListBucket on the bucket, S3 answers 403 instead, which is an error here.
func isNotFound(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode() == "NotFound" || apiErr.ErrorCode() == "NoSuchKey")
}

func (h *Handler) invoke(ctx context.Context, function string, payload any) error {
	body, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	out, err := h.lambda.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   aws.String(function),
		InvocationType: lambdatypes.InvocationTypeEvent,
		Payload:        body,
	})
	if err != nil {
		return fmt.Errorf("invoke %s: %w", function, err)
	}
	if out.FunctionError != nil {
		return fmt.Errorf("invoke %s: %s", function, aws.ToString(out.FunctionError))
	}
	return nil
}

// resultObject splits the s3:// URI of a query's result object.
func resultObject(uri string) (bucket, key string, err error) {
	bucket, key, err = s3uri.Parse(uri)
	if err == nil && key == "" {
		err = fmt.Errorf("%q has no key", uri)
	}
	if err != nil {
		return "", "", err
	}
	return bucket, key, nil
}

// copySource is CopyObject's URL-encoded "bucket/key".
func copySource(bucket, key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return bucket + "/" + strings.Join(segs, "/")
}
