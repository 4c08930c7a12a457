package synth

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/athenausage/athena-usage/local/history"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
)

const (
	mb = int64(1) << 20
	gb = int64(1) << 30
	tb = int64(1) << 40
)

// databases and, per database, tables that queries read.
var databases = []string{"sales", "marketing", "weblogs", "finance", "default"}

var tables = map[string][]string{
	"sales":     {"orders", "order_items", "customers"},
	"marketing": {"campaigns", "clicks", "attribution"},
	"weblogs":   {"requests", "sessions"},
	"finance":   {"ledger", "invoices"},
	"default":   {"cloudfront_logs", "tmp_export"},
}

// query is one accepted query with its hidden execution details.
type query struct {
	Query
	user        *user
	token       string // the client request token, which a retry repeats
	text        string
	submitted   time.Time // to the millisecond
	queueMS     int64
	planningMS  int64
	serviceMS   int64
	errorReason string
	errorType   int32
	errorCat    int32
	retryable   bool
	output      string
}

// dayPlan holds the special cases forced into a day so that every one is present.
type dayPlan struct {
	lateAt  int // index of the query placed in the last quarter hour
	largeAt int // index of the query given a scan of hundreds of GB
	expired map[int]bool
	retryAt int // index of the retried query, or -1
}

// makeDay generates day d's events: QueriesPerDay accepted queries, some refused submissions,
// and other events.
func (g *generator) makeDay(d int) {
	n := g.opts.QueriesPerDay
	day := g.opts.Start.AddDate(0, 0, d)
	plan := dayPlan{
		lateAt:  n - 1,
		largeAt: n - 2,
		expired: map[int]bool{},
		retryAt: -1,
	}
	// Athena forgets queries after 45 days; about 1% of these are past that.
	for len(plan.expired) < max(1, n/100) {
		plan.expired[len(g.users)+g.r.IntN(n-len(g.users)-2)] = true
	}
	if d == 0 {
		plan.retryAt = len(g.users)
	}

	for i := range n {
		u := g.users[g.pick(g.weights)]
		if d == 0 && i < len(g.users) {
			// Every user appears on the first day, so every identity type is present.
			u = g.users[i]
		}
		at := g.eventTime(day, u)
		if i == plan.lateAt {
			// Five minutes before midnight or later: its file is delivered the next day.
			at = day.Add(23*time.Hour + 55*time.Minute + time.Duration(g.r.IntN(300))*time.Second)
		}
		q := g.newQuery(u, at, i == plan.largeAt)
		q.InHistory = !plan.expired[i]
		g.queries = append(g.queries, q)
		g.addStarted(q, q.EventTime)
		if i == plan.retryAt {
			// An SDK retry after a timeout: same client request token, same query ID.
			q.Submissions++
			g.addStarted(q, q.EventTime.Add(time.Duration(2+g.r.IntN(4))*time.Second))
			g.truth.Retries = append(g.truth.Retries, q.ID)
		}
	}

	failed := max(2, n/25)
	for i := range failed {
		u := g.users[g.pick(g.weights)]
		if u.Type == TypeAWSService {
			u = g.users[0]
		}
		code := "InvalidRequestException"
		if (i == 1) || (i > 1 && g.r.IntN(3) == 0) {
			code = "AccessDeniedException"
		}
		g.addFailed(u, g.eventTime(day, u), code)
	}

	for i := range n / 2 {
		u := g.users[g.pick(g.weights)]
		g.addOther(u, g.eventTime(day, u), i%4)
	}
}

// eventTime draws a time in day: people mostly in working hours, the service on the hour.
func (g *generator) eventTime(day time.Time, u *user) time.Time {
	if u.Type == TypeAWSService {
		return day.Add(time.Duration(g.r.IntN(24))*time.Hour + time.Duration(g.r.IntN(90))*time.Second)
	}
	var secs float64
	if g.r.Float64() < 0.8 {
		secs = (8 + 11*g.r.Float64()) * 3600
	} else {
		secs = 24 * 3600 * g.r.Float64()
	}
	return day.Add(time.Duration(secs) * time.Second)
}

