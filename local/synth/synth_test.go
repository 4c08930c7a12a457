package synth

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/athenausage/athena-usage/local/history"
	"github.com/aws/aws-sdk-go-v2/aws"
)

// small keeps most tests quick; TestDefaults covers the default size.
var small = Options{Users: 8, Days: 2, QueriesPerDay: 60, Seed: 7}

// ctRecord is the part of a CloudTrail record the tests read, decoded independently of the
// generator's types.
type ctRecord struct {
	EventVersion string `json:"eventVersion"`
	UserIdentity struct {
		Type           string `json:"type"`
		PrincipalID    string `json:"principalId"`
		ARN            string `json:"arn"`
		AccountID      string `json:"accountId"`
		AccessKeyID    string `json:"accessKeyId"`
		UserName       string `json:"userName"`
		InvokedBy      string `json:"invokedBy"`
		SessionContext *struct {
			SessionIssuer *struct {
				Type     string `json:"type"`
				ARN      string `json:"arn"`
				UserName string `json:"userName"`
			} `json:"sessionIssuer"`
			Attributes struct {
				CreationDate     string `json:"creationDate"`
				MFAAuthenticated string `json:"mfaAuthenticated"`
			} `json:"attributes"`
		} `json:"sessionContext"`
	} `json:"userIdentity"`
	EventTime         string          `json:"eventTime"`
	EventSource       string          `json:"eventSource"`
	EventName         string          `json:"eventName"`
	AWSRegion         string          `json:"awsRegion"`
	SourceIPAddress   string          `json:"sourceIPAddress"`
	UserAgent         string          `json:"userAgent"`
	ErrorCode         string          `json:"errorCode"`
	ErrorMessage      string          `json:"errorMessage"`
	RequestParameters json.RawMessage `json:"requestParameters"`
	ResponseElements  json.RawMessage `json:"responseElements"`
	RequestID         string          `json:"requestID"`
	EventID           string          `json:"eventID"`
	ReadOnly          *bool           `json:"readOnly"`
	EventType         string          `json:"eventType"`
	ManagementEvent   *bool           `json:"managementEvent"`
	RecipientAccount  string          `json:"recipientAccountId"`
	EventCategory     string          `json:"eventCategory"`

	file string
	time time.Time
}

