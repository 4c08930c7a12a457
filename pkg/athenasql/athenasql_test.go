package athenasql

import (
	"io/fs"
	"strings"
	"testing"
	"time"
)

func validParams() Params {
	return Params{
		Database:         "athena_usage",
		CloudTrailBucket: "org-trail",
		CloudTrailPrefix: "trails/",
		OrgID:            "o-abcdef1234",
		Accounts:         []string{"123456789012", "210987654321"},
		Regions:          []string{"us-east-1", "eu-west-1"},
		ProjectionStart:  time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		DataBucket:       "usage-data",
		DataPrefix:       "usage/",
		PricePerTB:       5,
	}
}

func TestSetupRenders(t *testing.T) {
	stmts, err := Setup(validParams())
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	all := map[string]string{}
	for _, s := range stmts {
		all[s.Name] = s.SQL
		if strings.Contains(s.SQL, "{{") || strings.Contains(s.SQL, "<no value>") {
			t.Errorf("%s: unrendered template text:\n%s", s.Name, s.SQL)
		}
		if strings.Contains(s.SQL, ";") {
			t.Errorf("%s: holds a semicolon; Athena takes one statement per query", s.Name)
		}
	}
	ct := all["create cloudtrail_logs"]
	for _, want := range []string{
		"LOCATION 's3://org-trail/trails/AWSLogs/o-abcdef1234/'",
		"'projection.account.values' = '123456789012,210987654321'",
		"'projection.region.values' = 'us-east-1,eu-west-1'",
		"'projection.day.range' = '2024/01/01,NOW'",
		"'storage.location.template' = 's3://org-trail/trails/AWSLogs/o-abcdef1234/${account}/CloudTrail/${region}/${day}/'",
	} {
		if !strings.Contains(ct, want) {
			t.Errorf("cloudtrail_logs DDL lacks %s", want)
		}
	}
	if !strings.Contains(all["create athena_api_output"], "'storage.location.template' = 's3://usage-data/usage/athena_api_output/dt=${dt}/'") {
		t.Errorf("athena_api_output DDL has the wrong location template:\n%s", all["create athena_api_output"])
	}
	if !strings.Contains(all["view athena_usage"], "/ 1099511627776 * 5.0 AS cost_usd") {
		t.Errorf("athena_usage view does not price at 5.0 per TB")
	}
	p := validParams()
	p.OrgID, p.CloudTrailPrefix, p.PricePerTB = "", "", 6.25
	stmts, err = Setup(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stmts {
		if s.Name == "create cloudtrail_logs" && !strings.Contains(s.SQL, "LOCATION 's3://org-trail/AWSLogs/'") {
			t.Errorf("account trail LOCATION wrong:\n%s", s.SQL)
		}
		if s.Name == "view athena_usage" && !strings.Contains(s.SQL, "* 6.25 AS cost_usd") {
			t.Errorf("price 6.25 not rendered")
		}
	}
}

func TestSetupRejectsHostileParams(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Params)
		want   string
	}{
		{"quote in database", func(p *Params) { p.Database = "usage'--" }, "database"},
		{"backtick in database", func(p *Params) { p.Database = "usage`.`x" }, "database"},
		{"semicolon in database", func(p *Params) { p.Database = "usage; DROP DATABASE x" }, "database"},
		{"dotted database", func(p *Params) { p.Database = "other.db" }, "database"},
		{"quote in bucket", func(p *Params) { p.CloudTrailBucket = "trail'/x" }, "bucket"},
		{"semicolon in bucket", func(p *Params) { p.DataBucket = "data;x" }, "bucket"},
		{"path in bucket", func(p *Params) { p.DataBucket = "data/../other" }, "bucket"},
		{"parent in prefix", func(p *Params) { p.CloudTrailPrefix = "trails/../other/" }, "prefix"},
		{"dot in prefix", func(p *Params) { p.DataPrefix = "./usage/" }, "prefix"},
		{"absolute prefix", func(p *Params) { p.DataPrefix = "/usage/" }, "prefix"},
		{"double slash prefix", func(p *Params) { p.DataPrefix = "usage//x/" }, "prefix"},
		{"quote in prefix", func(p *Params) { p.DataPrefix = "usage'/" }, "prefix"},
		{"semicolon in prefix", func(p *Params) { p.CloudTrailPrefix = "a;b/" }, "prefix"},
		{"template in prefix", func(p *Params) { p.CloudTrailPrefix = "${account}/" }, "prefix"},
		{"unslashed prefix", func(p *Params) { p.DataPrefix = "usage" }, "prefix"},
		{"org path trick", func(p *Params) { p.OrgID = "o-abcdef1234/.." }, "organization"},
		{"account injection", func(p *Params) { p.Accounts = []string{"123456789012','x"} }, "account"},
		{"region injection", func(p *Params) { p.Regions = []string{"us-east-1'"} }, "region"},
		{"no accounts", func(p *Params) { p.Accounts = nil }, "no accounts"},
		{"negative price", func(p *Params) { p.PricePerTB = -1 }, "price"},
		{"no projection start", func(p *Params) { p.ProjectionStart = time.Time{} }, "projection"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validParams()
			tt.mutate(&p)
			stmts, err := Setup(p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Setup(%s) = %d statements, error %v, want an error about %q", tt.name, len(stmts), err, tt.want)
			}
		})
	}
}

