package sqlengine_test

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/athenausage/athena-usage/local/pipeline"
	"github.com/athenausage/athena-usage/local/sqlengine"
	"github.com/athenausage/athena-usage/local/synth"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

var report365Dir = flag.String("report365.dir", "",
	"state directory of BenchmarkReport365, built there unless an earlier run built the same state (default: a temporary directory)")

// The 365-day state: the demo's users with a tenth of its queries a day, in one account and
// region. The reports read one object a day of each table whatever the volume; the build's cost
// is the daily extraction, which grows with the CloudTrail files of each day's folders.
var report365 = synth.Options{Users: 8, Days: 365, QueriesPerDay: 20, Seed: 1, Start: synth.DefaultStart,
	Accounts: []string{"111122223333"}, Regions: []string{"us-east-1"}}

// BenchmarkReport365 runs what `local report --by user` runs (Stack.Report: three queries on
// athena_usage_daily) over a 365-day state for the last day, the last 7 days and all 365,
// with pushdown through views and joins on and off. Besides wall time it reports the process's
// CPU time, the bytes the engine scanned (DataScannedInBytes, the size of the S3 objects read),
// the objects read and the peak RSS; for the peak RSS of one case alone, run each case in a
// process of its own, with -report365.dir so that the state is built once:
//
//	go test ./local/sqlengine -run '^$' -bench 'Report365/days=7/pushdown=true$' -benchtime 3x -report365.dir /tmp/report365
func BenchmarkReport365(b *testing.B) {
	ctx := context.Background()
	st := report365Stack(b)
	first := report365.Start
	last := first.AddDate(0, 0, report365.Days-1)
	for _, days := range []int{1, 7, 365} {
		from := last.AddDate(0, 0, 1-days)
		for _, on := range []bool{true, false} {
			b.Run("days="+strconv.Itoa(days)+"/pushdown="+strconv.FormatBool(on), func(b *testing.B) {
				sqlengine.SetPushdown(on)
				b.Cleanup(func() { sqlengine.SetPushdown(true) })
				// The first report fills the engine's cache of transcoded objects; the loop times
				// the reports after it, as a second `local report` on the same state runs.
				before := newestQuery(b, st)
				if _, err := st.Report(ctx, "user", from, last, 5); err != nil {
					b.Fatal(err)
				}
				scanned, queries := scannedSince(b, st, before)
				wantObjects, wantBytes := dataObjects(b, st, from, last, on)
				if scanned != int64(queries)*wantBytes {
					b.Errorf("%d report queries scanned %d bytes, want %d x %d", queries, scanned, queries, wantBytes)
				}
				debug.FreeOSMemory()
				resetPeakRSS()
				cpu := cpuTime()
				for b.Loop() {
					if _, err := st.Report(ctx, "user", from, last, 5); err != nil {
						b.Fatal(err)
					}
				}
				if cpu > 0 {
					// CPU time varies less than wall time on a shared machine.
					b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/float64(time.Millisecond), "cpu-ms/op")
				}
				b.ReportMetric(float64(scanned), "scanned-B/op")
				b.ReportMetric(float64(queries*wantObjects), "objects/op")
				if mb := peakRSSMB(); mb > 0 {
					b.ReportMetric(mb, "peak-RSS-MB")
				}
			})
		}
	}
}

