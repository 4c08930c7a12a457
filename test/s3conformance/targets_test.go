package s3conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/athenausage/athena-usage/local/s3server"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// region is the region every target's client signs for; MinIO's default and the stand-in's.
const region = "us-east-1"

// target is one S3 implementation the suite runs against.
type target struct {
	name string
	// open returns a client for the target with the settings the pipeline uses there, or skips
	// t saying why the target is not available.
	open func(t *testing.T) *s3.Client
	// persistent is set for a server that outlives the test, which must then remove its bucket.
	persistent bool
	// quirks are where the target is known to differ from S3.
	quirks quirks
}

// quirks are known differences from S3. A test that meets one asserts the target's actual
// behaviour, so that a fix in the target fails the test and asks for the quirk to be dropped,
// and a new difference fails it too.
type quirks struct {
	// wholeBodyETag: a multipart object's ETag is the MD5 of the whole body, where S3's is the
	// MD5 of the parts' MD5s followed by "-" and the number of parts.
	wholeBodyETag bool
	// noUploadsIsNoSuchUpload: ListMultipartUploads of a bucket with no unfinished upload
	// answers 404 NoSuchUpload, where S3 answers an empty list.
	noUploadsIsNoSuchUpload bool
}

// targets are the implementations every test runs against; minio_test.go adds MinIO when the
// tests are built with the integration tag.
var targets = []target{{
	name: "locals3",
	open: openLocalS3,
	// gofakes3 v1.2.0 (s3afero backend): the stored ETag is recomputed over the whole file and
	// the uploads listing errors when it is empty. (Conditional GETs gofakes3 ignores are
	// answered by local/s3server itself.)
	quirks: quirks{wholeBodyETag: true, noUploadsIsNoSuchUpload: true},
}}

// openLocalS3 serves a fresh stand-in from a temporary directory.
func openLocalS3(t *testing.T) *s3.Client {
	t.Helper()
	srv, err := s3server.New(t.TempDir())
	if err != nil {
		t.Fatalf("s3server.New: %v", err)
	}
	endpoint, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatalf("locals3 Listen: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return s3server.NewClient(endpoint, region)
}

// store is a target's client and a bucket of its own for one test.
type store struct {
	client *s3.Client
	bucket string
	quirks quirks
}

// forEachTarget runs fn once per target, as subtests named after the targets, each with a new
// bucket; on a persistent target the bucket is emptied and removed when the subtest ends.
func forEachTarget(t *testing.T, fn func(t *testing.T, s *store)) {
	t.Helper()
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			c := tg.open(t)
			s := &store{client: c, bucket: newBucketName(t), quirks: tg.quirks}
			if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(s.bucket)}); err != nil {
				t.Fatalf("CreateBucket(%s): %v", s.bucket, err)
			}
			if tg.persistent {
				// Cleanup runs after the test's context is cancelled, hence a context of its own.
				t.Cleanup(func() { s.remove(context.Background(), t) })
			}
			fn(t, s)
		})
	}
}

// newBucketName returns a bucket name no earlier run used, so runs against one server never meet.
func newBucketName(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "s3conformance-" + hex.EncodeToString(b)
}

// remove aborts the bucket's unfinished uploads, deletes its objects and then the bucket.
func (s *store) remove(ctx context.Context, t *testing.T) {
	t.Helper()
	uploads, err := s.unfinishedUploads(ctx, "")
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	for _, u := range uploads {
		if _, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(s.bucket), Key: u.Key, UploadId: u.UploadId}); err != nil {
			t.Errorf("cleanup: AbortMultipartUpload(%s): %v", aws.ToString(u.Key), err)
		}
	}
	keys, _, err := s.list(ctx, "", 1000)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	if err := s.delete(ctx, keys...); err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	if _, err := s.client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(s.bucket)}); err != nil {
		t.Errorf("cleanup: DeleteBucket(%s): %v", s.bucket, err)
	}
}

// unfinishedUploads lists the multipart uploads under prefix that were neither completed nor
// aborted.
func (s *store) unfinishedUploads(ctx context.Context, prefix string) ([]s3types.MultipartUpload, error) {
	out, err := s.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)})
	if s.quirks.noUploadsIsNoSuchUpload && errorCode(err) == "NoSuchUpload" {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list multipart uploads under %q: %w", prefix, err)
	}
	return out.Uploads, nil
}

// put writes body to key with one PutObject.
func (s *store) put(t *testing.T, key string, body []byte) {
	t.Helper()
	_, err := s.client.PutObject(t.Context(), &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), Body: bytes.NewReader(body),
	})
	if err != nil {
		t.Fatalf("PutObject(%s): %v", key, err)
	}
}

// get reads key with in's conditions and range, and returns the body and the response.
func (s *store) get(ctx context.Context, key string, in s3.GetObjectInput) ([]byte, *s3.GetObjectOutput, error) {
	in.Bucket, in.Key = aws.String(s.bucket), aws.String(key)
	out, err := s.client.GetObject(ctx, &in)
	if err != nil {
		return nil, nil, err
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	return body, out, err
}

// list lists every key under prefix, maxKeys at a time, and returns the keys and the pages.
func (s *store) list(ctx context.Context, prefix string, maxKeys int32) ([]string, []*s3.ListObjectsV2Output, error) {
	var (
		keys  []string
		pages []*s3.ListObjectsV2Output
	)
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(maxKeys),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("list %s: %w", prefix, err)
		}
		pages = append(pages, page)
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys, pages, nil
}

// delete deletes keys with DeleteObjects, at most 1,000 (the API's limit) per call.
func (s *store) delete(ctx context.Context, keys ...string) error {
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		var ids []s3types.ObjectIdentifier
		for _, k := range keys[:n] {
			ids = append(ids, s3types.ObjectIdentifier{Key: aws.String(k)})
		}
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(s.bucket), Delete: &s3types.Delete{Objects: ids, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return fmt.Errorf("delete %d objects: %w", n, err)
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("delete %s: %s: %s", aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
		}
		keys = keys[n:]
	}
	return nil
}

// errorCode is the S3 error code of err, or "" when it has none.
func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// httpStatus is the HTTP status of the response that err came with, or 0.
func httpStatus(err error) int {
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		return status.HTTPStatusCode()
	}
	return 0
}
