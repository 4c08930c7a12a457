package lambdaemu

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Invoke API headers, as Lambda's Invoke action and the Runtime Interface Emulator use them.
const (
	headerInvocationType  = "X-Amz-Invocation-Type"
	headerAPIClientCtx    = "X-Amz-Client-Context"
	headerFunctionError   = "X-Amz-Function-Error"
	headerExecutedVersion = "X-Amz-Executed-Version"
	headerAPIRequestID    = "X-Amzn-Requestid"
	headerAPIErrorType    = "X-Amzn-Errortype"
)

func (f *Function) invokeMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", f.handleInvoke)
	return mux
}

// handleInvoke serves Lambda's Invoke action: RequestResponse (the default)
// answers 200 with the function's payload, Event answers 202 and runs the
// invocation in the background, DryRun answers 204.
func (f *Function) handleInvoke(w http.ResponseWriter, r *http.Request) {
	switch name := r.PathValue("name"); name {
	case "function", f.cfg.FunctionName, f.arn, f.arn + ":" + version:
	default:
		apiError(w, http.StatusNotFound, "ResourceNotFoundException",
			fmt.Sprintf("Function not found: %s (this emulator runs %s)", name, f.arn))
		return
	}
	typ := r.Header.Get(headerInvocationType)
	switch typ {
	case "", "RequestResponse", "Event", "DryRun":
	default:
		apiError(w, http.StatusBadRequest, "InvalidParameterValueException",
			fmt.Sprintf("%s %q is not one of RequestResponse, Event, DryRun", headerInvocationType, typ))
		return
	}
	payload, err := io.ReadAll(io.LimitReader(r.Body, MaxPayloadBytes+1))
	if err != nil {
		apiError(w, http.StatusBadRequest, "InvalidRequestContentException", "read payload: "+err.Error())
		return
	}
	if len(payload) > MaxPayloadBytes {
		apiError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException",
			fmt.Sprintf("Request must be smaller than %d bytes for the InvokeFunction operation", MaxPayloadBytes))
		return
	}
	if len(payload) > 0 && !json.Valid(payload) {
		apiError(w, http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json")
		return
	}
	req := request{id: newRequestID(), payload: payload}
	if cc := r.Header.Get(headerAPIClientCtx); cc != "" {
		b, err := base64.StdEncoding.DecodeString(cc)
		if err != nil {
			apiError(w, http.StatusBadRequest, "InvalidParameterValueException", headerAPIClientCtx+" is not valid base64: "+err.Error())
			return
		}
		req.clientContext = string(b)
	}
	w.Header().Set(headerAPIRequestID, req.id)

	switch typ {
	case "DryRun":
		w.WriteHeader(http.StatusNoContent)
		return
	case "Event":
		if !f.invokeAsync(req) {
			apiError(w, http.StatusServiceUnavailable, "ServiceException", ErrClosed.Error())
			return
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}

	res, err := f.invoke(r.Context(), req)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return // the caller hung up
		}
		apiError(w, http.StatusServiceUnavailable, "ServiceException", err.Error())
		return
	}
	w.Header().Set(headerExecutedVersion, version)
	w.Header().Set("Content-Type", "application/json")
	if res.FunctionError != "" {
		w.Header().Set(headerFunctionError, res.FunctionError)
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(res.Payload) // nothing to do if the caller hung up
}

// invokeAsync queues req as an Event invocation, or reports false after Close.
func (f *Function) invokeAsync(req request) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.asyncCalls.Add(1)
	go func() {
		defer f.asyncCalls.Done()
		// Lambda sends a failed Event invocation to a destination; here it is logged.
		res, err := f.invoke(context.Background(), req)
		switch {
		case errors.Is(err, ErrClosed):
		case err != nil:
			fmt.Fprintf(f.stderr, "lambdaemu: async invocation %s: %v\n", req.id, err)
		case res.FunctionError != "":
			fmt.Fprintf(f.stderr, "lambdaemu: async invocation %s failed: %s\n", req.id, res.Payload)
		}
	}()
	return true
}

// apiError writes an error the way Lambda's REST-JSON API does, so SDK clients decode it.
func apiError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set(headerAPIErrorType, typ)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(struct {
		Type    string `json:"Type"`
		Message string `json:"message"`
	}{"User", msg}) // cannot fail: two strings
	_, _ = w.Write(b)
}
