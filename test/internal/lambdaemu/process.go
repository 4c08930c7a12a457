package lambdaemu

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Runtime API headers, as aws-lambda-go's runtime client reads and writes them.
const (
	headerRequestID     = "Lambda-Runtime-Aws-Request-Id"
	headerDeadlineMS    = "Lambda-Runtime-Deadline-Ms"
	headerFunctionARN   = "Lambda-Runtime-Invoked-Function-Arn"
	headerTraceID       = "Lambda-Runtime-Trace-Id"
	headerClientContext = "Lambda-Runtime-Client-Context"
	headerErrorType     = "Lambda-Runtime-Function-Error-Type"
	// trailerErrorBody carries a base64 error payload when a streamed response fails midway.
	trailerErrorBody = "Lambda-Runtime-Function-Error-Body"
)

// invocation is one event on its way to the runtime and back.
type invocation struct {
	id            string
	payload       []byte
	arn           string
	traceID       string
	clientContext string
	deadline      time.Time
	// result has room for the one answer, so the runtime API handler never blocks.
	result chan answer
}

// answer is what the runtime posted for an invocation.
type answer struct {
	payload       []byte
	functionError string
}

// process is one run of the function binary with its own Runtime API server;
// a fresh port per process means a request from a dead process can never be
// taken for one from its successor.
type process struct {
	cmd     *exec.Cmd
	srv     *http.Server
	started time.Time
	// next hands an invocation to a runtime blocked in GET /next.
	next chan *invocation

	readyOnce sync.Once
	ready     chan struct{} // closed at the first GET /next
	readyAt   time.Time
	onReady   func(time.Duration)

	initOnce   sync.Once
	initFailed chan struct{} // closed when the runtime posts /init/error
	initErr    []byte

	// invoked is only touched by the invocation holding the Function's slot.
	invoked bool

	mu       sync.Mutex
	inflight map[string]*invocation

	exited  chan struct{} // closed when the process has exited
	exitErr error
	done    chan struct{} // closed when the process has exited and its server has stopped
}

func startProcess(f *Function) (*process, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for runtime API: %w", err)
	}
	p := &process{
		next:       make(chan *invocation),
		ready:      make(chan struct{}),
		onReady:    f.setInitDuration,
		initFailed: make(chan struct{}),
		inflight:   make(map[string]*invocation),
		exited:     make(chan struct{}),
		done:       make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", p.handleNext)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", p.handleResponse)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", p.handleError)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", p.handleInitError)
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	env := make(map[string]string, len(f.baseEnv)+2)
	for k, v := range f.baseEnv {
		env[k] = v
	}
	if _, ok := f.cfg.Env["AWS_LAMBDA_LOG_STREAM_NAME"]; !ok {
		env["AWS_LAMBDA_LOG_STREAM_NAME"] = time.Now().UTC().Format("2006/01/02") + "/[" + version + "]" + randomHex(16)
	}
	env["AWS_LAMBDA_RUNTIME_API"] = ln.Addr().String()

	cmd := exec.Command(f.binary)
	cmd.Dir = filepath.Dir(f.binary)
	cmd.Env = environ(env)
	cmd.Stdout = f.stdout
	cmd.Stderr = f.stderr
	// A grandchild holding the output pipes open must not keep Wait from returning.
	cmd.WaitDelay = time.Second
	p.cmd = cmd
	// started is set before the server goroutine exists, so handlers see it
	// without a lock: the child's requests are no synchronization Go can see.
	p.started = time.Now()
	serveDone := make(chan struct{})
	go func() {
		defer close(serveDone)
		_ = p.srv.Serve(ln) // returns once wait shuts the server down
	}()
	if err := cmd.Start(); err != nil {
		p.srv.Close()
		<-serveDone
		return nil, fmt.Errorf("start %s: %w", f.binary, err)
	}
	go p.wait(serveDone)
	return p, nil
}

// wait reaps the process, then stops its server and waits for the handlers.
func (p *process) wait(serveDone chan struct{}) {
	p.exitErr = p.cmd.Wait()
	close(p.exited)
	// Handlers return once exited is closed, so Shutdown does not wait long.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.srv.Shutdown(ctx); err != nil {
		p.srv.Close()
	}
	<-serveDone
	close(p.done)
}

// stop sends SIGTERM and, after grace, SIGKILL, then waits until the process is gone.
func (p *process) stop(grace time.Duration) {
	select {
	case <-p.exited:
	default:
		if grace > 0 {
			_ = p.cmd.Process.Signal(syscall.SIGTERM) // fails only if it already exited
			select {
			case <-p.exited:
			case <-time.After(grace):
			}
		}
		_ = p.cmd.Process.Kill() // fails only if it already exited
	}
	<-p.done
}

