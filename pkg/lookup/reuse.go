package lookup

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/athenausage/athena-usage/pkg/apioutput"
	"github.com/athenausage/athena-usage/pkg/batchget"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// oldRows streams the rows an earlier run of the day wrote, part after part, for a rerun to
// reuse the final ones instead of looking them up again. Parts are sorted by ID, as the new
// IDs are, so a merge needs only the rows between: at most the old parts that the new ones
// shifted past, not the day. A new part n overwrites old part n, so the old part is read before
// (through). Rows out of order (parts of two runs mixed by a crash) are merely not reused.
//
// It also keeps the SHA-256 of each old part read whole, so that a new part with the same
// content is not written again: a re-check that finds k new IDs rewrites only the parts they
// shift, not the day.
type oldRows struct {
	store  ObjectStore
	bucket string
	key    func(n int) string
	// parts are the keys of the parts that exist, listed once: a GET of a missing part would
	// answer 403 on AWS (see listParts).
	parts map[int]string
	next  int
	done  bool
	rows  []apioutput.Row
	sums  map[int][]byte
}

// finalRow reports whether a row will not change if looked up again: the query ended, or Athena
// does not know the ID (unknown or expired).
func finalRow(r apioutput.Row) bool {
	switch {
	case r.LookupError == batchget.CodeInvalidRequest:
		return true
	case r.LookupError != "":
		return false
	}
	return r.Status == "SUCCEEDED" || r.Status == "FAILED" || r.Status == "CANCELLED"
}

// through reads the old parts up to part n, so that new part n may replace it.
func (o *oldRows) through(ctx context.Context, n int) error {
	for !o.done && o.next <= n {
		if err := o.read(ctx); err != nil {
			return err
		}
	}
	return nil
}

// read reads the next old part into the buffer; the first missing part ends the stream.
func (o *oldRows) read(ctx context.Context) error {
	n, key := o.next, o.key(o.next)
	if _, ok := o.parts[n]; !ok {
		o.done = true
		return nil
	}
	out, err := o.store.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(o.bucket), Key: aws.String(key)})
	if isNotFound(err) {
		o.done = true // deleted since the listing
		return nil
	}
	if err != nil {
		return fmt.Errorf("get s3://%s/%s: %w", o.bucket, key, err)
	}
	defer out.Body.Close()
	o.next++
	h := sha256.New()
	r := apioutput.NewReader(io.TeeReader(out.Body, h))
	for {
		row, err := r.Read()
		if err == io.EOF {
			if o.sums == nil {
				o.sums = map[int][]byte{}
			}
			o.sums[n] = h.Sum(nil)
			return nil
		}
		if err != nil {
			// A part that cannot be read is looked up again, not reused.
			o.done, o.rows = true, nil
			return nil
		}
		o.rows = append(o.rows, row)
	}
}

// take returns the old row of id when it is final, dropping the buffered rows before it.
func (o *oldRows) take(ctx context.Context, id string) (apioutput.Row, bool, error) {
	for {
		for len(o.rows) > 0 && o.rows[0].QueryID < id {
			o.rows = o.rows[1:]
		}
		if len(o.rows) > 0 {
			r := o.rows[0]
			if r.QueryID != id {
				return apioutput.Row{}, false, nil
			}
			o.rows = o.rows[1:]
			return r, finalRow(r), nil
		}
		o.rows = nil // lets the drained part's memory go
		if o.done {
			return apioutput.Row{}, false, nil
		}
		if err := o.read(ctx); err != nil {
			return apioutput.Row{}, false, err
		}
	}
}

// reuse fills p.reused with the final old rows of its IDs, and reads the old parts through p's
// number, before p is written.
func (o *oldRows) reuse(ctx context.Context, p *part) error {
	for i, id := range p.ids {
		r, ok, err := o.take(ctx, id)
		if err != nil {
			return err
		}
		if ok {
			if p.reused == nil {
				p.reused = make([]apioutput.Row, len(p.ids))
			}
			p.reused[i] = r
		}
	}
	if err := o.through(ctx, p.n); err != nil {
		return err
	}
	p.oldSum = o.sums[p.n]
	delete(o.sums, p.n)
	return nil
}
