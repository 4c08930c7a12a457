package backfill

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/athenausage/athena-usage/pkg/events"
	"github.com/athenausage/athena-usage/pkg/status"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// fakeLambda records the invocations.
type fakeLambda struct {
	mu    sync.Mutex
	calls []*lambda.InvokeInput
}

func (f *fakeLambda) Invoke(_ context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, in)
	return &lambda.InvokeOutput{StatusCode: 202}, nil
}

// fakeS3 holds complete days: their athena_queries object and a complete manifest. complete is
// called at each look, so that a test can complete days as time passes.
type fakeS3 struct {
	complete func(key string) bool
}

func (f *fakeS3) HeadObject(_ context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	if !f.complete(aws.ToString(in.Key)) {
		return nil, &smithy.GenericAPIError{Code: "NotFound"}
	}
	return &s3.HeadObjectOutput{ETag: aws.String("e")}, nil
}

func (f *fakeS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	key := aws.ToString(in.Key)
	if !f.complete(key) {
		return nil, &smithy.GenericAPIError{Code: "NoSuchKey"}
	}
	day := strings.TrimSuffix(strings.TrimPrefix(key, "athena_usage_state/dt="), "/lookup.json")
	b, _ := json.Marshal(events.LookupManifest{Day: day, Key: "athena_queries/dt=" + day + "/queries.csv", ETag: "e", Complete: true, Done: events.LookupTotals{IDs: 5, Parts: 1}})
	return &s3.GetObjectOutput{Body: io.NopCloser(strings.NewReader(string(b)))}, nil
}

func days(from string, n int) []time.Time {
	d, _ := time.Parse(time.DateOnly, from)
	var out []time.Time
	for i := range n {
		out = append(out, d.AddDate(0, 0, i))
	}
	return out
}

func completeDays(names ...string) func(string) bool {
	return func(key string) bool {
		for _, n := range names {
			if strings.Contains(key, "dt="+n+"/") {
				return true
			}
		}
		return false
	}
}

func TestStartSkipsCompleteDays(t *testing.T) {
	lam := &fakeLambda{}
	b := New(lam, "s-extract", status.New(&fakeS3{complete: completeDays("2025-03-02", "2025-03-05")}, "b", "", nil))
	plan, err := b.Start(context.Background(), days("2025-03-01", 6))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range lam.calls {
		if c.InvocationType != "Event" || aws.ToString(c.FunctionName) != "s-extract" {
			t.Errorf("Invoke(%s, %s), want an asynchronous invoke of s-extract", aws.ToString(c.FunctionName), c.InvocationType)
		}
		got = append(got, string(c.Payload))
	}
	want := []string{`{"from":"2025-03-01","to":"2025-03-01"}`, `{"from":"2025-03-03","to":"2025-03-04"}`, `{"from":"2025-03-06","to":"2025-03-06"}`}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Start() invoked %v, want %v", got, want)
	}
	if len(plan.Skipped) != 2 || len(plan.Runs) != 3 {
		t.Errorf("Start() = %+v, want 2 days skipped and 3 runs", plan)
	}
}

func TestWaitPollsUntilEveryDayEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		// A day completes a minute after the backfill starts, the next two minutes after.
		done := func(key string) bool {
			el := time.Since(start)
			return (strings.Contains(key, "dt=2025-03-01/") && el >= time.Minute) || (strings.Contains(key, "dt=2025-03-02/") && el >= 2*time.Minute)
		}
		b := New(&fakeLambda{}, "f", status.New(&fakeS3{complete: done}, "b", "", nil), func(o *Options) { o.Poll = 30 * time.Second })
		var looks []int
		p, err := b.Wait(context.Background(), days("2025-03-01", 2), start, func(p Progress) { looks = append(looks, p.Complete) })
		if err != nil || !p.Ended() || p.Complete != 2 || p.IDs != 10 {
			t.Fatalf("Wait() = %+v, %v, want both days complete", p, err)
		}
		if want := []int{0, 0, 1, 1, 2}; !slices.Equal(looks, want) {
			t.Errorf("Wait() looked %v, want %v (every 30s for 2 minutes)", looks, want)
		}
		if el := time.Since(start); el != 2*time.Minute {
			t.Errorf("Wait() took %v, want 2m", el)
		}
	})
}

func TestCheckRange(t *testing.T) {
	now := time.Date(2025, 3, 20, 15, 0, 0, 0, time.UTC)
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	tests := []struct {
		from, to string
		want     string
	}{
		{"2025-03-01", "2025-03-20", ""},
		{"2025-02-04", "2025-02-04", ""},
		{"2025-02-03", "2025-03-01", "more than 44 days ago"},
		{"2025-03-01", "2025-03-21", "in the future"},
	}
	for _, tt := range tests {
		err := CheckRange(day(tt.from), day(tt.to), now)
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("CheckRange(%s, %s) = %v, want %q", tt.from, tt.to, err, tt.want)
		}
	}
}
