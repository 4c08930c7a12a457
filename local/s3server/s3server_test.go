package s3server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

const bucket = "test-bucket"

// start serves dir on a free loopback port and returns a client for it with the bucket created.
func start(t *testing.T, dir string) (*Server, *s3.Client) {
	t.Helper()
	srv, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	url, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c := NewClient(url, "us-east-1")
	if err := EnsureBucket(t.Context(), c, bucket); err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func put(t *testing.T, c *s3.Client, key string, body []byte) {
	t.Helper()
	_, err := c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatalf("PutObject(%s): %v", key, err)
	}
}

func get(ctx context.Context, c *s3.Client, key, rng string) ([]byte, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if rng != "" {
		in.Range = aws.String(rng)
	}
	out, err := c.GetObject(ctx, in)
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestPutGet(t *testing.T) {
	_, c := start(t, t.TempDir())
	body := randomBytes(1000, 1)
	put(t, c, "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/04/a.json.gz", body)
	tests := []struct {
		name, rng string
		want      []byte
	}{
		{"whole", "", body},
		{"open range", "bytes=100-", body[100:]},
		{"closed range", "bytes=10-19", body[10:20]},
		{"suffix range", "bytes=-5", body[995:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := get(t.Context(), c, "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/04/a.json.gz", tt.rng)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("GetObject(Range %q) = %d bytes, want %d equal bytes", tt.rng, len(got), len(tt.want))
			}
		})
	}
}

func TestOverwrite(t *testing.T) {
	_, c := start(t, t.TempDir())
	put(t, c, "k", []byte("first version, longer"))
	put(t, c, "k", []byte("second"))
	got, err := get(t.Context(), c, "k", "")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "second" {
		t.Errorf("GetObject(k) after overwrite = %q, want %q", got, "second")
	}
}

func listAll(t *testing.T, c *s3.Client, prefix string, pageSize int32) (keys []string, pages int) {
	t.Helper()
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{
		Bucket: aws.String(bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(pageSize),
	})
	for p.HasMorePages() {
		out, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatalf("ListObjectsV2: %v", err)
		}
		pages++
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys, pages
}

func TestListPagination(t *testing.T) {
	_, c := start(t, t.TempDir())
	var want []string
	for i := range 5 {
		k := fmt.Sprintf("athena_queries/dt=2024-05-0%d/part-0.csv", i+1)
		put(t, c, k, []byte("x"))
		want = append(want, k)
	}
	put(t, c, "other/z", []byte("x"))
	got, pages := listAll(t, c, "athena_queries/", 2)
	if !reflect.DeepEqual(got, want) || pages != 3 {
		t.Errorf("ListObjectsV2(MaxKeys 2) = %q in %d pages, want %q in 3", got, pages, want)
	}
}

func TestListDelimiter(t *testing.T) {
	_, c := start(t, t.TempDir())
	for _, k := range []string{"a/b", "a-c", "a/d/e", "ab", "x/dt=1/f", "x/dt=2/g", "x/other"} {
		put(t, c, k, []byte("x"))
	}
	tests := []struct {
		prefix, delimiter string
		keys, prefixes    []string
	}{
		// S3 orders keys by bytes: '-' < '/' < 'b'.
		{"", "", []string{"a-c", "a/b", "a/d/e", "ab", "x/dt=1/f", "x/dt=2/g", "x/other"}, nil},
		{"", "/", []string{"a-c", "ab"}, []string{"a/", "x/"}},
		{"a/", "/", []string{"a/b"}, []string{"a/d/"}},
		{"x/dt=", "/", nil, []string{"x/dt=1/", "x/dt=2/"}},
		{"nothing/here/", "/", nil, nil},
		{"nothing", "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.prefix+"|"+tt.delimiter, func(t *testing.T) {
			in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(tt.prefix)}
			if tt.delimiter != "" {
				in.Delimiter = aws.String(tt.delimiter)
			}
			out, err := c.ListObjectsV2(t.Context(), in)
			if err != nil {
				t.Fatalf("ListObjectsV2(%q, %q): %v", tt.prefix, tt.delimiter, err)
			}
			var keys, prefixes []string
			for _, o := range out.Contents {
				keys = append(keys, aws.ToString(o.Key))
			}
			for _, p := range out.CommonPrefixes {
				prefixes = append(prefixes, aws.ToString(p.Prefix))
			}
			if !reflect.DeepEqual(keys, tt.keys) || !reflect.DeepEqual(prefixes, tt.prefixes) {
				t.Errorf("ListObjectsV2(%q, %q) = %q, %q; want %q, %q", tt.prefix, tt.delimiter, keys, prefixes, tt.keys, tt.prefixes)
			}
		})
	}
	// Common prefixes count towards MaxKeys and page like keys.
	var names []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Delimiter: aws.String("/"), MaxKeys: aws.Int32(1)})
	for p.HasMorePages() {
		out, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Contents {
			names = append(names, aws.ToString(o.Key))
		}
		for _, o := range out.CommonPrefixes {
			names = append(names, aws.ToString(o.Prefix))
		}
	}
	if want := []string{"a-c", "a/", "ab", "x/"}; !reflect.DeepEqual(names, want) {
		t.Errorf("ListObjectsV2(delimiter /, MaxKeys 1) pages = %q, want %q", names, want)
	}
}

