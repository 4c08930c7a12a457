package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Environment variable names. The SAM template sets them; the local stack sets them too.
const (
	EnvDatabase         = "ATHENA_DATABASE"
	EnvWorkgroup        = "ATHENA_WORKGROUP"
	EnvDataBucket       = "DATA_BUCKET"
	EnvDataPrefix       = "DATA_PREFIX"
	EnvCloudTrailBucket = "CLOUDTRAIL_BUCKET"
	EnvCloudTrailPrefix = "CLOUDTRAIL_PREFIX"
	EnvOrgID            = "CLOUDTRAIL_ORG_ID"
	EnvAccounts         = "CLOUDTRAIL_ACCOUNTS"
	EnvRegions          = "CLOUDTRAIL_REGIONS"
	EnvProjectionStart  = "PROJECTION_START"
	EnvPricePerTB       = "PRICE_PER_TB_USD"
	EnvLookupFunction   = "LOOKUP_FUNCTION"
	// EnvLateDays is how many days late a CloudTrail record may be delivered and still be
	// counted: the schedule re-extracts that many days before the previous one.
	EnvLateDays          = "LATE_DELIVERY_DAYS"
	EnvLookupRate        = "LOOKUP_RATE"
	EnvLookupHeadroom    = "LOOKUP_HEADROOM_PERCENT"
	EnvLookupConcurrency = "LOOKUP_CONCURRENCY"
	EnvLookupPartSize    = "LOOKUP_PART_SIZE"
	EnvLookupMaxAttempts = "LOOKUP_MAX_ATTEMPTS"
	EnvAccountID         = "ACCOUNT_ID"
	EnvLookupRoleName    = "LOOKUP_ROLE_NAME"
	// EnvPartition is the ARN partition the function runs in (the template's AWS::Partition):
	// the other accounts' role ARNs are in it.
	EnvPartition = "AWS_PARTITION"
	EnvRegion    = "AWS_REGION"
	// EnvS3PathStyle makes the S3 client use path-style requests, as local S3 servers need.
	// Endpoints themselves come from the SDK's own AWS_ENDPOINT_URL_<SERVICE> variables.
	EnvS3PathStyle = "S3_FORCE_PATH_STYLE"
	// EnvStackName is the name of the stack the function belongs to (the template's
	// AWS::StackName): the Stack dimension of its metrics.
	EnvStackName = "STACK_NAME"
	// EnvRuntimeAPI is where Lambda's Runtime API listens; set by Lambda itself.
	EnvRuntimeAPI = "AWS_LAMBDA_RUNTIME_API"
	// EnvAlertFunction is the alert function the lookup invokes when it completes a day;
	// unset, it invokes none.
	EnvAlertFunction = "ALERT_FUNCTION"
	// EnvAlertTopic is the ARN of the SNS topic the alert function publishes to.
	EnvAlertTopic = "ALERT_TOPIC_ARN"
	// EnvAlertThreshold, EnvAlertRatio and EnvAlertMinCost are the alert rules: a user's day
	// above the threshold in USD, or above ratio times their median day with at least the
	// minimum cost in USD.
	EnvAlertThreshold = "ALERT_THRESHOLD_USD"
	EnvAlertRatio     = "ALERT_RATIO"
	EnvAlertMinCost   = "ALERT_MIN_COST_USD"
)

// Defaults for optional settings.
const (
	DefaultDatabase = "athena_usage"
	// DefaultPricePerTB is Athena's on-demand price in USD per TB scanned.
	DefaultPricePerTB = 5.0
	// DefaultLateDays covers records delivered up to two days late. CloudTrail delivers within
	// minutes as a rule, but a file "can contain records written at any point before" its
	// delivery time.
	DefaultLateDays = 2
	// MaxLateDays bounds the re-checks: each one is a scan of the day's CloudTrail folders.
	MaxLateDays = 14
	// DefaultStackName names the stack outside one (the local stack, a test): the template
	// always sets STACK_NAME.
	DefaultStackName = "athena-usage"
)

// Shared holds the settings both functions use.
type Shared struct {
	// Region is the function's own region.
	Region string
	// DataBucket holds the athena_queries and athena_api_output tables (Athena's scratch
	// results go to the workgroup's own location).
	DataBucket string
	// DataPrefix is the key prefix under DataBucket, "" or ending in "/".
	DataPrefix string
	// S3PathStyle is set for local S3 servers; AWS itself wants virtual-hosted requests.
	S3PathStyle bool
	// StackName is the stack's name, the Stack dimension of the functions' metrics.
	StackName string
}

// Extract holds the settings of the extract function.
type Extract struct {
	Shared
	Database         string
	Workgroup        string
	CloudTrailBucket string
	CloudTrailPrefix string
	OrgID            string
	Accounts         []string
	Regions          []string
	ProjectionStart  time.Time
	PricePerTB       float64
	// LookupFunction is the name or ARN of the lookup function that the extract hands days to.
	LookupFunction string
	// LateDays is how many days late a record may be delivered and still be counted on its
	// day: each extraction reads that many more CloudTrail folders, and the schedule
	// re-extracts that many days before the previous one.
	LateDays int
}