func (g *generator) region(u *user) string {
	if len(g.opts.Regions) > 1 && g.r.Float64() < 0.2 {
		return g.opts.Regions[g.r.IntN(len(g.opts.Regions))]
	}
	return u.HomeRegion
}

func (g *generator) newQuery(u *user, at time.Time, large bool) *query {
	db := databases[u.databases[0]]
	if g.r.Float64() < 0.35 {
		db = databases[u.databases[1+g.r.IntN(len(u.databases)-1)]]
	}
	q := &query{Query: Query{
		ID:            g.uuid(),
		Day:           at.Format(config.DayLayout),
		EventTime:     at,
		Account:       u.Account,
		Region:        g.region(u),
		UserARN:       u.ARN,
		UserType:      u.Type,
		UserName:      u.UserName,
		SessionIssuer: u.SessionIssuer,
		Database:      db,
		Workgroup:     "primary",
		Submissions:   1,
	}, user: u, token: g.uuid()}
	if g.r.Float64() < 0.25 {
		q.Workgroup = "analytics"
	}
	q.submitted = at.Add(time.Duration(g.r.IntN(1000)) * time.Millisecond)
	q.output = fmt.Sprintf("s3://aws-athena-query-results-%s-%s/", q.Account, q.Region)
	if q.Workgroup != "primary" {
		q.output += q.Workgroup + "/"
	}
	table := tables[db][g.r.IntN(len(tables[db]))]
	dt := at.AddDate(0, 0, -1-g.r.IntN(7)).Format(config.DayLayout)

	x := g.r.Float64()
	switch {
	case large || x < 0.85 || u.Type == TypeAWSService:
		q.StatementType = string(types.StatementTypeDml)
		q.SubstatementType, q.text = g.dml(db, table, dt)
	case x < 0.95:
		q.StatementType = string(types.StatementTypeDdl)
		q.SubstatementType, q.text = g.ddl(db, table, dt)
	default:
		q.StatementType = string(types.StatementTypeUtility)
		q.SubstatementType, q.text = g.utility(db, table)
	}

	state := types.QueryExecutionStateSucceeded
	y := g.r.Float64()
	switch {
	case large:
	case q.StatementType == string(types.StatementTypeDml) && y < 0.07,
		q.StatementType == string(types.StatementTypeDdl) && y < 0.05:
		state = types.QueryExecutionStateFailed
	case q.StatementType == string(types.StatementTypeDml) && y < 0.10:
		state = types.QueryExecutionStateCancelled
	}
	q.State = string(state)

	q.queueMS = 20 + g.r.Int64N(400)
	if g.r.Float64() < 0.05 {
		q.queueMS += g.r.Int64N(20_000) // a burst over the account's concurrency quota
	}
	q.planningMS = 40 + g.r.Int64N(700)
	q.serviceMS = 10 + g.r.Int64N(150)

	switch {
	case q.StatementType != string(types.StatementTypeDml):
		q.EngineMS = 80 + g.r.Int64N(1500)
		if state == types.QueryExecutionStateFailed {
			q.setError("AlreadyExistsException: Table already exists", 2, 1301, false)
		}
	case large:
		q.DataScannedBytes = 100*gb + g.r.Int64N(700*gb)
		q.EngineMS = g.engineMS(q.DataScannedBytes)
	case state == types.QueryExecutionStateFailed:
		q.DataScannedBytes = 0
		q.EngineMS = 100 + g.r.Int64N(4000)
		switch g.r.IntN(3) {
		case 0:
			q.setError(fmt.Sprintf("TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.%s.%s_v2' does not exist", db, table), 2, 1301, false)
		case 1:
			q.setError("COLUMN_NOT_FOUND: line 1:8: Column 'amout' cannot be resolved or requester is not authorized to access requested resources", 2, 1006, false)
		default:
			q.DataScannedBytes = g.scanBytes() / 3
			q.EngineMS = g.engineMS(q.DataScannedBytes)
			q.setError("EXCEEDED_MEMORY_LIMIT: Query exhausted resources at this scale factor", 1, 401, true)
		}
	case state == types.QueryExecutionStateCancelled:
		q.DataScannedBytes = int64(float64(g.scanBytes()) * g.r.Float64())
		q.EngineMS = g.engineMS(q.DataScannedBytes)
	case g.r.Float64() < 0.02:
		q.ResultReused = true
		q.EngineMS = 50 + g.r.Int64N(200)
	default:
		q.DataScannedBytes = g.scanBytes()
		q.EngineMS = g.engineMS(q.DataScannedBytes)
	}
	return q
}

