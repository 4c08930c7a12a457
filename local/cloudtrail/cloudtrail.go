// Package cloudtrail reads CloudTrail log files ({"Records":[...]}, usually gzip'd) and the key
// layout CloudTrail delivers them under:
// [prefix/]AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/<file>.json.gz.
package cloudtrail

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/athenausage/athena-usage/pkg/config"
)

// Record is one CloudTrail event, with the fields athena-usage reads.
type Record struct {
	EventVersion       string          `json:"eventVersion"`
	UserIdentity       UserIdentity    `json:"userIdentity"`
	EventTime          string          `json:"eventTime"`
	EventSource        string          `json:"eventSource"`
	EventName          string          `json:"eventName"`
	AWSRegion          string          `json:"awsRegion"`
	SourceIPAddress    string          `json:"sourceIPAddress"`
	UserAgent          string          `json:"userAgent"`
	ErrorCode          string          `json:"errorCode,omitempty"`
	ErrorMessage       string          `json:"errorMessage,omitempty"`
	RequestParameters  json.RawMessage `json:"requestParameters"`
	ResponseElements   json.RawMessage `json:"responseElements"`
	RequestID          string          `json:"requestID"`
	EventID            string          `json:"eventID"`
	EventType          string          `json:"eventType"`
	RecipientAccountID string          `json:"recipientAccountId"`
}

// UserIdentity says who made a call.
type UserIdentity struct {
	Type           string          `json:"type"`
	PrincipalID    string          `json:"principalId,omitempty"`
	ARN            string          `json:"arn,omitempty"`
	AccountID      string          `json:"accountId,omitempty"`
	AccessKeyID    string          `json:"accessKeyId,omitempty"`
	UserName       string          `json:"userName,omitempty"`
	InvokedBy      string          `json:"invokedBy,omitempty"`
	SessionContext *SessionContext `json:"sessionContext,omitempty"`
}

// SessionContext describes temporary credentials, such as an assumed role's.
type SessionContext struct {
	SessionIssuer *SessionIssuer `json:"sessionIssuer,omitempty"`
}

// SessionIssuer is the role (or federating user) that issued the credentials.
type SessionIssuer struct {
	Type        string `json:"type"`
	PrincipalID string `json:"principalId"`
	ARN         string `json:"arn"`
	AccountID   string `json:"accountId"`
	UserName    string `json:"userName"`
}

// AthenaSource is the eventSource of Athena's API calls.
const AthenaSource = "athena.amazonaws.com"

// IsQueryStart reports whether r is an Athena StartQueryExecution call, successful or not.
func (r Record) IsQueryStart() bool {
	return r.EventSource == AthenaSource && r.EventName == "StartQueryExecution"
}

// QueryExecutionID returns the ID in responseElements, or "" for a failed submission.
func (r Record) QueryExecutionID() string {
	var resp struct {
		QueryExecutionID string `json:"queryExecutionId"`
	}
	if len(r.ResponseElements) == 0 || json.Unmarshal(r.ResponseElements, &resp) != nil {
		return ""
	}
	return resp.QueryExecutionID
}

// Time parses EventTime.
func (r Record) Time() (time.Time, error) {
	return time.Parse(time.RFC3339, r.EventTime)
}

// ReadLog reads one log file, gzip'd or not (told apart by content), within the bounds
// MaxDecompressedBytes and MaxRecordBytes. name is used in errors. The array must be under the
// key "Records" exactly: Athena's CloudTrail SerDe reads no other spelling. Entries that are
// not objects are no events, and left out, as the engine leaves them out.
func ReadLog(r io.Reader, name string) ([]Record, error) {
	var recs []Record
	_, err := readLog(r, name, func(rec Record) { recs = append(recs, rec) })
	return recs, err
}

// CountLog checks one log file as ReadLog does and returns the number of its events, reading
// a record at a time: local ingest counts files of up to MaxDecompressedBytes.
func CountLog(r io.Reader, name string) (int, error) {
	return readLog(r, name, nil)
}

func readLog(r io.Reader, name string, keep func(Record)) (int, error) {
	src, err := Decompress(r, name, MaxDecompressedBytes)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	n := 0
	err = EachRecord(src, func(i int, raw json.RawMessage) error {
		if raw[0] != '{' {
			return nil // no event: the engine skips it too
		}
		var rec Record
		if err := json.Unmarshal(raw, &rec); err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		n++
		if keep != nil {
			keep(rec)
		}
		return nil
	})
	if err != nil {
		// The decoder stops at the first bad byte; the input's own failure (over the
		// decompression limit, a corrupt gzip stream) is the one to report, as when the file
		// was read whole before decoding.
		if _, rerr := io.Copy(io.Discard, src); rerr != nil {
			err = fmt.Errorf("read: %w", rerr)
		}
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return n, nil
}

// Key is a parsed CloudTrail object key.
type Key struct {
	// Prefix is the trail's prefix before AWSLogs/, "" or ending in "/".
	Prefix  string
	OrgID   string
	Account string
	Region  string
	// Day is the delivery day of the folder, which may be the day after the events in it.
	Day  time.Time
	File string
}

// ParseKey parses a key (or a slash-separated path) in CloudTrail's layout.
func ParseKey(key string) (Key, error) {
	segs := strings.Split(key, "/")
	at := -1
	for i, s := range segs {
		if s == "AWSLogs" {
			at = i
		}
	}
	if at < 0 {
		return Key{}, fmt.Errorf("%s: no AWSLogs/ folder in the path", key)
	}
	k := Key{Prefix: strings.Join(segs[:at], "/")}
	if k.Prefix != "" {
		k.Prefix += "/"
	}
	rest := segs[at+1:]
	if len(rest) > 0 && strings.HasPrefix(rest[0], "o-") {
		k.OrgID, rest = rest[0], rest[1:]
	}
	if len(rest) != 7 || rest[1] != "CloudTrail" {
		return Key{}, fmt.Errorf("%s: want AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/<file>", key)
	}
	k.Account, k.Region, k.File = rest[0], rest[2], rest[6]
	if err := config.ValidateAccountID(k.Account); err != nil {
		return Key{}, fmt.Errorf("%s: %w", key, err)
	}
	if err := config.ValidateRegion(k.Region); err != nil {
		return Key{}, fmt.Errorf("%s: %w", key, err)
	}
	if k.OrgID != "" {
		if err := config.ValidateOrgID(k.OrgID); err != nil {
			return Key{}, fmt.Errorf("%s: %w", key, err)
		}
	}
	day, err := time.Parse("2006/01/02", strings.Join(rest[3:6], "/"))
	if err != nil || day.Format("2006/01/02") != strings.Join(rest[3:6], "/") {
		return Key{}, fmt.Errorf("%s: folder date %s is not YYYY/MM/DD", key, strings.Join(rest[3:6], "/"))
	}
	k.Day = day
	if !strings.HasSuffix(k.File, ".json.gz") && !strings.HasSuffix(k.File, ".json") {
		return Key{}, fmt.Errorf("%s: not a .json.gz or .json log file", key)
	}
	return k, nil
}

// RelativeKey is the key below the trail prefix: AWSLogs/[o-org/]<account>/CloudTrail/...
func (k Key) RelativeKey() string {
	s := "AWSLogs/"
	if k.OrgID != "" {
		s += k.OrgID + "/"
	}
	return s + k.Account + "/CloudTrail/" + k.Region + "/" + k.Day.Format("2006/01/02") + "/" + k.File
}