// Lookup holds the settings of the lookup function. Its tuning settings (Rate, Concurrency,
// PartSize, MaxAttempts) are 0 when their variable is unset: the lookup and batchget packages
// own the defaults (lookup.DefaultPartSize, batchget.DefaultRate, ...), so that each is defined
// once.
type Lookup struct {
	Shared
	// AccountID is the account the function runs in: its own queries are looked up with its
	// own credentials.
	AccountID string
	// RoleName, when set, is the role the function assumes in another account
	// (arn:<Partition>:iam::<account>:role/<RoleName>) to look up that account's queries;
	// without it they are written with lookup_error OtherAccount.
	RoleName string
	// Partition is the ARN partition of the function's account and of the role ARNs: aws,
	// aws-cn, aws-us-gov, ...
	Partition string
	// Rate is the most BatchGetQueryExecution calls per second in one account and region.
	Rate float64
	// Headroom is the share of the quota the lookup leaves to the account's other clients,
	// from 0.01 to 0.5; 0 when unset, for package batchget to default.
	Headroom float64
	// Concurrency bounds those calls in flight.
	Concurrency int
	// PartSize is the number of query IDs per athena_api_output part.
	PartSize int
	// MaxAttempts is how often a call, or an unprocessed ID, is tried.
	MaxAttempts int
	// AlertFunction is the name or ARN of the alert function, invoked when a day is complete;
	// "" invokes none.
	AlertFunction string
}

// Alert holds the settings of the alert function. The rules (ThresholdUSD, Ratio, MinCostUSD)
// are 0 when their variable is unset: the alert package owns their defaults.
type Alert struct {
	Shared
	Database  string
	Workgroup string
	// TopicARN is the SNS topic the alerts are published to.
	TopicARN string
	// ThresholdUSD: a user whose day costs more is alerted.
	ThresholdUSD float64
	// Ratio and MinCostUSD: a user whose day costs more than Ratio times their median day, and
	// at least MinCostUSD, is alerted.
	Ratio      float64
	MinCostUSD float64
}

// Getenv reads one variable; os.Getenv in production, a map in tests.
type Getenv func(string) string

// problems collects every missing or invalid variable so that one error lists them all.
type problems struct {
	getenv Getenv
	errs   []error
}

func (p *problems) add(err error) {
	if err != nil {
		p.errs = append(p.errs, err)
	}
}

func (p *problems) required(name string) string {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		p.errs = append(p.errs, fmt.Errorf("%s is required", name))
	}
	return v
}

func (p *problems) optional(name, def string) string {
	if v := strings.TrimSpace(p.getenv(name)); v != "" {
		return v
	}
	return def
}

func (p *problems) check(name, value string, validate func(string) error) {
	if value == "" {
		return
	}
	if err := validate(value); err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: %w", name, err))
	}
}

func (p *problems) prefix(name string) string {
	v, err := NormalizePrefix(strings.TrimSpace(p.getenv(name)))
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: %w", name, err))
	}
	return v
}

func (p *problems) list(name string, validate func(string) error) []string {
	raw := p.required(name)
	var out []string
	seen := map[string]bool{}
	for _, v := range strings.Split(raw, ",") {
		v = strings.TrimSpace(v)
		if v == "" || seen[v] {
			continue
		}
		seen[v] = true
		p.check(name, v, validate)
		out = append(out, v)
	}
	if raw != "" && len(out) == 0 {
		p.errs = append(p.errs, fmt.Errorf("%s: no values in %q", name, raw))
	}
	return out
}

// float reads an optional number from lo to hi; def when the variable is unset.
func (p *problems) float(name string, def, lo, hi float64) float64 {
	raw := strings.TrimSpace(p.getenv(name))
	if raw == "" {
		return def
	}
	v, err := strconv.ParseFloat(raw, 64)
	if err != nil || !(v >= lo && v <= hi) {
		p.errs = append(p.errs, fmt.Errorf("%s %q: want a number from %v to %v", name, raw, lo, hi))
		return def
	}
	return v
}

// int reads an optional whole number from lo to hi; 0 when the variable is unset, for the
// package that uses it to default.
func (p *problems) int(name string, lo, hi int) int {
	raw := strings.TrimSpace(p.getenv(name))
	if raw == "" {
		return 0
	}
	v, err := strconv.Atoi(raw)
	if err != nil || v < lo || v > hi {
		p.errs = append(p.errs, fmt.Errorf("%s %q: want a whole number from %d to %d", name, raw, lo, hi))
		return 0
	}
	return v
}

// intOr reads an optional whole number from lo to hi, def when the variable is unset: for a
// setting whose zero is a valid choice, not "the default".
func (p *problems) intOr(name string, def, lo, hi int) int {
	if strings.TrimSpace(p.getenv(name)) == "" {
		return def
	}
	return p.int(name, lo, hi)
}