// TestPutUnseekable checks a streamed body of known length, which over plain HTTP the SDK can
// only send unsigned and without a checksum.
func TestPutUnseekable(t *testing.T) {
	_, c := start(t, t.TempDir())
	body := randomBytes(300_000, 4)
	_, err := c.PutObject(t.Context(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("stream"),
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: aws.Int64(int64(len(body))),
	})
	if err != nil {
		t.Fatalf("PutObject(unseekable body): %v", err)
	}
	got, err := get(t.Context(), c, "stream", "")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, body) {
		t.Errorf("GetObject after unseekable PutObject = %d bytes, want %d", len(got), len(body))
	}
}

func TestDeleteObjects(t *testing.T) {
	_, c := start(t, t.TempDir())
	for _, k := range []string{"d/1", "d/2", "d/3"} {
		put(t, c, k, []byte(k))
	}
	out, err := c.DeleteObjects(t.Context(), &s3.DeleteObjectsInput{
		Bucket: aws.String(bucket),
		Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("d/1")}, {Key: aws.String("d/3")}}},
	})
	if err != nil {
		t.Fatalf("DeleteObjects: %v", err)
	}
	if len(out.Deleted) != 2 || len(out.Errors) != 0 {
		t.Errorf("DeleteObjects = %d deleted, %d errors, want 2, 0", len(out.Deleted), len(out.Errors))
	}
	got, _ := listAll(t, c, "d/", 1000)
	if want := []string{"d/2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("keys after DeleteObjects = %q, want %q", got, want)
	}
}

func TestMissing(t *testing.T) {
	_, c := start(t, t.TempDir())
	tests := []struct {
		name, bucket, key, want string
	}{
		{"key", bucket, "no/such/key", "NoSuchKey"},
		{"bucket", "no-such-bucket", "k", "NoSuchBucket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(tt.bucket), Key: aws.String(tt.key)})
			if got := errorCode(err); got != tt.want {
				t.Errorf("GetObject(%s/%s) error code = %q (%v), want %q", tt.bucket, tt.key, got, err, tt.want)
			}
		})
	}
	var nsk *types.NoSuchKey
	_, err := c.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("nope")})
	if !errors.As(err, &nsk) {
		t.Errorf("GetObject(missing key) error = %T, want *types.NoSuchKey", err)
	}
}

func TestEnsureBucketTwice(t *testing.T) {
	_, c := start(t, t.TempDir())
	if err := EnsureBucket(t.Context(), c, bucket); err != nil {
		t.Errorf("EnsureBucket(existing) = %v, want nil", err)
	}
}

// TestMultipartUpload streams bodies the transfer manager cannot seek or size, so it must buffer
// and split them into parts; the object read back must be the same bytes.
func TestMultipartUpload(t *testing.T) {
	_, c := start(t, t.TempDir())
	tests := []struct {
		name string
		size int
		opts func(*transfermanager.Options)
	}{
		// The defaults: 16 MiB threshold, 8 MiB parts, CRC32 checksums on every part.
		{"defaults", 20<<20 + 7, func(*transfermanager.Options) {}},
		{"5 MiB parts", 12<<20 + 12345, func(o *transfermanager.Options) {
			o.PartSizeBytes = 5 << 20
			o.MultipartUploadThreshold = 5 << 20
		}},
		{"without checksums", 12 << 20, func(o *transfermanager.Options) {
			o.PartSizeBytes = 5 << 20
			o.MultipartUploadThreshold = 5 << 20
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := randomBytes(tt.size, uint64(i))
			key := "big/" + tt.name + ".csv"
			pr, pw := io.Pipe()
			go func() {
				// Small writes, as a producer streaming CSV rows makes.
				for b := body; len(b) > 0; {
					n := min(len(b), 64<<10)
					if _, err := pw.Write(b[:n]); err != nil {
						return
					}
					b = b[n:]
				}
				pw.Close()
			}()
			out, err := transfermanager.New(c, tt.opts).UploadObject(t.Context(), &transfermanager.UploadObjectInput{
				Bucket: aws.String(bucket), Key: aws.String(key), Body: pr,
			})
			if err != nil {
				pr.CloseWithError(err)
				t.Fatalf("UploadObject: %v", err)
			}
			if aws.ToString(out.UploadID) == "" || len(out.CompletedParts) < 2 {
				t.Errorf("UploadObject(%d bytes) = upload ID %q, %d parts; want a multipart upload", len(body), aws.ToString(out.UploadID), len(out.CompletedParts))
			}
			got, err := get(t.Context(), c, key, "")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, body) {
				t.Errorf("GetObject after UploadObject = %d bytes, want the %d uploaded", len(got), len(body))
			}
			tail, err := get(t.Context(), c, key, "bytes=100-")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(tail, body[100:]) {
				t.Errorf("GetObject(Range bytes=100-) after UploadObject = %d bytes, want %d", len(tail), len(body)-100)
			}
			head, err := c.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
			if err != nil {
				t.Fatal(err)
			}
			if got := aws.ToInt64(head.ContentLength); got != int64(len(body)) {
				t.Errorf("HeadObject ContentLength = %d, want %d", got, len(body))
			}
		})
	}
}

func TestPersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	srv, c := start(t, dir)
	put(t, c, "keep/me.txt", []byte("still here"))
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	_, c = start(t, dir)
	got, err := get(t.Context(), c, "keep/me.txt", "")
	if err != nil {
		t.Fatalf("GetObject after restart: %v", err)
	}
	if string(got) != "still here" {
		t.Errorf("GetObject after restart = %q, want %q", got, "still here")
	}
}
