package status

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// ReceiveAPI is the part of the SQS client that Queue uses.
type ReceiveAPI interface {
	ReceiveMessage(ctx context.Context, params *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
}

var _ ReceiveAPI = (*sqs.Client)(nil)

// DefaultPeeks bounds the ReceiveMessage calls of one look at the queue: each returns at most
// 10 messages, a sample of the queue's servers, so several calls are needed to see most of a
// queue, and a queue of failures of a stack that works is short.
const DefaultPeeks = 10

// Queue reads the failed invocations waiting in a failure queue without consuming them.
type Queue struct {
	api   ReceiveAPI
	url   string
	peeks int
}

// NewQueue returns a Queue over the queue at url.
func NewQueue(api ReceiveAPI, url string) *Queue {
	return &Queue{api: api, url: url, peeks: DefaultPeeks}
}

// Failure is one failed asynchronous invocation, as Lambda's on-failure destination records it.
type Failure struct {
	MessageID string
	// Function is the name of the function that failed, from requestContext.functionArn.
	Function string
	// Condition is Lambda's reason: RetriesExhausted, EventAgeExceeded.
	Condition string
	// Error is the function's error message, when it returned one.
	Error string
	// Event is the event the function failed with.
	Event json.RawMessage
	// Time is when Lambda gave up.
	Time time.Time
	// From and To are the days the event asked for (equal for one day; zero when it names none).
	From, To time.Time
}

// Names reports whether the failed event asked for day.
func (f Failure) Names(day time.Time) bool {
	return !f.From.IsZero() && !day.Before(f.From) && !day.After(f.To)
}

// Reason is the failure's error, or Lambda's condition when the function returned none.
func (f Failure) Reason() string {
	if f.Error != "" {
		return f.Error
	}
	return f.Condition
}

// record is Lambda's invocation record sent to an on-failure destination.
type record struct {
	Timestamp      time.Time `json:"timestamp"`
	RequestContext struct {
		FunctionARN string `json:"functionArn"`
		Condition   string `json:"condition"`
	} `json:"requestContext"`
	RequestPayload  json.RawMessage `json:"requestPayload"`
	ResponsePayload struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	} `json:"responsePayload"`
}

// event is what the functions' events say of their days: the extract's day, from/to or
// scheduled time, the lookup's day.
type event struct {
	Day  string `json:"day"`
	From string `json:"from"`
	To   string `json:"to"`
	Time string `json:"time"`
}

// Failures returns the failed invocations in the queue. It receives with a visibility timeout of
// zero, so that the messages stay visible to the next reader and are not consumed, and it may
// miss some of a long queue.
func (q *Queue) Failures(ctx context.Context) ([]Failure, error) {
	seen := map[string]bool{}
	var out []Failure
	for range q.peeks {
		res, err := q.api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:            aws.String(q.url),
			MaxNumberOfMessages: 10, // the API's maximum
			VisibilityTimeout:   0,
			WaitTimeSeconds:     0,
		})
		if err != nil {
			return nil, fmt.Errorf("receive from %s: %w", q.url, err)
		}
		fresh := 0
		for _, m := range res.Messages {
			id := aws.ToString(m.MessageId)
			if seen[id] {
				continue
			}
			seen[id] = true
			fresh++
			out = append(out, parseFailure(id, aws.ToString(m.Body)))
		}
		if fresh == 0 {
			break
		}
	}
	return out, nil
}

// parseFailure reads a message of the queue; one that is not an invocation record is kept
// with its body as the error, since it is a failure all the same.
func parseFailure(id, body string) Failure {
	f := Failure{MessageID: id}
	var r record
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.RequestPayload == nil {
		f.Error = body
		return f
	}
	f.Time, f.Condition, f.Event = r.Timestamp, r.RequestContext.Condition, r.RequestPayload
	f.Function = functionName(r.RequestContext.FunctionARN)
	f.Error = r.ResponsePayload.ErrorMessage
	if f.Error != "" && r.ResponsePayload.ErrorType != "" {
		f.Error = r.ResponsePayload.ErrorType + ": " + f.Error
	}
	var e event
	if json.Unmarshal(r.RequestPayload, &e) != nil {
		return f
	}
	switch {
	case e.Day != "":
		f.From, _ = config.ParseDay(e.Day)
		f.To = f.From
	case e.From != "" && e.To != "":
		f.From, _ = config.ParseDay(e.From)
		f.To, _ = config.ParseDay(e.To)
	case e.Time != "":
		// The schedule's event: its day is the one before its time.
		if t, err := time.Parse(time.RFC3339, e.Time); err == nil {
			f.From = t.UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
			f.To = f.From
		}
	}
	if f.From.IsZero() || f.To.IsZero() {
		f.From, f.To = time.Time{}, time.Time{}
	}
	return f
}

// functionName is the name in a function ARN, arn:aws:lambda:REGION:ACCOUNT:function:NAME[:VERSION].
func functionName(arn string) string {
	if parts := strings.Split(arn, ":"); len(parts) >= 7 {
		return parts[6]
	}
	return arn
}