func (p *problems) bool(name string) bool {
	raw := strings.TrimSpace(p.getenv(name))
	if raw == "" {
		return false
	}
	v, err := strconv.ParseBool(raw)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s %q: want true or false", name, raw))
	}
	return v
}

func (p *problems) err(what string) error {
	if len(p.errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s configuration: %w", what, errors.Join(p.errs...))
}

func (p *problems) shared() Shared {
	s := Shared{
		Region:      p.required(EnvRegion),
		DataBucket:  p.required(EnvDataBucket),
		DataPrefix:  p.prefix(EnvDataPrefix),
		S3PathStyle: p.bool(EnvS3PathStyle),
		StackName:   p.optional(EnvStackName, DefaultStackName),
	}
	p.check(EnvRegion, s.Region, ValidateRegion)
	p.check(EnvStackName, s.StackName, ValidateStackName)
	p.check(EnvDataBucket, s.DataBucket, ValidateBucket)
	return s
}

// LoadExtract reads the extract function's settings; the error lists every problem found.
func LoadExtract(getenv Getenv) (Extract, error) {
	p := &problems{getenv: getenv}
	c := Extract{
		Shared:           p.shared(),
		Database:         p.optional(EnvDatabase, DefaultDatabase),
		Workgroup:        p.required(EnvWorkgroup),
		CloudTrailBucket: p.required(EnvCloudTrailBucket),
		CloudTrailPrefix: p.prefix(EnvCloudTrailPrefix),
		OrgID:            strings.TrimSpace(getenv(EnvOrgID)),
		Accounts:         p.list(EnvAccounts, ValidateAccountID),
		Regions:          p.list(EnvRegions, ValidateRegion),
		PricePerTB:       p.float(EnvPricePerTB, DefaultPricePerTB, 0, 1000),
		LookupFunction:   p.required(EnvLookupFunction),
		LateDays:         p.intOr(EnvLateDays, DefaultLateDays, 0, MaxLateDays),
	}
	p.check(EnvDatabase, c.Database, ValidateDatabase)
	p.check(EnvWorkgroup, c.Workgroup, ValidateWorkgroup)
	p.check(EnvCloudTrailBucket, c.CloudTrailBucket, ValidateBucket)
	p.check(EnvOrgID, c.OrgID, ValidateOrgID)
	if start := p.required(EnvProjectionStart); start != "" {
		day, err := ParseDay(start)
		if err != nil {
			p.add(fmt.Errorf("%s: %w", EnvProjectionStart, err))
		}
		c.ProjectionStart = day
	}
	return c, p.err("extract")
}

// LoadLookup reads the lookup function's settings; the error lists every problem found.
func LoadLookup(getenv Getenv) (Lookup, error) {
	p := &problems{getenv: getenv}
	c := Lookup{
		Shared:      p.shared(),
		AccountID:   p.required(EnvAccountID),
		RoleName:    strings.TrimSpace(getenv(EnvLookupRoleName)),
		Partition:   p.required(EnvPartition),
		Rate:        p.float(EnvLookupRate, 0, 0.1, 10000),
		Headroom:    p.float(EnvLookupHeadroom, 0, 1, 50) / 100,
		Concurrency: p.int(EnvLookupConcurrency, 1, 256),
		PartSize:    p.int(EnvLookupPartSize, 50, 1000000),
		MaxAttempts: p.int(EnvLookupMaxAttempts, 1, 50),
	}
	c.AlertFunction = strings.TrimSpace(getenv(EnvAlertFunction))
	p.check(EnvAccountID, c.AccountID, ValidateAccountID)
	p.check(EnvLookupRoleName, c.RoleName, ValidateRoleName)
	p.check(EnvPartition, c.Partition, ValidatePartition)
	p.check(EnvAlertFunction, c.AlertFunction, ValidateFunction)
	return c, p.err("lookup")
}

// LoadAlert reads the alert function's settings; the error lists every problem found.
func LoadAlert(getenv Getenv) (Alert, error) {
	p := &problems{getenv: getenv}
	c := Alert{
		Shared:       p.shared(),
		Database:     p.optional(EnvDatabase, DefaultDatabase),
		Workgroup:    p.required(EnvWorkgroup),
		TopicARN:     p.required(EnvAlertTopic),
		ThresholdUSD: p.float(EnvAlertThreshold, 0, 0.01, 1e6),
		Ratio:        p.float(EnvAlertRatio, 0, 1, 1000),
		MinCostUSD:   p.float(EnvAlertMinCost, 0, 0.01, 1e6),
	}
	p.check(EnvDatabase, c.Database, ValidateDatabase)
	p.check(EnvWorkgroup, c.Workgroup, ValidateWorkgroup)
	p.check(EnvAlertTopic, c.TopicARN, ValidateTopicARN)
	return c, p.err("alert")
}

// RuntimeAPI returns the host:port of Lambda's Runtime API, or "" outside Lambda.
func RuntimeAPI(getenv Getenv) string { return strings.TrimSpace(getenv(EnvRuntimeAPI)) }

// FromOS is the Getenv of the running process.
func FromOS() Getenv { return os.Getenv }
