// Package athenasql renders athena-usage's Athena SQL from the embedded .sql files. Every value
// that reaches a template is validated first (see package config), and the same text runs on
// Athena (engine v3) and on the local engine.
package athenasql

import (
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/athenausage/athena-usage/pkg/config"
)

//go:embed sql/*.sql
var files embed.FS

// Templates returns the embedded .sql files the statements are rendered from, named as render
// names them (extract.sql, ...), so that a harness can check that every file is rendered.
func Templates() fs.FS {
	sub, err := fs.Sub(files, "sql")
	if err != nil {
		panic(err) // unreachable: "sql" is a valid path, the only thing fs.Sub checks
	}
	return sub
}

// placeholder is the only template syntax the .sql files use: {{.Name}}. A renderer this small,
// rather than text/template, keeps the Lambda binaries small: text/template calls methods by
// reflection, which makes the linker keep every exported method of every AWS SDK type (the
// extract binary grew from 12 to 19 MB).
var placeholder = regexp.MustCompile(`\{\{\s*\.([A-Za-z]+)\s*\}\}`)

// Table and view names.
const (
	CloudTrailTable         = "cloudtrail_logs"
	QueriesTable            = "athena_queries"
	APIOutputTable          = "athena_api_output"
	UsageView               = "athena_usage"
	FailedSubmissionsView   = "athena_failed_submissions"
	UsageDailyView          = "athena_usage_daily"
	queriesDir              = QueriesTable + "/"
	apiOutputDir            = APIOutputTable + "/"
	stateDir                = "athena_usage_state/"
	cloudTrailProjectionFmt = "2006/01/02"
)

// Params are the values the SQL is rendered from.
type Params struct {
	Database         string
	CloudTrailBucket string
	// CloudTrailPrefix is the trail's key prefix, "" or ending in "/".
	CloudTrailPrefix string
	// OrgID is set for an organization trail, whose keys hold AWSLogs/<org ID>/<account>/.
	OrgID           string
	Accounts        []string
	Regions         []string
	ProjectionStart time.Time
	DataBucket      string
	// DataPrefix is the key prefix of the tables under DataBucket, "" or ending in "/".
	DataPrefix string
	PricePerTB float64
}

// FromConfig returns the Params of the extract function's configuration.
func FromConfig(c config.Extract) Params {
	return Params{
		Database:         c.Database,
		CloudTrailBucket: c.CloudTrailBucket,
		CloudTrailPrefix: c.CloudTrailPrefix,
		OrgID:            c.OrgID,
		Accounts:         c.Accounts,
		Regions:          c.Regions,
		ProjectionStart:  c.ProjectionStart,
		DataBucket:       c.DataBucket,
		DataPrefix:       c.DataPrefix,
		PricePerTB:       c.PricePerTB,
	}
}

