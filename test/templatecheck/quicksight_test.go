package templatecheck

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/test/internal/samtemplate"
)

const (
	quickSightCondition = "QuickSightEnabled"
	quickSightParam     = "QuickSightPrincipalArn"
	quickSightRole      = "QuickSightDataSourceRole"
	quickSightPrincipal = "arn:aws:quicksight:us-east-1:123456789012:group/default/athena-usage-viewers"
)

// loadQuickSight loads the template with the QuickSight principal and the optional parameters set.
func loadQuickSight(t *testing.T, data []byte) *stack {
	t.Helper()
	params := maps.Clone(paramStandIns)
	maps.Copy(params, optionStandIns)
	params[quickSightParam] = quickSightPrincipal
	s, err := loadWith(data, params)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func readTemplate(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(*templatePath)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestQuickSight(t *testing.T) {
	s := loadQuickSight(t, readTemplate(t))
	for name, check := range quickSightChecks {
		t.Run(name, func(t *testing.T) { report(t, check(s)) })
	}
}

// quickSightChecks are the checks of the QuickSight part of the template, by name.
var quickSightChecks = map[string]func(*stack) []error{
	"condition":    checkQuickSightCondition,
	"datasets":     checkQuickSightDataSets,
	"dashboard":    checkQuickSightDashboard,
	"role":         checkQuickSightRole,
	"data source":  checkQuickSightDataSource,
	"refreshes":    checkQuickSightRefreshes,
	"parameter ok": checkQuickSightParameter,
}

// TestQuickSightChecksCatchRegressions breaks the QuickSight part one way at a time and expects
// the checks to name the breakage.
func TestQuickSightChecksCatchRegressions(t *testing.T) {
	data := string(readTemplate(t))
	// Cases on the role break its own statements, not the same text in another role's.
	const role = "  QuickSightDataSourceRole:\n"
	after := map[string]string{"role writes data": role, "role reads the trail": role}
	tests := []struct{ name, old, new, want string }{
		{"resource without the condition", "    Type: AWS::QuickSight::Dashboard\n    Condition: QuickSightEnabled\n",
			"    Type: AWS::QuickSight::Dashboard\n", "QuickSightDashboard: Condition"},
		{"role without the condition", "    Type: AWS::IAM::Role\n    Condition: QuickSightEnabled\n",
			"    Type: AWS::IAM::Role\n", "QuickSightDataSourceRole: Condition"},
		{"dataset SQL differs", "count(*) AS queries,", "count(*) + 1 AS queries,", "avg_mb_scanned: SqlQuery differs"},
		{"day as text", "              - { Name: day, Type: DATETIME }", "              - { Name: day, Type: STRING }", "column day is STRING"},
		{"trend of another value", "FieldId: daily-cost.cost_usd, Column: { DataSetIdentifier: daily_cost, ColumnName: cost_usd }",
			"FieldId: daily-cost.cost_usd, Column: { DataSetIdentifier: daily_cost, ColumnName: queries }", "daily cost trend"},
		{"visual of another dataset", "FieldId: failures-per-user.refused, Column: { DataSetIdentifier: failures_per_user",
			"FieldId: failures-per-user.refused, Column: { DataSetIdentifier: queries_per_user", "failed and refused queries per user"},
		{"filter missing", "FilterId: workgroup\n                  Column: { DataSetIdentifier: daily_cost, ColumnName: workgroup }",
			"FilterId: workgroup\n                  Column: { DataSetIdentifier: daily_cost, ColumnName: account_id }", "no filter on workgroup"},
		{"filter without control", "SourceFilterId: role,", "SourceFilterId: roles,", "filter role on role has no control"},
		{"role writes data", "                Action: s3:GetObject\n                Resource:\n                  - !Sub \"${DataBucket.Arn}/${DataPrefix}athena_queries/*\"",
			"                Action: [s3:GetObject, s3:PutObject]\n                Resource:\n                  - !Sub \"${DataBucket.Arn}/${DataPrefix}athena_queries/*\"", "s3:PutObject"},
		{"role reads the trail", "                  - !Sub \"${DataBucket.Arn}/${DataPrefix}athena_api_output/*\"",
			"                  - !Sub \"${DataBucket.Arn}/${DataPrefix}athena_api_output/*\"\n                  - !Sub \"arn:${AWS::Partition}:s3:::${CloudTrailBucket}/*\"", "example-cloudtrail-logs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := strings.Index(data, after[tt.name])
			if at < 0 || !strings.Contains(data[at:], tt.old) {
				t.Fatalf("the text to break, %q, is gone; update this case", tt.old)
			}
			s := loadQuickSight(t, []byte(data[:at]+strings.Replace(data[at:], tt.old, tt.new, 1)))
			var errs []error
			for _, check := range quickSightChecks {
				errs = append(errs, check(s)...)
			}
			if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), tt.want) }) {
				t.Errorf("QuickSight checks of the template with %q replaced by %q = %v, want an error containing %q",
					tt.old, tt.new, joinErrs(errs), tt.want)
			}
		})
	}
}

