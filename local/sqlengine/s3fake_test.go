package sqlengine

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// fakeS3 is an in-memory S3 that records the keys it served and the prefixes it listed.
type fakeS3 struct {
	mu      sync.Mutex
	objects map[string][]byte // "bucket/key"
	gets    []string
	lists   []string
	// pageSize makes listings paginate, to exercise continuation tokens.
	pageSize int
}

func newFakeS3() *fakeS3 { return &fakeS3{objects: map[string][]byte{}, pageSize: 2} }

func (f *fakeS3) put(bucket, key string, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objects[bucket+"/"+key] = data
}

// calls returns and forgets the recorded calls.
func (f *fakeS3) calls() (gets, lists []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	gets, lists = f.gets, f.lists
	f.gets, f.lists = nil, nil
	sort.Strings(gets)
	return gets, lists
}

func (f *fakeS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := aws.ToString(in.Bucket) + "/" + aws.ToString(in.Key)
	f.gets = append(f.gets, key)
	data, ok := f.objects[key]
	if !ok {
		return nil, &s3types.NoSuchKey{}
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(data)), ContentLength: aws.Int64(int64(len(data)))}, nil
}

func (f *fakeS3) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	bucket, prefix := aws.ToString(in.Bucket), aws.ToString(in.Prefix)
	if in.ContinuationToken == nil {
		f.lists = append(f.lists, bucket+"/"+prefix)
	}
	var keys []string
	for k := range f.objects {
		if b, key, _ := strings.Cut(k, "/"); b == bucket && strings.HasPrefix(key, prefix) && key > aws.ToString(in.ContinuationToken) {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	out := &s3.ListObjectsV2Output{IsTruncated: aws.Bool(false)}
	if len(keys) > f.pageSize {
		keys = keys[:f.pageSize]
		out.IsTruncated = aws.Bool(true)
		out.NextContinuationToken = aws.String(keys[len(keys)-1])
	}
	for _, k := range keys {
		data := f.objects[bucket+"/"+k]
		sum := md5.Sum(data)
		out.Contents = append(out.Contents, s3types.Object{Key: aws.String(k), Size: aws.Int64(int64(len(data))),
			ETag: aws.String(`"` + hex.EncodeToString(sum[:]) + `"`)})
	}
	return out, nil
}

func TestFakeS3Paginates(t *testing.T) {
	f := newFakeS3()
	for _, k := range []string{"a/1", "a/2", "a/3", "b/1"} {
		f.put("bk", k, []byte(k))
	}
	e := &Engine{s3: f}
	objs, err := e.list(context.Background(), "bk", "a/")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 3 {
		t.Errorf("list(a/) = %v, want 3 objects", objs)
	}
}
