package lookup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// errSuperseded means the object is no longer the version the day's first invocation read.
var errSuperseded = errors.New("object changed since the day's first invocation")

// headerBytes is how much of the object a continuation reads for the header: the header of
// the extract's 15 columns is a few hundred bytes.
const headerBytes = 64 << 10

// readObjectHeader reads the header of bucket/key with a small ranged GET; its errors name the
// object.
func readObjectHeader(ctx context.Context, store ObjectStore, bucket, key, etag string) (header, error) {
	in := &s3.GetObjectInput{
		Bucket: aws.String(bucket),
		Key:    aws.String(key),
		Range:  aws.String(fmt.Sprintf("bytes=0-%d", headerBytes-1)),
	}
	if etag != "" {
		in.IfMatch = aws.String(etag)
	}
	out, err := store.GetObject(ctx, in)
	if err != nil {
		if isPreconditionFailed(err) {
			return header{}, errSuperseded
		}
		return header{}, fmt.Errorf("get header of s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	h, err := readHeader(out.Body)
	if err != nil {
		return header{}, fmt.Errorf("s3://%s/%s: %w", bucket, key, err)
	}
	return h, nil
}

// maxResumes is how often a broken download is picked up again where it stopped. The stream
// stays open for the whole invocation while the reader waits for lookups, and a long-lived
// S3 connection can be reset.
const maxResumes = 5

// objectReader streams an object from offset on, reopening it with a ranged GET where it
// stopped if the connection breaks. Every GET after the first names the first one's ETag, so the
// bytes all come from one version of the object.
type objectReader struct {
	ctx         context.Context
	s3          ObjectStore
	bucket, key string
	etag        string
	pos         int64
	body        io.ReadCloser
	resumes     int
	gets        int
}

// openObject starts reading bucket/key at offset; etag, when set, must match the object's.
func openObject(ctx context.Context, store ObjectStore, bucket, key, etag string, offset int64) (*objectReader, error) {
	r := &objectReader{ctx: ctx, s3: store, bucket: bucket, key: key, etag: etag, pos: offset}
	if err := r.open(); err != nil {
		if errors.Is(err, errSuperseded) {
			return nil, err
		}
		return nil, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	return r, nil
}

// open GETs the object from r.pos on. Its errors don't name the object: the reader's user
// does, once, since Read's errors come through a CSV reader that cannot.
func (r *objectReader) open() error {
	in := &s3.GetObjectInput{Bucket: aws.String(r.bucket), Key: aws.String(r.key)}
	if r.pos > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", r.pos))
	}
	if r.etag != "" {
		in.IfMatch = aws.String(r.etag)
	}
	r.gets++
	out, err := r.s3.GetObject(r.ctx, in)
	if err != nil {
		if isPreconditionFailed(err) {
			return errSuperseded
		}
		return err
	}
	if r.etag == "" {
		r.etag = aws.ToString(out.ETag)
	}
	r.body = out.Body
	return nil
}

// Read reads the next bytes of the object.
func (r *objectReader) Read(p []byte) (int, error) {
	for {
		n, err := r.body.Read(p)
		r.pos += int64(n)
		if err == nil || err == io.EOF || r.ctx.Err() != nil || r.resumes >= maxResumes || r.etag == "" {
			if err != nil && err != io.EOF {
				err = fmt.Errorf("at byte %d: %w", r.pos, err)
			}
			return n, err
		}
		r.body.Close()
		r.resumes++
		if oerr := r.open(); oerr != nil {
			return n, fmt.Errorf("resume at byte %d: %w", r.pos, oerr)
		}
		if n > 0 {
			return n, nil
		}
	}
}

// Close closes the current response body.
func (r *objectReader) Close() error { return r.body.Close() }

func isPreconditionFailed(err error) bool {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "PreconditionFailed" {
		return true
	}
	var status interface{ HTTPStatusCode() int }
	return errors.As(err, &status) && status.HTTPStatusCode() == 412
}

// stillCurrent returns errSuperseded unless bucket/key still has the ETag etag: a rerun of the
// day replaced the object, and its parts are the newer run's to write. It costs one HEAD.
func stillCurrent(ctx context.Context, store ObjectStore, bucket, key, etag string) error {
	if etag == "" {
		// Nothing to compare with: S3 always sends an ETag, so only a stand-in that sends
		// none gets here.
		return nil
	}
	out, err := store.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), IfMatch: aws.String(etag)})
	if err != nil {
		if isPreconditionFailed(err) {
			return errSuperseded
		}
		return fmt.Errorf("head s3://%s/%s: %w", bucket, key, err)
	}
	// A store that ignores If-Match on HEAD still tells the ETag.
	if got := aws.ToString(out.ETag); got != "" && got != etag {
		return errSuperseded
	}
	return nil
}

// partPattern matches the name of an output part under the day's prefix.
var partPattern = regexp.MustCompile(`^part-([0-9]+)\.csv$`)

// maxDeleteKeys is DeleteObjects' maximum number of keys per call.
const maxDeleteKeys = 1000

// listParts returns the keys of the output parts under prefix, by part number. Listing, rather
// than a GET that may answer NotFound, is how the lookup learns which parts exist: without
// s3:ListBucket on the bucket with no condition, which its role does not have, S3 answers a GET
// or HEAD of a missing key with 403 AccessDenied, not 404.
func listParts(ctx context.Context, store ObjectStore, bucket, prefix string) (map[int]string, error) {
	parts := map[int]string{}
	pages := s3.NewListObjectsV2Paginator(store, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, obj := range page.Contents {
			key := aws.ToString(obj.Key)
			m := partPattern.FindStringSubmatch(strings.TrimPrefix(key, prefix))
			if m == nil {
				continue
			}
			if n, err := strconv.Atoi(m[1]); err == nil {
				parts[n] = key
			}
		}
	}
	return parts, nil
}

// exists reports whether bucket has an object at key, by listing it (see listParts for why not
// a HEAD).
func exists(ctx context.Context, store ObjectStore, bucket, key string) (bool, error) {
	out, err := store.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(key), MaxKeys: aws.Int32(1)})
	if err != nil {
		return false, fmt.Errorf("list s3://%s/%s: %w", bucket, key, err)
	}
	// The key itself sorts before every longer key it is a prefix of.
	return len(out.Contents) > 0 && aws.ToString(out.Contents[0].Key) == key, nil
}

// deleteParts deletes the parts numbered from or above first under prefix and returns how many.
// Other objects under the prefix are left alone.
func deleteParts(ctx context.Context, store ObjectStore, bucket, prefix string, first int) (int, error) {
	parts, err := listParts(ctx, store, bucket, prefix)
	if err != nil {
		return 0, err
	}
	var stale []s3types.ObjectIdentifier
	for _, n := range slices.Sorted(maps.Keys(parts)) {
		if n >= first {
			stale = append(stale, s3types.ObjectIdentifier{Key: aws.String(parts[n])})
		}
	}
	for chunk := range slices.Chunk(stale, maxDeleteKeys) {
		out, err := store.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: aws.String(bucket),
			Delete: &s3types.Delete{Objects: chunk, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return 0, fmt.Errorf("delete stale parts under s3://%s/%s: %w", bucket, prefix, err)
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return 0, fmt.Errorf("delete s3://%s/%s: %s: %s (and %d more)", bucket, aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message), len(out.Errors)-1)
		}
	}
	return len(stale), nil
}
