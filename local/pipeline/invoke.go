package pipeline

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/athenausage/athena-usage/local/athenaserver"
	"github.com/athenausage/athena-usage/local/s3server"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// awsConfig is the AWS configuration of the local deployment: every client made from it
// reaches a stand-in, as the functions' clients reach AWS, so that the pipeline wires its
// handlers with the same NewFromConfig as the Lambda binaries.
func (s *Stack) awsConfig() aws.Config {
	return aws.Config{
		Region:      Region,
		Credentials: credentials.NewStaticCredentialsProvider(s3server.AccessKeyID, s3server.SecretAccessKey, ""),
		// Over plain HTTP the SDK's default checksums need a body it can read twice; the
		// stand-ins check none, and real S3 is reached over HTTPS.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		// Per-service endpoints, as AWS_ENDPOINT_URL_<SERVICE> or a profile's services
		// section would give them.
		ConfigSources: []any{awsconfig.SharedConfig{Services: awsconfig.Services{ServiceValues: map[string]map[string]string{
			"s3":             {"endpoint_url": s.S3URL},
			"athena":         {"endpoint_url": s.AthenaURL},
			"lambda":         {"endpoint_url": s.InvokeURL},
			"sts":            {"endpoint_url": s.InvokeURL},
			"sqs":            {"endpoint_url": s.InvokeURL},
			"sns":            {"endpoint_url": s.InvokeURL},
			"cloudformation": {"endpoint_url": s.InvokeURL},
		}}}},
	}
}

// invokeServer stands in for the calls the lookup function makes that the S3 and Athena
// stand-ins don't answer: Lambda's asynchronous Invoke, which queues the event for the
// pipeline to run after the invoking handler returns, and STS's AssumeRole, which hands out
// the stand-ins' static credentials (they accept any) and records the role; and for the
// stack's failure queue (sqsQueue) and alert topic (snsTopic), and CloudFormation's
// DescribeStacks of the local stack (describeStacks).
type invokeServer struct {
	queue *queueInvoker
	sqs   *sqsQueue
	sns   *snsTopic
	log   *slog.Logger
	// started is when the stack started, its CloudFormation creation time.
	started time.Time

	mu    sync.Mutex
	roles []string
	// price is the price per TB of the pipeline the stack serves, its PricePerTBUSD output.
	price float64
}

// listenInvoke serves the stand-in on addr and returns its URL and shutdown.
func listenInvoke(srv *invokeServer, addr string) (string, func() error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("stand-in for Lambda and STS: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", srv.invoke)
	mux.HandleFunc("POST /{$}", func(w http.ResponseWriter, r *http.Request) {
		// SQS's JSON protocol and the query protocol of STS and CloudFormation share the path;
		// the target, or else the action, tells them apart.
		if strings.HasPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.") {
			srv.sqs.serve(w, r)
			return
		}
		// The query protocols of CloudFormation, SNS and STS: the form's Action tells them apart.
		err := r.ParseForm()
		if err == nil && r.PostForm.Get("Action") == "DescribeStacks" {
			srv.describeStacks(w, r)
			return
		}
		if err == nil && r.PostForm.Get("Action") == "Publish" {
			srv.sns.serve(w, r)
			return
		}
		srv.assumeRole(w, r)
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			srv.log.Error("serve", "addr", ln.Addr().String(), "error", err)
		}
	}()
	return "http://" + ln.Addr().String(), hs.Close, nil
}

// invoke answers Lambda's Invoke by queueing the event.
func (srv *invokeServer) invoke(w http.ResponseWriter, r *http.Request) {
	payload, err := io.ReadAll(io.LimitReader(r.Body, 256<<10))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out, err := srv.queue.Invoke(r.Context(), &lambda.InvokeInput{
		FunctionName:   aws.String(r.PathValue("name")),
		InvocationType: lambdatypes.InvocationType(r.Header.Get("X-Amz-Invocation-Type")),
		Payload:        payload,
	})
	if err != nil {
		w.Header().Set("X-Amzn-ErrorType", "InvalidParameterValueException")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"message":%q}`, err.Error())
		return
	}
	w.WriteHeader(int(out.StatusCode))
}

// assumeRoleResponse is STS's answer to AssumeRole, as far as the SDK reads it.
type assumeRoleResponse struct {
	XMLName     xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleResponse"`
	Credentials struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string
		SessionToken    string
		Expiration      string
	} `xml:"AssumeRoleResult>Credentials"`
	AssumedRoleARN string `xml:"AssumeRoleResult>AssumedRoleUser>Arn"`
}

// assumeRole answers STS's AssumeRole, the one STS call the lookup makes.
func (srv *invokeServer) assumeRole(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("Action") != "AssumeRole" {
		http.Error(w, "only STS AssumeRole is supported locally", http.StatusBadRequest)
		return
	}
	role := r.PostForm.Get("RoleArn")
	srv.mu.Lock()
	srv.roles = append(srv.roles, role)
	srv.mu.Unlock()
	var out assumeRoleResponse
	out.Credentials.AccessKeyID = s3server.AccessKeyID
	out.Credentials.SecretAccessKey = s3server.SecretAccessKey
	// The token names the role's account, so that the Athena stand-in charges its calls to that
	// account's quota.
	out.Credentials.SessionToken = athenaserver.SessionToken(accountOf(role))
	out.Credentials.Expiration = time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	out.AssumedRoleARN = role + "/" + r.PostForm.Get("RoleSessionName")
	w.Header().Set("Content-Type", "text/xml")
	_ = xml.NewEncoder(w).Encode(out) // a client that went away has no use for the error
}

// accountOf is the account in a role ARN (arn:partition:iam::ACCOUNT:role/NAME), or "".
func accountOf(roleARN string) string {
	if f := strings.Split(roleARN, ":"); len(f) >= 6 {
		return f[4]
	}
	return ""
}

// AssumedRoles returns the ARN of every role assumed so far, in order.
func (s *Stack) AssumedRoles() []string {
	s.invoke.mu.Lock()
	defer s.invoke.mu.Unlock()
	return append([]string(nil), s.invoke.roles...)
}