func (p *process) handleNext(w http.ResponseWriter, r *http.Request) {
	p.readyOnce.Do(func() {
		p.readyAt = time.Now()
		p.onReady(p.readyAt.Sub(p.started))
		close(p.ready)
	})
	var inv *invocation
	select {
	case inv = <-p.next:
	case <-r.Context().Done():
		return
	case <-p.exited:
		return
	}
	p.mu.Lock()
	p.inflight[inv.id] = inv
	p.mu.Unlock()
	h := w.Header()
	h.Set(headerRequestID, inv.id)
	h.Set(headerDeadlineMS, strconv.FormatInt(inv.deadline.UnixMilli(), 10))
	h.Set(headerFunctionARN, inv.arn)
	h.Set(headerTraceID, inv.traceID)
	if inv.clientContext != "" {
		h.Set(headerClientContext, inv.clientContext)
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(inv.payload) // a runtime that hangs up shows as its exit
}

// take removes and returns the in-flight invocation id, or writes an error and returns nil.
func (p *process) take(w http.ResponseWriter, id string) *invocation {
	p.mu.Lock()
	inv := p.inflight[id]
	delete(p.inflight, id)
	p.mu.Unlock()
	if inv == nil {
		writeError(w, http.StatusBadRequest, "InvalidRequestID", fmt.Sprintf("no invocation in flight with request ID %q", id))
	}
	return inv
}

func (p *process) handleResponse(w http.ResponseWriter, r *http.Request) {
	inv := p.take(w, r.PathValue("id"))
	if inv == nil {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxPayloadBytes+1))
	if err != nil {
		inv.result <- answer{functionError: Unhandled, payload: errorPayload("Runtime.InvalidResponse", "read response: "+err.Error())}
		writeError(w, http.StatusBadRequest, "InvalidResponse", err.Error())
		return
	}
	if len(body) > MaxPayloadBytes {
		inv.result <- answer{functionError: Unhandled, payload: errorPayload("Function.ResponseSizeTooLarge",
			fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", MaxPayloadBytes))}
		writeError(w, http.StatusRequestEntityTooLarge, "Function.ResponseSizeTooLarge", "response too large")
		return
	}
	// A streamed response that failed midway names its error in trailers.
	if typ := r.Trailer.Get(headerErrorType); typ != "" {
		payload, err := base64.StdEncoding.DecodeString(r.Trailer.Get(trailerErrorBody))
		if err != nil || len(payload) == 0 {
			payload = errorPayload(typ, "")
		}
		inv.result <- answer{functionError: Unhandled, payload: payload}
	} else {
		inv.result <- answer{payload: body}
	}
	accepted(w)
}

func (p *process) handleError(w http.ResponseWriter, r *http.Request) {
	inv := p.take(w, r.PathValue("id"))
	if inv == nil {
		return
	}
	inv.result <- answer{functionError: Unhandled, payload: readErrorPayload(r)}
	accepted(w)
}

func (p *process) handleInitError(w http.ResponseWriter, r *http.Request) {
	select {
	case <-p.ready:
		writeError(w, http.StatusForbidden, "InvalidStateTransition", "init error posted after init finished")
		return
	default:
	}
	payload := readErrorPayload(r)
	p.initOnce.Do(func() {
		p.initErr = payload
		close(p.initFailed)
	})
	accepted(w)
}

// readErrorPayload returns the posted error payload; with no body, Lambda
// builds one from the error type header.
func readErrorPayload(r *http.Request) []byte {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxPayloadBytes))
	if err == nil && len(bytes.TrimSpace(body)) > 0 {
		return body
	}
	typ := r.Header.Get(headerErrorType)
	if typ == "" {
		typ = "Runtime.Unknown"
	}
	return errorPayload(typ, "")
}

// initErrorResult answers an invocation whose process posted /init/error.
func (p *process) initErrorResult(res Result) Result {
	res.FunctionError = Unhandled
	res.Payload = p.initErr
	return res
}

// exitResult answers an invocation whose process exited before answering;
// it must only be called once done is closed.
func (p *process) exitResult(res Result, id string) Result {
	select {
	case <-p.initFailed:
		return p.initErrorResult(res)
	default:
	}
	msg := "Runtime exited without providing a reason"
	var exitErr *exec.ExitError
	if errors.As(p.exitErr, &exitErr) {
		msg = "Runtime exited with error: " + exitErr.String()
	} else if p.exitErr != nil {
		msg = "Runtime exited with error: " + p.exitErr.Error()
	}
	res.FunctionError = Unhandled
	res.Payload = errorPayload("Runtime.ExitError", fmt.Sprintf("RequestId: %s Error: %s", id, msg))
	return res
}

// errorPayload is Lambda's error format, {"errorMessage","errorType"}.
func errorPayload(typ, msg string) []byte {
	b, _ := json.Marshal(struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}{msg, typ}) // cannot fail: two strings
	return b
}

func accepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(errorPayload(typ, msg))
}

// peakMemoryMB reads the process's peak resident set size from /proc;
// elsewhere than Linux it reports 0.
func peakMemoryMB(pid int) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		rest, ok := strings.CutPrefix(s.Text(), "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
		if err != nil {
			return 0
		}
		return (kb + 1023) / 1024
	}
	return 0
}