// resourcesOfType returns the logical IDs of the resources whose type starts with prefix.
func resourcesOfType(s *stack, prefix string) []string {
	res, _ := s.tree["Resources"].(map[string]any)
	var out []string
	for _, id := range sortedKeys(res) {
		if typ, _ := samtemplate.Lookup(res[id], "Type"); strings.HasPrefix(fmt.Sprint(typ), prefix) {
			out = append(out, id)
		}
	}
	return out
}

// checkQuickSightCondition checks that every QuickSight resource, the data source's role and the
// QuickSight output exist only under QuickSightEnabled, and that the condition is "the principal
// parameter is set".
func checkQuickSightCondition(s *stack) []error {
	var errs []error
	ids := resourcesOfType(s, "AWS::QuickSight::")
	if len(ids) == 0 {
		errs = append(errs, fmt.Errorf("no AWS::QuickSight:: resources"))
	}
	for _, id := range append(ids, quickSightRole) {
		if c, _ := samtemplate.Lookup(s.tree, "Resources", id, "Condition"); c != quickSightCondition {
			errs = append(errs, fmt.Errorf("%s: Condition %v, want %s", id, c, quickSightCondition))
		}
	}
	outs, _ := s.tree["Outputs"].(map[string]any)
	for _, id := range sortedKeys(outs) {
		if strings.Contains(id, "QuickSight") {
			if c, _ := samtemplate.Lookup(outs[id], "Condition"); c != quickSightCondition {
				errs = append(errs, fmt.Errorf("output %s: Condition %v, want %s", id, c, quickSightCondition))
			}
		}
	}
	want := map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Ref": quickSightParam}, ""}}}}
	if got, _ := samtemplate.Lookup(s.tree, "Conditions", quickSightCondition); fmt.Sprint(got) != fmt.Sprint(want) {
		errs = append(errs, fmt.Errorf("condition %s = %v, want %v", quickSightCondition, got, want))
	}
	return errs
}

// checkQuickSightParameter checks that the principal parameter defaults to empty, so that a
// stack has no QuickSight unless asked.
func checkQuickSightParameter(s *stack) []error {
	if d, _ := samtemplate.Lookup(s.tree, "Parameters", quickSightParam, "Default"); d != "" {
		return []error{fmt.Errorf("parameter %s defaults to %v, want empty: QuickSight is optional", quickSightParam, d)}
	}
	return nil
}

// dataSetOf returns the dataset resource whose physical table is named after the visual.
func dataSetOf(s *stack, v athenasql.Visual) (string, any) {
	for _, id := range resourcesOfType(s, "AWS::QuickSight::DataSet") {
		res, _ := samtemplate.Lookup(s.tree, "Resources", id)
		if t, ok := samtemplate.Lookup(res, "Properties", "PhysicalTableMap", strings.ReplaceAll(v.Name, "_", "-")); ok {
			return id, t
		}
	}
	return "", nil
}

