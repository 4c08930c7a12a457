package sqlengine

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/athenausage/athena-usage/local/cloudtrail"
)

// The engine reads a CloudTrail file by its content, as ingest does: a .json.gz that is plain
// JSON reads; names Athena hides are left out, as ingest leaves them out.
func TestCloudTrailCodecByContent(t *testing.T) {
	f := newFakeS3()
	e := newTestEngine(t, f, t.TempDir())
	putTrail(t, f, "us-east-1", "2024/03/05", "gzipped", started(t, "q1", "e1", "2024-03-05T10:00:00Z"))
	plain, err := json.Marshal(map[string]any{"Records": []any{started(t, "q2", "e2", "2024-03-05T11:00:00Z")}})
	if err != nil {
		t.Fatal(err)
	}
	dir := "AWSLogs/" + account + "/CloudTrail/us-east-1/2024/03/05/"
	f.put(trailBucket, dir+"plain.json.gz", plain)
	f.put(trailBucket, dir+"_hidden.json.gz", plain)
	f.put(trailBucket, dir+".hidden.json", plain)
	res := exec(t, e, "SELECT count(*) AS n FROM cloudtrail_logs WHERE day = '2024/03/05'")
	if got := records(res)[0]["n"]; got != "2" {
		t.Errorf("count of records = %s, want 2 (gzip'd and plain; hidden files left out)", got)
	}
}

func TestCloudTrailBounds(t *testing.T) {
	gz := func(b []byte) []byte {
		var out bytes.Buffer
		zw := gzip.NewWriter(&out)
		_, _ = zw.Write(b)
		_ = zw.Close()
		return out.Bytes()
	}
	// gzip streams may be concatenated: 1 MiB of zeros a member, one member more than the bound.
	bomb := append(gz([]byte(`{"Records":["`)), bytes.Repeat(gz(make([]byte, 1<<20)), cloudtrail.MaxDecompressedBytes>>20)...)
	record := `{"eventName":"x","requestParameters":{"q":"` + strings.Repeat("a", cloudtrail.MaxRecordBytes) + `"}}`
	tests := []struct {
		name string
		body []byte
		want string
	}{
		{"record", []byte(`{"Records":[` + record + `]}`), "over the 4194304-byte limit"},
		{"gzip bomb", bomb, "decompresses to more than 134217728 bytes"},
		{"file", make([]byte, cloudtrail.MaxFileBytes+1), "over the 33554432-byte limit on a log file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeS3()
			e := newTestEngine(t, f, t.TempDir())
			key := "AWSLogs/" + account + "/CloudTrail/us-east-1/2024/03/05/big.json.gz"
			f.put(trailBucket, key, tt.body)
			_, err := e.Execute(context.Background(), testDB, "SELECT count(*) FROM cloudtrail_logs WHERE day = '2024/03/05'")
			var qe *Error
			if !errors.As(err, &qe) || !strings.Contains(qe.Msg, "s3://"+trailBucket+"/"+key) || !strings.Contains(qe.Msg, tt.want) {
				t.Errorf("Execute over a %s too big = %v, want an error naming the file and %q", tt.name, err, tt.want)
			}
		})
	}
}
