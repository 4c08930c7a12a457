package synth

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"time"
)

// CloudTrail's record shape, members in the order CloudTrail writes them.
type record struct {
	EventVersion        string     `json:"eventVersion"`
	UserIdentity        identity   `json:"userIdentity"`
	EventTime           string     `json:"eventTime"`
	EventSource         string     `json:"eventSource"`
	EventName           string     `json:"eventName"`
	AWSRegion           string     `json:"awsRegion"`
	SourceIPAddress     string     `json:"sourceIPAddress"`
	UserAgent           string     `json:"userAgent"`
	ErrorCode           string     `json:"errorCode,omitempty"`
	ErrorMessage        string     `json:"errorMessage,omitempty"`
	RequestParameters   any        `json:"requestParameters"`
	ResponseElements    any        `json:"responseElements"`
	AdditionalEventData any        `json:"additionalEventData,omitempty"`
	RequestID           string     `json:"requestID"`
	EventID             string     `json:"eventID"`
	ReadOnly            bool       `json:"readOnly"`
	Resources           []resource `json:"resources,omitempty"`
	EventType           string     `json:"eventType"`
	ManagementEvent     bool       `json:"managementEvent"`
	RecipientAccountID  string     `json:"recipientAccountId"`
	EventCategory       string     `json:"eventCategory"`
}

type identity struct {
	Type           string          `json:"type"`
	PrincipalID    string          `json:"principalId,omitempty"`
	ARN            string          `json:"arn,omitempty"`
	AccountID      string          `json:"accountId,omitempty"`
	AccessKeyID    string          `json:"accessKeyId,omitempty"`
	UserName       string          `json:"userName,omitempty"`
	SessionContext *sessionContext `json:"sessionContext,omitempty"`
	InvokedBy      string          `json:"invokedBy,omitempty"`
}

type sessionContext struct {
	SessionIssuer       *sessionIssuer `json:"sessionIssuer,omitempty"`
	WebIDFederationData *struct{}      `json:"webIdFederationData,omitempty"`
	Attributes          attributes     `json:"attributes"`
}

type sessionIssuer struct {
	Type        string `json:"type"`
	PrincipalID string `json:"principalId"`
	ARN         string `json:"arn"`
	AccountID   string `json:"accountId"`
	UserName    string `json:"userName"`
}

type attributes struct {
	CreationDate     string `json:"creationDate"`
	MFAAuthenticated string `json:"mfaAuthenticated"`
}

type resource struct {
	AccountID string `json:"accountId,omitempty"`
	Type      string `json:"type"`
	ARN       string `json:"ARN"`
}

type startQueryParams struct {
	QueryString           string          `json:"queryString"`
	ClientRequestToken    string          `json:"clientRequestToken"`
	QueryExecutionContext *executionCtx   `json:"queryExecutionContext,omitempty"`
	ResultConfiguration   *resultLocation `json:"resultConfiguration,omitempty"`
	WorkGroup             string          `json:"workGroup,omitempty"`
}

type executionCtx struct {
	Database string `json:"database"`
	Catalog  string `json:"catalog"`
}

type resultLocation struct {
	OutputLocation string `json:"outputLocation"`
}

type startQueryResponse struct {
	QueryExecutionID string `json:"queryExecutionId"`
}

type eventKind int

const (
	kindStarted eventKind = iota // StartQueryExecution that returned a query ID
	kindFailed                   // StartQueryExecution that Athena refused
	kindOther                    // any other event, which athena-usage must ignore
)

// event is one record and where it goes.
type event struct {
	kind      eventKind
	at        time.Time // to the second, as eventTime
	region    string
	user      *user
	query     *query // kindStarted only
	errorCode string // kindFailed only
	eventID   string
	rec       record
}

func (e *event) queryID() string {
	if e.query == nil {
		return ""
	}
	return e.query.ID
}

// file is one CloudTrail log file.
type file struct {
	path      string // relative, slash-separated
	delivered time.Time
	events    []*event
}

// windowEnds are the offsets from midnight at which a delivery window closes: every hour, and
// a quarter hour before midnight. CloudTrail delivers about every five minutes; longer windows
// keep the demo's file count small. A file is delivered 5 to 15 minutes after its latest
// event, so only the events of the day's last quarter hour can arrive after midnight, in the
// next day's folder, as the late ones of a real trail do.
var windowEnds = func() []time.Duration {
	var ends []time.Duration
	for h := 1; h < 24; h++ {
		ends = append(ends, time.Duration(h)*time.Hour)
	}
	return append(ends, 23*time.Hour+45*time.Minute, 24*time.Hour)
}()