func TestExtract(t *testing.T) {
	day := time.Date(2024, 12, 31, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		lateDays int
		want     []string
	}{
		{2, []string{"day IN ('2024/12/30', '2024/12/31', '2025/01/01', '2025/01/02', '2025/01/03')"}},
		{0, []string{"day IN ('2024/12/30', '2024/12/31', '2025/01/01')"}},
		{1, []string{"day IN ('2024/12/30', '2024/12/31', '2025/01/01', '2025/01/02')"}},
	}
	for _, tt := range tests {
		sql, err := Extract("athena_usage", day, tt.lateDays)
		if err != nil {
			t.Fatalf("Extract(%d): %v", tt.lateDays, err)
		}
		for _, want := range append(tt.want,
			`FROM "athena_usage"."cloudtrail_logs"`,
			"eventtime >= '2024-12-30T00:00:00Z'",
			"eventtime < '2025-01-01T00:00:00Z'",
			"WHERE nth = 1 AND eventtime >= '2024-12-31T00:00:00Z'",
			"ORDER BY query_id NULLS LAST",
		) {
			if !strings.Contains(sql, want) {
				t.Errorf("Extract(%d) SQL lacks %s", tt.lateDays, want)
			}
		}
	}
	if _, err := Extract(`x"; DROP`, time.Now(), 2); err == nil {
		t.Error("Extract accepted a hostile database name")
	}
	for _, late := range []int{-1, 15} {
		if _, err := Extract("athena_usage", day, late); err == nil {
			t.Errorf("Extract accepted %d late days", late)
		}
	}
}

func TestKeys(t *testing.T) {
	day := time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)
	tests := []struct{ got, want string }{
		{QueriesKey("usage/", day), "usage/athena_queries/dt=2024-03-05/queries.csv"},
		{QueriesKey("", day), "athena_queries/dt=2024-03-05/queries.csv"},
		{PartKey("usage/", day, 0), "usage/athena_api_output/dt=2024-03-05/part-00000.csv"},
		{PartKey("", day, 123), "athena_api_output/dt=2024-03-05/part-00123.csv"},
		{LookupManifestKey("usage/", day), "usage/athena_usage_state/dt=2024-03-05/lookup.json"},
		{APIOutputDayPrefix("", day), "athena_api_output/dt=2024-03-05/"},
		{AlertsKey("usage/", day), "usage/athena_usage_state/dt=2024-03-05/alerts.json"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("key = %q, want %q", tt.got, tt.want)
		}
	}
}

func TestReport(t *testing.T) {
	from, to := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)
	for by, col := range map[string]string{"user": "user_arn", "role": "role", "database": "database"} {
		sql, err := ReportGroups("athena_usage", by, from, to)
		if err != nil {
			t.Fatalf("ReportGroups(%s): %v", by, err)
		}
		if !strings.Contains(sql, col+" AS key") || !strings.Contains(sql, "BETWEEN '2024-03-01' AND '2024-03-05'") {
			t.Errorf("ReportGroups(%s) =\n%s", by, sql)
		}
	}
	if _, err := ReportGroups("athena_usage", "user_arn; DROP", from, to); err == nil {
		t.Error("ReportGroups accepted an unknown grouping")
	}
	if _, err := ReportGroups("athena_usage", "user", to, from); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("ReportGroups(reversed window) error = %v, want empty window", err)
	}
}

