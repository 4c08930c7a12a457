// Package s3server is the S3 stand-in of the local stack: gofakes3 serving a directory over HTTP on
// loopback, path-style, so the pipeline's real S3 code runs unchanged against it. Objects are
// plain files under <dir>/buckets/<bucket>/<key> (metadata under <dir>/metadata), so they
// survive a restart on the same directory. Multipart uploads in progress live in memory only.
//
// Because the files mirror the keys, a key and a "folder" of the same name (a and a/b) cannot
// coexist, which real S3 allows; athena-usage never writes such keys. For the same reason a key
// with a "." or ".." segment is refused (InvalidArgument): as a path it would leave its bucket.
package s3server

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/spf13/afero"
)

// Credentials are the static access key and secret NewClient signs with; the stand-in accepts any.
const (
	AccessKeyID     = "LOCALS3ACCESSKEY"
	SecretAccessKey = "locals3-secret-access-key"
)

// Server serves the buckets in one directory.
type Server struct {
	handler http.Handler
	srv     *http.Server
}

// New returns a Server for the buckets in dir, creating dir if needed.
func New(dir string) (*Server, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("s3 state dir: %w", err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("s3 state dir: %w", err)
	}
	backend, err := s3afero.MultiBucket(afero.NewBasePathFs(afero.NewOsFs(), abs))
	if err != nil {
		return nil, fmt.Errorf("s3 backend in %s: %w", abs, err)
	}
	faker := gofakes3.New(listingBackend{backend},
		// Versioning would make every overwrite a new version that nothing ever reads.
		gofakes3.WithoutVersioning(),
		gofakes3.WithLogger(gofakes3.DiscardLog()),
	)
	return &Server{handler: safeKeys(ifMatch(listingBackend{backend}, faker.Server()))}, nil
}

// ifMatch answers a GET or HEAD whose If-Match names another ETag with 412 PreconditionFailed,
// as S3 does; gofakes3 ignores the header. The lookup relies on it to notice that the day's
// object was replaced between a first invocation and its continuation.
func ifMatch(backend gofakes3.Backend, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		want := r.Header.Get("If-Match")
		if want == "" || want == "*" || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			next.ServeHTTP(w, r)
			return
		}
		bucket, key, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		if !ok || key == "" {
			next.ServeHTTP(w, r)
			return
		}
		obj, err := backend.HeadObject(bucket, key)
		if err != nil {
			next.ServeHTTP(w, r) // gofakes3 answers NoSuchKey or NoSuchBucket
			return
		}
		if strings.Trim(want, `"`) == hex.EncodeToString(obj.Hash) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusPreconditionFailed)
		if r.Method == http.MethodGet {
			_, _ = fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message><Condition>If-Match</Condition><Resource>%s</Resource></Error>`, html.EscapeString(r.URL.Path))
		}
	})
}

// Handler is the S3 API, for serving it some other way than Listen.
func (s *Server) Handler() http.Handler { return s.handler }

// Listen serves on addr ("127.0.0.1:0" picks a free port) until Close, and returns the endpoint URL.
func (s *Server) Listen(addr string) (string, error) {
	if s.srv != nil {
		return "", errors.New("s3 stand-in already listening")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listen: %w", err)
	}
	s.srv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln) //nolint:errcheck // Serve returns ErrServerClosed after Close.
	return "http://" + ln.Addr().String(), nil
}

// Close stops serving; the objects stay in the directory.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	return s.srv.Close()
}

// NewClient returns an S3 client for the stand-in at endpoint.
func NewClient(endpoint, region string) *s3.Client {
	return s3.New(s3.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		// The stand-in serves every bucket under one host.
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		// Over plain HTTP the SDK never sends aws-chunked bodies with trailing checksums (it
		// does so only over TLS); instead it reads the body once for a CRC32 header and once
		// for the SigV4 payload hash, which fails for a body it cannot seek. Checksums only
		// where the API requires one (DeleteObjects) and an unsigned payload let a streamed
		// body of known length through, as it goes through to real S3 over HTTPS. gofakes3
		// checks neither.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		APIOptions:                 []func(*middleware.Stack) error{v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware},
	})
}

// EnsureBucket creates bucket unless it exists.
func EnsureBucket(ctx context.Context, c *s3.Client, bucket string) error {
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "BucketAlreadyOwnedByYou", "BucketAlreadyExists":
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	return nil
}

// listingBackend does the listing that s3afero leaves out: it ignores MaxKeys and markers (so
// ListObjectsV2 never pages), returns keys in directory-walk order rather than S3's byte order
// (a-c sorts before a/b in S3), answers NoSuchBucket for a delimited listing of a prefix with no
// objects, and misnames common prefixes when the prefix ends inside a path segment. It lists
// the matching keys flat, then groups, sorts and pages them as S3 does.
type listingBackend struct {
	*s3afero.MultiBucketBackend
}

func (b listingBackend) ListBucket(bucket string, prefix *gofakes3.Prefix, page gofakes3.ListBucketPage) (*gofakes3.ObjectList, error) {
	var p gofakes3.Prefix
	if prefix != nil {
		p = *prefix
	}
	flat, err := b.MultiBucketBackend.ListBucket(bucket, &gofakes3.Prefix{HasPrefix: p.HasPrefix, Prefix: p.Prefix}, gofakes3.ListBucketPage{})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(flat.Contents, func(a, b *gofakes3.Content) int { return strings.Compare(a.Key, b.Key) })

	out := gofakes3.NewObjectList()
	var last string // the last key or common prefix returned
	n := int64(0)
	for _, c := range flat.Contents {
		name, isPrefix := c.Key, false
		if p.HasDelimiter && p.Delimiter != "" {
			rest := strings.TrimPrefix(c.Key, p.Prefix)
			if i := strings.Index(rest, p.Delimiter); i >= 0 {
				name, isPrefix = p.Prefix+rest[:i+len(p.Delimiter)], true
			}
		}
		// Keys under one common prefix are adjacent once sorted, so comparing with the last
		// name both skips the previous pages and folds a prefix's keys into one entry.
		if (page.HasMarker && name <= page.Marker) || (n > 0 && name == last) {
			continue
		}
		if page.MaxKeys > 0 && n == page.MaxKeys {
			out.IsTruncated = true
			out.NextMarker = last
			break
		}
		if isPrefix {
			out.AddPrefix(name)
		} else {
			out.Add(c)
		}
		last = name
		n++
	}
	return out, nil
}