type startParams struct {
	QueryString           string
	ClientRequestToken    string
	QueryExecutionContext *struct{ Database, Catalog string }
	ResultConfiguration   *struct{ OutputLocation string }
	WorkGroup             string
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func generate(t *testing.T, opts Options) (*Truth, string) {
	t.Helper()
	dir := t.TempDir()
	truth, err := Generate(opts, dir)
	if err != nil {
		t.Fatalf("Generate(%+v) = %v", opts, err)
	}
	return truth, dir
}

// readTrail reads every CloudTrail file under dir, checking the gzip and JSON framing.
func readTrail(t *testing.T, dir string) (files []string, records []*ctRecord) {
	t.Helper()
	err := filepath.WalkDir(filepath.Join(dir, "AWSLogs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		files = append(files, rel)
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Errorf("%s: not gzip: %v", rel, err)
			return nil
		}
		if zr.Name != "" || !zr.ModTime.IsZero() {
			t.Errorf("%s: gzip header name %q, time %v; want none, for reproducible bytes", rel, zr.Name, zr.ModTime)
		}
		body, err := io.ReadAll(zr)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		var doc struct{ Records []*ctRecord }
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(&doc); err != nil || dec.More() {
			t.Errorf("%s: not one JSON object {\"Records\":[...]}: %v", rel, err)
			return nil
		}
		if len(doc.Records) == 0 {
			t.Errorf("%s: no records", rel)
		}
		for _, r := range doc.Records {
			r.file = rel
			r.time, err = time.Parse(time.RFC3339, r.EventTime)
			if err != nil || !strings.HasSuffix(r.EventTime, "Z") || strings.Contains(r.EventTime, ".") {
				t.Errorf("%s: eventTime %q: want RFC 3339 UTC to the second", rel, r.EventTime)
			}
		}
		records = append(records, doc.Records...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, records
}

func isStart(r *ctRecord) bool {
	return r.EventSource == "athena.amazonaws.com" && r.EventName == "StartQueryExecution"
}

func queryIDOf(t *testing.T, r *ctRecord) string {
	if string(r.ResponseElements) == "null" {
		return ""
	}
	var resp struct {
		QueryExecutionID string `json:"queryExecutionId"`
	}
	if err := json.Unmarshal(r.ResponseElements, &resp); err != nil {
		t.Fatalf("%s: responseElements %s: %v", r.file, r.ResponseElements, err)
	}
	return resp.QueryExecutionID
}

// userARN is the caller as athena-usage identifies it.
func userARN(r *ctRecord) string {
	return cmpOr(r.UserIdentity.ARN, r.UserIdentity.InvokedBy, r.UserIdentity.PrincipalID)
}

func cmpOr(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func TestDeterministic(t *testing.T) {
	truth1, dir1 := generate(t, small)
	truth2, dir2 := generate(t, small)
	if !reflect.DeepEqual(truth1, truth2) {
		t.Error("Generate(same options) returned different Truths")
	}
	read := func(dir string) map[string][]byte {
		m := map[string][]byte{}
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			m[rel] = b
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a, b := read(dir1), read(dir2)
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("Generate(same options) wrote %d and %d files", len(a), len(b))
	}
	for name, content := range a {
		if !bytes.Equal(content, b[name]) {
			t.Errorf("Generate(same options): %s differs between runs", name)
		}
	}

	other := small
	other.Seed++
	truth3, dir3 := generate(t, other)
	if truth3.Queries[0].ID == truth1.Queries[0].ID {
		t.Error("Generate(another seed) made the same first query ID")
	}
	if h1, h3 := read(dir1)[HistoryFile], read(dir3)[HistoryFile]; bytes.Equal(h1, h3) {
		t.Error("Generate(another seed) wrote the same history")
	}
}

var filePattern = regexp.MustCompile(`^AWSLogs/(\d{12})/CloudTrail/([a-z0-9-]+)/(\d{4}/\d{2}/\d{2})/(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{8}T\d{4}Z)_[A-Za-z0-9]{16}\.json\.gz$`)

func TestLayout(t *testing.T) {
	truth, dir := generate(t, small)
	files, records := readTrail(t, dir)
	slices.Sort(files)
	if !reflect.DeepEqual(files, truth.Files) {
		t.Errorf("files on disk = %d, Truth.Files = %d; want the same list", len(files), len(truth.Files))
	}
	perFolder := map[string]int{}
	for _, f := range files {
		m := filePattern.FindStringSubmatch(f)
		if m == nil {
			t.Errorf("file %s: not AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<16 alnum>.json.gz", f)
			continue
		}
		if m[1] != m[4] || m[2] != m[5] {
			t.Errorf("file %s: account or region in the name differs from the folder", f)
		}
		if !slices.Contains(truth.Options.Accounts, m[1]) || !slices.Contains(truth.Options.Regions, m[2]) {
			t.Errorf("file %s: account or region not in the options", f)
		}
		stamp, _ := time.Parse("20060102T1504Z", m[6])
		if stamp.Format("2006/01/02") != m[3] {
			t.Errorf("file %s: folder day %s, want the delivery day %s", f, m[3], stamp.Format("2006/01/02"))
		}
		perFolder[m[1]+"/"+m[2]+"/"+m[3]]++
	}
	for _, a := range truth.Options.Accounts {
		for _, r := range truth.Options.Regions {
			for _, d := range truth.Days {
				if n := perFolder[a+"/"+r+"/"+strings.ReplaceAll(d, "-", "/")]; n < 3 {
					t.Errorf("account %s region %s day %s: %d files, want several", a, r, d, n)
				}
			}
		}
	}

	// Each file is delivered 5 to 15 minutes after its latest event (the duplicate aside), and
	// holds no event much older than that.
	latest, earliest := map[string]time.Time{}, map[string]time.Time{}
	for _, r := range records {
		if r.EventID == truth.Duplicate.EventID && r.file == truth.Duplicate.Files[1] {
			continue
		}
		if r.time.After(latest[r.file]) {
			latest[r.file] = r.time
		}
		if e, ok := earliest[r.file]; !ok || r.time.Before(e) {
			earliest[r.file] = r.time
		}
		m := filePattern.FindStringSubmatch(r.file)
		if m != nil && (r.RecipientAccount != m[1] || r.AWSRegion != m[2]) {
			t.Errorf("%s: record of account %s region %s", r.file, r.RecipientAccount, r.AWSRegion)
		}
	}
	for f, ev := range latest {
		stamp, _ := time.Parse("20060102T1504Z", filePattern.FindStringSubmatch(f)[6])
		if lag := stamp.Sub(ev.Truncate(time.Minute)); lag < 4*time.Minute || lag > 15*time.Minute {
			t.Errorf("%s: delivered %v after its latest event %v, want 5 to 15 minutes", f, lag, ev)
		}
		if lag := stamp.Sub(earliest[f]); lag > 75*time.Minute {
			t.Errorf("%s: delivered %v after its earliest event %v, want at most 75 minutes", f, lag, earliest[f])
		}
	}

	for _, r := range records {
		if r.EventVersion == "" || r.EventType != "AwsApiCall" || r.ReadOnly == nil || r.ManagementEvent == nil ||
			!uuidPattern.MatchString(r.EventID) || r.RequestID == "" || r.SourceIPAddress == "" || r.UserAgent == "" ||
			r.RecipientAccount == "" || r.EventCategory == "" || len(r.RequestParameters) == 0 || len(r.ResponseElements) == 0 {
			t.Errorf("%s: record %s lacks a CloudTrail member: %+v", r.file, r.EventID, r)
		}
	}
}

func TestFeatures(t *testing.T) {
	truth, dir := generate(t, small)
	_, records := readTrail(t, dir)

	types := map[string]bool{}
	sessions := map[string]map[string]bool{} // role ARN -> session ARNs
	errorCodes := map[string]bool{}
	others := map[string]int{}
	regions := map[string]bool{}
	eventFiles := map[string][]string{}
	queryEvents := map[string]map[string]bool{}
	late := 0
	for _, r := range records {
		id := r.UserIdentity
		types[id.Type] = true
		switch id.Type {
		case TypeAssumedRole:
			if id.SessionContext == nil || id.SessionContext.SessionIssuer == nil || id.SessionContext.SessionIssuer.Type != "Role" {
				t.Fatalf("assumed role %s: no Role session issuer", id.ARN)
			}
			role := id.SessionContext.SessionIssuer.ARN
			if sessions[role] == nil {
				sessions[role] = map[string]bool{}
			}
			sessions[role][id.ARN] = true
		case TypeFederatedUser:
			if !regexp.MustCompile(`^arn:aws:sts::\d{12}:federated-user/[\w.@-]+$`).MatchString(id.ARN) {
				t.Errorf("federated user ARN %q, want arn:aws:sts::<account>:federated-user/<name>", id.ARN)
			}
		case TypeAWSService:
			if id.ARN != "" || id.InvokedBy != ServicePrincipal {
				t.Errorf("AWS service identity arn %q invokedBy %q, want none and %s", id.ARN, id.InvokedBy, ServicePrincipal)
			}
		case TypeIAMUser:
			if !strings.HasPrefix(id.ARN, "arn:aws:iam::") || id.UserName == "" {
				t.Errorf("IAM user identity %+v", id)
			}
		}
		regions[r.AWSRegion] = true
		eventFiles[r.EventID] = append(eventFiles[r.EventID], r.file)
		if !isStart(r) {
			others[r.EventSource+" "+r.EventName]++
			continue
		}
		var p startParams
		if err := json.Unmarshal(r.RequestParameters, &p); err != nil || p.QueryString == "" || p.ClientRequestToken == "" {
			t.Errorf("%s: StartQueryExecution requestParameters %s: %v", r.file, r.RequestParameters, err)
		}
		folder := filePattern.FindStringSubmatch(r.file)[3]
		if folder != r.time.Format("2006/01/02") {
			late++
			if r.time.Hour() != 23 || r.time.Minute() < 45 {
				t.Errorf("%s: event at %v filed in a later day's folder, want only those near midnight", r.file, r.time)
			}
		}
		if r.ErrorCode != "" {
			errorCodes[r.ErrorCode] = true
			if string(r.ResponseElements) != "null" || r.ErrorMessage == "" {
				t.Errorf("failed submission %s: responseElements %s, errorMessage %q; want null and a message", r.EventID, r.ResponseElements, r.ErrorMessage)
			}
			continue
		}
		qid := queryIDOf(t, r)
		if !uuidPattern.MatchString(qid) {
			t.Errorf("query ID %q: want a UUIDv4", qid)
		}
		if queryEvents[qid] == nil {
			queryEvents[qid] = map[string]bool{}
		}
		queryEvents[qid][r.EventID] = true
	}

	for _, ty := range []string{TypeIAMUser, TypeAssumedRole, TypeFederatedUser, TypeAWSService} {
		if !types[ty] {
			t.Errorf("no %s identity", ty)
		}
	}
	several := false
	for _, s := range sessions {
		several = several || len(s) >= 2
	}
	if !several {
		t.Errorf("sessions per role = %v, want a role with several sessions", sessions)
	}
	for _, code := range []string{"InvalidRequestException", "AccessDeniedException"} {
		if !errorCodes[code] {
			t.Errorf("no failed submission with %s", code)
		}
	}
	for _, o := range []string{"s3.amazonaws.com GetObject", "glue.amazonaws.com GetTable", "athena.amazonaws.com GetQueryExecution", "athena.amazonaws.com CreateNamedQuery"} {
		if others[o] == 0 {
			t.Errorf("no %s event", o)
		}
	}
	if !reflect.DeepEqual(others, truth.Ignored) {
		t.Errorf("other events = %v, Truth.Ignored = %v", others, truth.Ignored)
	}
	if len(regions) != 2 {
		t.Errorf("regions = %v, want 2", regions)
	}
	if late < truth.Options.Days || late != len(truth.Late) {
		t.Errorf("late StartQueryExecution records = %d, Truth.Late has %d; want at least one a day", late, len(truth.Late))
	}

	var dups []string
	for id, files := range eventFiles {
		if len(files) > 1 {
			dups = append(dups, id)
			if files[0] == files[1] {
				t.Errorf("event %s twice in %s, want two files", id, files[0])
			}
		}
	}
	if len(dups) != 1 || dups[0] != truth.Duplicate.EventID {
		t.Errorf("events in two files = %q, want only Truth.Duplicate %s", dups, truth.Duplicate.EventID)
	}
	var retried []string
	for qid, events := range queryEvents {
		if len(events) > 1 {
			retried = append(retried, qid)
		}
	}
	if !reflect.DeepEqual(retried, truth.Retries) {
		t.Errorf("query IDs with several events = %q, Truth.Retries = %q", retried, truth.Retries)
	}

	states, stmts, dbs := map[string]int{}, map[string]int{}, map[string]bool{}
	tiny, large, expired := 0, 0, 0
	for _, q := range truth.Queries {
		states[q.State]++
		stmts[q.StatementType]++
		dbs[q.Database] = true
		if q.StatementType == "DML" && q.State == "SUCCEEDED" && q.DataScannedBytes > 0 && q.DataScannedBytes < 10<<20 {
			tiny++
		}
		if q.DataScannedBytes >= 100<<30 {
			large++
		}
		if !q.InHistory {
			expired++
		}
	}
	if !(states["SUCCEEDED"] > states["FAILED"] && states["FAILED"] > 0 && states["CANCELLED"] > 0) {
		t.Errorf("states = %v, want mostly SUCCEEDED, some FAILED and CANCELLED", states)
	}
	if !(stmts["DML"] > stmts["DDL"] && stmts["DDL"] > 0 && stmts["UTILITY"] > 0) {
		t.Errorf("statement types = %v, want mostly DML, some DDL and UTILITY", stmts)
	}
	if len(dbs) < 3 || tiny == 0 || large < truth.Options.Days || expired == 0 {
		t.Errorf("databases %d, tiny scans %d, scans of 100 GB or more %d, expired %d; want several, some, one a day, some", len(dbs), tiny, large, expired)
	}
}

// TestTruthMatchesTrail recomputes the accepted queries and refused submissions from the files.
func TestTruthMatchesTrail(t *testing.T) {
	truth, dir := generate(t, small)
	_, records := readTrail(t, dir)

	type got struct {
		first                                time.Time
		account, region, user, db, workgroup string
		events                               map[string]bool
	}
	queries := map[string]*got{}
	failed := map[FailedSubmission]int{}
	for _, r := range records {
		if !isStart(r) {
			continue
		}
		if r.ErrorCode != "" {
			k := FailedSubmission{Day: r.time.Format("2006-01-02"), Account: r.RecipientAccount, Region: r.AWSRegion, UserARN: userARN(r), ErrorCode: r.ErrorCode}
			failed[k]++
			continue
		}
		qid := queryIDOf(t, r)
		var p startParams
		if err := json.Unmarshal(r.RequestParameters, &p); err != nil {
			t.Fatalf("query %s: requestParameters: %v", qid, err)
		}
		g := queries[qid]
		if g == nil {
			g = &got{first: r.time, events: map[string]bool{}}
			queries[qid] = g
		}
		if !r.time.After(g.first) {
			g.first = r.time
		}
		g.account, g.region, g.user = r.RecipientAccount, r.AWSRegion, userARN(r)
		g.db, g.workgroup = p.QueryExecutionContext.Database, cmpOr(p.WorkGroup, "primary")
		g.events[r.EventID] = true
	}

	if len(queries) != len(truth.Queries) {
		t.Errorf("distinct query IDs in the trail = %d, Truth.Queries = %d", len(queries), len(truth.Queries))
	}
	for _, q := range truth.Queries {
		g := queries[q.ID]
		if g == nil {
			t.Errorf("query %s in Truth, not in the trail", q.ID)
			continue
		}
		want := []string{q.EventTime.Format(time.RFC3339), q.Day, q.Account, q.Region, q.UserARN, q.Database, q.Workgroup}
		have := []string{g.first.Format(time.RFC3339), g.first.Format("2006-01-02"), g.account, g.region, g.user, g.db, g.workgroup}
		if !reflect.DeepEqual(have, want) || len(g.events) != q.Submissions {
			t.Errorf("query %s: trail %q with %d events, Truth %q with %d", q.ID, have, len(g.events), want, q.Submissions)
		}
	}

	var total int
	for _, f := range truth.Failed {
		k := f
		k.Count = 0
		if failed[k] != f.Count {
			t.Errorf("failed submissions %+v: trail has %d", f, failed[k])
		}
		total += f.Count
	}
	if n := sumValues(failed); n != total {
		t.Errorf("failed submissions in the trail = %d, in Truth = %d", n, total)
	}
}

func sumValues(m map[FailedSubmission]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func TestHistoryMatchesTruth(t *testing.T) {
	truth, dir := generate(t, small)
	f, err := os.Open(filepath.Join(dir, HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	execs, errs := history.Read(f, HistoryFile)
	if len(errs) > 0 {
		t.Fatalf("history.Read(history) errors = %v", errs)
	}
	byID := map[string]int{}
	for i, e := range execs {
		id := aws.ToString(e.QueryExecutionId)
		if _, dup := byID[id]; dup {
			t.Errorf("history has %s twice", id)
		}
		byID[id] = i
	}
	inHistory := 0
	for _, q := range truth.Queries {
		i, ok := byID[q.ID]
		if ok != q.InHistory {
			t.Errorf("query %s: in history %v, Truth.InHistory %v", q.ID, ok, q.InHistory)
		}
		if !ok {
			continue
		}
		inHistory++
		e := execs[i]
		have := []any{string(e.Status.State), string(e.StatementType), aws.ToString(e.SubstatementType),
			aws.ToInt64(e.Statistics.DataScannedInBytes), aws.ToInt64(e.Statistics.EngineExecutionTimeInMillis),
			aws.ToString(e.QueryExecutionContext.Database), aws.ToString(e.WorkGroup), e.Statistics.ResultReuseInformation.ReusedPreviousResult}
		want := []any{q.State, q.StatementType, q.SubstatementType, q.DataScannedBytes, q.EngineMS, q.Database, q.Workgroup, q.ResultReused}
		if !reflect.DeepEqual(have, want) {
			t.Errorf("query %s: history %v, Truth %v", q.ID, have, want)
		}
		sub, done := *e.Status.SubmissionDateTime, *e.Status.CompletionDateTime
		if sub.Before(q.EventTime) || !sub.Before(q.EventTime.Add(time.Second)) || done.Before(sub) {
			t.Errorf("query %s: submitted %v, completed %v; want within the event's second %v, then later", q.ID, sub, done, q.EventTime)
		}
		if (e.Status.State == "FAILED") != (e.Status.AthenaError != nil) {
			t.Errorf("query %s: state %s with AthenaError %v", q.ID, e.Status.State, e.Status.AthenaError)
		}
	}
	if inHistory != len(execs) {
		t.Errorf("history has %d executions, Truth %d in history", len(execs), inHistory)
	}
}

func TestDefaults(t *testing.T) {
	start := time.Now()
	truth, _ := generate(t, Options{Seed: 1})
	t.Logf("Generate(defaults): %v, %d queries, %d files", time.Since(start), len(truth.Queries), len(truth.Files))
	o := truth.Options
	if o.Users != DefaultUsers || o.Days != DefaultDays || o.QueriesPerDay != DefaultQueriesPerDay ||
		!o.Start.Equal(DefaultStart) || len(o.Accounts) != 2 || len(o.Regions) != 2 {
		t.Errorf("Generate(zero options).Options = %+v, want the defaults", o)
	}
	if len(truth.Queries) != DefaultDays*DefaultQueriesPerDay || len(truth.Users) != DefaultUsers {
		t.Errorf("Generate(defaults) = %d queries, %d users; want %d, %d", len(truth.Queries), len(truth.Users), DefaultDays*DefaultQueriesPerDay, DefaultUsers)
	}
	for _, q := range truth.Queries {
		if !slices.Contains(truth.Days, q.Day) {
			t.Errorf("query %s on day %s, want one of %v", q.ID, q.Day, truth.Days)
		}
	}
}

func TestStartWithinDay(t *testing.T) {
	opts := small
	opts.Start = time.Date(2024, 2, 28, 17, 30, 0, 0, time.FixedZone("x", -3*3600))
	truth, _ := generate(t, opts)
	if want := []string{"2024-02-28", "2024-02-29"}; !reflect.DeepEqual(truth.Days, want) {
		t.Errorf("Generate(Start %v).Days = %v, want %v", opts.Start, truth.Days, want)
	}
}

func TestBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"few users", Options{Users: 3}, "users 3"},
		{"negative days", Options{Days: -1}, "days -1"},
		{"few queries", Options{QueriesPerDay: 10}, "queries per day 10"},
		{"bad account", Options{Accounts: []string{"12345"}}, `account ID "12345"`},
		{"bad region", Options{Regions: []string{"Mars"}}, `region "Mars"`},
		{"same region twice", Options{Regions: []string{"us-east-1", "us-east-1"}}, "distinct"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Generate(tt.opts, dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Generate(%+v) = %v, want an error about %s", tt.opts, err, tt.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Errorf("Generate(%+v) wrote %d entries despite the error", tt.opts, len(entries))
			}
		})
	}
}

// TestSpike checks that Spike adds the two spike users, whose last day scans SpikeFactor times
// their usual days, and leaves every other query as it is without them.
func TestSpike(t *testing.T) {
	opts := Options{Days: 3, Users: 6, QueriesPerDay: 40, Seed: 5}
	plain, err := Generate(opts, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	opts.Spike = true
	spiked, err := Generate(opts, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(spiked.Spikes) != 2 || len(spiked.Users) != len(plain.Users)+2 {
		t.Fatalf("Generate(Spike) = spikes %v, %d users, want 2 spike users besides the %d", spiked.Spikes, len(spiked.Users), len(plain.Users))
	}
	bytes := map[string]map[string]int64{}
	var others []Query
	for _, q := range spiked.Queries {
		if !slices.Contains(spiked.Spikes, q.UserARN) {
			others = append(others, q)
			continue
		}
		if q.State != "SUCCEEDED" || q.StatementType != "DML" || !q.InHistory || q.Account != DefaultAccounts[0] {
			t.Errorf("spike query %+v: want a DML that succeeded, in the history, of the first account", q)
		}
		if bytes[q.UserARN] == nil {
			bytes[q.UserARN] = map[string]int64{}
		}
		bytes[q.UserARN][q.Day] += q.DataScannedBytes
	}
	if !slices.EqualFunc(others, plain.Queries, func(a, b Query) bool { return a == b }) {
		t.Errorf("Generate(Spike) changed the other users' queries")
	}
	for i, want := range []int64{SpikeQueries * 16 << 30, SpikeQueries * 1 << 30} {
		days := bytes[spiked.Spikes[i]]
		for d, day := range spiked.Days {
			w := want
			if d == len(spiked.Days)-1 {
				w *= SpikeFactor
			}
			if days[day] != w {
				t.Errorf("spike user %s scanned %d bytes on %s, want %d", spiked.Spikes[i], days[day], day, w)
			}
		}
	}
}
