//go:build integration

package s3conformance

import (
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Environment of the MinIO target, as `scripts/minio.sh env` prints it.
const (
	envMinIOEndpoint  = "MINIO_ENDPOINT"
	envMinIOAccessKey = "MINIO_ACCESS_KEY"
	envMinIOSecretKey = "MINIO_SECRET_KEY"
)

func init() { targets = append(targets, target{name: "minio", open: openMinIO, persistent: true}) }

// openMinIO returns a client for the MinIO server named by the environment, with the SDK's
// default checksum settings (the ones the pipeline uses against AWS), so that what the stand-in
// client relaxes is checked against a real server.
func openMinIO(t *testing.T) *s3.Client {
	t.Helper()
	endpoint := os.Getenv(envMinIOEndpoint)
	if endpoint == "" {
		t.Skipf("%s is not set: start a server with scripts/minio.sh start and set %s, %s and %s (eval \"$(scripts/minio.sh env)\")",
			envMinIOEndpoint, envMinIOEndpoint, envMinIOAccessKey, envMinIOSecretKey)
	}
	key, secret := os.Getenv(envMinIOAccessKey), os.Getenv(envMinIOSecretKey)
	if key == "" || secret == "" {
		t.Fatalf("%s is %s but %s or %s is not set", envMinIOEndpoint, endpoint, envMinIOAccessKey, envMinIOSecretKey)
	}
	return s3.New(s3.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		// MinIO serves every bucket under one host, as config.Shared.S3PathStyle does locally.
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(key, secret, ""),
	})
}
