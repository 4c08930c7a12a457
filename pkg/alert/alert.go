// Package alert is the alert function's handler. After the lookup completes a day, it finds
// the users whose cost that day breaks the alert rules (Rules) and publishes one message about
// them to an SNS topic, once per user and day; on the freshness schedule it checks that the
// previous day is complete and writes the DataFresh metric, which an alarm watches.
//
// Reading order: Handle (this file), the rules (rules.go), the message (message.go), the record
// of what was published (record.go), the freshness check (freshness.go).
package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/athenausage/athena-usage/pkg/athenaquery"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/emf"
	"github.com/athenausage/athena-usage/pkg/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// Defaults of the rules, for the configuration's zero values; the template's parameters
// default to the same values.
const (
	// DefaultThresholdUSD is the day's cost above which any user is alerted about.
	DefaultThresholdUSD = 100.0
	// DefaultRatio is how many times their baseline a user's day must cost to be alerted about.
	DefaultRatio = 10.0
	// DefaultMinCostUSD is the least a day must cost for the ratio rule to apply: below it, a
	// jump from cents to a dollar is noise, not spend.
	DefaultMinCostUSD = 5.0
)

// WindowDays is how many days before the day a user's baseline is the median of: two weeks,
// so that each weekday counts twice and one unusual day cannot move the median far.
const WindowDays = 14

// MetricDataFresh is the freshness check's metric: 1 when the previous day is complete, else 0.
const MetricDataFresh = "DataFresh"

// Options tune a Handler.
type Options struct {
	// Logger receives the handler's logs; slog.Default() when nil.
	Logger *slog.Logger
	// Metrics receives the DataFresh metric; nil writes none.
	Metrics *emf.Writer
	// Query adds options to the athenaquery runner (its polling).
	Query []func(*athenaquery.Options)
}

// QueryAPI is the part of the Athena client the handler uses: it runs one query and reads its
// rows.
type QueryAPI interface {
	athenaquery.API
	GetQueryResults(ctx context.Context, params *athena.GetQueryResultsInput, optFns ...func(*athena.Options)) (*athena.GetQueryResultsOutput, error)
}

var _ QueryAPI = (*athena.Client)(nil)