func (q *query) setError(reason string, category, typ int32, retryable bool) {
	q.errorReason, q.errorCat, q.errorType, q.retryable = reason, category, typ, retryable
}

// scanBytes draws a scan size from a heavy-tailed mix: a quarter tiny (under 10 MB, billed at
// the 10 MB minimum), most log-normal around a few hundred MB, a few of tens to hundreds of GB.
func (g *generator) scanBytes() int64 {
	x := g.r.Float64()
	switch {
	case x < 0.25:
		return int64(math.Exp(math.Log(1024) + g.r.Float64()*math.Log(float64(10*mb/1024))))
	case x < 0.98:
		v := math.Exp(math.Log(float64(300*mb)) + 1.8*g.r.NormFloat64())
		return int64(min(v, float64(4*tb)))
	default:
		return int64(math.Exp(math.Log(float64(20*gb)) + g.r.Float64()*math.Log(40)))
	}
}

// engineMS is the engine time of a scan: a fixed start-up plus about 250 MB/s, with jitter.
func (g *generator) engineMS(bytes int64) int64 {
	ms := 300 + float64(bytes)/(250*float64(mb))*1000*math.Exp(0.4*g.r.NormFloat64())
	return int64(min(ms, 30*60*1000)) // Athena's default 30-minute DML timeout
}

func (g *generator) dml(db, table, dt string) (sub, text string) {
	switch g.r.IntN(6) {
	case 0:
		return "SELECT", fmt.Sprintf("SELECT * FROM %s LIMIT 10", table)
	case 1:
		return "SELECT", fmt.Sprintf("SELECT region, count(*) AS n, sum(amount) AS total\nFROM %q.%q\nWHERE dt = '%s'\nGROUP BY region\nORDER BY total DESC", db, table, dt)
	case 2:
		return "SELECT", fmt.Sprintf("-- dashboard: %s daily\nSELECT date_trunc('hour', ts) AS hour, approx_distinct(user_id) AS users FROM %s.%s WHERE dt >= '%s' AND status <> 'test' GROUP BY 1", db, db, table, dt)
	case 3:
		return "INSERT", fmt.Sprintf("INSERT INTO %s.%s_daily SELECT * FROM %s.%s WHERE dt = '%s'", db, table, db, table, dt)
	case 4:
		return "CREATE_TABLE_AS_SELECT", fmt.Sprintf("CREATE TABLE %s.tmp_%s WITH (format = 'PARQUET') AS SELECT * FROM %s.%s WHERE dt = '%s'", db, strings.ReplaceAll(dt, "-", ""), db, table, dt)
	default:
		return "SELECT", fmt.Sprintf(`SELECT a.*, b.name FROM %s a JOIN "%s"."customers" b ON a.customer_id = b.id WHERE a.dt = '%s' AND b.name LIKE '%%O''Brien%%'`, table, db, dt)
	}
}

func (g *generator) ddl(db, table, dt string) (sub, text string) {
	switch g.r.IntN(3) {
	case 0:
		return "ALTER_TABLE_ADD_PARTITION", fmt.Sprintf("ALTER TABLE %s.%s ADD IF NOT EXISTS PARTITION (dt = '%s')", db, table, dt)
	case 1:
		return "CREATE_TABLE", fmt.Sprintf("CREATE EXTERNAL TABLE IF NOT EXISTS %s.%s_staging (id string, amount double) LOCATION 's3://example-data-lake/%s/%s_staging/'", db, table, db, table)
	default:
		return "MSCK_REPAIR_TABLE", fmt.Sprintf("MSCK REPAIR TABLE %s.%s", db, table)
	}
}

