package batchget

import (
	"context"
	"errors"
	"strings"

	"github.com/aws/smithy-go"
)

// Error codes with a meaning of their own to the engine.
const (
	// CodeInvalidRequest is what Athena answers for an ID it does not know (as an unprocessed ID)
	// or a malformed one (for the whole call). It is permanent: asking again gives the same answer.
	CodeInvalidRequest = "InvalidRequestException"
	// CodeMissing is written for an ID that Athena left out of its answer altogether, neither found
	// nor unprocessed, every time it was asked.
	CodeMissing = "Missing"
	// CodeUnknown is written for an unprocessed ID that came back without an error code.
	CodeUnknown = "Unknown"
)

// throttleCodes mean "over the quota": the call or ID is retried and the limiter slows down.
var throttleCodes = map[string]bool{
	"ThrottlingException":      true,
	"TooManyRequestsException": true,
	"ThrottledException":       true,
	"RequestLimitExceeded":     true,
	"SlowDown":                 true,
}

// transientCodes are the other codes worth asking again for: server-side faults (5xx meaning),
// timeouts and answers that were incomplete. Every code not listed here or in throttleCodes is
// permanent. This is the one list of them: both whole-call errors and the ErrorCode of
// UnprocessedQueryExecutionIds are classified with it.
var transientCodes = map[string]bool{
	"InternalServerException":     true,
	"InternalFailure":             true,
	"InternalError":               true,
	"InternalServiceException":    true,
	"ServiceUnavailable":          true,
	"ServiceUnavailableException": true,
	"ServiceException":            true,
	"RequestTimeout":              true,
	"RequestTimeoutException":     true,
	CodeMissing:                   true,
	CodeUnknown:                   true,
}

// IsTransientCode reports whether an unprocessed ID with this ErrorCode is worth asking for again.
func IsTransientCode(code string) bool {
	return throttleCodes[code] || transientCodes[code] || strings.HasPrefix(code, "Internal")
}

// errorKind is what the engine does after a failed call.
type errorKind int

const (
	errFatal     errorKind = iota // give up: the Lookup fails
	errThrottled                  // back off, slow the limiter down, try again
	errTransient                  // back off, try again
	errInvalid                    // permanent for these IDs: split the batch, or write the code
)

// classify sorts a failed call's error; code is the API error code, if there is one.
func classify(ctx context.Context, err error) (kind errorKind, code string) {
	if ctx.Err() != nil {
		return errFatal, ""
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code = apiErr.ErrorCode()
		switch {
		case throttleCodes[code]:
			return errThrottled, code
		case code == CodeInvalidRequest:
			return errInvalid, code
		case transientCodes[code], strings.HasPrefix(code, "Internal"):
			return errTransient, code
		}
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		switch s := status.HTTPStatusCode(); {
		case s == 429:
			return errThrottled, code
		case s >= 500:
			return errTransient, code
		case s >= 200 && s < 300:
			// The service answered but the answer could not be read (a connection cut while
			// the body streamed): asking again may well get a whole one.
			return errTransient, code
		case s > 0:
			// Any other answer from the service (access denied, validation) will not change.
			return errFatal, code
		}
	}
	if apiErr != nil {
		return errFatal, code
	}
	// No answer from the service at all: a network error or a timeout of the call itself (the
	// context is still live), which a new attempt may well get past.
	return errTransient, ""
}

// Permanent reports whether err, returned by Lookup, is one that asking again will not cure:
// access denied, credentials that cannot be had, a malformed call. Throttling and server faults
// that outlasted the attempts are not permanent: a later invocation may get through.
func Permanent(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	kind, _ := classify(context.Background(), err)
	return kind == errFatal || kind == errInvalid
}

// ErrorCode returns the service's error code in err, or "" when it holds none.
func ErrorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}
