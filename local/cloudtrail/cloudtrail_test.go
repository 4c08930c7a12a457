package cloudtrail

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seedLog wraps the seed entries (real CloudTrail records from the Athena documentation) in a
// log file, as CloudTrail delivers them.
func seedLog(t *testing.T) []byte {
	t.Helper()
	var recs []string
	for _, n := range []string{"seed-startqueryexecution-ok.json", "seed-startqueryexecution-failed.json", "seed-createnamedquery.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, string(b))
	}
	return []byte(`{"Records":[` + strings.Join(recs, ",") + `]}`)
}

func TestReadLogSeedEntries(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(seedLog(t))
	_ = zw.Close()
	for name, data := range map[string][]byte{"plain": seedLog(t), "gzip": gz.Bytes()} {
		t.Run(name, func(t *testing.T) {
			recs, err := ReadLog(bytes.NewReader(data), "seed.json")
			if err != nil {
				t.Fatalf("ReadLog: %v", err)
			}
			if len(recs) != 3 {
				t.Fatalf("ReadLog = %d records, want 3", len(recs))
			}
			ok, failed, named := recs[0], recs[1], recs[2]
			if !ok.IsQueryStart() || ok.QueryExecutionID() != "b621c254-74e0-48e3-9630-78ed857782f9" {
				t.Errorf("successful start: IsQueryStart %v, ID %q", ok.IsQueryStart(), ok.QueryExecutionID())
			}
			if ok.UserIdentity.ARN != "arn:aws:iam::123456789012:user/johndoe" || ok.UserIdentity.Type != "IAMUser" || ok.UserIdentity.UserName != "johndoe" {
				t.Errorf("identity = %+v", ok.UserIdentity)
			}
			if ts, err := ok.Time(); err != nil || ts.Format("2006-01-02T15:04:05Z") != "2017-05-04T00:23:55Z" {
				t.Errorf("Time() = %v, %v", ts, err)
			}
			if !failed.IsQueryStart() || failed.QueryExecutionID() != "" || failed.ErrorCode != "InvalidRequestException" {
				t.Errorf("failed start: ID %q, error %q, want no ID and InvalidRequestException", failed.QueryExecutionID(), failed.ErrorCode)
			}
			if named.IsQueryStart() || named.EventName != "CreateNamedQuery" || named.AWSRegion != "us-west-2" {
				t.Errorf("CreateNamedQuery read as %s in %s, IsQueryStart %v", named.EventName, named.AWSRegion, named.IsQueryStart())
			}
		})
	}
}

func TestReadLogErrors(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"syntax", "{\"Records\":[\n{\"eventName\": \"x\",,}\n]}", "bad.json: line 2"},
		{"type", `{"Records":{"a":1}}`, "bad.json: line 1"},
		{"no records", `{"other":[]}`, `no "Records" array`},
		{"bad gzip", "\x1f\x8bnot gzip at all", "bad.json"},
		{"empty", "", "bad.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadLog(strings.NewReader(tt.data), "bad.json")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ReadLog(%q) error = %v, want %q", tt.data, err, tt.want)
			}
		})
	}
}

