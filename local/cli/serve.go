package cli

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os/signal"
	"strconv"
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
		Short: "Serve the local Athena and S3 endpoints until interrupted",
		Long: `Serve the Athena and S3 stand-ins over a state directory until interrupted (Ctrl-C). Athena listens
on --addr and S3 on the next port. Any AWS client (the AWS CLI, boto3, another SDK) can use them
through its endpoint-URL setting; S3 needs path-style addressing.`,
		Example: `  athena-usage local serve --dir ./usage-state --addr 127.0.0.1:4566
  # in another shell, with the variables it prints:
  aws athena list-query-executions --work-group athena-usage
  aws s3 ls s3://athena-usage-data/ --recursive`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if state == "" {
				return errors.New("--dir is required")
			}
			athenaAddr, s3Addr, err := servePorts(addr)
			if err != nil {
				return err
			}
			ao, err := sim.options()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			st, err := pipeline.Start(ctx, pipeline.Options{Dir: state, Athena: ao, AthenaAddr: athenaAddr, S3Addr: s3Addr, Logger: quietLogger()})
			if err != nil {
				return err
			}
			defer st.Close()
			fmt.Fprintf(stdout, `Athena: %s
S3:     %s (path-style)
Workgroup %s, database %s, buckets %s, %s, %s.

export AWS_ENDPOINT_URL_ATHENA=%s
export AWS_ENDPOINT_URL_S3=%s
export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_REGION=%s
Serving until interrupted (Ctrl-C).
`, st.AthenaURL, st.S3URL, pipeline.Workgroup, pipeline.Database,
				pipeline.TrailBucket, pipeline.ResultsBucket, pipeline.DataBucket,
				st.AthenaURL, st.S3URL, s3server.AccessKeyID, s3server.SecretAccessKey, pipeline.Region)
			<-ctx.Done()
			fmt.Fprintln(stdout, "stopping")
			return nil
		},
	}
	cmd.Flags().StringVar(&state, "dir", "", "state directory (created if missing)")
	sim.register(cmd.Flags())
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:0", "Athena's listen address; S3 takes the next port (port 0: any free ports)")
	return cmd
}

// servePorts returns Athena's address and S3's, on the port after Athena's.
func servePorts(addr string) (string, string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", "", fmt.Errorf("--addr %q: want HOST:PORT", addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65534 {
		return "", "", fmt.Errorf("--addr %q: port must be 0 to 65534", addr)
	}
	if p == 0 {
		return addr, net.JoinHostPort(host, "0"), nil
	}
	return addr, net.JoinHostPort(host, strconv.Itoa(p+1)), nil
}