// ObjectStore is the S3 calls the handler makes: the day's record of alerts (GetObject,
// PutObject), and the day's athena_queries object and manifest for the freshness check
// (HeadObject, GetObject).
type ObjectStore interface {
	GetObject(ctx context.Context, params *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadObject(ctx context.Context, params *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	PutObject(ctx context.Context, params *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

var _ ObjectStore = (*s3.Client)(nil)

// Publisher publishes the alert message.
type Publisher interface {
	Publish(ctx context.Context, params *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

var _ Publisher = (*sns.Client)(nil)

// Clients are the AWS clients a Handler calls.
type Clients struct {
	Athena QueryAPI
	S3     ObjectStore
	SNS    Publisher
}

// Handler handles alert events.
type Handler struct {
	cfg     config.Alert
	rules   Rules
	clients Clients
	queries *athenaquery.Runner
	opts    Options
	log     *slog.Logger
}

// New returns a Handler for the configuration and clients. Zero rules take their defaults.
func New(cfg config.Alert, clients Clients, optFns ...func(*Options)) (*Handler, error) {
	var o Options
	for _, fn := range optFns {
		fn(&o)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	rules := Rules{ThresholdUSD: cfg.ThresholdUSD, Ratio: cfg.Ratio, MinCostUSD: cfg.MinCostUSD}
	if rules.ThresholdUSD == 0 {
		rules.ThresholdUSD = DefaultThresholdUSD
	}
	if rules.Ratio == 0 {
		rules.Ratio = DefaultRatio
	}
	if rules.MinCostUSD == 0 {
		rules.MinCostUSD = DefaultMinCostUSD
	}
	errs := []error{
		config.ValidateBucket(cfg.DataBucket),
		config.ValidateDatabase(cfg.Database),
		config.ValidateWorkgroup(cfg.Workgroup),
		config.ValidateTopicARN(cfg.TopicARN),
		rules.validate(),
	}
	if clients.Athena == nil || clients.S3 == nil || clients.SNS == nil {
		errs = append(errs, errors.New("clients: Athena, S3 and SNS are all required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("alert handler: %w", err)
	}
	qopts := append([]func(*athenaquery.Options){func(q *athenaquery.Options) { q.Workgroup = cfg.Workgroup }}, o.Query...)
	return &Handler{cfg: cfg, rules: rules, clients: clients, queries: athenaquery.New(clients.Athena, qopts...), opts: o, log: o.Logger}, nil
}

// NewFromConfig returns a Handler with clients made from awsCfg (S3 with path-style requests
// when cfg.S3PathStyle is set).
func NewFromConfig(cfg config.Alert, awsCfg aws.Config, optFns ...func(*Options)) (*Handler, error) {
	return New(cfg, Clients{
		Athena: athena.NewFromConfig(awsCfg),
		S3:     s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = cfg.S3PathStyle }),
		SNS:    sns.NewFromConfig(awsCfg),
	}, optFns...)
}

// Result is what one invocation did.
type Result struct {
	Day string `json:"day"`
	// Check is CheckAlerts or CheckFreshness.
	Check string `json:"check"`
	// Alerted are the users this invocation published an alert about, and MessageID the
	// message; Already counts the users over the rules that an earlier run had alerted about.
	Alerted   []Finding `json:"alerted,omitempty"`
	MessageID string    `json:"message_id,omitempty"`
	Already   int       `json:"already_alerted,omitempty"`
	// State is the day's status at a freshness check, and Fresh whether it is complete.
	State string `json:"state,omitempty"`
	Fresh bool   `json:"fresh,omitempty"`
}

// The checks an event asks for.
const (
	CheckAlerts    = "alerts"
	CheckFreshness = "freshness"
)

// Handle runs the check the event asks for. It does not log its error: the caller does, once.
func (h *Handler) Handle(ctx context.Context, ev events.Alert) (Result, error) {
	day, freshness, err := ev.Target(time.Now())
	if err != nil {
		return Result{}, err
	}
	if freshness {
		return h.freshness(ctx, day)
	}
	return h.alerts(ctx, day)
}

// alerts publishes one message about the users over the rules on day that no earlier run has
// alerted about, then records them. Nothing is published when there are none.
func (h *Handler) alerts(ctx context.Context, day time.Time) (Result, error) {
	res := Result{Day: day.Format(config.DayLayout), Check: CheckAlerts}
	log := h.log.With("day", res.Day)
	costs, err := h.dailyCosts(ctx, day)
	if err != nil {
		return res, err
	}
	findings := h.rules.Evaluate(costs, day)
	if len(findings) == 0 {
		log.InfoContext(ctx, "no user over the alert rules")
		return res, nil
	}
	rec, err := h.readRecord(ctx, day)
	if err != nil {
		return res, err
	}
	fresh := rec.without(findings)
	res.Already = len(findings) - len(fresh)
	if len(fresh) == 0 {
		log.InfoContext(ctx, "every user over the alert rules was alerted about already", "users", res.Already)
		return res, nil
	}
	subject, body, err := h.message(day, fresh)
	if err != nil {
		return res, err
	}
	out, err := h.clients.SNS.Publish(ctx, &sns.PublishInput{
		TopicArn: aws.String(h.cfg.TopicARN),
		Subject:  aws.String(subject),
		Message:  aws.String(body),
	})
	if err != nil {
		return res, fmt.Errorf("publish to %s: %w", h.cfg.TopicARN, err)
	}
	res.Alerted, res.MessageID = fresh, aws.ToString(out.MessageId)
	// Written only once the message is out: a failed publish is retried in full, and a failed
	// write here (after a publish) costs one repeated alert, never a lost one.
	rec.add(published{MessageID: res.MessageID, Published: time.Now().UTC(), Findings: fresh})
	if err := h.writeRecord(ctx, day, rec); err != nil {
		return res, err
	}
	log.InfoContext(ctx, "alert published", "users", len(fresh), "already_alerted", res.Already, "message_id", res.MessageID)
	return res, nil
}
