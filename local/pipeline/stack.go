// Package pipeline is the embedded local stack: the S3 and Athena stand-ins on loopback, with
// the pipeline's real handlers and the real aws-sdk-go-v2 clients pointed at them. The CLI and
// the end-to-end tests use it; the Lambda binaries never link it (it brings in DuckDB).
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/athenausage/athena-usage/local/athenaserver"
	"github.com/athenausage/athena-usage/local/s3server"
	"github.com/athenausage/athena-usage/local/sqlengine"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/emf"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Names of the local deployment, as the SAM stack would name its resources.
const (
	Region         = "us-east-1"
	AccountID      = "123456789012"
	TrailBucket    = "cloudtrail-logs"
	ResultsBucket  = "athena-usage-results"
	DataBucket     = "athena-usage-data"
	Workgroup      = "athena-usage"
	Database       = "athena_usage"
	LookupFunction = "athena-usage-lookup"
	ExtractFunc    = "athena-usage-extract"
	AlertFunction  = "athena-usage-alert"
	resultsPrefix  = "athena-results/"
	// MetricsFile, in the state directory, collects the handlers' metrics, the EMF lines that
	// the functions print to their logs in AWS.
	MetricsFile = "metrics.jsonl"
)

// Options configure a Stack.
type Options struct {
	// Dir holds the state: buckets, the catalog, query history and the engine's cache.
	Dir string
	// Athena tunes the Athena stand-in: quotas, latency and injected faults. Its Dir, Engine,
	// S3, Region, AccountID and Workgroups are set by Start.
	Athena athenaserver.Options
	// S3Addr, AthenaAddr and InvokeAddr (Lambda, STS, SQS and SNS) are the listen addresses;
	// "127.0.0.1:0" (a free port) when empty.
	S3Addr, AthenaAddr, InvokeAddr string
	Logger                         *slog.Logger
	// Lock takes the directory's write lock (LockDir) for the stack's life, so that a second
	// writer fails at Start with a clear message instead of racing this one.
	Lock bool
}

// Stack is a running local stack.
type Stack struct {
	S3URL, AthenaURL string
	// InvokeURL is the stand-in for Lambda's Invoke, STS's AssumeRole, the SQS failure queue,
	// CloudFormation's DescribeStacks of the stack (StackName), and SNS's Publish to the alert
	// topic (AlertTopic).
	InvokeURL string
	// FailureQueueURL is the URL of the failure queue (FailureQueue) at InvokeURL.
	FailureQueueURL string
	// S3 is an SDK client for the S3 stand-in.
	S3 *s3.Client

	dir         string
	log         *slog.Logger
	s3srv       *s3server.Server
	athena      *athenaserver.Server
	engine      *sqlengine.Engine
	shutdown    func(context.Context) error
	invoke      *invokeServer
	closeInvoke func() error
	stopServing func()
	metrics     *emf.Writer
	metricsFile *os.File
	unlock      func() error
}

