package cloudtrail

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"strings"
)

// Bounds on what one CloudTrail log file may hold. Ingest and the local engine both enforce
// them, so that a file ingest accepts is one the engine reads, and a corrupt or hostile file
// fails with an error naming it instead of exhausting memory.
const (
	// MaxFileBytes bounds a log file as stored (gzip'd or not). CloudTrail delivers a file per
	// region about every five minutes; its gzip'd files are a few MB even for busy accounts.
	MaxFileBytes = 32 << 20
	// MaxDecompressedBytes bounds a log file's JSON text: a gzip bomb stops here. Reading a file
	// takes about twice this in memory, and the engine reads four files at once.
	MaxDecompressedBytes = 128 << 20
	// MaxRecordBytes bounds one event's JSON. CloudTrail's events are at most 256 KB; the local
	// engine's JSON reader (DuckDB) refuses objects over 16 MB, so the bound sits below that.
	MaxRecordBytes = 4 << 20
)

// gzipMagic starts every gzip stream (RFC 1952).
const gzipMagic = "\x1f\x8b"

// Decompress returns what r holds, gunzipped when it starts with gzip's magic number and as it
// is otherwise: the codec is chosen by content, not by the file's name, since CloudTrail files
// are renamed and copied by hand. Reading more than limit bytes (0: no bound) fails with an
// error naming name. The caller closes the result.
func Decompress(r io.Reader, name string, limit int64) (io.ReadCloser, error) {
	br := bufio.NewReader(r)
	src := io.NopCloser(br)
	if magic, _ := br.Peek(len(gzipMagic)); string(magic) == gzipMagic {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: not in gzip format: %w", name, err)
		}
		src = zr
	}
	if limit <= 0 {
		return src, nil
	}
	return &limitedReader{rc: src, left: limit, limit: limit, name: name}, nil
}

// limitedReader fails, rather than stops, when its source holds more than limit bytes.
type limitedReader struct {
	rc          io.ReadCloser
	left, limit int64
	name        string
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// One byte more tells a file of exactly limit bytes from a longer one.
		var one [1]byte
		n, err := l.rc.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("%s: decompresses to more than %d bytes", l.name, l.limit)
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.rc.Read(p)
	l.left -= int64(n)
	return n, err
}

func (l *limitedReader) Close() error { return l.rc.Close() }

// Hidden reports whether Athena (Hadoop's file listing) leaves out a file of this base name:
// those starting with "." or "_".
func Hidden(base string) bool {
	return strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_")
}
