package s3server

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// A key with a ".." segment must not reach another bucket's folder, nor anything outside.
func TestDotSegmentKeysStayInTheirBucket(t *testing.T) {
	dir := t.TempDir()
	_, c := start(t, dir)
	ctx := t.Context()
	if err := EnsureBucket(ctx, c, "other"); err != nil {
		t.Fatal(err)
	}
	put(t, c, "mine.txt", []byte("mine"))
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("other"), Key: aws.String("victim.txt"), Body: bytes.NewReader([]byte("theirs"))}); err != nil {
		t.Fatal(err)
	}
	escape := "a/../../other/victim.txt"
	calls := []struct {
		name string
		call func() error
	}{
		{"PutObject", func() error {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(escape), Body: bytes.NewReader([]byte("overwritten"))})
			return err
		}},
		{"GetObject", func() error { _, err := get(ctx, c, escape, ""); return err }},
		{"DeleteObject", func() error {
			_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(escape)})
			return err
		}},
		{"DeleteObjects", func() error {
			_, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("mine.txt")}, {Key: aws.String(escape)}}}})
			return err
		}},
		{"CopyObject", func() error {
			_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("copy.txt"), CopySource: aws.String(bucket + "/" + escape)})
			return err
		}},
		{"PutObject dot", func() error {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("./x"), Body: bytes.NewReader(nil)})
			return err
		}},
	}
	for _, tt := range calls {
		err := tt.call()
		var apiErr smithy.APIError
		if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidArgument" {
			t.Errorf("%s(a key with a dot segment) error = %v, want InvalidArgument", tt.name, err)
		}
	}
	for path, want := range map[string]string{
		filepath.Join(dir, "buckets", "other", "victim.txt"): "theirs",
		filepath.Join(dir, "buckets", bucket, "mine.txt"):    "mine",
	} {
		if b, err := os.ReadFile(path); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q untouched", path, b, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "buckets", bucket, "copy.txt")); err == nil {
		t.Error("CopyObject from an escaping key wrote copy.txt")
	}
}
