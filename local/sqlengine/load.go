package sqlengine

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/athenausage/athena-usage/local/cloudtrail"
	"github.com/athenausage/athena-usage/pkg/s3uri"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"
)

const (
	cacheDir = "cache"
	// fetchWorkers bounds concurrent downloads, as Athena bounds its splits per node.
	fetchWorkers = 4
)

// object is one S3 object of a table.
type object struct {
	Key  string
	Size int64
	ETag string
}

// partition is one partition to read: its values and where its objects are.
type partition struct {
	values         []string
	bucket, prefix string
	objects        []object
	listed         bool
}

// partFiles are the cached, transcoded files of one partition, and the S3 URIs of their objects.
type partFiles struct {
	values []string
	files  []string
	uris   []string
}

func splitS3(uri string) (string, string, error) {
	bucket, key, err := s3uri.Parse(uri)
	if err != nil {
		return "", "", userError("location " + err.Error())
	}
	return bucket, key, nil
}

// partitions lists the partitions of t that the uses need.
func (e *Engine) partitions(ctx context.Context, t *tableDef, uses []use, now time.Time) ([]*partition, error) {
	if len(t.Partitions) == 0 {
		bucket, prefix, err := splitS3(t.Location)
		if err != nil {
			return nil, err
		}
		return []*partition{{bucket: bucket, prefix: dirPrefix(prefix)}}, nil
	}
	projs, err := projections(t)
	if err != nil {
		return nil, err
	}
	if projs == nil && len(t.Added) > 0 {
		return addedPartitions(t, uses)
	}
	tmpl := template(t)
	var accepts []func([]string) bool
	byPrefix := map[string]*partition{}
	var explicit []*partition
	for _, u := range uses {
		fs := filters(u, t.Partitions)
		for _, c := range t.Partitions {
			if f := u.pushed[c.Name]; f != nil {
				if fs == nil {
					fs = map[string]*filter{}
				}
				addFilter(fs, c.Name, f)
			}
		}
		if projs == nil {
			accepts = append(accepts, func(vals []string) bool {
				for i, c := range t.Partitions {
					if !fs[c.Name].allows(vals[i]) {
						return false
					}
				}
				return true
			})
			continue
		}
		cands := make([][]string, len(t.Partitions))
		count := 1
		for i, c := range t.Partitions {
			if cands[i], err = projs[c.Name].candidates(fs[c.Name], now); err != nil {
				return nil, err
			}
			count *= len(cands[i])
		}
		if count > maxPrefixes {
			sets := make([]map[string]bool, len(cands))
			for i, cs := range cands {
				sets[i] = map[string]bool{}
				for _, v := range cs {
					sets[i][v] = true
				}
			}
			accepts = append(accepts, func(vals []string) bool {
				for i, v := range vals {
					if !sets[i][v] {
						return false
					}
				}
				return true
			})
			continue
		}
		for _, vals := range product(cands) {
			uri := tmpl
			for i, c := range t.Partitions {
				uri = strings.ReplaceAll(uri, "${"+c.Name+"}", vals[i])
			}
			bucket, prefix, err := splitS3(uri)
			if err != nil {
				return nil, err
			}
			p := &partition{values: vals, bucket: bucket, prefix: dirPrefix(prefix)}
			if byPrefix[p.bucket+"/"+p.prefix] == nil {
				byPrefix[p.bucket+"/"+p.prefix] = p
				explicit = append(explicit, p)
			}
		}
	}
	if len(accepts) == 0 {
		return explicit, nil
	}
	// List the template's fixed prefix once and match each key to the template.
	static, _, _ := strings.Cut(tmpl, "${")
	bucket, prefix, err := splitS3(static)
	if err != nil {
		return nil, err
	}
	re, order := templateRegexp(tmpl, t, projs)
	objs, err := e.list(ctx, bucket, prefix)
	if err != nil {
		return nil, err
	}
	matched := map[string]*partition{}
	var out []*partition
	for _, o := range objs {
		m := re.FindStringSubmatch("s3://" + bucket + "/" + o.Key)
		if m == nil {
			continue
		}
		vals := make([]string, len(t.Partitions))
		for i, c := range t.Partitions {
			vals[i] = m[order[c.Name]]
		}
		ok := false
		for _, a := range accepts {
			ok = ok || a(vals)
		}
		key := strings.Join(vals, "\x00")
		if !ok || byPrefix[bucket+"/"+strings.TrimPrefix(m[0], "s3://"+bucket+"/")] != nil {
			continue
		}
		p := matched[key]
		if p == nil {
			p = &partition{values: vals, bucket: bucket, prefix: strings.TrimPrefix(m[0], "s3://"+bucket+"/"), listed: true}
			matched[key] = p
			out = append(out, p)
		}
		p.objects = append(p.objects, o)
	}
	return append(explicit, out...), nil
}

