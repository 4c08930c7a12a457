package templatecheck

import (
	"fmt"
	"slices"

	"github.com/athenausage/athena-usage/test/internal/samtemplate"
)

// wantVisual is one visual the dashboard must have: its kind, the dataset it reads, the
// columns it shows values by and the columns it shows.
type wantVisual struct {
	what, kind, dataSet string
	by, values          []string
}

// wantVisuals are the original design's three visuals, cost per user, the daily cost trend and
// the failed and refused queries per user.
var wantVisuals = []wantVisual{
	{"average MB scanned by user and database", "HeatMapVisual", "avg_mb_scanned", []string{"user_arn", "database"}, []string{"avg_mb"}},
	{"queries per user", "BarChartVisual", "queries_per_user", []string{"user_arn"}, []string{"succeeded", "failed", "cancelled", "no_state"}},
	{"queries per database", "BarChartVisual", "queries_per_database", []string{"database"}, []string{"succeeded", "failed", "cancelled", "no_state"}},
	{"cost per user", "BarChartVisual", "cost_per_user", []string{"user_arn"}, []string{"cost_usd"}},
	{"daily cost trend", "LineChartVisual", "daily_cost", []string{"day"}, []string{"cost_usd"}},
	{"failed and refused queries per user", "BarChartVisual", "failures_per_user", []string{"user_arn"}, []string{"failed", "refused"}},
}

// wantFilters are the columns the dashboard filters on, each for every dataset.
var wantFilters = []string{"day", "account_id", "workgroup", "role"}

// checkQuickSightDashboard checks the dashboard's visuals, its filters and their controls.
func checkQuickSightDashboard(s *stack) []error {
	ids := resourcesOfType(s, "AWS::QuickSight::Dashboard")
	if len(ids) != 1 {
		return []error{fmt.Errorf("%d AWS::QuickSight::Dashboard resources, want 1", len(ids))}
	}
	def, _ := samtemplate.Lookup(s.tree, "Resources", ids[0], "Properties", "Definition")
	sheets, _ := samtemplate.Lookup(def, "Sheets")
	var visuals, controls []any
	for _, sh := range asList(sheets) {
		v, _ := samtemplate.Lookup(sh, "Visuals")
		c, _ := samtemplate.Lookup(sh, "FilterControls")
		visuals, controls = append(visuals, asList(v)...), append(controls, asList(c)...)
	}
	var errs []error
	for _, w := range wantVisuals {
		if !slices.ContainsFunc(visuals, w.matches) {
			errs = append(errs, fmt.Errorf("%s: no %s of dataset %s by %v showing %v (the %s)", ids[0], w.kind, w.dataSet, w.by, w.values, w.what))
		}
	}
	groups, _ := samtemplate.Lookup(def, "FilterGroups")
	return append(errs, checkFilters(ids[0], asList(groups), controls)...)
}

// matches reports whether a visual of the definition is w: its kind, and the columns of its
// field wells, all of w's dataset.
func (w wantVisual) matches(v any) bool {
	body, ok := samtemplate.Lookup(v, w.kind)
	if !ok {
		return false
	}
	var cols []string
	dataSets := map[string]bool{}
	walk(body, func(m map[string]any) {
		if c, ok := m["ColumnName"].(string); ok {
			cols = append(cols, c)
			dataSets[fmt.Sprint(m["DataSetIdentifier"])] = true
		}
	})
	return len(dataSets) == 1 && dataSets[w.dataSet] && slices.Equal(cols, append(slices.Clone(w.by), w.values...))
}

// checkFilters checks that the dashboard filters every dataset on each of wantFilters, and that
// a control on the sheet sets each filter.
func checkFilters(id string, groups, controls []any) []error {
	var errs []error
	controlled := map[string]bool{}
	for _, c := range controls {
		walk(c, func(m map[string]any) {
			if f, ok := m["SourceFilterId"].(string); ok {
				controlled[f] = true
			}
		})
	}
	for _, col := range wantFilters {
		found := false
		for _, g := range groups {
			cross, _ := samtemplate.Lookup(g, "CrossDataset")
			fs, _ := samtemplate.Lookup(g, "Filters")
			for _, f := range asList(fs) {
				fid, column := filterColumn(f)
				if column == col && cross == "ALL_DATASETS" {
					found = true
					if !controlled[fid] {
						errs = append(errs, fmt.Errorf("%s: filter %s on %s has no control on the sheet", id, fid, col))
					}
				}
			}
		}
		if !found {
			errs = append(errs, fmt.Errorf("%s: no filter on %s across all datasets", id, col))
		}
	}
	return errs
}

// filterColumn returns a filter's ID and the column it filters.
func filterColumn(f any) (id, column string) {
	m, _ := f.(map[string]any)
	for _, body := range m {
		fid, _ := samtemplate.Lookup(body, "FilterId")
		c, _ := samtemplate.Lookup(body, "Column", "ColumnName")
		return fmt.Sprint(fid), fmt.Sprint(c)
	}
	return "", ""
}

func asList(v any) []any { l, _ := v.([]any); return l }

// walk calls fn on every object in v, depth first, keys in wellOrder, so that the columns of a
// visual come out in the order of its field wells.
func walk(v any, fn func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		fn(v)
		for _, k := range wellOrder(v) {
			walk(v[k], fn)
		}
	case []any:
		for _, e := range v {
			walk(e, fn)
		}
	}
}

// wellOrder sorts an object's keys, the field wells in the order a person reads them: the
// dimensions (Category, Rows, Columns) before the Values; other keys after them, sorted.
func wellOrder(m map[string]any) []string {
	rank := func(k string) int {
		if r := slices.Index([]string{"Category", "Rows", "Columns", "Values"}, k); r >= 0 {
			return r
		}
		return 4
	}
	keys := sortedKeys(m)
	slices.SortStableFunc(keys, func(a, b string) int { return rank(a) - rank(b) })
	return keys
}
