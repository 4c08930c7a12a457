package synth

import (
	"math/rand/v2"
	"time"

	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
)

// The spike users, which Options.Spike adds: IAM users of the first account who run
// SpikeQueries queries every day, each scanning the same bytes, and SpikeFactor times as many
// bytes each on the last day. The first one's last day costs 6.25 USD at 5 USD per TB, above
// the alert rules' default minimum cost of 5 USD; the second's costs 0.39 USD, under it.
const (
	SpikeQueries = 4
	SpikeFactor  = 20
)

// spikes are the spike users' names and the bytes each of their queries scans on a usual day.
var spikes = []struct {
	name  string
	bytes int64
}{
	{"spike", 16 * gb},
	{"spike-small", 1 * gb},
}

// makeSpikes adds the spike users and their queries, drawing from a generator of their own so
// that the other users' data is the same with and without them.
func (g *generator) makeSpikes() {
	saved := g.r
	seed := uint64(g.opts.Seed) ^ 0x5350494b45 // "SPIKE"
	g.r = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	defer func() { g.r = saved }()
	a := g.opts.Accounts[0]
	for _, s := range spikes {
		u := &user{
			User: User{
				ARN: "arn:aws:iam::" + a + ":user/" + s.name, Type: TypeIAMUser, Account: a,
				PrincipalID: "AIDA" + g.token(17, upperAlnum), UserName: s.name, HomeRegion: g.opts.Regions[0],
			},
			accessKeyID: "AKIA" + g.token(16, upperAlnum),
			sourceIP:    "198.51.100.77",
			userAgent:   "JDBC/2.1.5.1001 (Java 17.0.11; Linux 5.15.0) AthenaJDBCDriver",
			databases:   []int{0, 1},
		}
		g.users = append(g.users, u)
		g.truth.Spikes = append(g.truth.Spikes, u.ARN)
		for d := range g.opts.Days {
			bytes := s.bytes
			if d == g.opts.Days-1 {
				bytes *= SpikeFactor
			}
			day := g.opts.Start.AddDate(0, 0, d)
			for i := range SpikeQueries {
				g.addSpikeQuery(u, day.Add(9*time.Hour+time.Duration(i)*37*time.Minute), bytes)
			}
		}
	}
}

// addSpikeQuery adds a DML query of u that succeeded after scanning bytes.
func (g *generator) addSpikeQuery(u *user, at time.Time, bytes int64) {
	q := g.newQuery(u, at, false)
	db := databases[u.databases[0]]
	q.Database = db
	q.StatementType = string(types.StatementTypeDml)
	q.SubstatementType, q.text = g.dml(db, tables[db][0], at.AddDate(0, 0, -1).Format(config.DayLayout))
	q.State = string(types.QueryExecutionStateSucceeded)
	q.setError("", 0, 0, false)
	q.ResultReused = false
	q.InHistory = true
	q.DataScannedBytes = bytes
	q.EngineMS = g.engineMS(bytes)
	g.queries = append(g.queries, q)
	g.addStarted(q, q.EventTime)
}