// report365Stack starts the local stack over the benchmark's state, building it first unless
// -report365.dir holds it already.
func report365Stack(b *testing.B) *pipeline.Stack {
	ctx := context.Background()
	dir := *report365Dir
	if dir == "" {
		dir = b.TempDir()
	}
	marker := filepath.Join(dir, "report365.built")
	want := fmt.Sprintf("%+v\n", report365)
	got, _ := os.ReadFile(marker)
	built := string(got) == want
	if !built {
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
	}
	start := func() *pipeline.Stack {
		st, err := pipeline.Start(ctx, pipeline.Options{Dir: filepath.Join(dir, "state"), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		return st
	}
	if !built {
		// Reports run on a stack of their own, as `local report` does: the stack that has just
		// run a year of pipeline answered a one-day report in 1.3 s against 0.5 s for a fresh one.
		st := start()
		buildReport365(b, st, filepath.Join(dir, "input"))
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(marker, []byte(want), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	st := start()
	b.Cleanup(func() { _ = st.Close() })
	return st
}

// buildReport365 generates the synthetic year into input and runs the daily pipeline over it.
// The S3 stand-in walks the whole bucket for every listing, so that with a year of CloudTrail in
// the trail bucket each extraction would cost a year's listing: the trail bucket holds only the
// two delivery folders that the day's extraction reads, which changes nothing the reports read.
func buildReport365(b *testing.B, st *pipeline.Stack, input string) {
	ctx := context.Background()
	began := time.Now()
	truth, err := synth.Generate(report365, input)
	if err != nil {
		b.Fatal(err)
	}
	if _, problems, err := st.LoadHistory(filepath.Join(input, synth.HistoryFile)); err != nil || len(problems) > 0 {
		b.Fatalf("load history: %v %v", err, problems)
	}
	pipe, err := st.Pipeline(pipeline.Settings{Accounts: report365.Accounts, Regions: report365.Regions, ProjectionStart: report365.Start})
	if err != nil {
		b.Fatal(err)
	}
	folders := func(day time.Time) []string {
		var out []string
		for _, a := range report365.Accounts {
			for _, r := range report365.Regions {
				out = append(out, "AWSLogs/"+a+"/CloudTrail/"+r+"/"+day.Format("2006/01/02")+"/")
			}
		}
		return out
	}
	ingest := func(day time.Time) {
		for _, f := range folders(day) {
			if _, err := os.Stat(filepath.Join(input, f)); err != nil {
				continue // no events delivered that day
			}
			if in, err := st.IngestCloudTrail(ctx, filepath.Join(input, f)); err != nil || len(in.Skipped) > 0 {
				b.Fatalf("ingest %s: %v %v", f, err, in.Skipped)
			}
		}
	}
	ingest(report365.Start)
	for d := range report365.Days {
		day := report365.Start.AddDate(0, 0, d)
		ingest(day.AddDate(0, 0, 1))
		if _, err := pipe.RunDay(ctx, day); err != nil {
			b.Fatal(err)
		}
		for _, f := range folders(day) {
			deleteUnder(b, st, pipeline.TrailBucket, f)
		}
	}
	b.Logf("built a %d-day state (%d users, %d queries/day, %d queries, %d CloudTrail files) in %s",
		report365.Days, report365.Users, report365.QueriesPerDay, len(truth.Queries), len(truth.Files), time.Since(began).Round(time.Second))
}

// deleteUnder deletes the objects under prefix.
func deleteUnder(b *testing.B, st *pipeline.Stack, bucket, prefix string) {
	ctx := context.Background()
	pages := s3.NewListObjectsV2Paginator(st.S3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range page.Contents {
			if _, err := st.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: o.Key}); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// newestQuery returns the ID of the stack's newest query, "" if none.
func newestQuery(b *testing.B, st *pipeline.Stack) string {
	out, err := st.AthenaClient(pipeline.Region).ListQueryExecutions(context.Background(), &athena.ListQueryExecutionsInput{
		WorkGroup: aws.String(pipeline.Workgroup), MaxResults: aws.Int32(1)})
	if err != nil {
		b.Fatal(err)
	}
	if len(out.QueryExecutionIds) == 0 {
		return ""
	}
	return out.QueryExecutionIds[0]
}

// scannedSince returns the bytes scanned by the queries started after the query before, and
// how many there were.
func scannedSince(b *testing.B, st *pipeline.Stack, before string) (int64, int) {
	ctx := context.Background()
	client := st.AthenaClient(pipeline.Region)
	var ids []string
	pages := athena.NewListQueryExecutionsPaginator(client, &athena.ListQueryExecutionsInput{WorkGroup: aws.String(pipeline.Workgroup)})
	for pages.HasMorePages() && (len(ids) == 0 || ids[len(ids)-1] != before) {
		page, err := pages.NextPage(ctx)
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, page.QueryExecutionIds...)
	}
	for i, id := range ids {
		if id == before {
			ids = ids[:i]
			break
		}
	}
	queries := len(ids)
	var scanned int64
	for len(ids) > 0 {
		n := min(len(ids), 50) // BatchGetQueryExecution's maximum
		out, err := client.BatchGetQueryExecution(ctx, &athena.BatchGetQueryExecutionInput{QueryExecutionIds: ids[:n]})
		if err != nil {
			b.Fatal(err)
		}
		for _, q := range out.QueryExecutions {
			scanned += aws.ToInt64(q.Statistics.DataScannedInBytes)
		}
		ids = ids[n:]
	}
	return scanned, queries
}

var dtPartition = regexp.MustCompile(`/dt=(\d{4}-\d{2}-\d{2})/[^/_.][^/]*$`)

// dataObjects counts the objects of the tables athena_queries and athena_api_output that one
// report query reads, and their bytes: those of the days in [from, to] with pushdown, every
// day's without (the views' own WHERE clauses name no partition).
func dataObjects(b *testing.B, st *pipeline.Stack, from, to time.Time, pushdown bool) (int, int64) {
	lo, hi := from.Format(time.DateOnly), to.Format(time.DateOnly)
	var n int
	var size int64
	pages := s3.NewListObjectsV2Paginator(st.S3, &s3.ListObjectsV2Input{Bucket: aws.String(pipeline.DataBucket)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range page.Contents {
			m := dtPartition.FindStringSubmatch(aws.ToString(o.Key))
			if m != nil && (!pushdown || m[1] >= lo && m[1] <= hi) {
				n++
				size += aws.ToInt64(o.Size)
			}
		}
	}
	return n, size
}

// resetPeakRSS resets the process's peak resident set size (Linux; elsewhere it does nothing).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSSMB returns the process's peak resident set size since resetPeakRSS, 0 if unknown.
func peakRSSMB() float64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return 0
			}
			return kb / 1024
		}
	}
	return 0
}

// cpuTime returns the CPU time the process has used, user and system, all threads (DuckDB's
// and the stand-ins' included), 0 if unknown. It counts in Linux's clock ticks of 10 ms.
func cpuTime() time.Duration {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	// The fields after the command name, which may hold spaces, start at the state, field 3.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(fields[14-3], 10, 64)
	stime, err2 := strconv.ParseInt(fields[15-3], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
