package s3conformance

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/athenausage/athena-usage/pkg/lookup"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The transfer manager's defaults, which the lookup function runs with (they are unexported in
// the transfermanager package): a body below the threshold goes up in one PutObject, a larger
// one in parts of tmPartSize.
const (
	tmPartSize  = 8 << 20
	tmThreshold = 16 << 20
)

// upload streams src to key through the transfer manager from an io.Pipe, as the lookup
// handler does with its lookup.Uploader: the uploader never sees the length, nor a body it can
// seek.
func upload(ctx context.Context, s *store, key string, src io.Reader) error {
	var up lookup.Uploader = transfermanager.New(s.client)
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := io.CopyBuffer(pw, src, make([]byte, 100_003))
		pw.CloseWithError(err)
	}()
	_, err := up.UploadObject(ctx, &transfermanager.UploadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key), Body: pr})
	// Unblocks the copy if the upload stopped reading early.
	pr.CloseWithError(io.ErrClosedPipe)
	<-done
	return err
}

// wantETag is S3's ETag of body: its MD5 when it went up in one piece, and for a multipart
// upload the MD5 of the parts' MD5s followed by the number of parts.
func wantETag(body []byte, multipart bool) string {
	if !multipart {
		sum := md5.Sum(body)
		return `"` + hex.EncodeToString(sum[:]) + `"`
	}
	var sums []byte
	n := 0
	for part := range slices.Chunk(body, tmPartSize) {
		sum := md5.Sum(part)
		sums = append(sums, sum[:]...)
		n++
	}
	sum := md5.Sum(sums)
	return fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(sum[:]), n)
}

func TestUploadStreaming(t *testing.T) {
	tests := []struct {
		name      string
		size      int
		multipart bool
	}{
		{"empty", 0, false},
		{"one PutObject", 300<<10 + 7, false},
		{"just under the multipart threshold", tmThreshold - 1, false},
		{"multipart, last part full", tmThreshold, true},
		{"multipart, 3 parts", 2*tmPartSize + 4<<20 + 12345, true},
	}
	forEachTarget(t, func(t *testing.T, s *store) {
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				body := randomBytes(tt.size, uint64(i+1))
				key := fmt.Sprintf("athena_api_output/dt=2025-03-04/part-%05d.csv", i)
				if err := upload(t.Context(), s, key, bytes.NewReader(body)); err != nil {
					t.Fatalf("Upload(%d bytes from a pipe): %v", tt.size, err)
				}
				got, out, err := s.get(t.Context(), key, s3.GetObjectInput{})
				if err != nil {
					t.Fatalf("GetObject(%s): %v", key, err)
				}
				if !bytes.Equal(got, body) {
					t.Errorf("GetObject(%s) = %d bytes, want the %d bytes uploaded", key, len(got), len(body))
				}
				if n := aws.ToInt64(out.ContentLength); n != int64(tt.size) {
					t.Errorf("GetObject(%s).ContentLength = %d, want %d", key, n, tt.size)
				}
				if got, want := aws.ToString(out.ETag), wantETag(body, tt.multipart && !s.quirks.wholeBodyETag); got != want {
					t.Errorf("GetObject(%s).ETag = %s, want %s", key, got, want)
				}
			})
		}
	})
}

// errSourceBroke is the error a body's source fails with in the upload failure tests.
var errSourceBroke = errors.New("source broke")

// failAfter returns n bytes and then errSourceBroke.
type failAfter struct{ n int }

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errSourceBroke
	}
	k := min(len(p), f.n)
	clear(p[:k])
	f.n -= k
	return k, nil
}

// TestUploadFailure checks that a body that breaks off leaves no object and no unfinished
// multipart upload behind: a part is either complete or absent.
func TestUploadFailure(t *testing.T) {
	tests := []struct {
		name string
		size int
	}{
		{"before the threshold", 1 << 10},
		{"after two parts", 2*tmPartSize + 1<<20},
	}
	forEachTarget(t, func(t *testing.T, s *store) {
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				key := fmt.Sprintf("athena_api_output/dt=2025-03-04/part-%05d.csv", i)
				err := upload(t.Context(), s, key, &failAfter{n: tt.size})
				if !errors.Is(err, errSourceBroke) {
					t.Fatalf("Upload(body failing after %d bytes) = %v, want %v", tt.size, err, errSourceBroke)
				}
				_, err = s.client.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
				if httpStatus(err) != 404 {
					t.Errorf("HeadObject(%s) after a failed upload = %v, want 404", key, err)
				}
				uploads, err := s.unfinishedUploads(t.Context(), key)
				if err != nil {
					t.Fatal(err)
				}
				if len(uploads) != 0 {
					t.Errorf("ListMultipartUploads(%s) after a failed upload = %d uploads, want none (aborted)", key, len(uploads))
				}
			})
		}
	})
}

