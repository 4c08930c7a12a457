// Package synth generates realistic synthetic input for athena-usage: CloudTrail log files laid
// out and compressed as CloudTrail delivers them, the matching Athena query history (package
// queryhistory), and the ground truth, so that tests can check the pipeline's per-user totals
// against numbers computed independently of it.
//
// The output is a pure function of Options: the same Options give the same bytes.
package synth

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/athenausage/athena-usage/pkg/config"
)

// Defaults for the zero fields of Options.
const (
	DefaultUsers         = 8
	DefaultDays          = 3
	DefaultQueriesPerDay = 200
)

// Minimums: fewer users or queries cannot show every identity type and every special case.
const (
	MinUsers         = 5
	MinQueriesPerDay = 20
)

// DefaultAccounts and DefaultRegions are used when Options leaves them empty.
var (
	DefaultAccounts = []string{"111122223333", "444455556666"}
	DefaultRegions  = []string{"us-east-1", "eu-west-1"}
	// DefaultStart is the first day when Options.Start is zero; fixed, so output stays reproducible.
	DefaultStart = time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
)

// HistoryFile is the name of the query history written next to the AWSLogs folder.
const HistoryFile = "history.jsonl"

// Options size the data set; zero fields take the defaults above.
type Options struct {
	// Users is the number of distinct callers (user ARNs, with the AWS service counting as one).
	Users int
	// Days is the number of UTC days with events, from Start.
	Days int
	// QueriesPerDay is the number of distinct queries started per day, all accounts and regions.
	QueriesPerDay int
	Seed          int64
	// Start is the first UTC day; a time within the day counts as that day.
	Start    time.Time
	Accounts []string
	Regions  []string
	// Spike adds the spike users (see SpikeFactor), besides the Users callers: their spend
	// jumps on the last day, so that the alerts have something to say.
	Spike bool
}

func (o Options) withDefaults() (Options, error) {
	if o.Users == 0 {
		o.Users = DefaultUsers
	}
	if o.Days == 0 {
		o.Days = DefaultDays
	}
	if o.QueriesPerDay == 0 {
		o.QueriesPerDay = DefaultQueriesPerDay
	}
	if o.Start.IsZero() {
		o.Start = DefaultStart
	}
	y, m, d := o.Start.UTC().Date()
	o.Start = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	if len(o.Accounts) == 0 {
		o.Accounts = DefaultAccounts
	}
	if len(o.Regions) == 0 {
		o.Regions = DefaultRegions
	}
	o.Accounts = slices.Clone(o.Accounts)
	o.Regions = slices.Clone(o.Regions)

	var errs []error
	if o.Users < MinUsers {
		errs = append(errs, fmt.Errorf("users %d: want at least %d", o.Users, MinUsers))
	}
	if o.Days < 1 {
		errs = append(errs, fmt.Errorf("days %d: want at least 1", o.Days))
	}
	if o.QueriesPerDay < max(MinQueriesPerDay, 2*o.Users) {
		errs = append(errs, fmt.Errorf("queries per day %d: want at least %d and twice the users", o.QueriesPerDay, MinQueriesPerDay))
	}
	for _, a := range o.Accounts {
		errs = append(errs, config.ValidateAccountID(a))
	}
	for _, r := range o.Regions {
		errs = append(errs, config.ValidateRegion(r))
	}
	if hasDuplicates(o.Accounts) || hasDuplicates(o.Regions) {
		errs = append(errs, errors.New("accounts and regions must be distinct"))
	}
	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("synth options: %w", err)
	}
	return o, nil
}

func hasDuplicates(s []string) bool {
	c := slices.Clone(s)
	slices.Sort(c)
	return len(slices.Compact(c)) != len(s)
}

// Truth is what was generated, for checking the pipeline's results.
type Truth struct {
	// Options are the options used, defaults filled in.
	Options Options
	// Days are the generated UTC days, as YYYY-MM-DD.
	Days  []string
	Users []User
	// Queries are the distinct queries that Athena accepted, in order of event time.
	Queries []Query
	// Failed are the submissions Athena refused, per day, account, region, user and error code.
	Failed []FailedSubmission
	// Duplicate is the record that CloudTrail delivered twice.
	Duplicate Duplicate
	// Retries are the IDs of queries whose submission was retried with the same client request
	// token: two events with different event IDs and the same query ID.
	Retries []string
	// Late are the StartQueryExecution records filed in the folder of a later day than their
	// event time.
	Late []LateDelivery
	// Files are the CloudTrail files written, as slash-separated paths relative to the output
	// directory, in lexical order.
	Files []string
	// Ignored counts the records of other events (not StartQueryExecution) by source and name,
	// as "athena.amazonaws.com GetQueryExecution".
	Ignored map[string]int
	// Spikes are the ARNs of the spike users (Options.Spike): the first one's last day is over
	// the default alert rules, the second one's under the minimum cost.
	Spikes []string
}

// User is one caller.
type User struct {
	// ARN is the caller as athena-usage reports it: the identity's ARN, or for an AWS
	// service, which has none, the service principal that invoked the call.
	ARN string
	// Type is the CloudTrail userIdentity type: IAMUser, AssumedRole, FederatedUser or AWSService.
	Type        string
	Account     string
	PrincipalID string
	// UserName is set for IAM users only, as in CloudTrail.
	UserName string
	// SessionIssuer is the role (or, for a federated user, the IAM user) that issued the
	// session, as sessionContext.sessionIssuer.userName.
	SessionIssuer string
	HomeRegion    string
}