// Start starts the stand-ins over opts.Dir and creates the buckets.
func Start(ctx context.Context, opts Options) (st *Stack, err error) {
	if opts.Dir == "" {
		return nil, errors.New("local stack: no state directory")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Stack{dir: opts.Dir, log: opts.Logger}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	if opts.Lock {
		if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("local stack: %w", err)
		}
		if s.unlock, err = LockDir(opts.Dir); err != nil {
			return nil, err
		}
	}
	if s.s3srv, err = s3server.New(filepath.Join(opts.Dir, "s3")); err != nil {
		return nil, err
	}
	if s.S3URL, err = s.s3srv.Listen(addrOr(opts.S3Addr)); err != nil {
		return nil, fmt.Errorf("S3 stand-in: %w", err)
	}
	s.S3 = s3server.NewClient(s.S3URL, Region)
	for _, b := range []string{TrailBucket, ResultsBucket, DataBucket} {
		if err := s3server.EnsureBucket(ctx, s.S3, b); err != nil {
			return nil, err
		}
	}
	athenaDir := filepath.Join(opts.Dir, "athena")
	if err := os.MkdirAll(athenaDir, 0o755); err != nil {
		return nil, fmt.Errorf("local stack: %w", err)
	}
	if s.engine, err = sqlengine.Open(sqlengine.Options{Dir: athenaDir, S3: s.S3}); err != nil {
		return nil, fmt.Errorf("local engine: %w", err)
	}
	ao := opts.Athena
	ao.Dir, ao.Engine, ao.S3, ao.Region, ao.AccountID = athenaDir, s.engine, s.S3, Region, AccountID
	ao.Workgroups = []athenaserver.Workgroup{{
		Name:           Workgroup,
		OutputLocation: "s3://" + ResultsBucket + "/" + resultsPrefix,
		Enforce:        true,
	}}
	if ao.Logger == nil {
		ao.Logger = opts.Logger
	}
	if s.athena, err = athenaserver.New(ao); err != nil {
		return nil, fmt.Errorf("Athena stand-in: %w", err)
	}
	if s.AthenaURL, s.shutdown, err = s.athena.Listen(addrOr(opts.AthenaAddr)); err != nil {
		return nil, fmt.Errorf("Athena stand-in: %w", err)
	}
	s.invoke = &invokeServer{queue: &queueInvoker{}, sqs: &sqsQueue{}, sns: &snsTopic{path: filepath.Join(opts.Dir, snsFile)}, log: opts.Logger, started: time.Now()}
	if s.InvokeURL, s.closeInvoke, err = listenInvoke(s.invoke, addrOr(opts.InvokeAddr)); err != nil {
		return nil, err
	}
	s.FailureQueueURL = s.InvokeURL + "/" + AccountID + "/" + FailureQueue
	s.invoke.sqs.url = s.FailureQueueURL
	// A file rather than the terminal, where the CLI prints its own progress.
	if s.metricsFile, err = os.OpenFile(filepath.Join(opts.Dir, MetricsFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		return nil, fmt.Errorf("local stack: %w", err)
	}
	s.metrics = emf.New(s.metricsFile, emf.ForStack(config.DefaultStackName))
	return s, nil
}

func addrOr(addr string) string {
	if addr == "" {
		return "127.0.0.1:0"
	}
	return addr
}

// AthenaClient returns an SDK client for the Athena stand-in. The stand-in answers for every
// region, so a query from another region is looked up through the same server.
func (s *Stack) AthenaClient(region string, optFns ...func(*athena.Options)) *athena.Client {
	o := athena.Options{
		Region:       region,
		BaseEndpoint: aws.String(s.AthenaURL),
		Credentials:  credentials.NewStaticCredentialsProvider(s3server.AccessKeyID, s3server.SecretAccessKey, ""),
	}
	return athena.New(o, optFns...)
}

// Athena is the Athena stand-in, for loading history and reading call counts.
func (s *Stack) Athena() *athenaserver.Server { return s.athena }

// Close stops both stand-ins; the state stays in the directory.
func (s *Stack) Close() error {
	var errs []error
	if s.stopServing != nil {
		s.stopServing()
	}
	if s.closeInvoke != nil {
		errs = append(errs, s.closeInvoke())
	}
	if s.shutdown != nil {
		errs = append(errs, s.shutdown(context.Background()))
	} else if s.athena != nil {
		errs = append(errs, s.athena.Close())
	}
	if s.engine != nil {
		errs = append(errs, s.engine.Close())
	}
	if s.s3srv != nil {
		errs = append(errs, s.s3srv.Close())
	}
	if s.metricsFile != nil {
		errs = append(errs, s.metricsFile.Close())
	}
	if s.unlock != nil {
		errs = append(errs, s.unlock())
		s.unlock = nil
	}
	return errors.Join(errs...)
}
