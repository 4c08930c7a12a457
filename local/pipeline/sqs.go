package pipeline

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// FailureQueue is the name of the local stack's queue of failed invocations.
const FailureQueue = "athena-usage-failures"

// sqsQueue stands in for the stack's failure queue: the calls that `athena-usage status` and
// `backfill` make (ReceiveMessage, GetQueueAttributes), and SendMessage to fill it, in the AWS
// JSON 1.0 protocol of aws-sdk-go-v2's SQS client. Messages are never hidden or deleted: the
// commands only peek, with a visibility timeout of zero.
type sqsQueue struct {
	url string

	mu   sync.Mutex
	msgs []sqsMessage
}

type sqsMessage struct {
	ID   string `json:"MessageId"`
	Body string `json:"Body"`
}

// send appends a message and returns its ID.
func (q *sqsQueue) send(body string) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	id := fmt.Sprintf("%08d-0000-4000-8000-%012d", len(q.msgs)+1, time.Now().UnixNano()%1e12)
	q.msgs = append(q.msgs, sqsMessage{ID: id, Body: body})
	return id
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s)) //nolint:gosec // SQS's checksum of a message body is MD5
	return hex.EncodeToString(sum[:])
}

// serve answers one SQS call.
func (q *sqsQueue) serve(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.")
	var in struct {
		QueueURL            string `json:"QueueUrl"`
		QueueName           string
		MessageBody         string
		MaxNumberOfMessages int
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil {
		sqsError(w, "InvalidParameterValue", err.Error())
		return
	}
	if op != "GetQueueUrl" && in.QueueURL != q.url {
		sqsError(w, "QueueDoesNotExist", "the local stack has one queue, "+q.url)
		return
	}
	var out any
	switch op {
	case "GetQueueUrl":
		if in.QueueName != FailureQueue {
			sqsError(w, "QueueDoesNotExist", "the local stack has one queue, "+FailureQueue)
			return
		}
		out = map[string]string{"QueueUrl": q.url}
	case "SendMessage":
		out = map[string]string{"MessageId": q.send(in.MessageBody), "MD5OfMessageBody": md5Hex(in.MessageBody)}
	case "ReceiveMessage":
		n := min(max(in.MaxNumberOfMessages, 1), 10)
		type message struct {
			sqsMessage
			ReceiptHandle string
			MD5OfBody     string
		}
		msgs := []message{}
		q.mu.Lock()
		for _, m := range q.msgs[:min(n, len(q.msgs))] {
			msgs = append(msgs, message{sqsMessage: m, ReceiptHandle: m.ID, MD5OfBody: md5Hex(m.Body)})
		}
		q.mu.Unlock()
		out = map[string]any{"Messages": msgs}
	case "GetQueueAttributes":
		q.mu.Lock()
		n := len(q.msgs)
		q.mu.Unlock()
		out = map[string]any{"Attributes": map[string]string{"ApproximateNumberOfMessages": strconv.Itoa(n)}}
	default:
		sqsError(w, "UnsupportedOperation", "the local failure queue answers GetQueueUrl, SendMessage, ReceiveMessage and GetQueueAttributes")
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(out) // a client that went away has no use for the error
}

func sqsError(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Query-Error", "AWS.SimpleQueueService."+code+";Sender")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.sqs#" + code, "message": msg})
}

// failureRecord is the record Lambda sends to an on-failure destination, as status reads it.
type failureRecord struct {
	Version        string    `json:"version"`
	Timestamp      time.Time `json:"timestamp"`
	RequestContext struct {
		RequestID              string `json:"requestId"`
		FunctionARN            string `json:"functionArn"`
		Condition              string `json:"condition"`
		ApproximateInvokeCount int    `json:"approximateInvokeCount"`
	} `json:"requestContext"`
	RequestPayload  json.RawMessage `json:"requestPayload"`
	ResponseContext struct {
		StatusCode      int    `json:"statusCode"`
		ExecutedVersion string `json:"executedVersion"`
		FunctionError   string `json:"functionError"`
	} `json:"responseContext"`
	ResponsePayload struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	} `json:"responsePayload"`
}

// Fail records a failed asynchronous invocation of function with payload in the failure
// queue, as Lambda does once its retries are exhausted.
func (s *Stack) Fail(function string, payload []byte, err error) {
	var rec failureRecord
	rec.Version = "1.0"
	rec.Timestamp = time.Now().UTC()
	rec.RequestContext.RequestID = newRequestID()
	rec.RequestContext.FunctionARN = "arn:aws:lambda:" + Region + ":" + AccountID + ":function:" + function + ":$LATEST"
	rec.RequestContext.Condition = "RetriesExhausted"
	rec.RequestContext.ApproximateInvokeCount = 3
	rec.RequestPayload = payload
	rec.ResponseContext.StatusCode = 200
	rec.ResponseContext.ExecutedVersion = "$LATEST"
	rec.ResponseContext.FunctionError = "Unhandled"
	rec.ResponsePayload.ErrorMessage = err.Error()
	rec.ResponsePayload.ErrorType = "errorString"
	b, _ := json.Marshal(rec) // plain fields and valid JSON payloads: Marshal cannot fail
	s.invoke.sqs.send(string(b))
}
