package lookup

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	athenatypes "github.com/aws/aws-sdk-go-v2/service/athena/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// fakeS3 is an in-memory bucket store that also serves as the uploader.
type fakeS3 struct {
	mu      sync.Mutex
	objects map[string][]byte // "bucket/key" -> body
	etags   map[string]string
	// pageSize is ListObjectsV2's page size, small to exercise pagination.
	pageSize int
	// breakAfter, when set, makes the next body read fail after that many bytes, once; onBreak,
	// when set, runs just before it fails.
	breakAfter int
	onBreak    func()
	// onUpload runs after each upload.
	onUpload func(key string)
	// headIgnoresIfMatch makes HeadObject answer as a store that ignores If-Match.
	headIgnoresIfMatch bool
	// denyMissing makes a GET or HEAD of a missing key answer 403 AccessDenied, as S3 does
	// for a role without s3:ListBucket on the bucket (the lookup's may list only prefixes).
	denyMissing bool

	gets    []*s3.GetObjectInput
	heads   []*s3.HeadObjectInput
	deletes [][]string
	uploads map[string]int // key -> uploads
}

func newFakeS3() *fakeS3 {
	return &fakeS3{objects: map[string][]byte{}, etags: map[string]string{}, pageSize: 2}
}

func (f *fakeS3) put(bucket, key string, body []byte) {
	sum := md5.Sum(body)
	f.objects[bucket+"/"+key] = body
	f.etags[bucket+"/"+key] = `"` + hex.EncodeToString(sum[:]) + `"`
}

// replace writes bucket/key as a rerun of the day would, while the handler runs.
func (f *fakeS3) replace(bucket, key string, body []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.put(bucket, key, body)
}

func (f *fakeS3) HeadObject(ctx context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.heads = append(f.heads, in)
	name := aws.ToString(in.Bucket) + "/" + aws.ToString(in.Key)
	body, ok := f.objects[name]
	if !ok && f.denyMissing {
		return nil, &smithy.GenericAPIError{Code: "Forbidden", Message: name}
	}
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "NotFound", Message: name}
	}
	// S3 answers a HEAD with no body: the SDK makes the code of the status text.
	if m := aws.ToString(in.IfMatch); m != "" && m != f.etags[name] && !f.headIgnoresIfMatch {
		return nil, &smithy.GenericAPIError{Code: "PreconditionFailed", Message: "Precondition Failed"}
	}
	return &s3.HeadObjectOutput{ETag: aws.String(f.etags[name]), ContentLength: aws.Int64(int64(len(body)))}, nil
}

func (f *fakeS3) GetObject(ctx context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets = append(f.gets, in)
	name := aws.ToString(in.Bucket) + "/" + aws.ToString(in.Key)
	body, ok := f.objects[name]
	if !ok && f.denyMissing {
		return nil, &smithy.GenericAPIError{Code: "AccessDenied", Message: name}
	}
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "NoSuchKey", Message: name}
	}
	if m := aws.ToString(in.IfMatch); m != "" && m != f.etags[name] {
		return nil, &smithy.GenericAPIError{Code: "PreconditionFailed", Message: "etag"}
	}
	if r := aws.ToString(in.Range); r != "" {
		from, to, ok := strings.Cut(strings.TrimPrefix(r, "bytes="), "-")
		start, err := strconv.Atoi(from)
		if !ok || err != nil || start >= len(body) {
			return nil, &smithy.GenericAPIError{Code: "InvalidRange", Message: r}
		}
		end := len(body)
		if to != "" {
			e, err := strconv.Atoi(to)
			if err != nil {
				return nil, &smithy.GenericAPIError{Code: "InvalidRange", Message: r}
			}
			end = min(end, e+1)
		}
		body = body[start:end]
	}
	var rd io.Reader = bytes.NewReader(body)
	if f.breakAfter > 0 {
		rd = io.MultiReader(io.LimitReader(rd, int64(f.breakAfter)), errReader{errors.New("connection reset by peer"), f.onBreak})
		f.breakAfter, f.onBreak = 0, nil
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(rd), ETag: aws.String(f.etags[name])}, nil
}

// errReader fails every read with err, after running before (if set) on the first.
type errReader struct {
	err    error
	before func()
}

func (r errReader) Read([]byte) (int, error) {
	if r.before != nil {
		r.before()
	}
	return 0, r.err
}

