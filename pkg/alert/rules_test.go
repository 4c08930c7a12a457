package alert

import (
	"slices"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{2, 2, 2, 9}, 2},
		{[]float64{1, 1, 9, 9}, 5},
		{[]float64{0, 0, 0}, 0},
	} {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// costs makes one user's rows: the day's cost last, history the costs of the days before it
// (the first of history is the day before).
func costs(user string, day time.Time, today float64, history ...float64) []DayCost {
	var out []DayCost
	for i, c := range history {
		out = append(out, DayCost{User: user, Day: day.AddDate(0, 0, -1-i).Format("2006-01-02"), Queries: 1, CostUSD: c})
	}
	return append(out, DayCost{User: user, Day: day.Format("2006-01-02"), Queries: 7, DataScannedBytes: 1 << 40, CostUSD: today})
}

func TestEvaluate(t *testing.T) {
	day := time.Date(2025, 3, 5, 0, 0, 0, 0, time.UTC)
	rules := Rules{ThresholdUSD: 100, Ratio: 10, MinCostUSD: 5}
	fourteen := slices.Repeat([]float64{1}, 14)
	tests := []struct {
		name  string
		rows  []DayCost
		want  []Finding
		rules Rules
	}{
		{"20x over the minimum", costs("u", day, 20, 1, 1, 1), []Finding{{User: "u", CostUSD: 20, Queries: 7, DataScannedBytes: 1 << 40, BaselineUSD: 1, HistoryDays: 3, OverRatio: true}}, rules},
		{"20x under the minimum", costs("u", day, 4, 0.2, 0.2), nil, rules},
		{"at the minimum", costs("u", day, 5, 0.1), []Finding{{User: "u", CostUSD: 5, Queries: 7, DataScannedBytes: 1 << 40, BaselineUSD: 0.1, HistoryDays: 1, OverRatio: true}}, rules},
		{"exactly k times", costs("u", day, 10, 1), nil, rules},
		{"median of fewer than 14 days", costs("u", day, 40, 1, 2, 9, 3), []Finding{{User: "u", CostUSD: 40, Queries: 7, DataScannedBytes: 1 << 40, BaselineUSD: 2.5, HistoryDays: 4, OverRatio: true}}, rules},
		{"a tied median", costs("u", day, 30, 2, 2, 2, 50), []Finding{{User: "u", CostUSD: 30, Queries: 7, DataScannedBytes: 1 << 40, BaselineUSD: 2, HistoryDays: 4, OverRatio: true}}, rules},
		{"not above k times the median", costs("u", day, 30, 3, 3, 50, 50), nil, rules},
		{"no history, under the threshold", costs("u", day, 99), nil, rules},
		{"no history, over the threshold", costs("u", day, 150), []Finding{{User: "u", CostUSD: 150, Queries: 7, DataScannedBytes: 1 << 40, OverThreshold: true}}, rules},
		{"over both", costs("u", day, 150, 1), []Finding{{User: "u", CostUSD: 150, Queries: 7, DataScannedBytes: 1 << 40, BaselineUSD: 1, HistoryDays: 1, OverThreshold: true, OverRatio: true}}, rules},
		{"history of free days", costs("u", day, 6, 0, 0), []Finding{{User: "u", CostUSD: 6, Queries: 7, DataScannedBytes: 1 << 40, HistoryDays: 2, OverRatio: true}}, rules},
		// The 15th day before is outside the window: its 1000 USD does not raise the median.
		{"15 days back is outside", costs("u", day, 20, append(fourteen, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000)...), []Finding{{User: "u", CostUSD: 20, Queries: 7, DataScannedBytes: 1 << 40, BaselineUSD: 1, HistoryDays: 14, OverRatio: true}}, rules},
		{"no row on the day", costs("u", day, 0, 1)[:1], nil, rules},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.rules.Evaluate(tt.rows, day)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Evaluate(%v) = %+v, want %+v", tt.rows, got, tt.want)
			}
		})
	}
}

func TestEvaluateOrder(t *testing.T) {
	day := time.Date(2025, 3, 5, 0, 0, 0, 0, time.UTC)
	rows := slices.Concat(costs("b", day, 200), costs("c", day, 500), costs("a", day, 200), costs("d", day, 1, 1))
	var got []string
	for _, f := range (Rules{ThresholdUSD: 100, Ratio: 10, MinCostUSD: 5}).Evaluate(rows, day) {
		got = append(got, f.User)
	}
	if want := []string{"c", "a", "b"}; !slices.Equal(got, want) {
		t.Errorf("Evaluate order = %v, want %v (cost descending, ties by user)", got, want)
	}
}