func TestParseKey(t *testing.T) {
	tests := []struct {
		key                             string
		prefix, org, account, region, d string
		wantErr                         string
	}{
		{key: "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/05/123456789012_CloudTrail_us-east-1_20240305T0010Z_abc.json.gz", account: "123456789012", region: "us-east-1", d: "2024-03-05"},
		{key: "trails/main/AWSLogs/o-abcdef1234/123456789012/CloudTrail/eu-west-1/2024/12/31/x.json", prefix: "trails/main/", org: "o-abcdef1234", account: "123456789012", region: "eu-west-1", d: "2024-12-31"},
		{key: "/home/me/logs/AWSLogs/123456789012/CloudTrail/eu-west-1/2024/12/31/x.json.gz", prefix: "/home/me/logs/", account: "123456789012", region: "eu-west-1", d: "2024-12-31"},
		{key: "logs/123456789012/CloudTrail/us-east-1/2024/03/05/x.json.gz", wantErr: "no AWSLogs/"},
		{key: "AWSLogs/123456789012/CloudTrail/us-east-1/2024/02/30/x.json.gz", wantErr: "folder date"},
		{key: "AWSLogs/1234/CloudTrail/us-east-1/2024/03/05/x.json.gz", wantErr: "account ID"},
		{key: "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/03/05/x.json.gz", wantErr: "want AWSLogs/"},
		{key: "AWSLogs/123456789012/CloudTrail/us-east-1/2024/03/05/x.txt", wantErr: "not a .json.gz"},
	}
	for _, tt := range tests {
		k, err := ParseKey(tt.key)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseKey(%q) error = %v, want %q", tt.key, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseKey(%q): %v", tt.key, err)
			continue
		}
		if k.Prefix != tt.prefix || k.OrgID != tt.org || k.Account != tt.account || k.Region != tt.region || k.Day.Format("2006-01-02") != tt.d {
			t.Errorf("ParseKey(%q) = %+v", tt.key, k)
		}
		if !strings.HasSuffix(tt.key, k.RelativeKey()) {
			t.Errorf("RelativeKey() = %q, not a suffix of %q", k.RelativeKey(), tt.key)
		}
	}
}

func gzipped(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestReadLogBounds(t *testing.T) {
	record := `{"eventName":"x","requestParameters":{"q":"` + strings.Repeat("a", MaxRecordBytes) + `"}}`
	big := `{"Records":[` + record + `]}`
	// gzip streams may be concatenated: 1 MiB of zeros a member, one member more than the bound.
	member := gzipped(t, make([]byte, 1<<20))
	bomb := append(gzipped(t, []byte(`{"Records":["`)), bytes.Repeat(member, MaxDecompressedBytes>>20)...)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"record over the limit", []byte(big), fmt.Sprintf("x.json.gz: record 0 is %d bytes, over the %d-byte limit", len(record), MaxRecordBytes)},
		{"gzip bomb", bomb, "x.json.gz: read: x.json.gz: decompresses to more than 134217728 bytes"},
		{"lower-case records", []byte(`{"records":[{"eventName":"x"}]}`), `x.json.gz: the array is under "records", not "Records"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadLog(bytes.NewReader(tt.data), "x.json.gz")
			if err == nil || err.Error() != tt.want && !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("ReadLog(%s) error = %v, want %q", tt.name, err, tt.want)
			}
		})
	}
}

// The codec follows the content: a .json.gz that is plain JSON and a .json that is gzip'd
// both read; records that are not objects are no events, here as in the engine.
func TestReadLogCodecByContent(t *testing.T) {
	plain := []byte(`{"Records":[{"eventName":"a"},null,7,{"eventName":"b"}]}`)
	for name, data := range map[string][]byte{"plain.json.gz": plain, "gzipped.json": gzipped(t, plain)} {
		recs, err := ReadLog(bytes.NewReader(data), name)
		if err != nil || len(recs) != 2 || recs[1].EventName != "b" {
			t.Errorf("ReadLog(%s) = %+v, %v; want events a and b", name, recs, err)
		}
	}
}

func TestDecompressLimit(t *testing.T) {
	tests := []struct {
		data    []byte
		limit   int64
		wantErr bool
	}{
		{[]byte("12345"), 5, false},
		{[]byte("123456"), 5, true},
		{gzipped(t, []byte("12345")), 5, false},
		{gzipped(t, []byte("123456")), 5, true},
		{gzipped(t, []byte("123456")), 0, false},
	}
	for _, tt := range tests {
		rc, err := Decompress(bytes.NewReader(tt.data), "f", tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if (err != nil) != tt.wantErr || err == nil && !strings.HasPrefix(string(got), "12345") {
			t.Errorf("Decompress(%q, %d) = %q, %v; want error %v", tt.data, tt.limit, got, err, tt.wantErr)
		}
	}
}

func TestHidden(t *testing.T) {
	for name, want := range map[string]bool{".x.json.gz": true, "_SUCCESS": true, "a_b.json.gz": false, "x.json": false} {
		if got := Hidden(name); got != want {
			t.Errorf("Hidden(%q) = %v, want %v", name, got, want)
		}
	}
}
