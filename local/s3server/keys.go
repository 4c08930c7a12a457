package s3server

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxDeleteBody bounds a DeleteObjects request body read for its keys: 1,000 keys (the API's
// maximum) of 1,024 bytes, with room for the XML around them.
const maxDeleteBody = 2 << 20

// safeKeys refuses a request that names an object key with a "." or ".." segment, in its path,
// its copy source or a DeleteObjects body. Objects are files under their bucket's folder, and
// the backend joins bucket and key as paths: such a key would resolve into another bucket
// (a/../../other/x). Real S3 takes these keys literally; the stand-in cannot, so it says so.
func safeKeys(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		keys := []string{key}
		if src := r.Header.Get("X-Amz-Copy-Source"); src != "" {
			if s, err := url.PathUnescape(src); err == nil {
				src = s
			}
			_, k, _ := strings.Cut(strings.TrimPrefix(src, "/"), "/")
			k, _, _ = strings.Cut(k, "?versionId=")
			keys = append(keys, k)
		}
		if _, ok := r.URL.Query()["delete"]; ok && r.Method == http.MethodPost {
			body, err := io.ReadAll(io.LimitReader(r.Body, maxDeleteBody))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			var del struct {
				Objects []struct{ Key string } `xml:"Object"`
			}
			_ = xml.Unmarshal(body, &del) // gofakes3 answers a malformed body itself
			for _, o := range del.Objects {
				keys = append(keys, o.Key)
			}
		}
		for _, k := range keys {
			if dotSegment(k) {
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>InvalidArgument</Code><Message>The local S3 stand-in cannot store a key with a "." or ".." segment: %s</Message><Resource>%s</Resource></Error>`,
					html.EscapeString(k), html.EscapeString(r.URL.Path))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func dotSegment(key string) bool {
	for _, s := range strings.Split(key, "/") {
		if s == "." || s == ".." {
			return true
		}
	}
	return false
}
