// Package lambdaemu runs a Lambda function binary locally behind its own
// implementation of the Lambda Runtime API, so the real bootstrap binaries can
// be invoked without AWS or Docker.
//
// A Function owns one execution environment: one child process that handles
// one invocation at a time, as Lambda does. The process is started by Start,
// re-started after it crashes or times out, and stopped by Close.
package lambdaemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"
)

// Defaults and limits taken from Lambda's own.
const (
	// DefaultTimeout is Lambda's default function timeout.
	DefaultTimeout = 3 * time.Second
	// MaxTimeout is the longest timeout Lambda allows.
	MaxTimeout = 900 * time.Second
	// DefaultMemoryMB is Lambda's default memory size.
	DefaultMemoryMB = 128
	// DefaultInitTimeout is how long Lambda lets an on-demand function initialize.
	DefaultInitTimeout = 10 * time.Second
	// DefaultRegion is the AWS_REGION a function gets when Config.Env does not set one.
	DefaultRegion = "us-east-1"
	// AccountID is the account in the function's ARN; it is the placeholder AWS documentation uses.
	AccountID = "123456789012"
	// MaxPayloadBytes is Lambda's limit on a synchronous request or response payload (6 MB).
	MaxPayloadBytes = 6 * 1024 * 1024
	// ShutdownGrace is how long Close waits after SIGTERM before it sends SIGKILL.
	ShutdownGrace = 500 * time.Millisecond
)

const (
	minMemoryMB = 128
	maxMemoryMB = 10240
	// version is the only version a local function has.
	version = "$LATEST"
)

// Unhandled is the FunctionError of every failed invocation, as Lambda
// reports it for errors the runtime reported, timeouts and crashes alike.
const Unhandled = "Unhandled"

// ErrClosed is returned by Invoke after Close.
var ErrClosed = errors.New("lambdaemu: function closed")

// Config describes the function to run.
type Config struct {
	// Binary is the path to the function's executable (the bootstrap of a provided runtime).
	Binary string
	// Env holds the function's environment variables (a template's Environment.Variables);
	// they override the variables the emulator sets, except AWS_LAMBDA_RUNTIME_API.
	Env map[string]string
	// FunctionName is AWS_LAMBDA_FUNCTION_NAME; it defaults to "function".
	FunctionName string
	// Timeout is the function timeout; it defaults to DefaultTimeout.
	Timeout time.Duration
	// InitTimeout bounds the time from process start to its first poll for work;
	// it defaults to DefaultInitTimeout.
	InitTimeout time.Duration
	// MemoryMB is AWS_LAMBDA_FUNCTION_MEMORY_SIZE; it defaults to DefaultMemoryMB.
	MemoryMB int
	// LogFormat and LogLevel are the function's LoggingConfig (LogFormat, ApplicationLogLevel).
	// As Lambda does, a JSON format sets AWS_LAMBDA_LOG_FORMAT=JSON and AWS_LAMBDA_LOG_LEVEL
	// (INFO unless LogLevel says otherwise); Text sets neither.
	LogFormat string
	LogLevel  string
	// Stdout receives the function's standard output and the lines Lambda
	// itself writes to the log stream (START, END, REPORT, INIT_REPORT, timeouts);
	// nil discards them.
	Stdout io.Writer
	// Stderr receives the function's standard error; nil discards it.
	Stderr io.Writer
}

// Result is the outcome of one invocation.
type Result struct {
	// RequestID is the invocation's request ID, as the handler saw it.
	RequestID string
	// Payload is the function's response, or the error payload when FunctionError is set.
	Payload []byte
	// FunctionError is "" on success and Unhandled when the invocation failed.
	FunctionError string
	// Duration runs from handing the event to the runtime to receiving its answer.
	Duration time.Duration
	// InitDuration is set on the first invocation of a process: the time from
	// process start to its first poll for work.
	InitDuration time.Duration
	// MaxMemoryUsedMB is the process's peak resident memory after the
	// invocation, or 0 where the platform does not report it.
	MaxMemoryUsedMB int
}

// Function is a running local Lambda function.
type Function struct {
	cfg     Config
	binary  string
	baseEnv map[string]string
	arn     string
	stdout  io.Writer
	stderr  io.Writer

	// slot holds one token while an invocation runs: an execution environment
	// handles one invocation at a time.
	slot    chan struct{}
	closing chan struct{}

	invokeSrv  *http.Server
	endpoint   string
	serveDone  chan struct{}
	closeOnce  sync.Once
	asyncCalls sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	proc    *process
	initDur time.Duration
}