// Query is one query that Athena accepted.
type Query struct {
	ID string
	// Day is the UTC day of the (first) StartQueryExecution event, YYYY-MM-DD.
	Day string
	// EventTime is the time of the first StartQueryExecution event, to the second.
	EventTime     time.Time
	Account       string
	Region        string
	UserARN       string
	UserType      string
	UserName      string
	SessionIssuer string
	Database      string
	Workgroup     string
	// Submissions is the number of distinct StartQueryExecution events (2 for a retry).
	Submissions int
	// InHistory is false for a query that has expired from Athena's history: it must count
	// as a query without statistics.
	InHistory bool
	// The statistics in the history (also set when InHistory is false).
	State            string
	StatementType    string
	SubstatementType string
	DataScannedBytes int64
	EngineMS         int64
	ResultReused     bool
}

// FailedSubmission counts refused StartQueryExecution calls.
type FailedSubmission struct {
	Day       string
	Account   string
	Region    string
	UserARN   string
	ErrorCode string
	Count     int
}

// Duplicate is a record delivered in two files.
type Duplicate struct {
	QueryID string
	EventID string
	Files   [2]string
}

// LateDelivery is a record filed under the next day's folder.
type LateDelivery struct {
	EventID string
	// QueryID is empty for a refused submission.
	QueryID   string
	EventTime time.Time
	// Folder is the day of the folder the file is in, YYYY-MM-DD.
	Folder string
	File   string
}

// Generate writes the CloudTrail files under dir/AWSLogs/ and the query history to
// dir/history.jsonl, and returns what it wrote.
func Generate(opts Options, dir string) (*Truth, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	seed := uint64(opts.Seed)
	g := &generator{
		opts: opts,
		r:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		truth: &Truth{
			Options: opts,
			Ignored: map[string]int{},
		},
	}
	for d := range opts.Days {
		g.truth.Days = append(g.truth.Days, opts.Start.AddDate(0, 0, d).Format(config.DayLayout))
	}
	g.makeUsers()
	for d := range opts.Days {
		g.makeDay(d)
	}
	if opts.Spike {
		g.makeSpikes()
	}
	files := g.makeFiles()
	fw := newFileWriter(dir)
	for _, f := range files {
		if err := fw.write(f); err != nil {
			return nil, err
		}
	}
	if err := g.writeHistory(filepath.Join(dir, HistoryFile)); err != nil {
		return nil, err
	}
	g.finishTruth(files)
	return g.truth, nil
}

type generator struct {
	opts    Options
	r       *rand.Rand
	users   []*user
	weights []float64 // query share of each user
	events  []*event
	queries []*query
	truth   *Truth
}

// pick returns an index drawn with the given weights.
func (g *generator) pick(weights []float64) int {
	var sum float64
	for _, w := range weights {
		sum += w
	}
	x := g.r.Float64() * sum
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}

// uuid returns a random (version 4) UUID from the seeded generator.
func (g *generator) uuid() string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := g.r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// token returns n random characters of charset.
func (g *generator) token(n int, charset string) string {
	var b strings.Builder
	for range n {
		b.WriteByte(charset[g.r.IntN(len(charset))])
	}
	return b.String()
}

func (g *generator) finishTruth(files []*file) {
	t := g.truth
	for _, u := range g.users {
		t.Users = append(t.Users, u.User)
	}
	for _, q := range g.queries {
		t.Queries = append(t.Queries, q.Query)
	}
	slices.SortStableFunc(t.Queries, func(a, b Query) int { return a.EventTime.Compare(b.EventTime) })

	type failedKey struct{ day, account, region, user, code string }
	counts := map[failedKey]int{}
	var order []failedKey
	for _, e := range g.events {
		if e.kind != kindFailed {
			continue
		}
		k := failedKey{e.at.Format(config.DayLayout), e.user.Account, e.region, e.user.ARN, e.errorCode}
		if counts[k] == 0 {
			order = append(order, k)
		}
		counts[k]++
	}
	for _, k := range order {
		t.Failed = append(t.Failed, FailedSubmission{Day: k.day, Account: k.account, Region: k.region, UserARN: k.user, ErrorCode: k.code, Count: counts[k]})
	}
	slices.SortFunc(t.Failed, func(a, b FailedSubmission) int {
		return cmp.Or(strings.Compare(a.Day, b.Day), strings.Compare(a.Account, b.Account),
			strings.Compare(a.Region, b.Region), strings.Compare(a.UserARN, b.UserARN),
			strings.Compare(a.ErrorCode, b.ErrorCode))
	})

	for _, f := range files {
		t.Files = append(t.Files, f.path)
		for _, e := range f.events {
			if e.kind == kindOther {
				continue
			}
			if folder := f.delivered.Format(config.DayLayout); folder != e.at.Format(config.DayLayout) {
				t.Late = append(t.Late, LateDelivery{EventID: e.eventID, QueryID: e.queryID(), EventTime: e.at, Folder: folder, File: f.path})
			}
		}
	}
	slices.Sort(t.Files)
	slices.SortFunc(t.Late, func(a, b LateDelivery) int {
		return cmp.Or(a.EventTime.Compare(b.EventTime), strings.Compare(a.EventID, b.EventID), strings.Compare(a.File, b.File))
	})
}

// writeHistory writes the executions of the queries still in Athena's history, in order of
// submission.
func (g *generator) writeHistory(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	defer f.Close()
	if err := writeExecutions(f, g.queries); err != nil {
		return fmt.Errorf("write history %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	return nil
}