// Validate checks every value; the error names each one that is wrong.
func (p Params) Validate() error {
	var errs []string
	add := func(err error) {
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	add(config.ValidateDatabase(p.Database))
	add(config.ValidateBucket(p.CloudTrailBucket))
	add(config.ValidateBucket(p.DataBucket))
	add(checkPrefix(p.CloudTrailPrefix))
	add(checkPrefix(p.DataPrefix))
	if p.OrgID != "" {
		add(config.ValidateOrgID(p.OrgID))
	}
	if len(p.Accounts) == 0 {
		errs = append(errs, "no accounts")
	}
	for _, a := range p.Accounts {
		add(config.ValidateAccountID(a))
	}
	if len(p.Regions) == 0 {
		errs = append(errs, "no regions")
	}
	for _, r := range p.Regions {
		add(config.ValidateRegion(r))
	}
	if p.ProjectionStart.IsZero() {
		errs = append(errs, "no projection start day")
	}
	add(config.ValidatePrice(p.PricePerTB))
	if len(errs) > 0 {
		return fmt.Errorf("invalid SQL parameters: %s", strings.Join(errs, "; "))
	}
	return nil
}

func checkPrefix(prefix string) error {
	norm, err := config.NormalizePrefix(prefix)
	if err != nil {
		return err
	}
	if norm != prefix {
		return fmt.Errorf("prefix %q: want %q", prefix, norm)
	}
	return nil
}

// CloudTrailRoot is the S3 location above the account folders of the trail.
func (p Params) CloudTrailRoot() string {
	root := "s3://" + p.CloudTrailBucket + "/" + p.CloudTrailPrefix + "AWSLogs/"
	if p.OrgID != "" {
		root += p.OrgID + "/"
	}
	return root
}

// QueriesRoot is the LOCATION of the athena_queries table.
func (p Params) QueriesRoot() string {
	return "s3://" + p.DataBucket + "/" + p.DataPrefix + queriesDir
}

// APIOutputRoot is the LOCATION of the athena_api_output table.
func (p Params) APIOutputRoot() string {
	return "s3://" + p.DataBucket + "/" + p.DataPrefix + apiOutputDir
}

// ProjectionStartDay is the first dt partition, as YYYY-MM-DD.
func (p Params) ProjectionStartDay() string { return p.ProjectionStart.Format(config.DayLayout) }

// ProjectionStartPath is the first CloudTrail day partition, as YYYY/MM/DD.
func (p Params) ProjectionStartPath() string {
	return p.ProjectionStart.Format(cloudTrailProjectionFmt)
}

// Statement is one SQL statement and what it is for.
type Statement struct {
	Name string
	SQL  string
}

// Setup returns the statements that create or update the database, tables and views, in order.
// The tables are external, so dropping and creating them again loses no data and picks up
// changed parameters (accounts, regions, locations) at the next run.
func Setup(p Params) ([]Statement, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	type step struct{ name, file, table string }
	steps := []step{
		{"create database", "create_database.sql", ""},
		{"drop " + CloudTrailTable, "drop_table.sql", CloudTrailTable},
		{"create " + CloudTrailTable, "cloudtrail_logs.sql", ""},
		{"drop " + QueriesTable, "drop_table.sql", QueriesTable},
		{"create " + QueriesTable, "athena_queries.sql", ""},
		{"drop " + APIOutputTable, "drop_table.sql", APIOutputTable},
		{"create " + APIOutputTable, "athena_api_output.sql", ""},
		{"view " + UsageView, "athena_usage.sql", ""},
		{"view " + FailedSubmissionsView, "athena_failed_submissions.sql", ""},
		{"view " + UsageDailyView, "athena_usage_daily.sql", ""},
	}
	vars := map[string]string{
		"Database":            p.Database,
		"AccountsList":        strings.Join(p.Accounts, ","),
		"RegionsList":         strings.Join(p.Regions, ","),
		"PricePerTB":          formatPrice(p.PricePerTB),
		"CloudTrailRoot":      p.CloudTrailRoot(),
		"QueriesRoot":         p.QueriesRoot(),
		"APIOutputRoot":       p.APIOutputRoot(),
		"ProjectionStartDay":  p.ProjectionStartDay(),
		"ProjectionStartPath": p.ProjectionStartPath(),
	}
	out := make([]Statement, 0, len(steps))
	for _, s := range steps {
		vars["Table"] = s.table
		sql, err := render(s.file, vars)
		if err != nil {
			return nil, err
		}
		out = append(out, Statement{Name: s.name, SQL: sql})
	}
	return out, nil
}

// Extract returns the extraction query for the UTC day that starts at day. It reads the day's
// CloudTrail folder, the previous one (for the earliest event of a query ID logged on both
// days), and the next 1 + lateDays folders (records delivered up to lateDays late).
func Extract(database string, day time.Time, lateDays int) (string, error) {
	if err := config.ValidateDatabase(database); err != nil {
		return "", err
	}
	if lateDays < 0 || lateDays > config.MaxLateDays {
		return "", fmt.Errorf("late days %d: want 0 to %d", lateDays, config.MaxLateDays)
	}
	day = day.UTC().Truncate(24 * time.Hour)
	var paths []string
	for d := day.AddDate(0, 0, -1); !d.After(day.AddDate(0, 0, 1+lateDays)); d = d.AddDate(0, 0, 1) {
		paths = append(paths, "'"+d.Format(cloudTrailProjectionFmt)+"'")
	}
	return render("extract.sql", map[string]string{
		"Database":     database,
		"DayPaths":     strings.Join(paths, ", "),
		"DayPath":      day.Format(cloudTrailProjectionFmt),
		"LookbackFrom": day.AddDate(0, 0, -1).Format(time.RFC3339),
		"From":         day.Format(time.RFC3339),
		"To":           day.AddDate(0, 0, 1).Format(time.RFC3339),
	})
}

// render fills the placeholders of an embedded file. Every placeholder must have a value, so a
// typo fails loudly instead of rendering empty text into SQL.
func render(name string, vars map[string]string) (string, error) {
	text, err := files.ReadFile("sql/" + name)
	if err != nil {
		return "", fmt.Errorf("render %s: %w", name, err)
	}
	var missing []string
	out := placeholder.ReplaceAllStringFunc(string(text), func(m string) string {
		key := placeholder.FindStringSubmatch(m)[1]
		v, ok := vars[key]
		if !ok {
			missing = append(missing, key)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("render %s: no value for %s", name, strings.Join(missing, ", "))
	}
	return strings.TrimSpace(out), nil
}

// formatPrice renders the price as a SQL DOUBLE literal.
func formatPrice(p float64) string {
	s := strconv.FormatFloat(p, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// QueriesKey is the key of a day's athena_queries object.
func QueriesKey(dataPrefix string, day time.Time) string {
	return dataPrefix + queriesDir + "dt=" + day.Format(config.DayLayout) + "/queries.csv"
}

// APIOutputDayPrefix is the key prefix of a day's athena_api_output parts.
func APIOutputDayPrefix(dataPrefix string, day time.Time) string {
	return dataPrefix + apiOutputDir + "dt=" + day.Format(config.DayLayout) + "/"
}

// PartKey is the key of part n of a day's athena_api_output.
func PartKey(dataPrefix string, day time.Time, n int) string {
	return fmt.Sprintf("%spart-%05d.csv", APIOutputDayPrefix(dataPrefix, day), n)
}

// LookupManifestKey is the key of the lookup's manifest of a day (events.LookupManifest). It is
// outside both tables' locations, so that Athena never reads it as data.
func LookupManifestKey(dataPrefix string, day time.Time) string {
	return dataPrefix + stateDir + "dt=" + day.Format(config.DayLayout) + "/lookup.json"
}

// LookupQuotasKey is the key of the quotas the lookup's rate limiters found, by account and
// region, which its later invocations start from. It is outside both tables' locations.
func LookupQuotasKey(dataPrefix string) string {
	return dataPrefix + stateDir + "lookup-quotas.json"
}

// Report groupings: what a report line is per, and the view column that holds it.
var reportKeys = map[string]string{"user": "user_arn", "role": "role", "database": "database"}

// ReportGroups returns the query for usage per user, role or database over the inclusive window
// [from, to]. Its columns are key, queries, queries_without_stats, succeeded, failed, cancelled,
// failed_submissions, data_scanned_bytes, engine_execution_ms and cost_usd.
func ReportGroups(database, by string, from, to time.Time) (string, error) {
	key, ok := reportKeys[by]
	if !ok {
		return "", fmt.Errorf("report by %q: want user, role or database", by)
	}
	return renderReport("report_groups.sql", database, key, from, to)
}

func renderReport(file, database, key string, from, to time.Time) (string, error) {
	if err := config.ValidateDatabase(database); err != nil {
		return "", err
	}
	if to.Before(from) {
		return "", fmt.Errorf("window %s to %s is empty", from.Format(config.DayLayout), to.Format(config.DayLayout))
	}
	return render(file, map[string]string{
		"Database": database,
		"Key":      key,
		"From":     from.Format(config.DayLayout),
		"To":       to.Format(config.DayLayout),
	})
}

// Visual is one visual of the dashboard: the dataset it reads, dashboard_<Name>.sql, and how
// it sums that dataset's rows. QuickSight runs the dataset's text as it is (template.yaml); the
// local report runs it inside DashboardWindow, which sums as the visual does.
type Visual struct {
	// Name names the dataset file and the QuickSight dataset.
	Name string
	// Keys are the columns the visual shows its values by, Sums the columns it adds up.
	Keys, Sums []string
}

// The dashboard's visuals, each over a dataset of its own.
var (
	// VisualAvgMBScanned is the original design's heat map: average MB scanned per query, by
	// user and database (data_scanned_bytes / queries_with_stats / 2^20).
	VisualAvgMBScanned = Visual{"avg_mb_scanned", []string{"user_arn", "database"},
		[]string{"queries", "queries_with_stats", "data_scanned_bytes"}}
	// VisualQueriesPerUser is queries per user, by final state.
	VisualQueriesPerUser = Visual{"queries_per_user", []string{"user_arn"},
		[]string{"queries", "succeeded", "failed", "cancelled", "no_state"}}
	// VisualQueriesPerDatabase is queries per database, by final state.
	VisualQueriesPerDatabase = Visual{"queries_per_database", []string{"database"},
		[]string{"queries", "succeeded", "failed", "cancelled", "no_state"}}
	// VisualCostPerUser is the estimated cost per user.
	VisualCostPerUser = Visual{"cost_per_user", []string{"user_arn"}, []string{"billed_bytes", "cost_usd"}}
	// VisualDailyCost is the trend of the estimated cost, per day.
	VisualDailyCost = Visual{"daily_cost", []string{"day"}, []string{"queries", "data_scanned_bytes", "cost_usd"}}
	// VisualFailuresPerUser is failed queries and refused submissions per user.
	VisualFailuresPerUser = Visual{"failures_per_user", []string{"user_arn"}, []string{"failed", "refused"}}
)

// Visuals returns every visual of the dashboard, in the order the dashboard and the HTML
// report show them.
func Visuals() []Visual {
	return []Visual{VisualAvgMBScanned, VisualQueriesPerUser, VisualQueriesPerDatabase,
		VisualCostPerUser, VisualDailyCost, VisualFailuresPerUser}
}

// File is the name of the visual's dataset file.
func (v Visual) File() string { return "dashboard_" + v.Name + ".sql" }

// DashboardDataset returns the SQL of a visual's dataset: what QuickSight runs, over every day.
// Its columns are day (a DATE), account_id, workgroup, role (the dashboard's filters), then the
// visual's Keys and Sums.
func DashboardDataset(database string, v Visual) (string, error) {
	if err := config.ValidateDatabase(database); err != nil {
		return "", err
	}
	return render(v.File(), map[string]string{"Database": database})
}

// DashboardWindow returns a visual's values over the inclusive window [from, to]: its dataset's
// text, unchanged, inside a query that keeps the window's days and sums the visual's Sums per
// its Keys, as the dashboard's date filter and the visual do. Its columns are the Keys then the
// Sums, in order.
func DashboardWindow(database string, v Visual, from, to time.Time) (string, error) {
	if to.Before(from) {
		return "", fmt.Errorf("window %s to %s is empty", from.Format(config.DayLayout), to.Format(config.DayLayout))
	}
	dataset, err := DashboardDataset(database, v)
	if err != nil {
		return "", err
	}
	sums := make([]string, len(v.Sums))
	for i, c := range v.Sums {
		sums[i] = "sum(" + c + ") AS " + c
	}
	return render("dashboard_window.sql", map[string]string{
		"Keys":    strings.Join(v.Keys, ", "),
		"Sums":    strings.Join(sums, ", "),
		"Dataset": dataset,
		"From":    from.Format(config.DayLayout),
		"To":      to.Format(config.DayLayout),
	})
}

// AlertsKey is the key of the alert function's record of the users it alerted about for a day.
// It is outside both tables' locations, with the lookup's manifest.
func AlertsKey(dataPrefix string, day time.Time) string {
	return dataPrefix + stateDir + "dt=" + day.Format(config.DayLayout) + "/alerts.json"
}

// AlertCandidates returns the query for the daily cost of the users whose cost on day reaches
// floorUSD, on day and on the windowDays days before it. Its columns are user_arn, day,
// queries, data_scanned_bytes and cost_usd, ordered by user and day.
func AlertCandidates(database string, day time.Time, windowDays int, floorUSD float64) (string, error) {
	if err := config.ValidateDatabase(database); err != nil {
		return "", err
	}
	if windowDays < 1 || windowDays > 366 {
		return "", fmt.Errorf("alert window %d days: want 1 to 366", windowDays)
	}
	if !(floorUSD >= 0 && floorUSD <= 1e9) {
		return "", fmt.Errorf("alert floor %v USD: want 0 to 1e9", floorUSD)
	}
	return render("alerts_candidates.sql", map[string]string{
		"Database": database,
		"From":     day.AddDate(0, 0, -windowDays).Format(config.DayLayout),
		"Day":      day.Format(config.DayLayout),
		"FloorUSD": formatPrice(floorUSD),
	})
}

// AlertDrill returns the query that lists one user's queries of day, most expensive first: the
// SQL an alert gives to drill in. The user ARN comes from the data, not from configuration, so
// it is quoted as a SQL string literal; one with a control character (a line break) is refused.
func AlertDrill(database string, day time.Time, userARN string) (string, error) {
	if err := config.ValidateDatabase(database); err != nil {
		return "", err
	}
	if strings.ContainsFunc(userARN, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", fmt.Errorf("user %q: holds a control character", userARN)
	}
	return render("alerts_drill.sql", map[string]string{
		"Database": database,
		"Day":      day.Format(config.DayLayout),
		"User":     strings.ReplaceAll(userARN, "'", "''"),
	})
}