// TestRangedRead checks the reads the lookup makes of the extract's CSV: a continuation reads
// the header with a closed range and then streams from a record's offset with an open one, both
// pinned to the first read's version with If-Match.
func TestRangedRead(t *testing.T) {
	bigRows := dayRows(600, "us-east-1", "eu-west-1")
	big, offsets := athenaCSV(bigRows)
	small, _ := athenaCSV(dayRows(3, "us-east-1"))
	if len(big) <= 64<<10 {
		t.Fatalf("test object is %d bytes, want more than the 64 KiB header read", len(big))
	}
	headerEnd := offsets[0]
	forEachTarget(t, func(t *testing.T, s *store) {
		const bigKey, smallKey = "athena_queries/dt=2025-03-04/queries.csv", "athena_queries/dt=2025-03-05/queries.csv"
		s.put(t, bigKey, big)
		s.put(t, smallKey, small)
		_, whole, err := s.get(t.Context(), bigKey, s3.GetObjectInput{})
		if err != nil {
			t.Fatalf("GetObject(%s): %v", bigKey, err)
		}
		etag := aws.ToString(whole.ETag)

		tests := []struct {
			name       string
			key        string
			data       []byte
			rng        string
			from, to   int // the bytes wanted, to inclusive
			startsWith string
		}{
			{"header read", bigKey, big, "bytes=0-65535", 0, 65535, `"query_id",`},
			{"header read of a small object", smallKey, small, "bytes=0-65535", 0, len(small) - 1, `"query_id",`},
			{"from the first record", bigKey, big, fmt.Sprintf("bytes=%d-", headerEnd), headerEnd, len(big) - 1, `"` + bigRows[0].id + `"`},
			{"from a record in the middle", bigKey, big, fmt.Sprintf("bytes=%d-", offsets[401]), offsets[401], len(big) - 1, `"` + bigRows[401].id + `"`},
			{"from the last record", bigKey, big, fmt.Sprintf("bytes=%d-", offsets[len(offsets)-1]), offsets[len(offsets)-1], len(big) - 1, `,"`},
			{"the last byte", bigKey, big, fmt.Sprintf("bytes=%d-", len(big)-1), len(big) - 1, len(big) - 1, "\n"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				in := s3.GetObjectInput{Range: aws.String(tt.rng)}
				if tt.key == bigKey {
					in.IfMatch = aws.String(etag)
				}
				got, out, err := s.get(t.Context(), tt.key, in)
				if err != nil {
					t.Fatalf("GetObject(%s, Range %s): %v", tt.key, tt.rng, err)
				}
				if want := tt.data[tt.from : tt.to+1]; !bytes.Equal(got, want) {
					t.Errorf("GetObject(Range %s) = %d bytes starting %.40q, want bytes %d-%d, %d starting %.40q",
						tt.rng, len(got), got, tt.from, tt.to, len(want), want)
				}
				if !bytes.HasPrefix(got, []byte(tt.startsWith)) {
					t.Errorf("GetObject(Range %s) starts %.40q, want %q", tt.rng, got, tt.startsWith)
				}
				if got, want := aws.ToString(out.ContentRange), fmt.Sprintf("bytes %d-%d/%d", tt.from, tt.to, len(tt.data)); got != want {
					t.Errorf("GetObject(Range %s).ContentRange = %q, want %q", tt.rng, got, want)
				}
				if got, want := aws.ToInt64(out.ContentLength), int64(tt.to-tt.from+1); got != want {
					t.Errorf("GetObject(Range %s).ContentLength = %d, want %d", tt.rng, got, want)
				}
			})
		}

		t.Run("If-Match another version", func(t *testing.T) {
			_, _, err := s.get(t.Context(), bigKey, s3.GetObjectInput{Range: aws.String("bytes=100-"), IfMatch: aws.String(`"0123456789abcdef0123456789abcdef"`)})
			if errorCode(err) != "PreconditionFailed" || httpStatus(err) != 412 {
				t.Errorf("GetObject(If-Match another ETag) = %v, want PreconditionFailed (412), which the lookup takes for a superseded day", err)
			}
		})
		t.Run("range past the end", func(t *testing.T) {
			_, _, err := s.get(t.Context(), bigKey, s3.GetObjectInput{Range: aws.String(fmt.Sprintf("bytes=%d-", len(big)))})
			if errorCode(err) != "InvalidRange" || httpStatus(err) != 416 {
				t.Errorf("GetObject(Range past the end) = %v, want InvalidRange (416)", err)
			}
		})
	})
}