// templateRegexp turns a location template into a regular expression for keys below it; order
// maps each column to its submatch.
func templateRegexp(tmpl string, t *tableDef, projs map[string]*projection) (*regexp.Regexp, map[string]int) {
	var b strings.Builder
	b.WriteString("^")
	order := map[string]int{}
	rest := tmpl
	n := 0
	for {
		i := strings.Index(rest, "${")
		j := strings.Index(rest, "}")
		if i < 0 || j < i {
			b.WriteString(regexp.QuoteMeta(rest))
			break
		}
		b.WriteString(regexp.QuoteMeta(rest[:i]))
		col := rest[i+2 : j]
		pat := `[^/]+`
		if p := projs[col]; p != nil {
			pat = p.pattern()
		}
		if _, seen := order[col]; seen {
			b.WriteString(regexp.QuoteMeta("${" + col + "}"))
		} else {
			n++
			order[col] = n
			b.WriteString("(" + pat + ")")
		}
		rest = rest[j+1:]
	}
	if !strings.HasSuffix(tmpl, "/") {
		b.WriteString("/")
	}
	return regexp.MustCompile(b.String()), order
}

func dirPrefix(p string) string {
	if p != "" && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// product returns every combination of one value from each list.
func product(lists [][]string) [][]string {
	out := [][]string{{}}
	for _, l := range lists {
		var next [][]string
		for _, prefix := range out {
			for _, v := range l {
				next = append(next, append(slices.Clone(prefix), v))
			}
		}
		out = next
	}
	return out
}

// list returns the data objects under prefix, leaving out what Hive treats as hidden.
func (e *Engine) list(ctx context.Context, bucket, prefix string) ([]object, error) {
	var out []object
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)}
	for {
		page, err := e.s3.ListObjectsV2(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			base := path.Base(key)
			if strings.HasSuffix(key, "/") || cloudtrail.Hidden(base) ||
				strings.HasSuffix(key, "_$folder$") {
				continue
			}
			out = append(out, object{Key: key, Size: aws.ToInt64(o.Size), ETag: aws.ToString(o.ETag)})
		}
		if !aws.ToBool(page.IsTruncated) || page.NextContinuationToken == nil {
			break
		}
		in.ContinuationToken = page.NextContinuationToken
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// fetch makes sure every object of parts is in the cache, transcoded for DuckDB, and returns
// the cached files and the bytes the objects hold.
func (e *Engine) fetch(ctx context.Context, t *tableDef, parts []*partition) ([]partFiles, int64, error) {
	dec, err := newDecoder(t)
	if err != nil {
		return nil, 0, err
	}
	sig := tableSignature(t)
	ct := t.InputFormat == cloudTrailInputFormat || t.SerDe == cloudTrailSerDe
	out := make([]partFiles, len(parts))
	var scanned int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fetchWorkers)
	for i, p := range parts {
		if !p.listed {
			if p.objects, err = e.list(ctx, p.bucket, p.prefix); err != nil {
				return nil, 0, err
			}
		}
		out[i] = partFiles{values: p.values, files: make([]string, len(p.objects)), uris: make([]string, len(p.objects))}
		for j, o := range p.objects {
			out[i].uris[j] = "s3://" + p.bucket + "/" + o.Key
			scanned += o.Size
			g.Go(func() error {
				f, err := e.cached(gctx, dec, sig, p.bucket, o, ct)
				out[i].files[j] = f
				return err
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, 0, err
	}
	for i := range out {
		var files, uris []string
		for j, f := range out[i].files {
			if f != "" {
				files, uris = append(files, f), append(uris, out[i].uris[j])
			}
		}
		out[i].files, out[i].uris = files, uris
	}
	return out, scanned, nil
}

// tableSignature is what the transcoded form of an object depends on besides the object.
func tableSignature(t *tableDef) string {
	var b strings.Builder
	b.WriteString(t.SerDe)
	keys := make([]string, 0, len(t.SerDeProps))
	for k := range t.SerDeProps {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "|%s=%s", k, t.SerDeProps[k])
	}
	fmt.Fprintf(&b, "|skip=%s", t.Props["skip.header.line.count"])
	for _, c := range t.Columns {
		fmt.Fprintf(&b, "|%s %s", c.Name, c.Type)
	}
	return b.String()
}

// cached returns the path of the transcoded object, downloading it unless the cache holds
// this version already; "" means it holds no rows.
func (e *Engine) cached(ctx context.Context, dec decoder, sig, bucket string, o object, cloudTrailFile bool) (string, error) {
	h := sha256.Sum256([]byte(strings.Join([]string{bucket, o.Key, o.ETag, fmt.Sprint(o.Size), sig}, "\x00")))
	name := filepath.Join(e.dir, cacheDir, hex.EncodeToString(h[:16])+".ndjson")
	if st, err := os.Stat(name); err == nil {
		if st.Size() == 0 {
			return "", nil
		}
		return name, nil
	}
	out, err := e.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(o.Key)})
	if err != nil {
		return "", fmt.Errorf("get s3://%s/%s: %w", bucket, o.Key, err)
	}
	defer out.Body.Close()
	uri := "s3://" + bucket + "/" + o.Key
	// The codec is chosen by content, as local ingest chooses it, so that what ingest accepts
	// the engine reads. CloudTrail's files are bounded as ingest bounds them.
	var limit int64
	if cloudTrailFile {
		if o.Size > cloudtrail.MaxFileBytes {
			return "", dataError(fmt.Sprintf("HIVE_CURSOR_ERROR: %s: %d bytes, over the %d-byte limit on a log file", uri, o.Size, cloudtrail.MaxFileBytes))
		}
		limit = cloudtrail.MaxDecompressedBytes
	}
	r, err := cloudtrail.Decompress(out.Body, uri, limit)
	if err != nil {
		return "", dataError("HIVE_CURSOR_ERROR: " + err.Error())
	}
	defer r.Close()
	tmp, err := os.CreateTemp(filepath.Dir(name), "tmp-*")
	if err != nil {
		return "", fmt.Errorf("cache %s: %w", uri, err)
	}
	n, err := transcode(ctx, dec, r, tmp, uri)
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("cache %s: %w", uri, cerr)
	}
	if err == nil {
		if rerr := os.Rename(tmp.Name(), name); rerr != nil {
			err = fmt.Errorf("cache %s: %w", uri, rerr)
		}
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", err
	}
	if n == 0 {
		return "", nil
	}
	return name, nil
}

