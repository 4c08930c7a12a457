// Command echo is a Lambda function for lambdaemu's tests: it echoes its
// event with what the runtime told it, and misbehaves on request.
//
// Event fields: "fail" returns a FailError, "panic" panics, "exit" exits
// mid-invocation, "sleep_ms" sleeps first, "env" names variables to return.
// Before lambda.Start, ECHO_INIT=fail exits with status 1, ECHO_INIT=post
// posts /runtime/init/error and exits, ECHO_INIT=sleep never finishes init.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Fail    bool     `json:"fail"`
	Panic   bool     `json:"panic"`
	Exit    bool     `json:"exit"`
	SleepMS int      `json:"sleep_ms"`
	Env     []string `json:"env"`
}

type response struct {
	Event         json.RawMessage   `json:"event"`
	RequestID     string            `json:"request_id"`
	FunctionARN   string            `json:"function_arn"`
	DeadlineMS    int64             `json:"deadline_ms"`
	FunctionName  string            `json:"function_name"`
	MemoryMB      int               `json:"memory_mb"`
	TraceID       string            `json:"trace_id"`
	ClientContext map[string]string `json:"client_context,omitempty"`
	Env           map[string]string `json:"env,omitempty"`
	PID           int               `json:"pid"`
}

// FailError is the typed error the function returns on {"fail":true}.
type FailError struct{ Reason string }

func (e *FailError) Error() string { return "asked to fail: " + e.Reason }

func handle(ctx context.Context, raw json.RawMessage) (response, error) {
	var ev event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return response{}, fmt.Errorf("decode event: %w", err)
	}
	lc, _ := lambdacontext.FromContext(ctx)
	deadline, _ := ctx.Deadline()
	log.Printf("handling %s", lc.AwsRequestID)
	if ev.SleepMS > 0 {
		time.Sleep(time.Duration(ev.SleepMS) * time.Millisecond)
	}
	switch {
	case ev.Fail:
		return response{}, &FailError{Reason: "event said so"}
	case ev.Panic:
		panic("event said panic")
	case ev.Exit:
		os.Exit(3)
	}
	res := response{
		Event:         raw,
		RequestID:     lc.AwsRequestID,
		FunctionARN:   lc.InvokedFunctionArn,
		DeadlineMS:    deadline.UnixMilli(),
		FunctionName:  lambdacontext.FunctionName,
		MemoryMB:      lambdacontext.MemoryLimitInMB,
		TraceID:       os.Getenv("_X_AMZN_TRACE_ID"),
		ClientContext: lc.ClientContext.Custom,
		PID:           os.Getpid(),
	}
	if len(ev.Env) > 0 {
		res.Env = make(map[string]string, len(ev.Env))
		for _, k := range ev.Env {
			res.Env[k] = os.Getenv(k)
		}
	}
	return res, nil
}

// postInitError reports an init failure the way a runtime does before exiting.
func postInitError() {
	url := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/init/error"
	body := `{"errorMessage":"config missing BUCKET","errorType":"InitConfigError"}`
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		log.Fatalf("post init error: %v", err)
	}
	resp.Body.Close()
	os.Exit(1)
}

func main() {
	switch os.Getenv("ECHO_INIT") {
	case "fail":
		log.Fatal("init: config missing BUCKET")
	case "post":
		postInitError()
	case "sleep":
		time.Sleep(time.Hour)
	}
	lambda.Start(handle)
}
