// Package s3uri splits s3://bucket/key URIs, as Athena reports locations and outputs.
package s3uri

import (
	"fmt"
	"strings"
)

// Parse splits uri into its bucket and key. The key may be empty (s3://bucket/ names a whole
// bucket, as a table LOCATION can); the bucket may not.
func Parse(uri string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q is not an s3:// URI", uri)
	}
	bucket, key, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%q has no bucket", uri)
	}
	return bucket, key, nil
}