func (f *fakeS3) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	bucket := aws.ToString(in.Bucket) + "/"
	var keys []string
	for name := range f.objects {
		if key, ok := strings.CutPrefix(name, bucket); ok && strings.HasPrefix(key, aws.ToString(in.Prefix)) {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	start := 0
	if t := aws.ToString(in.ContinuationToken); t != "" {
		start, _ = strconv.Atoi(t)
	}
	end := min(len(keys), start+f.pageSize)
	out := &s3.ListObjectsV2Output{IsTruncated: aws.Bool(end < len(keys))}
	for _, k := range keys[start:end] {
		out.Contents = append(out.Contents, s3types.Object{Key: aws.String(k)})
	}
	if end < len(keys) {
		out.NextContinuationToken = aws.String(strconv.Itoa(end))
	}
	return out, nil
}

func (f *fakeS3) DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, _ ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var keys []string
	for _, o := range in.Delete.Objects {
		keys = append(keys, aws.ToString(o.Key))
		delete(f.objects, aws.ToString(in.Bucket)+"/"+aws.ToString(o.Key))
	}
	f.deletes = append(f.deletes, keys)
	return &s3.DeleteObjectsOutput{}, nil
}

func (f *fakeS3) UploadObject(ctx context.Context, in *transfermanager.UploadObjectInput, _ ...func(*transfermanager.Options)) (*transfermanager.UploadObjectOutput, error) {
	b, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	key := aws.ToString(in.Key)
	f.mu.Lock()
	f.put(aws.ToString(in.Bucket), key, b)
	if f.uploads == nil {
		f.uploads = map[string]int{}
	}
	f.uploads[key]++
	f.mu.Unlock()
	if f.onUpload != nil {
		f.onUpload(key)
	}
	return &transfermanager.UploadObjectOutput{}, nil
}

// uploadsOf is how many times key was uploaded.
func (f *fakeS3) uploadsOf(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.uploads[key]
}

// queryGets returns the GetObject calls of the day's athena_queries object: the handler also
// reads its manifest and an earlier run's parts.
func (e *env) queryGets() []*s3.GetObjectInput {
	e.s3.mu.Lock()
	defer e.s3.mu.Unlock()
	var out []*s3.GetObjectInput
	for _, in := range e.s3.gets {
		if aws.ToString(in.Key) == e.key {
			out = append(out, in)
		}
	}
	return out
}

// objectsUnder returns the objects whose key starts with prefix, by key.
func (f *fakeS3) objectsUnder(bucket, prefix string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for name, body := range f.objects {
		if key, ok := strings.CutPrefix(name, bucket+"/"); ok && strings.HasPrefix(key, prefix) {
			out[key] = string(body)
		}
	}
	return out
}

// fakeLambda records the events it is asked to invoke.
type fakeLambda struct {
	mu    sync.Mutex
	calls []*lambda.InvokeInput
	// err, when set, fails every Invoke (after recording it).
	err error
}

func (f *fakeLambda) Invoke(ctx context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, in)
	if f.err != nil {
		return nil, f.err
	}
	return &lambda.InvokeOutput{StatusCode: 202}, nil
}

// fakeAthena answers as one account's Athena in one region: every ID is found, with
// "account/region" as its catalog, unless err says otherwise. An ID starting with "gone-" is
// unprocessed for good; one starting with "busy-" is unprocessed with a transient code the
// first time it is asked for. The first throttle calls are throttled.
type fakeAthena struct {
	where    place
	err      error
	throttle int
	// onCall, when set, runs at the start of each call.
	onCall func(ids []string)

	mu    sync.Mutex
	calls [][]string
	asks  map[string]int
}

func (f *fakeAthena) BatchGetQueryExecution(ctx context.Context, in *athena.BatchGetQueryExecutionInput, _ ...func(*athena.Options)) (*athena.BatchGetQueryExecutionOutput, error) {
	if f.onCall != nil {
		f.onCall(in.QueryExecutionIds)
	}
	f.mu.Lock()
	f.calls = append(f.calls, slices.Clone(in.QueryExecutionIds))
	if f.asks == nil {
		f.asks = map[string]int{}
	}
	firstAsk := map[string]bool{}
	for _, id := range in.QueryExecutionIds {
		f.asks[id]++
		firstAsk[id] = f.asks[id] == 1
	}
	throttled := len(f.calls) <= f.throttle
	f.mu.Unlock()
	if throttled {
		return nil, &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	}
	if f.err != nil {
		return nil, f.err
	}
	out := &athena.BatchGetQueryExecutionOutput{}
	for _, id := range in.QueryExecutionIds {
		code := ""
		switch {
		case strings.HasPrefix(id, "gone-"):
			code = "InvalidRequestException"
		case strings.HasPrefix(id, "busy-") && firstAsk[id]:
			code = "InternalServerException"
		default:
			out.QueryExecutions = append(out.QueryExecutions, executionIn(id, f.where.String()))
			continue
		}
		out.UnprocessedQueryExecutionIds = append(out.UnprocessedQueryExecutionIds, athenatypes.UnprocessedQueryExecutionId{
			QueryExecutionId: aws.String(id), ErrorCode: aws.String(code),
		})
	}
	return out, nil
}