// deliveryDelay is the shortest delay from a file's latest event to its delivery; up to
// deliveryJitter more is added.
const (
	deliveryDelay  = 5 * time.Minute
	deliveryJitter = 9 * time.Minute
)

func windowOf(t time.Time) (day time.Time, i int) {
	day = t.Truncate(24 * time.Hour)
	since := t.Sub(day)
	for i, end := range windowEnds {
		if since < end {
			return day, i
		}
	}
	return day, len(windowEnds) - 1
}

// makeFiles sorts the events into one file per account, region and delivery window, and adds
// the duplicate delivery.
func (g *generator) makeFiles() []*file {
	type key struct {
		account, region string
		day             time.Time
		window          int
	}
	byKey := map[key][]*event{}
	for _, e := range g.events {
		day, w := windowOf(e.at)
		k := key{e.user.Account, e.region, day, w}
		byKey[k] = append(byKey[k], e)
	}
	var files []*file
	fileOf := map[*event]int{}
	for _, a := range g.opts.Accounts {
		for _, r := range g.opts.Regions {
			for d := range g.opts.Days {
				day := g.opts.Start.AddDate(0, 0, d)
				for w := range windowEnds {
					events := byKey[key{a, r, day, w}]
					if len(events) == 0 {
						continue
					}
					var latest time.Time
					for _, e := range events {
						if e.at.After(latest) {
							latest = e.at
						}
					}
					// CloudTrail files are not in event order.
					g.r.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
					at := latest.Add(deliveryDelay + time.Duration(g.r.Int64N(int64(deliveryJitter))))
					f := g.newFile(a, r, at)
					f.events = events
					for _, e := range events {
						fileOf[e] = len(files)
					}
					files = append(files, f)
				}
			}
		}
	}

	// The duplicate: the first day's first accepted query in a window that is followed by
	// another file of the same trail and region is delivered again in that next file.
	for _, e := range g.events {
		i, ok := fileOf[e]
		if e.kind != kindStarted || !ok || i+1 >= len(files) {
			continue
		}
		next := files[i+1]
		if next.events[0].user.Account != e.user.Account || next.events[0].region != e.region || e.query.Submissions > 1 {
			continue
		}
		next.events = append(next.events, e)
		g.truth.Duplicate = Duplicate{QueryID: e.query.ID, EventID: e.eventID, Files: [2]string{files[i].path, next.path}}
		break
	}
	return files
}

func (g *generator) newFile(account, region string, at time.Time) *file {
	name := fmt.Sprintf("%s_CloudTrail_%s_%s_%s.json.gz", account, region, at.Format("20060102T1504Z"), g.token(16, alnum))
	return &file{
		path:      path.Join("AWSLogs", account, "CloudTrail", region, at.Format("2006/01/02"), name),
		delivered: at,
	}
}

// fileWriter writes files as CloudTrail does: gzip'd {"Records":[...]}. The gzip header has no
// name or time, so the bytes depend only on the records. One compressor serves every file, as
// allocating one per file costs more than compressing a small file.
type fileWriter struct {
	dir string
	buf bytes.Buffer
	zw  *gzip.Writer
}

func newFileWriter(dir string) *fileWriter {
	w := &fileWriter{dir: dir}
	w.zw = gzip.NewWriter(&w.buf)
	return w
}

func (w *fileWriter) write(f *file) error {
	w.buf.Reset()
	w.zw.Reset(&w.buf)
	zw := w.zw
	if _, err := zw.Write([]byte(`{"Records":[`)); err != nil {
		return err
	}
	for i, e := range f.events {
		b, err := json.Marshal(e.rec)
		if err != nil {
			return fmt.Errorf("encode record %s: %w", e.eventID, err)
		}
		if i > 0 {
			b = append([]byte{','}, b...)
		}
		if _, err := zw.Write(b); err != nil {
			return err
		}
	}
	if _, err := zw.Write([]byte(`]}`)); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	p := filepath.Join(w.dir, filepath.FromSlash(f.path))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("write cloudtrail file: %w", err)
	}
	if err := os.WriteFile(p, w.buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write cloudtrail file: %w", err)
	}
	return nil
}
