package cli

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/athenausage/athena-usage/local/pipeline"
	"github.com/athenausage/athena-usage/local/s3server"
	"github.com/spf13/cobra"
)

func newServeCmd(stdout, _ io.Writer) *cobra.Command {
	var state, addr string
	var sim standIn
	cmd := &cobra.Command{
		Use:   "serve --dir STATE [--addr 127.0.0.1:PORT]",
		Short: "Serve the local Athena, S3, Lambda, SQS and CloudFormation endpoints until interrupted",
		Long: `Serve the Athena and S3 stand-ins over a state directory until interrupted (Ctrl-C). Athena listens
on --addr, S3 on the next port, and Lambda (Invoke), STS (AssumeRole), SQS (the failure queue)
and CloudFormation (DescribeStacks of the stack athena-usage) on the one after. Any AWS client (the AWS CLI, boto3, another SDK) can use them through its
endpoint-URL setting; S3 needs path-style addressing.

Over the state of a 'local run' or 'demo', an asynchronous Invoke of the extract or lookup
function runs the real handler, one at a time, and a failed one lands in the failure queue: the
product commands (report, status, backfill) work the local stack as they work a deployed one,
with --stack athena-usage or with the resource flags.`,
		Example: `  athena-usage local serve --dir ./usage-state --addr 127.0.0.1:4566
  # in another shell, with the variables it prints:
  aws athena list-query-executions --work-group athena-usage
  aws s3 ls s3://athena-usage-data/ --recursive
  athena-usage status --stack athena-usage --days 3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if state == "" {
				return errors.New("--dir is required")
			}
			athenaAddr, s3Addr, invokeAddr, err := servePorts(addr)
			if err != nil {
				return err
			}
			ao, err := sim.options()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			if err := prepareState(state); err != nil {
				return err
			}
			limitGoHeap()
			st, err := pipeline.Start(ctx, pipeline.Options{Dir: state, Athena: ao, AthenaAddr: athenaAddr, S3Addr: s3Addr, InvokeAddr: invokeAddr, Logger: quietLogger(), Lock: true})
			if err != nil {
				return err
			}
			defer st.Close()
			functions := "Lambda: no pipeline run in " + state + " yet, so Invoke only queues"
			if set, err := loadSettings(state); err == nil {
				if err := st.Serve(set.pipeline()); err != nil {
					return err
				}
				functions = "Lambda: Invoke of " + pipeline.ExtractFunc + " and " + pipeline.LookupFunction + " runs them"
			}
			fmt.Fprintf(stdout, `Athena: %s
S3:     %s (path-style)
Lambda, STS, SQS, CloudFormation: %s
%s; failed invocations go to %s.
Workgroup %s, database %s, buckets %s, %s, %s.

`, st.AthenaURL, st.S3URL, st.InvokeURL, functions, st.FailureQueueURL, pipeline.Workgroup, pipeline.Database,
				pipeline.TrailBucket, pipeline.ResultsBucket, pipeline.DataBucket)
			for _, line := range endpointEnv(st) {
				fmt.Fprintln(stdout, "export "+strings.Join(line, " "))
			}
			fmt.Fprintf(stdout, "stack: --stack %s, or the resource flags: --workgroup %s --database %s --data-bucket %s --extract-function %s --failure-queue %s\nServing until interrupted (Ctrl-C).\n",
				pipeline.StackName, pipeline.Workgroup, pipeline.Database, pipeline.DataBucket, pipeline.ExtractFunc, st.FailureQueueURL)
			<-ctx.Done()
			fmt.Fprintln(stdout, "stopping")
			return nil
		},
	}
	cmd.Flags().StringVar(&state, "dir", "", "state directory (created if missing)")
	sim.register(cmd.Flags())
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:0", "Athena's listen address; S3 takes the next port, Lambda, STS, SQS and CloudFormation the one after (port 0: any free ports)")
	return cmd
}

// endpointEnv is the AWS configuration that points any SDK or the AWS CLI at st: the variables
// serve prints, "NAME=value", a slice per line.
func endpointEnv(st *pipeline.Stack) [][]string {
	return [][]string{
		{"AWS_ENDPOINT_URL_ATHENA=" + st.AthenaURL},
		{"AWS_ENDPOINT_URL_S3=" + st.S3URL},
		{"AWS_ENDPOINT_URL_LAMBDA=" + st.InvokeURL, "AWS_ENDPOINT_URL_SQS=" + st.InvokeURL, "AWS_ENDPOINT_URL_STS=" + st.InvokeURL},
		{"AWS_ENDPOINT_URL_CLOUDFORMATION=" + st.InvokeURL},
		{"AWS_ACCESS_KEY_ID=" + s3server.AccessKeyID, "AWS_SECRET_ACCESS_KEY=" + s3server.SecretAccessKey, "AWS_REGION=" + pipeline.Region},
	}
}

// servePorts returns Athena's address, S3's on the port after it, and the Lambda, STS and SQS
// stand-in's on the port after that.
func servePorts(addr string) (string, string, string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", "", "", fmt.Errorf("--addr %q: want HOST:PORT", addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65533 {
		return "", "", "", fmt.Errorf("--addr %q: port must be 0 to 65533", addr)
	}
	if p == 0 {
		return addr, net.JoinHostPort(host, "0"), net.JoinHostPort(host, "0"), nil
	}
	return addr, net.JoinHostPort(host, strconv.Itoa(p+1)), net.JoinHostPort(host, strconv.Itoa(p+2)), nil
}