func (f *fakeAthena) asked() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for _, c := range f.calls {
		ids = append(ids, c...)
	}
	return ids
}

// executionIn is the execution the fake Athena of where ("account/region") returns for id.
func executionIn(id, where string) athenatypes.QueryExecution {
	submitted := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	completed := submitted.Add(1500 * time.Millisecond)
	return athenatypes.QueryExecution{
		QueryExecutionId:      aws.String(id),
		WorkGroup:             aws.String("primary"),
		StatementType:         athenatypes.StatementTypeDml,
		QueryExecutionContext: &athenatypes.QueryExecutionContext{Database: aws.String("sales"), Catalog: aws.String(where)},
		Status: &athenatypes.QueryExecutionStatus{
			State:              athenatypes.QueryExecutionStateSucceeded,
			SubmissionDateTime: &submitted,
			CompletionDateTime: &completed,
		},
		Statistics: &athenatypes.QueryExecutionStatistics{
			DataScannedInBytes:          aws.Int64(int64(len(id)) * 1000),
			EngineExecutionTimeInMillis: aws.Int64(1200),
			TotalExecutionTimeInMillis:  aws.Int64(1500),
		},
		EngineVersion: &athenatypes.EngineVersion{EffectiveEngineVersion: aws.String("Athena engine version 3")},
	}
}

// queryRow is one row of the extract's CSV, as far as these tests care.
type queryRow struct {
	id, account, region, agent string
}

var queriesColumns = []string{
	"query_id", "event_time", "account_id", "aws_region", "user_arn", "user_type", "principal_id",
	"user_name", "session_issuer", "source_ip", "user_agent", "workgroup", "query_database",
	"error_code", "submissions",
}

// athenaCSV writes rows as Athena writes a query result: every value quoted, quotes doubled,
// NULL as an empty unquoted field.
func athenaCSV(rows []queryRow) []byte {
	var b bytes.Buffer
	quote := func(v string) string {
		if v == "" {
			return ""
		}
		return `"` + strings.ReplaceAll(v, `"`, `""`) + `"`
	}
	var head []string
	for _, c := range queriesColumns {
		head = append(head, quote(c))
	}
	b.WriteString(strings.Join(head, ",") + "\n")
	for _, r := range rows {
		code := ""
		if r.id == "" {
			code = "AccessDeniedException"
		}
		fields := []string{
			r.id, "2025-03-04T05:06:07Z", r.account, r.region,
			"arn:aws:sts::123456789012:assumed-role/analyst/jane", "AssumedRole", "AROAEXAMPLE:jane",
			"", "analyst", "10.0.0.1", r.agent, "primary", "sales", code, "1",
		}
		for i := range fields {
			fields[i] = quote(fields[i])
		}
		b.WriteString(strings.Join(fields, ",") + "\n")
	}
	return b.Bytes()
}

// dayRows is a day's CSV rows: n distinct sorted IDs, some duplicated, with awkward user agents,
// and refused submissions (no query ID) at the end.
func dayRows(n int, regions ...string) []queryRow {
	if len(regions) == 0 {
		regions = []string{"us-east-1"}
	}
	agents := []string{"aws-cli/2.0", `Mozilla/5.0 (X11, "quoted", comma)`, "line one\nline two, \"three\"", ""}
	var rows []queryRow
	for i := range n {
		r := queryRow{id: fmt.Sprintf("%08x-1111-4222-8333-%012x", i, i), account: testAccount, region: regions[i%len(regions)], agent: agents[i%len(agents)]}
		rows = append(rows, r)
		if i%7 == 3 {
			rows = append(rows, r, r)
		}
	}
	rows = append(rows, queryRow{account: testAccount, region: "us-east-1", agent: "refused, \"once\""}, queryRow{account: testAccount, region: "eu-west-1"})
	return rows
}

func distinctIDs(rows []queryRow) []string {
	var ids []string
	for _, r := range rows {
		if r.id != "" && (len(ids) == 0 || ids[len(ids)-1] != r.id) {
			ids = append(ids, r.id)
		}
	}
	return ids
}