// transcode streams the object at uri from r through dec into f, and returns the bytes
// written: the object is never held whole (a CloudTrail file may decompress to
// cloudtrail.MaxDecompressedBytes, and fetchWorkers are read at once).
func transcode(ctx context.Context, dec decoder, r io.Reader, f *os.File, uri string) (int64, error) {
	in, out := &errReader{r: r}, &errWriter{w: f}
	bw := bufio.NewWriterSize(out, 64<<10)
	err := dec(in, bw)
	if err == nil {
		err = bw.Flush()
	} else if out.err == nil && ctx.Err() == nil {
		// A decoder stops at the first bad byte; the input's own failure (a file over the
		// decompression limit, a corrupt gzip stream) is the one to report, as when the
		// object was read whole before decoding.
		_, _ = io.Copy(io.Discard, in)
	}
	switch {
	case err == nil:
		return out.n, nil
	case ctx.Err() != nil:
		return 0, ctx.Err()
	case out.err != nil:
		return 0, fmt.Errorf("cache %s: %w", uri, out.err)
	case in.err != nil:
		var qe *Error
		if errors.As(in.err, &qe) {
			return 0, in.err
		}
		return 0, dataError(fmt.Sprintf("HIVE_CURSOR_ERROR: %s: %v", uri, in.err))
	}
	return 0, dataError(fmt.Sprintf("HIVE_CURSOR_ERROR: %s: %v", uri, err))
}