func TestDashboardDataset(t *testing.T) {
	for _, v := range Visuals() {
		sql, err := DashboardDataset("usage_db", v)
		if err != nil {
			t.Fatalf("DashboardDataset(%s): %v", v.Name, err)
		}
		// The dashboard filters every dataset by these columns, and by day as a date.
		cols := append([]string{"CAST(day AS DATE) AS day", "account_id", "workgroup", "role"}, v.Keys...)
		for _, want := range append(append(cols, v.Sums...), `"usage_db".`) {
			if v.Keys[0] == "day" && want == "day" {
				continue
			}
			if !strings.Contains(sql, want) {
				t.Errorf("DashboardDataset(%s) lacks %q:\n%s", v.Name, want, sql)
			}
		}
		if strings.Contains(sql, "{{") || strings.Contains(sql, ";") {
			t.Errorf("DashboardDataset(%s) = %s, want one rendered statement", v.Name, sql)
		}
		if _, err := DashboardDataset("x'y", v); err == nil {
			t.Errorf("DashboardDataset(%s) accepted a hostile database", v.Name)
		}
	}
}

func TestDashboardWindow(t *testing.T) {
	from, to := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)
	dataset, err := DashboardDataset("athena_usage", VisualFailuresPerUser)
	if err != nil {
		t.Fatal(err)
	}
	sql, err := DashboardWindow("athena_usage", VisualFailuresPerUser, from, to)
	if err != nil {
		t.Fatalf("DashboardWindow: %v", err)
	}
	for _, want := range []string{
		"SELECT user_arn, sum(failed) AS failed, sum(refused) AS refused\nFROM (\n" + dataset + "\n) AS dataset",
		"WHERE day BETWEEN DATE '2024-03-01' AND DATE '2024-03-05'",
		"GROUP BY user_arn",
	} {
		if !strings.Contains(sql, want) {
			t.Errorf("DashboardWindow(failures_per_user) =\n%s\nwant it to contain\n%s", sql, want)
		}
	}
	if _, err := DashboardWindow("athena_usage", VisualDailyCost, to, from); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("DashboardWindow(reversed window) error = %v, want empty window", err)
	}
}

func TestAlerts(t *testing.T) {
	day := time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)
	sql, err := AlertCandidates("athena_usage", day, 14, 5)
	if err != nil {
		t.Fatalf("AlertCandidates: %v", err)
	}
	for _, want := range []string{"BETWEEN '2024-02-20' AND '2024-03-05'", "WHERE day = '2024-03-05'", ">= 5.0", `"athena_usage"."athena_usage_daily"`} {
		if !strings.Contains(sql, want) {
			t.Errorf("AlertCandidates(athena_usage, 2024-03-05, 14, 5) =\n%s\nwant it to contain %q", sql, want)
		}
	}
	for _, tt := range []struct {
		name     string
		database string
		window   int
		floor    float64
	}{
		{"hostile database", "x'y", 14, 5},
		{"no window", "athena_usage", 0, 5},
		{"negative floor", "athena_usage", 14, -1},
	} {
		if _, err := AlertCandidates(tt.database, day, tt.window, tt.floor); err == nil {
			t.Errorf("AlertCandidates(%s) accepted it", tt.name)
		}
	}
	sql, err = AlertDrill("athena_usage", day, "arn:aws:sts::123456789012:assumed-role/Analyst/o'brien@example.com")
	if err != nil || !strings.Contains(sql, "user_arn = 'arn:aws:sts::123456789012:assumed-role/Analyst/o''brien@example.com'") || !strings.Contains(sql, "day = '2024-03-05'") {
		t.Errorf("AlertDrill(a quote in the ARN) = %s, %v, want the quote doubled", sql, err)
	}
	if _, err := AlertDrill("athena_usage", day, "arn:x\n; DROP"); err == nil {
		t.Error("AlertDrill accepted a line break in the user")
	}
}

func TestRenderNeedsEveryValue(t *testing.T) {
	if _, err := render("extract.sql", map[string]string{"Database": "db"}); err == nil || !strings.Contains(err.Error(), "DayPath") {
		t.Errorf("render with missing values: error = %v, want it to name DayPath", err)
	}
}

func TestTemplatesAreWhatRenderReads(t *testing.T) {
	names, err := fs.Glob(Templates(), "*")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("Templates() lists no files")
	}
	for _, name := range names {
		got, err := fs.ReadFile(Templates(), name)
		if err != nil {
			t.Fatalf("ReadFile(Templates(), %q): %v", name, err)
		}
		want, err := files.ReadFile("sql/" + name)
		if err != nil {
			t.Fatalf("render cannot read %q, which Templates() lists: %v", name, err)
		}
		if string(got) != string(want) {
			t.Errorf("ReadFile(Templates(), %q) differs from what render reads", name)
		}
	}
	for _, name := range []string{"extract.sql", "cloudtrail_logs.sql", "report_groups.sql"} {
		if _, err := fs.Stat(Templates(), name); err != nil {
			t.Errorf("Stat(Templates(), %q) = %v, want the file", name, err)
		}
	}
}
