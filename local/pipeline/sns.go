package pipeline

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// AlertTopic is the ARN of the local stack's alert topic.
const AlertTopic = "arn:aws:sns:" + Region + ":" + AccountID + ":athena-usage-alerts"

// snsFile is where the SNS stand-in keeps the messages, in the state directory.
const snsFile = "sns.jsonl"

// Message is one message published to the alert topic.
type Message struct {
	ID        string    `json:"message_id"`
	TopicARN  string    `json:"topic_arn"`
	Subject   string    `json:"subject,omitempty"`
	Message   string    `json:"message"`
	Published time.Time `json:"published"`
}

// snsTopic stands in for the alert topic: SNS's Publish, in the AWS query protocol of
// aws-sdk-go-v2's SNS client. Each message is appended to a JSON Lines file in the state
// directory, so that it outlives the stack as a subscriber's mailbox would.
type snsTopic struct {
	path string

	mu sync.Mutex
	n  int
}

// publishResponse is SNS's answer to Publish, as far as the SDK reads it.
type publishResponse struct {
	XMLName   xml.Name `xml:"http://sns.amazonaws.com/doc/2010-03-31/ PublishResponse"`
	MessageID string   `xml:"PublishResult>MessageId"`
	RequestID string   `xml:"ResponseMetadata>RequestId"`
}

// serve answers Publish; r's form is parsed.
func (t *snsTopic) serve(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	if arn := f.Get("TopicArn"); arn != AlertTopic {
		snsError(w, http.StatusNotFound, "NotFound", "Topic does not exist: the local stack has one topic, "+AlertTopic)
		return
	}
	m := Message{TopicARN: AlertTopic, Subject: f.Get("Subject"), Message: f.Get("Message"), Published: time.Now().UTC()}
	if m.Message == "" {
		snsError(w, http.StatusBadRequest, "InvalidParameter", "Invalid parameter: Empty message")
		return
	}
	id, err := t.append(m)
	if err != nil {
		snsError(w, http.StatusInternalServerError, "InternalError", err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	_ = xml.NewEncoder(w).Encode(publishResponse{MessageID: id, RequestID: newRequestID()}) // a client that went away has no use for the error
}

// append writes m with a new ID and returns the ID.
func (t *snsTopic) append(m Message) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, err := os.OpenFile(t.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return "", fmt.Errorf("SNS stand-in: %w", err)
	}
	t.n++
	m.ID = fmt.Sprintf("%08x-0000-4000-8000-%012d", t.n, m.Published.UnixNano()%1e12)
	line, _ := json.Marshal(m) // plain fields: Marshal cannot fail
	_, err = f.Write(append(line, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("SNS stand-in: %w", err)
	}
	return m.ID, nil
}

// Messages returns every message published to the alert topic over the state directory, in
// order, those of earlier runs included.
func (s *Stack) Messages() ([]Message, error) {
	t := s.invoke.sns
	t.mu.Lock()
	defer t.mu.Unlock()
	f, err := os.Open(t.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Message
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var m Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("%s: %w", t.path, err)
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

func snsError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
		code, xmlEscape(msg), newRequestID())
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder does not fail
	return b.String()
}