// checkQuickSightDataSets checks that each visual's dataset runs the text athenasql renders,
// with the columns the dashboard's filters need and day as a date, in SPICE.
func checkQuickSightDataSets(s *stack) []error {
	var errs []error
	db := s.param("DatabaseName")
	for _, v := range athenasql.Visuals() {
		id, table := dataSetOf(s, v)
		if id == "" {
			errs = append(errs, fmt.Errorf("%s: no dataset with physical table %s", v.Name, v.Name))
			continue
		}
		want, err := athenasql.DashboardDataset(db, v)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		got, _ := samtemplate.Lookup(table, "CustomSql", "SqlQuery")
		if strings.TrimSpace(fmt.Sprint(got)) != want {
			errs = append(errs, fmt.Errorf("%s: %s: SqlQuery differs from pkg/athenasql/sql/%s rendered for database %s; want\n%s",
				id, v.Name, v.File(), db, want))
		}
		errs = append(errs, checkColumns(id, v, table)...)
		if m, _ := samtemplate.Lookup(s.tree, "Resources", id, "Properties", "ImportMode"); m != "SPICE" {
			errs = append(errs, fmt.Errorf("%s: ImportMode %v, want SPICE (docs/design.md)", id, m))
		}
	}
	return errs
}

// checkColumns checks a dataset's declared columns: day (a date), the filters' columns, then the
// visual's keys and sums, in the order the SQL returns them.
func checkColumns(id string, v athenasql.Visual, table any) []error {
	want := append([]string{"day", "account_id", "workgroup", "role"}, v.Keys...)
	want = slices.DeleteFunc(want, func(c string) bool { return c == "day" })
	want = append(append([]string{"day"}, want...), v.Sums...)
	cols, _ := samtemplate.Lookup(table, "CustomSql", "Columns")
	list, _ := cols.([]any)
	var got []string
	var errs []error
	for _, c := range list {
		name, _ := samtemplate.Lookup(c, "Name")
		typ, _ := samtemplate.Lookup(c, "Type")
		got = append(got, fmt.Sprint(name))
		if name == "day" && typ != "DATETIME" {
			errs = append(errs, fmt.Errorf("%s: column day is %v, want DATETIME (a date, not text)", id, typ))
		}
	}
	if !slices.Equal(got, want) {
		errs = append(errs, fmt.Errorf("%s: columns %v, want %v", id, got, want))
	}
	return errs
}

// checkQuickSightRefreshes checks that every dataset has a daily refresh, at the time the
// parameter gives.
func checkQuickSightRefreshes(s *stack) []error {
	var errs []error
	refreshed := map[string]bool{}
	for _, id := range resourcesOfType(s, "AWS::QuickSight::RefreshSchedule") {
		p, _ := samtemplate.Lookup(s.tree, "Resources", id, "Properties")
		ds, _ := samtemplate.Lookup(p, "DataSetId")
		refreshed[fmt.Sprint(ds)] = true
		if iv, _ := samtemplate.Lookup(p, "Schedule", "ScheduleFrequency", "Interval"); iv != "DAILY" {
			errs = append(errs, fmt.Errorf("%s: Interval %v, want DAILY", id, iv))
		}
		if at, _ := samtemplate.Lookup(p, "Schedule", "ScheduleFrequency", "TimeOfTheDay"); at != s.param("QuickSightRefreshTime") {
			errs = append(errs, fmt.Errorf("%s: TimeOfTheDay %v, want QuickSightRefreshTime", id, at))
		}
	}
	for _, id := range resourcesOfType(s, "AWS::QuickSight::DataSet") {
		ds, _ := samtemplate.Lookup(s.tree, "Resources", id, "Properties", "DataSetId")
		if !refreshed[fmt.Sprint(ds)] {
			errs = append(errs, fmt.Errorf("%s: no RefreshSchedule", id))
		}
	}
	return errs
}
