package athenaserver

import (
	"fmt"
	"net/http"
)

// Error codes the stand-in answers with. The SDK maps the first three to its typed errors
// (*types.InvalidRequestException, ...); ThrottlingException is not in Athena's model, so the SDK
// surfaces it as a smithy.GenericAPIError, and its retryer treats it as throttling, as it does
// for real Athena.
const (
	CodeInvalidRequest   = "InvalidRequestException"
	CodeInternalServer   = "InternalServerException"
	CodeTooManyRequests  = "TooManyRequestsException"
	CodeThrottling       = "ThrottlingException"
	CodeUnknownOperation = "UnknownOperationException"
)

// apiError is an error response: an HTTP status and the JSON 1.1 error body.
type apiError struct {
	status int
	code   string
	msg    string
	// athenaCode is InvalidRequestException's AthenaErrorCode member.
	athenaCode string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

// body is the JSON error document; __type selects the SDK's error type.
func (e *apiError) body() map[string]string {
	b := map[string]string{"__type": e.code, "Message": e.msg}
	if e.athenaCode != "" {
		b["AthenaErrorCode"] = e.athenaCode
	}
	return b
}

func invalidRequest(format string, args ...any) *apiError {
	return &apiError{
		status:     http.StatusBadRequest,
		code:       CodeInvalidRequest,
		msg:        fmt.Sprintf(format, args...),
		athenaCode: "INVALID_INPUT",
	}
}

func throttled(op string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: CodeThrottling, msg: "Rate exceeded for " + op}
}

func internalError(msg string) *apiError {
	return &apiError{status: http.StatusInternalServerError, code: CodeInternalServer, msg: msg}
}
