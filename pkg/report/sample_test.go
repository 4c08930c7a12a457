package report

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// usage is one user's activity in one database, the grain of the athena_usage_daily view summed
// over the window; the test builds every Report input from a list of these, as the CLI does in SQL.
type usage struct {
	user, role, database string
	Group
}

const pricePerTB = 5.0

// sampleUsage is a realistic month: IAM users, SSO and service roles with long session names,
// five databases, a few failures, cancels, refusals and queries without statistics.
func sampleUsage() []usage {
	users := []struct{ arn, role string }{
		{"arn:aws:iam::123456789012:user/alice", "alice"},
		{"arn:aws:iam::123456789012:user/bob.martin", "bob.martin"},
		{"arn:aws:sts::123456789012:assumed-role/DataAnalyst/carol@example.com", "DataAnalyst"},
		{"arn:aws:sts::123456789012:assumed-role/DataAnalyst/dave@example.com", "DataAnalyst"},
		{"arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_DataEngineer_0123456789abcdef/erin.o'neil@example.com", "AWSReservedSSO_DataEngineer_0123456789abcdef"},
		{"arn:aws:sts::123456789012:assumed-role/quicksight-service-role/QuickSight-Refresh-1a2b3c4d5e6f", "quicksight-service-role"},
		{"arn:aws:sts::210987654321:assumed-role/etl-nightly/etl-nightly-session", "etl-nightly"},
		{"arn:aws:iam::210987654321:user/alice", "alice"},
	}
	dbs := []string{"sales", "marketing_events", "clickstream_raw", "finance", "default"}
	rng := rand.New(rand.NewPCG(7, 11))
	var out []usage
	for i, u := range users {
		for j, db := range dbs {
			if (i+j)%4 == 3 {
				continue // not everybody uses every database
			}
			q := int64(rng.IntN(400) + 1)
			if i == 5 {
				q *= 6 // the dashboard refresh role runs many small queries
			}
			failed := int64(rng.IntN(int(q/20) + 1))
			cancelled := int64(rng.IntN(3))
			noStats := int64(0)
			switch {
			case i == 6 && j == 0:
				noStats = 12
			case i == 6 && j == 4:
				noStats = q // older than Athena's 45-day history
			}
			succeeded := max(q-failed-cancelled-noStats, 0)
			// Average scan grows from kilobytes in "default" to gigabytes in clickstream_raw.
			avgMB := math.Pow(10, float64((j*3+i)%6)-1) * (1 + rng.Float64())
			scanned := int64(avgMB * 1048576 * float64(q-noStats))
			if noStats == q {
				failed, cancelled = 0, 0
			}
			billed := float64(scanned) + float64(q-noStats)*5*1048576 // rounding and 10 MB minimums
			out = append(out, usage{user: u.arn, role: u.role, database: db, Group: Group{
				Queries:             q,
				QueriesWithoutStats: noStats,
				Succeeded:           succeeded,
				Failed:              failed,
				Cancelled:           cancelled,
				FailedSubmissions:   int64((i + j) % 3 / 2),
				DataScannedBytes:    scanned,
				EngineExecutionMS:   int64(float64(q) * (300 + avgMB*2)),
				CostUSD:             billed / (1 << 40) * pricePerTB,
			}})
		}
	}
	return out
}

// manyUsage has n users across a dozen databases, to exercise the "other" rows of the charts.
func manyUsage(n int) []usage {
	var out []usage
	for i := range n {
		for j := range 12 {
			if (i*7+j)%5 != 0 {
				continue
			}
			q := int64(1 + (i*31+j*17)%97)
			out = append(out, usage{
				user:     fmt.Sprintf("arn:aws:sts::123456789012:assumed-role/team-%02d/person-%03d@example.com", i%9, i),
				role:     fmt.Sprintf("team-%02d", i%9),
				database: fmt.Sprintf("db_%02d_some_rather_long_database_name", j),
				Group: Group{Queries: q, Succeeded: q - 1, Failed: 1, DataScannedBytes: q * int64(1+i%13) << 24,
					EngineExecutionMS: q * 900, CostUSD: float64(q*int64(1+i%13)<<24) / (1 << 40) * pricePerTB},
			})
		}
	}
	return out
}

// build groups usage into a Report the way the CLI does: groups by cost then key, charts from
// the same rows.
func build(by string, rows []usage) *Report {
	key := map[string]func(usage) string{
		"user":     func(u usage) string { return u.user },
		"role":     func(u usage) string { return u.role },
		"database": func(u usage) string { return u.database },
	}
	r := &Report{By: by, From: "2024-05-01", To: "2024-05-31", PricePerTB: pricePerTB,
		GeneratedBy: "athena-usage test"}
	r.Groups = groupBy(rows, key[by])
	r.QueriesPerUser = groupBy(rows, key["user"])
	r.QueriesPerDatabase = groupBy(rows, key["database"])
	r.CostPerUser = r.QueriesPerUser
	for _, g := range r.QueriesPerUser {
		if g.Failed+g.FailedSubmissions > 0 {
			r.FailuresPerUser = append(r.FailuresPerUser, g)
		}
	}
	r.DailyCost = dailyCost(rows)
	for _, u := range rows {
		avg := math.NaN()
		if with := u.Queries - u.QueriesWithoutStats; with > 0 {
			avg = float64(u.DataScannedBytes) / float64(with) / 1048576
		}
		r.UserDatabase = append(r.UserDatabase, Cell{User: u.user, Database: u.database, Queries: u.Queries, AvgMBScanned: avg})
	}
	return r
}

// dailyCost spreads the window's queries and cost over its 31 days, weekends quieter, as the
// daily_cost dataset would have them.
func dailyCost(rows []usage) []Day {
	if len(rows) == 0 {
		return nil
	}
	t := total(groupBy(rows, func(usage) string { return "" }))
	weight := func(d int) float64 { return []float64{1, 1.2, 1.1, 1.3, 0.9, 0.2, 0.1}[d%7] * (1 + float64(d)/60) }
	var sum float64
	for d := range 31 {
		sum += weight(d)
	}
	out := make([]Day, 31)
	for d := range out {
		f := weight(d) / sum
		out[d] = Day{Day: fmt.Sprintf("2024-05-%02d", d+1), Queries: int64(float64(t.Queries) * f),
			DataScannedBytes: int64(float64(t.DataScannedBytes) * f), CostUSD: t.CostUSD * f}
	}
	return out
}

func groupBy(rows []usage, key func(usage) string) []Group {
	m := map[string]*Group{}
	for _, u := range rows {
		k := key(u)
		if m[k] == nil {
			m[k] = &Group{Key: k}
		}
		m[k].add(u.Group)
	}
	out := make([]Group, 0, len(m))
	for _, g := range m {
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].CostUSD != out[j].CostUSD {
			return out[i].CostUSD > out[j].CostUSD
		}
		return out[i].Key < out[j].Key
	})
	return out
}