func (g *generator) utility(db, table string) (sub, text string) {
	if g.r.IntN(2) == 0 {
		return "SHOW_TABLES", "SHOW TABLES IN " + db
	}
	return "DESCRIBE_TABLE", "DESCRIBE " + db + "." + table
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// base is the part of a record every event shares.
func (g *generator) base(u *user, at time.Time, region, source, name string) record {
	return record{
		EventVersion:       "1.09",
		UserIdentity:       u.identity(stamp(at.Truncate(time.Hour))),
		EventTime:          stamp(at),
		EventSource:        source,
		EventName:          name,
		AWSRegion:          region,
		SourceIPAddress:    u.sourceIP,
		UserAgent:          u.userAgent,
		RequestID:          g.uuid(),
		EventID:            g.uuid(),
		EventType:          "AwsApiCall",
		ManagementEvent:    true,
		RecipientAccountID: u.Account,
		EventCategory:      "Management",
	}
}

// addStarted adds a StartQueryExecution event that returned q's ID. A retry reuses the
// client request token of the first submission.
func (g *generator) addStarted(q *query, at time.Time) {
	u := q.user
	rec := g.base(u, at, q.Region, "athena.amazonaws.com", "StartQueryExecution")
	params := &startQueryParams{
		QueryString:           q.text,
		ClientRequestToken:    q.token,
		QueryExecutionContext: &executionCtx{Database: q.Database, Catalog: "AwsDataCatalog"},
		ResultConfiguration:   &resultLocation{OutputLocation: q.output},
		WorkGroup:             q.Workgroup,
	}
	if q.Workgroup == "primary" && g.r.IntN(4) == 0 {
		// Callers that leave the workgroup out get primary.
		params.WorkGroup = ""
	}
	rec.RequestParameters = params
	rec.ResponseElements = &startQueryResponse{QueryExecutionID: q.ID}
	g.events = append(g.events, &event{kind: kindStarted, at: at, region: q.Region, user: u, query: q, eventID: rec.EventID, rec: rec})
}

var refusals = map[string]string{
	"InvalidRequestException": "Invalid result configuration. Should specify either output location or result configuration",
	"AccessDeniedException":   "User: %s is not authorized to perform: athena:StartQueryExecution on resource: arn:aws:athena:%s:%s:workgroup/analytics because no identity-based policy allows the athena:StartQueryExecution action",
}

// addFailed adds a StartQueryExecution that Athena refused: an error code and no response.
func (g *generator) addFailed(u *user, at time.Time, code string) {
	region := g.region(u)
	rec := g.base(u, at, region, "athena.amazonaws.com", "StartQueryExecution")
	rec.ErrorCode = code
	params := &startQueryParams{
		QueryString:        "SELECT count(*) FROM " + databases[u.databases[0]] + ".events",
		ClientRequestToken: g.uuid(),
	}
	switch code {
	case "AccessDeniedException":
		rec.ErrorMessage = fmt.Sprintf(refusals[code], u.ARN, region, u.Account)
		params.QueryExecutionContext = &executionCtx{Database: databases[u.databases[0]], Catalog: "AwsDataCatalog"}
		params.WorkGroup = "analytics"
	default:
		rec.ErrorMessage = refusals[code]
	}
	rec.RequestParameters = params
	g.events = append(g.events, &event{kind: kindFailed, at: at, region: region, user: u, errorCode: code, eventID: rec.EventID, rec: rec})
}

// addOther adds an event of another kind, which athena-usage must skip: an S3 data event, a
// Glue read, an Athena read and another Athena write.
func (g *generator) addOther(u *user, at time.Time, kind int) {
	region := g.region(u)
	db := databases[u.databases[0]]
	var rec record
	switch kind {
	case 0:
		rec = g.base(u, at, region, "s3.amazonaws.com", "GetObject")
		bucket := "example-data-lake-" + u.Account
		key := fmt.Sprintf("%s/%s/dt=%s/part-%05d.parquet", db, tables[db][0], at.Format(config.DayLayout), g.r.IntN(100))
		rec.RequestParameters = map[string]any{"bucketName": bucket, "Host": bucket + ".s3." + region + ".amazonaws.com", "key": key}
		rec.AdditionalEventData = map[string]any{"bytesTransferredIn": 0, "bytesTransferredOut": 1 + g.r.IntN(64<<20), "x-amz-id-2": g.token(40, alnum)}
		rec.Resources = []resource{
			{Type: "AWS::S3::Object", ARN: "arn:aws:s3:::" + bucket + "/" + key},
			{AccountID: u.Account, Type: "AWS::S3::Bucket", ARN: "arn:aws:s3:::" + bucket},
		}
		rec.ReadOnly = true
		rec.ManagementEvent = false
		rec.EventCategory = "Data"
	case 1:
		rec = g.base(u, at, region, "glue.amazonaws.com", "GetTable")
		rec.RequestParameters = map[string]any{"databaseName": db, "name": tables[db][0]}
		rec.ReadOnly = true
	case 2:
		rec = g.base(u, at, region, "athena.amazonaws.com", "GetQueryExecution")
		rec.RequestParameters = map[string]any{"queryExecutionId": g.uuid()}
		rec.ReadOnly = true
	default:
		rec = g.base(u, at, region, "athena.amazonaws.com", "CreateNamedQuery")
		rec.RequestParameters = map[string]any{
			"name": "weekly " + db, "description": "saved from the console", "database": db,
			"queryString": "SELECT * FROM " + db + "." + tables[db][0] + " LIMIT 100", "clientRequestToken": g.uuid(),
		}
		rec.ResponseElements = map[string]any{"namedQueryId": g.uuid()}
	}
	g.truth.Ignored[rec.EventSource+" "+rec.EventName]++
	g.events = append(g.events, &event{kind: kindOther, at: at, region: region, user: u, eventID: rec.EventID, rec: rec})
}

// execution is q as BatchGetQueryExecution returns it.
func (q *query) execution() types.QueryExecution {
	total := q.queueMS + q.EngineMS + q.serviceMS
	done := q.submitted.Add(time.Duration(total) * time.Millisecond)
	submitted := q.submitted
	e := types.QueryExecution{
		QueryExecutionId:      aws.String(q.ID),
		Query:                 aws.String(q.text),
		StatementType:         types.StatementType(q.StatementType),
		SubstatementType:      aws.String(q.SubstatementType),
		ResultConfiguration:   &types.ResultConfiguration{OutputLocation: aws.String(q.output + q.ID + ".csv")},
		QueryExecutionContext: &types.QueryExecutionContext{Database: aws.String(q.Database), Catalog: aws.String("AwsDataCatalog")},
		Status: &types.QueryExecutionStatus{
			State:              types.QueryExecutionState(q.State),
			SubmissionDateTime: &submitted,
			CompletionDateTime: &done,
		},
		Statistics: &types.QueryExecutionStatistics{
			EngineExecutionTimeInMillis:   aws.Int64(q.EngineMS),
			DataScannedInBytes:            aws.Int64(q.DataScannedBytes),
			TotalExecutionTimeInMillis:    aws.Int64(total),
			QueryQueueTimeInMillis:        aws.Int64(q.queueMS),
			QueryPlanningTimeInMillis:     aws.Int64(min(q.planningMS, q.EngineMS)),
			ServiceProcessingTimeInMillis: aws.Int64(q.serviceMS),
			ResultReuseInformation:        &types.ResultReuseInformation{ReusedPreviousResult: q.ResultReused},
		},
		WorkGroup:     aws.String(q.Workgroup),
		EngineVersion: &types.EngineVersion{SelectedEngineVersion: aws.String("AUTO"), EffectiveEngineVersion: aws.String("Athena engine version 3")},
	}
	if q.errorReason != "" {
		e.Status.StateChangeReason = aws.String(q.errorReason)
		e.Status.AthenaError = &types.AthenaError{
			ErrorCategory: aws.Int32(q.errorCat),
			ErrorType:     aws.Int32(q.errorType),
			Retryable:     q.retryable,
			ErrorMessage:  aws.String(q.errorReason),
		}
	}
	return e
}

// writeExecutions writes the executions of the queries in history, by submission time.
func writeExecutions(w io.Writer, queries []*query) error {
	sorted := slices.Clone(queries)
	slices.SortStableFunc(sorted, func(a, b *query) int {
		if c := a.submitted.Compare(b.submitted); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	hw := history.NewWriter(w)
	for _, q := range sorted {
		if !q.InHistory {
			continue
		}
		if err := hw.Write(q.execution()); err != nil {
			return err
		}
	}
	return hw.Flush()
}
