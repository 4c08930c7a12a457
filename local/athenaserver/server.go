// Package athenaserver is a stand-in for Amazon Athena's query API, for running athena-usage with
// no AWS account. It speaks Athena's JSON 1.1 protocol over HTTP, so the real aws-sdk-go-v2 Athena
// client, pointed at it with BaseEndpoint, cannot tell the difference. Queries run through an
// Executor (local/sqlengine's engine) and their results are written to S3 as Athena writes them.
// Executions, including ones loaded from query-history files, persist in a directory. Athena's
// API quotas are enforced, and latency and faults can be injected for reliability tests.
package athenaserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/athenausage/athena-usage/local/sqlengine"
	"github.com/athenausage/athena-usage/pkg/s3uri"
	"github.com/aws/aws-sdk-go-v2/service/athena/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3 is what the stand-in calls on S3: PutObject to write result files and GetObject to read
// GetQueryResults' pages from them.
type S3 interface {
	PutObject(ctx context.Context, params *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, params *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

var _ S3 = (*s3.Client)(nil)

// Workgroup is an Athena workgroup. When Enforce is set, its OutputLocation overrides the one a
// query asks for, as with Athena's "override client-side settings".
type Workgroup struct {
	Name           string
	OutputLocation string
	Enforce        bool
}

// Defaults.
const (
	// DefaultWorkgroup is the workgroup every account has, used when a call names none.
	DefaultWorkgroup = "primary"
	// DefaultRegion and DefaultAccountID are used when Options leaves them empty.
	DefaultRegion    = "us-east-1"
	DefaultAccountID = "123456789012"
	// DefaultMaxConcurrentQueries is how many queries run at once; more wait in QUEUED.
	DefaultMaxConcurrentQueries = 4
	// EngineVersion is what every execution reports as selected and effective.
	EngineVersion = "Athena engine version 3"
	// stateFile holds the executions in Dir.
	stateFile = "executions.jsonl"
)

// Options configure a Server.
type Options struct {
	// Dir holds the executions so that a later Server on the same Dir serves them; "" keeps
	// them in memory only.
	Dir string
	// Engine runs the SQL. Required.
	Engine Executor
	// S3 receives the result files. Required.
	S3        S3
	Region    string
	AccountID string
	// Workgroups are the workgroups that exist; "primary" (with no output location) is added
	// when missing.
	Workgroups []Workgroup
	// MaxConcurrentQueries defaults to DefaultMaxConcurrentQueries.
	MaxConcurrentQueries int
	// QueueTime is how long each query stays QUEUED before it may run.
	QueueTime time.Duration
	// Quotas override DefaultQuotas per operation; DisableQuotas turns them all off.
	Quotas        map[string]Quota
	DisableQuotas bool
	// Latency per operation; the "" entry applies to operations without their own.
	Latency map[string]Latency
	Faults  Faults
	// Generated, when set, makes the execution of an ID that is not stored, if it is one
	// (ok): benchmarks look up a million IDs without holding a million executions.
	Generated func(id string) (q types.QueryExecution, ok bool)
	// Seed seeds the random numbers behind latency ranges and faults, for reproducible runs.
	Seed int64
	// Now is the clock for execution times; defaults to time.Now.
	Now func() time.Time
	// Logger receives errors that no caller can be told about (persistence after a query
	// finished); defaults to slog.Default().
	Logger *slog.Logger
}

// Server is the Athena stand-in. It is an http.Handler.
type Server struct {
	opts       Options
	lim        *limits
	workgroups map[string]Workgroup // guarded by mu
	slots      chan struct{}
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup

	countMu sync.Mutex
	counts  map[string]CallCounts

	mu     sync.Mutex
	closed bool
	// execs are the executions held in memory: those this stand-in ran, and without a Dir
	// those loaded from a history too; hist locates the others in the state file.
	execs map[string]*execution
	hist  map[string]histEntry
	// wgs numbers the workgroup names of hist, wgNames holds them: an entry keeps a number.
	wgs     map[string]uint32
	wgNames []string
	tokens  map[string]string // ClientRequestToken → QueryExecutionId
	persist *persister
}

// execution is one query execution and what the stand-in knows beyond the API shape.
type execution struct {
	q      types.QueryExecution
	token  string
	ran    bool // started by this stand-in, as opposed to loaded from history
	cols   []sqlengine.Column
	cancel context.CancelFunc
}

// New returns a Server serving the executions saved in opts.Dir, if any.
func New(opts Options) (*Server, error) {
	if opts.Engine == nil {
		return nil, errors.New("athena stand-in: no Engine")
	}
	if opts.S3 == nil {
		return nil, errors.New("athena stand-in: no S3 client")
	}
	if opts.Region == "" {
		opts.Region = DefaultRegion
	}
	if opts.AccountID == "" {
		opts.AccountID = DefaultAccountID
	}
	if opts.MaxConcurrentQueries <= 0 {
		opts.MaxConcurrentQueries = DefaultMaxConcurrentQueries
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{
		opts:       opts,
		lim:        newLimits(opts),
		workgroups: map[string]Workgroup{DefaultWorkgroup: {Name: DefaultWorkgroup}},
		slots:      make(chan struct{}, opts.MaxConcurrentQueries),
		execs:      map[string]*execution{},
		hist:       map[string]histEntry{},
		wgs:        map[string]uint32{},
		tokens:     map[string]string{},
		counts:     map[string]CallCounts{},
	}
	for _, wg := range opts.Workgroups {
		if wg.Name == "" {
			return nil, errors.New("athena stand-in: workgroup with no name")
		}
		if wg.OutputLocation != "" {
			if _, _, err := s3uri.Parse(wg.OutputLocation); err != nil {
				return nil, fmt.Errorf("athena stand-in: workgroup %s: %w", wg.Name, err)
			}
		}
		s.workgroups[wg.Name] = wg
	}
	if opts.Dir != "" {
		p, err := openPersister(opts.Dir, s.restore)
		if err != nil {
			return nil, fmt.Errorf("athena stand-in: %w", err)
		}
		s.persist = p
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Close stops the queries still running (they end FAILED), waits for them, and closes the
// state file.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	if s.persist != nil {
		return s.persist.close()
	}
	return nil
}

// Listen serves on addr ("" means 127.0.0.1 on a free port) and returns the endpoint URL for
// BaseEndpoint and a function that stops serving and closes the Server.
func (s *Server) Listen(addr string) (url string, shutdown func(context.Context) error, err error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	// Shutdown closes idle keep-alive connections at once but waits 5 s on a connection that
	// has sent no request yet (the SDK's transport dials spares it may never use): record those
	// and close them once the listener is closed, so that shutdown is prompt.
	var mu sync.Mutex
	fresh := map[net.Conn]bool{}
	hs.ConnState = func(c net.Conn, st http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		if st == http.StateNew {
			fresh[c] = true
		} else {
			delete(fresh, c)
		}
	}
	hs.RegisterOnShutdown(func() {
		mu.Lock()
		defer mu.Unlock()
		for c := range fresh {
			c.Close()
		}
	})
	go func() {
		// Serve returns ErrServerClosed after shutdown; anything else stops the endpoint with no
		// caller left to tell.
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.opts.Logger.Error("serve", "addr", ln.Addr().String(), "error", err)
		}
	}()
	shutdown = func(ctx context.Context) error {
		return errors.Join(hs.Shutdown(ctx), s.Close())
	}
	return "http://" + ln.Addr().String(), shutdown, nil
}

// maxBody bounds request bodies; Athena's largest input, a query string, is 256 KiB.
const maxBody = 1 << 20

// ServeHTTP answers one Athena API call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newID()
	w.Header().Set("X-Amzn-RequestId", reqID)
	op, out, aerr := s.serve(r)
	s.count(op, aerr)
	if aerr != nil {
		writeJSON(w, aerr.status, aerr.body())
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// serve answers a call; op is the operation it named, if any.
func (s *Server) serve(r *http.Request) (op string, out any, aerr *apiError) {
	if r.Method != http.MethodPost {
		return "", nil, invalidRequest("method %s not allowed: Athena's API takes POST", r.Method)
	}
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "AmazonAthena.")
	if !ok {
		return "", nil, &apiError{status: http.StatusBadRequest, code: CodeUnknownOperation,
			msg: fmt.Sprintf("X-Amz-Target %q is not an AmazonAthena operation", target)}
	}
	handle, ok := s.handler(op)
	if !ok {
		return op, nil, &apiError{status: http.StatusBadRequest, code: CodeUnknownOperation,
			msg: fmt.Sprintf("operation %s is not supported by the Athena stand-in", op)}
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/x-amz-json-") {
		return op, nil, invalidRequest("Content-Type %q: want application/x-amz-json-1.1", ct)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return op, nil, invalidRequest("read request body: %v", err)
	}
	if len(body) > maxBody {
		return op, nil, invalidRequest("request body is larger than %d bytes", maxBody)
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return op, nil, internalError("the Athena stand-in is shut down")
	}
	if aerr := s.lim.admit(r.Context(), s.caller(r), op); aerr != nil {
		return op, nil, aerr
	}
	out, aerr = handle(r.Context(), body)
	return op, out, aerr
}

func (s *Server) handler(op string) (func(context.Context, []byte) (any, *apiError), bool) {
	switch op {
	case OpStartQueryExecution:
		return s.startQueryExecution, true
	case OpGetQueryExecution:
		return s.getQueryExecution, true
	case OpBatchGetQueryExecution:
		return s.batchGetQueryExecution, true
	case OpStopQueryExecution:
		return s.stopQueryExecution, true
	case OpListQueryExecutions:
		return s.listQueryExecutions, true
	case OpGetQueryResults:
		return s.getQueryResults, true
	}
	return nil, false
}

// sessionTokenPrefix starts the session tokens that name their account (SessionToken).
const sessionTokenPrefix = "local-session-account-"

// SessionToken is the session token a local STS stand-in hands out for a role in account, so
// that the stand-in can tell the account a call is made in, as AWS tells it from the credentials.
func SessionToken(account string) string { return sessionTokenPrefix + account }

// caller is the account and region a call is made in: the region of its SigV4 credential scope
// (Credential=KEY/DATE/REGION/athena/aws4_request) and the account its session token names,
// each defaulting to the Server's own.
func (s *Server) caller(r *http.Request) Caller {
	c := Caller{Account: s.opts.AccountID, Region: s.opts.Region}
	if acct, ok := strings.CutPrefix(r.Header.Get("X-Amz-Security-Token"), sessionTokenPrefix); ok && acct != "" {
		c.Account = acct
	}
	if _, cred, ok := strings.Cut(r.Header.Get("Authorization"), "Credential="); ok {
		if scope := strings.Split(strings.SplitN(cred, ",", 2)[0], "/"); len(scope) == 5 && scope[2] != "" {
			c.Region = scope[2]
		}
	}
	return c
}

// CallCounts count the calls of one operation by how they were answered.
type CallCounts struct {
	Calls        int // all calls, including the ones below
	Throttled    int // ThrottlingException, from a quota or injected
	ServerErrors int // InternalServerException
	Invalid      int // InvalidRequestException and other client errors
}

// Counts returns the calls answered so far per operation; calls naming no Athena operation
// are under "".
func (s *Server) Counts() map[string]CallCounts {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	out := make(map[string]CallCounts, len(s.counts))
	for op, c := range s.counts {
		out[op] = c
	}
	return out
}

func (s *Server) count(op string, aerr *apiError) {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	c := s.counts[op]
	c.Calls++
	switch {
	case aerr == nil:
	case aerr.code == CodeThrottling:
		c.Throttled++
	case aerr.status >= 500:
		c.ServerErrors++
	default:
		c.Invalid++
	}
	s.counts[op] = c
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(internalError("encode response: " + err.Error()).body())
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	// A failed write means the client has gone; the status is sent and there is no one to tell.
	_, _ = w.Write(b)
}

// decode reads a request body into in; an empty body is an empty object.
func decode(body []byte, in any) *apiError {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	if err := decodeStrict(body, in); err != nil {
		return invalidRequest("malformed request body: %v", err)
	}
	return nil
}