// envName is the pattern Lambda accepts for environment variable names.
var envName = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]*$`)

// Start validates cfg, starts the invoke endpoint on 127.0.0.1 and starts the
// function's process; initialization errors show up on the first Invoke, as
// they do on Lambda. ctx bounds only Start: the process lives until Close.
func Start(ctx context.Context, cfg Config) (*Function, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	binary, err := checkConfig(&cfg)
	if err != nil {
		return nil, err
	}
	f := &Function{
		cfg:       cfg,
		binary:    binary,
		slot:      make(chan struct{}, 1),
		closing:   make(chan struct{}),
		serveDone: make(chan struct{}),
	}
	var logMu sync.Mutex
	f.stdout = &lockedWriter{mu: &logMu, w: orDiscard(cfg.Stdout)}
	f.stderr = &lockedWriter{mu: &logMu, w: orDiscard(cfg.Stderr)}
	f.baseEnv = baseEnv(cfg, binary)
	f.arn = fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", f.baseEnv["AWS_REGION"], AccountID, cfg.FunctionName)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for invokes: %w", err)
	}
	f.endpoint = "http://" + ln.Addr().String()
	f.invokeSrv = &http.Server{Handler: f.invokeMux(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(f.serveDone)
		_ = f.invokeSrv.Serve(ln) // returns ErrServerClosed once Close shuts it down
	}()

	f.mu.Lock()
	_, err = f.processLocked()
	f.mu.Unlock()
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// checkConfig fills in defaults and returns the binary's absolute path, or an
// error naming every invalid field.
func checkConfig(cfg *Config) (string, error) {
	var errs []error
	binary := cfg.Binary
	if binary == "" {
		errs = append(errs, errors.New("binary is empty"))
	} else {
		abs, err := filepath.Abs(binary)
		if err != nil {
			errs = append(errs, fmt.Errorf("binary %q: %w", binary, err))
		} else {
			binary = abs
			if st, err := os.Stat(binary); err != nil {
				errs = append(errs, fmt.Errorf("binary: %w", err))
			} else if !st.Mode().IsRegular() {
				errs = append(errs, fmt.Errorf("binary %s is not a regular file", binary))
			} else if st.Mode().Perm()&0o111 == 0 {
				errs = append(errs, fmt.Errorf("binary %s is not executable", binary))
			}
		}
	}
	if cfg.FunctionName == "" {
		cfg.FunctionName = "function"
	}
	if !functionName.MatchString(cfg.FunctionName) {
		errs = append(errs, fmt.Errorf("FunctionName %q must be 1-64 letters, digits, hyphens or underscores", cfg.FunctionName))
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Timeout < 0 || cfg.Timeout > MaxTimeout {
		errs = append(errs, fmt.Errorf("timeout %v is outside (0, %v]", cfg.Timeout, MaxTimeout))
	}
	if cfg.InitTimeout == 0 {
		cfg.InitTimeout = DefaultInitTimeout
	}
	if cfg.InitTimeout < 0 {
		errs = append(errs, fmt.Errorf("InitTimeout %v is negative", cfg.InitTimeout))
	}
	if cfg.MemoryMB == 0 {
		cfg.MemoryMB = DefaultMemoryMB
	}
	if cfg.MemoryMB < minMemoryMB || cfg.MemoryMB > maxMemoryMB {
		errs = append(errs, fmt.Errorf("MemoryMB %d is outside [%d, %d]", cfg.MemoryMB, minMemoryMB, maxMemoryMB))
	}
	for _, k := range sortedKeys(cfg.Env) {
		switch {
		case !envName.MatchString(k):
			errs = append(errs, fmt.Errorf("env name %q must match %s", k, envName))
		case k == "AWS_LAMBDA_RUNTIME_API":
			errs = append(errs, errors.New("env sets AWS_LAMBDA_RUNTIME_API, which the emulator owns"))
		}
	}
	if len(errs) > 0 {
		return "", fmt.Errorf("lambdaemu config: %w", errors.Join(errs...))
	}
	return binary, nil
}

var functionName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// InvokeURL is the URL to POST an event to, at the path the Runtime Interface
// Emulator uses; X-Amz-Invocation-Type: Event answers 202 and runs it in the background.
func (f *Function) InvokeURL() string {
	return f.endpoint + "/2015-03-31/functions/function/invocations"
}

// Endpoint is the base URL to give an SDK Lambda client (its BaseEndpoint, or
// AWS_ENDPOINT_URL_LAMBDA in a caller's environment) to invoke this function by name or ARN.
func (f *Function) Endpoint() string { return f.endpoint }

// ARN is the function ARN the handler sees as its invoked function ARN.
func (f *Function) ARN() string { return f.arn }

// InitDuration is the init duration of the most recent process that finished
// initializing, or 0 if none has yet.
func (f *Function) InitDuration() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.initDur
}

// Invoke runs one synchronous invocation with payload as the event. A failed
// invocation (error, panic, timeout, crash, init failure) is a Result with
// FunctionError set; the error is only for the emulator's own failures,
// a done ctx, or ErrClosed. Concurrent calls run one after another; a call
// whose ctx ends mid-invocation kills the process, which nobody waits for.
func (f *Function) Invoke(ctx context.Context, payload []byte) (Result, error) {
	return f.invoke(ctx, request{payload: payload})
}

// Close stops the process (SIGTERM, then SIGKILL after ShutdownGrace) and the
// servers, and waits for every goroutine and process the Function started.
func (f *Function) Close() error {
	f.closeOnce.Do(func() {
		f.mu.Lock()
		f.closed = true
		p := f.proc
		f.proc = nil
		f.mu.Unlock()
		close(f.closing)
		if p != nil {
			p.stop(ShutdownGrace)
		}
		// Invoke handlers return promptly once closing is closed, so this
		// only waits for them to write their answers.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := f.invokeSrv.Shutdown(ctx); err != nil {
			f.invokeSrv.Close()
		}
		<-f.serveDone
		f.asyncCalls.Wait()
	})
	return nil
}

// processLocked returns the live process, starting one if there is none; f.mu must be held.
func (f *Function) processLocked() (*process, error) {
	if f.closed {
		return nil, ErrClosed
	}
	if f.proc != nil {
		select {
		case <-f.proc.done:
			f.proc = nil
		default:
			return f.proc, nil
		}
	}
	p, err := startProcess(f)
	if err != nil {
		return nil, err
	}
	f.proc = p
	return p, nil
}

// discard stops p with SIGKILL and forgets it, so the next invocation starts a fresh process.
func (f *Function) discard(p *process) {
	f.mu.Lock()
	if f.proc == p {
		f.proc = nil
	}
	f.mu.Unlock()
	p.stop(0)
}

func (f *Function) setInitDuration(d time.Duration) {
	f.mu.Lock()
	f.initDur = d
	f.mu.Unlock()
}

// request is one invocation as the runtime receives it.
type request struct {
	// id is the request ID; empty means a fresh one.
	id      string
	payload []byte
	// clientContext is the JSON client context, already base64-decoded.
	clientContext string
}

func (f *Function) invoke(ctx context.Context, req request) (Result, error) {
	select {
	case f.slot <- struct{}{}:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	case <-f.closing:
		return Result{}, ErrClosed
	}
	defer func() { <-f.slot }()

	if req.id == "" {
		req.id = newRequestID()
	}
	inv := &invocation{
		id:            req.id,
		payload:       req.payload,
		arn:           f.arn,
		traceID:       newTraceID(),
		clientContext: req.clientContext,
		result:        make(chan answer, 1),
	}
	// A process that exits while idle (after a panic, say) never took the
	// invocation, so it is retried once on a fresh process, as Lambda re-initializes.
	for attempt := 1; ; attempt++ {
		f.mu.Lock()
		p, err := f.processLocked()
		f.mu.Unlock()
		if err != nil {
			return Result{}, err
		}
		res, retry, err := f.runOn(ctx, p, inv)
		if retry && attempt < 2 {
			continue
		}
		if err == nil {
			f.report(res)
		}
		return res, err
	}
}

// runOn runs inv on p; retry reports that p exited before taking inv.
func (f *Function) runOn(ctx context.Context, p *process, inv *invocation) (res Result, retry bool, err error) {
	res.RequestID = inv.id
	select {
	case <-p.ready:
	default:
		wait := time.NewTimer(f.cfg.InitTimeout - time.Since(p.started))
		defer wait.Stop()
		select {
		case <-p.ready:
		case <-p.initFailed:
			f.discard(p)
			res = p.initErrorResult(res)
			f.initReport(p, "error", res.Payload)
			return res, false, nil
		case <-p.done:
			f.discard(p)
			res = p.exitResult(res, inv.id)
			f.initReport(p, "error", res.Payload)
			return res, false, nil
		case <-wait.C:
			f.discard(p)
			f.initReport(p, "timeout", nil)
			return timeoutResult(res, inv.id, "Init", f.cfg.InitTimeout), false, nil
		case <-ctx.Done():
			return res, false, ctx.Err() // the process may finish init for the next call
		case <-f.closing:
			return res, false, ErrClosed
		}
	}

	start := time.Now()
	inv.deadline = start.Add(f.cfg.Timeout)
	deadline := time.NewTimer(f.cfg.Timeout)
	defer deadline.Stop()
	select {
	case p.next <- inv:
	case <-p.done:
		f.discard(p)
		return p.exitResult(res, inv.id), true, nil
	case <-deadline.C:
		// The runtime never asked for more work.
		f.discard(p)
		return timeoutResult(res, inv.id, "Task", f.cfg.Timeout), false, nil
	case <-ctx.Done():
		return res, false, ctx.Err()
	case <-f.closing:
		return res, false, ErrClosed
	}
	fmt.Fprintf(f.stdout, "START RequestId: %s Version: %s\n", inv.id, version)
	if !p.invoked {
		p.invoked = true
		res.InitDuration = p.readyAt.Sub(p.started)
	}

	select {
	case a := <-inv.result:
		res.Duration = time.Since(start)
		res.Payload, res.FunctionError = a.payload, a.functionError
		res.MaxMemoryUsedMB = peakMemoryMB(p.cmd.Process.Pid)
		return res, false, nil
	case <-p.done:
		res.Duration = time.Since(start)
		f.discard(p)
		select {
		case a := <-inv.result:
			res.Payload, res.FunctionError = a.payload, a.functionError
			return res, false, nil
		default:
		}
		return p.exitResult(res, inv.id), false, nil
	case <-deadline.C:
		res.Duration = time.Since(start)
		select {
		case a := <-inv.result:
			res.Payload, res.FunctionError = a.payload, a.functionError
			return res, false, nil
		default:
		}
		res.MaxMemoryUsedMB = peakMemoryMB(p.cmd.Process.Pid)
		f.discard(p)
		fmt.Fprintf(f.stdout, "%s %s Task timed out after %s seconds\n",
			time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), inv.id, seconds(f.cfg.Timeout))
		return timeoutResult(res, inv.id, "Task", f.cfg.Timeout), false, nil
	case <-ctx.Done():
		// The process is busy with an invocation nobody waits for any more.
		f.discard(p)
		return res, false, ctx.Err()
	case <-f.closing:
		return res, false, ErrClosed
	}
}

// report writes the END and REPORT lines Lambda writes after each invocation.
func (f *Function) report(res Result) {
	if res.Duration == 0 && res.FunctionError != "" {
		return // never reached the handler, so there was no START
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	line := fmt.Sprintf("END RequestId: %s\nREPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB",
		res.RequestID, res.RequestID, ms(res.Duration),
		// provided runtimes are billed for init as well, rounded up to the millisecond
		int64(math.Ceil(ms(res.Duration+res.InitDuration))), f.cfg.MemoryMB)
	if res.MaxMemoryUsedMB > 0 {
		line += fmt.Sprintf("\tMax Memory Used: %d MB", res.MaxMemoryUsedMB)
	}
	if res.InitDuration > 0 {
		line += fmt.Sprintf("\tInit Duration: %.2f ms", ms(res.InitDuration))
	}
	fmt.Fprintln(f.stdout, line)
}

// initReport writes the INIT_REPORT line Lambda writes when init fails.
func (f *Function) initReport(p *process, status string, payload []byte) {
	line := fmt.Sprintf("INIT_REPORT Init Duration: %.2f ms\tPhase: init\tStatus: %s",
		float64(time.Since(p.started))/float64(time.Millisecond), status)
	var e struct {
		Type string `json:"errorType"`
	}
	if json.Unmarshal(payload, &e) == nil && e.Type != "" {
		line += "\tError Type: " + e.Type
	}
	fmt.Fprintln(f.stdout, line)
}

// seconds formats d the way Lambda's timeout messages do ("3.00").
func seconds(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }

// timeoutResult is the error payload Lambda returns when a phase runs out of time.
func timeoutResult(res Result, id, phase string, limit time.Duration) Result {
	res.FunctionError = Unhandled
	res.Payload = errorPayload("Sandbox.Timedout",
		fmt.Sprintf("RequestId: %s Error: %s timed out after %s seconds", id, phase, seconds(limit)))
	return res
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
