package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/athenausage/athena-usage/pkg/apioutput"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// queryID is the i-th generated query ID; index reverses it.
func queryID(i int) string { return fmt.Sprintf("%08x-1111-4222-8333-%012x", i, i) }

func index(id string) (int, bool) {
	if len(id) != 36 {
		return 0, false
	}
	n, err := strconv.ParseInt(id[24:], 16, 64)
	return int(n), err == nil
}

// generated is the execution the stand-in returns for a generated ID.
func generated(id string) (types.QueryExecution, bool) {
	i, ok := index(id)
	if !ok {
		return types.QueryExecution{}, false
	}
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	return types.QueryExecution{
		QueryExecutionId: aws.String(id),
		Query:            aws.String("SELECT 1"),
		WorkGroup:        aws.String("primary"),
		StatementType:    types.StatementTypeDml,
		Status: &types.QueryExecutionStatus{
			State: types.QueryExecutionStateSucceeded, SubmissionDateTime: &at, CompletionDateTime: aws.Time(at.Add(time.Second)),
		},
		Statistics: &types.QueryExecutionStatistics{DataScannedInBytes: aws.Int64(int64(i)), EngineExecutionTimeInMillis: aws.Int64(900)},
	}, true
}

// csvGenerator is a day's extraction CSV of n query IDs, written as it is read, so that a
// million rows never sit in memory.
type csvGenerator struct {
	n, i int
	buf  []byte
	head bool
}

func (g *csvGenerator) Read(p []byte) (int, error) {
	for len(g.buf) == 0 {
		switch {
		case !g.head:
			g.head = true
			g.buf = append(g.buf, `"query_id","event_time","account_id","aws_region","user_arn","user_type","principal_id","user_name","session_issuer","source_ip","user_agent","workgroup","query_database","error_code","submissions"`+"\n"...)
		case g.i < g.n:
			g.buf = fmt.Appendf(g.buf, `"%s","2025-03-04T05:06:07Z","123456789012","us-east-1","arn:aws:sts::123456789012:assumed-role/analyst/user%d","AssumedRole","AROAEXAMPLE:user%d",,"analyst","10.0.0.1","aws-cli/2.15.0","primary","sales",,"1"`+"\n",
				queryID(g.i), g.i%97, g.i%97)
			g.i++
		default:
			return 0, io.EOF
		}
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	return n, nil
}

// generatedS3 serves the generated extraction CSV and the state objects the handler wrote (the
// day's manifest, the quotas it found), and has no parts to list or delete.
type generatedS3 struct {
	ids   int
	state *stateStore
}

func (s generatedS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	if body, ok := s.state.get(aws.ToString(in.Key)); ok {
		return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(body))}, nil
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(&csvGenerator{n: s.ids}), ETag: aws.String(`"generated"`)}, nil
}

func (generatedS3) HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	return &s3.HeadObjectOutput{ETag: aws.String(`"generated"`)}, nil
}

func (s generatedS3) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	out := &s3.ListObjectsV2Output{}
	for _, key := range s.state.keys(aws.ToString(in.Prefix)) {
		out.Contents = append(out.Contents, s3types.Object{Key: aws.String(key)})
	}
	return out, nil
}

// stateStore keeps the objects the handler writes that are not parts.
type stateStore struct {
	mu      sync.Mutex
	objects map[string][]byte
}

func newStateStore() *stateStore { return &stateStore{objects: map[string][]byte{}} }

func (s *stateStore) get(key string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	body, ok := s.objects[key]
	return body, ok
}

func (s *stateStore) put(key string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[key] = body
}

// keys are the keys under prefix, sorted.
func (s *stateStore) keys(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for key := range s.objects {
		if strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	return keys
}

func (generatedS3) DeleteObjects(context.Context, *s3.DeleteObjectsInput, ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error) {
	return &s3.DeleteObjectsOutput{}, nil
}

// checkingUploader reads each part (under athena_api_output/) as it is uploaded and keeps one
// bit per ID: an ID written twice is a duplicate, one never written (or written with a lookup
// error) is lost. Other objects go to state.
type checkingUploader struct {
	state  *stateStore
	mu     sync.Mutex
	seen   []bool
	dup    int
	failed int
	err    error
}

func newCheckingUploader(ids int, state *stateStore) *checkingUploader {
	return &checkingUploader{seen: make([]bool, ids), state: state}
}

func (u *checkingUploader) UploadObject(_ context.Context, in *transfermanager.UploadObjectInput, _ ...func(*transfermanager.Options)) (*transfermanager.UploadObjectOutput, error) {
	if !strings.Contains(aws.ToString(in.Key), "/athena_api_output/") {
		// The day's manifest, the quotas found: not a part.
		body, err := io.ReadAll(in.Body)
		u.state.put(aws.ToString(in.Key), body)
		return &transfermanager.UploadObjectOutput{}, err
	}
	r := apioutput.NewReader(in.Body)
	for {
		row, err := r.Read()
		if err == io.EOF {
			return &transfermanager.UploadObjectOutput{}, nil
		}
		u.mu.Lock()
		switch i, ok := index(row.QueryID); {
		case err != nil || !ok || i >= len(u.seen):
			u.err = fmt.Errorf("part %s: row %q: %w", aws.ToString(in.Key), row.QueryID, err)
		case u.seen[i]:
			u.dup++
		default:
			u.seen[i] = true
			if row.LookupError != "" {
				u.failed++
			}
		}
		u.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
}

// lost is the IDs not written, or written with a lookup error.
func (u *checkingUploader) lost() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := u.failed
	for _, ok := range u.seen {
		if !ok {
			n++
		}
	}
	return n
}

// noLambda counts continuations; the bench's invocations have no deadline and need none.
type noLambda struct{ calls atomic.Int64 }

func (l *noLambda) Invoke(context.Context, *lambda.InvokeInput, ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	l.calls.Add(1)
	return &lambda.InvokeOutput{StatusCode: 202}, nil
}