// TestListPagination checks the listing and batch delete the lookup uses to find and remove a
// day's stale parts: every key exactly once, in byte order, across pages of MaxKeys, and only
// the keys under the prefix.
func TestListPagination(t *testing.T) {
	const prefix = "athena-usage/athena_api_output/dt=2025-03-04/"
	var want []string
	for n := range 23 {
		want = append(want, fmt.Sprintf("%spart-%05d.csv", prefix, n))
	}
	want = append(want, prefix+"notes.txt", prefix+"part-00100.csv")
	slices.Sort(want)
	others := []string{
		"athena-usage/athena_api_output/dt=2025-03-05/part-00000.csv",
		"athena-usage/athena_api_output/dt=2025-03-03/part-00000.csv",
		"athena-usage/athena_queries/dt=2025-03-04/queries.csv",
	}
	forEachTarget(t, func(t *testing.T, s *store) {
		for _, k := range slices.Concat(want, others) {
			s.put(t, k, []byte(k+"\n"))
		}
		for _, maxKeys := range []int32{1, 4, 25, 26, 1000} {
			t.Run(fmt.Sprintf("MaxKeys %d", maxKeys), func(t *testing.T) {
				keys, pages, err := s.list(t.Context(), prefix, maxKeys)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(keys, want) {
					t.Errorf("list(%s, MaxKeys %d) = %q, want %q", prefix, maxKeys, keys, want)
				}
				// A full page may be marked truncated and followed by an empty last page (MinIO
				// does so with MaxKeys 1); S3 allows it, since a client follows IsTruncated.
				full := pages
				if n := len(pages); n > 1 && len(pages[n-1].Contents) == 0 {
					full = pages[:n-1]
				}
				if wantPages := (len(want) + int(maxKeys) - 1) / int(maxKeys); len(full) != wantPages {
					t.Errorf("list(%s, MaxKeys %d) took %d pages with keys, want %d", prefix, maxKeys, len(full), wantPages)
				}
				for i, p := range pages {
					last := i == len(pages)-1
					if len(p.Contents) > int(maxKeys) || aws.ToInt32(p.KeyCount) != int32(len(p.Contents)) {
						t.Errorf("page %d: %d keys, KeyCount %d, want at most %d and equal", i, len(p.Contents), aws.ToInt32(p.KeyCount), maxKeys)
					}
					if i < len(full)-1 && len(p.Contents) != int(maxKeys) {
						t.Errorf("page %d of %d: %d keys, want a full page of %d before the last", i, len(pages), len(p.Contents), maxKeys)
					}
					if aws.ToBool(p.IsTruncated) == last || (p.NextContinuationToken != nil) == last {
						t.Errorf("page %d of %d: IsTruncated %v, NextContinuationToken %v, want both only before the last page",
							i, len(pages), aws.ToBool(p.IsTruncated), p.NextContinuationToken != nil)
					}
				}
			})
		}

		t.Run("delete", func(t *testing.T) {
			// Deleting a key that is not there is not an error: a rerun may find a part gone.
			gone := append(slices.Clone(want[10:20]), prefix+"part-09999.csv")
			if err := s.delete(t.Context(), gone...); err != nil {
				t.Fatalf("DeleteObjects(%d keys, one missing): %v", len(gone), err)
			}
			keys, _, err := s.list(t.Context(), prefix, 7)
			if err != nil {
				t.Fatal(err)
			}
			if rest := slices.Concat(want[:10], want[20:]); !slices.Equal(keys, rest) {
				t.Errorf("list after DeleteObjects = %q, want %q", keys, rest)
			}
			all, _, err := s.list(t.Context(), "", 1000)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range others {
				if !slices.Contains(all, k) {
					t.Errorf("after DeleteObjects under %s, %s is gone, want it kept", prefix, k)
				}
			}
		})
	})
}