// errReader remembers the error of a read, other than io.EOF, so that a decoder's error can be
// told from its input's.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		e.err = err
	}
	return n, err
}

// errWriter counts the bytes written and remembers the error of a write.
type errWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	e.n += int64(n)
	if err != nil {
		e.err = err
	}
	return n, err
}

// createDuckView (re)creates t in DuckDB as a view over the cached files: the table's columns,
// then the hidden column "$path" when withPath is set (a column DuckDB cannot hide, so it is
// there only for the statements that read it), then its partition columns as varchar.
//
// A view, not a loaded table: DuckDB then reads the files as each statement scans it, holding
// its operators' state but never the table (a day of a million queries is about 1.5 million
// CloudTrail records, several GB as a loaded table). Each file is joined to its object's URI
// and partition values.
func (e *Engine) createDuckView(ctx context.Context, t *tableDef, parts []partFiles, withPath bool) error {
	name := quoteIdent(t.Database) + "." + quoteIdent(t.Name)
	var jsonCols, nulls []string
	for _, c := range t.Columns {
		jsonCols = append(jsonCols, quoteString(c.Name)+": "+quoteString(c.Type.duck()))
		nulls = append(nulls, "CAST(NULL AS "+c.Type.duck()+") AS "+quoteIdent(c.Name))
	}
	extra := t.Partitions
	if withPath {
		extra = append([]tableColumn{{Name: pathColumn}}, t.Partitions...)
	}
	var rows []string
	for _, p := range parts {
		for i, f := range p.files {
			vals := []string{quoteString(f)}
			if withPath {
				vals = append(vals, quoteString(p.uris[i]))
			}
			for _, v := range p.values {
				vals = append(vals, quoteString(v))
			}
			rows = append(rows, "("+strings.Join(vals, ", ")+")")
		}
	}
	var body string
	if len(rows) == 0 {
		for _, c := range extra {
			nulls = append(nulls, "CAST(NULL AS VARCHAR) AS "+quoteIdent(c.Name))
		}
		body = "SELECT " + strings.Join(nulls, ", ") + " WHERE false"
	} else {
		files := make([]string, 0, len(rows))
		aliases := []string{"file"}
		// read_json names each row's file in the column "$path", which no table can have (it
		// is Athena's hidden column); the join replaces it with the object's URI.
		sel := "SELECT j.* EXCLUDE (" + quoteIdent(pathColumn) + ")"
		for i, c := range extra {
			aliases = append(aliases, fmt.Sprintf("v%d", i))
			sel += fmt.Sprintf(", m.v%d AS %s", i, quoteIdent(c.Name))
		}
		for _, p := range parts {
			for _, f := range p.files {
				files = append(files, quoteString(f))
			}
		}
		body = fmt.Sprintf("%s FROM read_json([%s], format = 'newline_delimited', hive_partitioning = false, columns = {%s}, filename = %s) j JOIN (VALUES %s) m(%s) ON j.%s = m.file",
			sel, strings.Join(files, ", "), strings.Join(jsonCols, ", "), quoteString(pathColumn), strings.Join(rows, ", "), strings.Join(aliases, ", "), quoteIdent(pathColumn))
	}
	if _, err := e.conn.ExecContext(ctx, "CREATE OR REPLACE VIEW "+name+" AS "+body); err != nil {
		return fmt.Errorf("create table %s.%s: %w", t.Database, t.Name, err)
	}
	return nil
}
