// Command alert is the alert Lambda function: see package alert.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/athenausage/athena-usage/pkg/alert"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/emf"
	"github.com/athenausage/athena-usage/pkg/lambdalog"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
)

func main() {
	log := lambdacontext.NewLogger()
	// aws-lambda-go logs each failed invocation's error payload with the log package: through
	// slog it is JSON too, at INFO, under the one ERROR line of lambdalog.Handle.
	slog.SetDefault(log)
	if err := run(log); err != nil {
		lambdalog.ExitInit(log, config.RuntimeAPI(config.FromOS()), err)
	}
}

func run(log *slog.Logger) error {
	cfg, err := config.LoadAlert(config.FromOS())
	if err != nil {
		return err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion(cfg.Region),
		awsconfig.WithLogger(lambdalog.SDKLogger(log)))
	if err != nil {
		return fmt.Errorf("load AWS config: %w", err)
	}
	// Lambda passes a JSON line on standard output through to CloudWatch Logs as is, which
	// turns an EMF line into the metric.
	metrics := emf.New(os.Stdout, emf.ForStack(cfg.StackName))
	h, err := alert.NewFromConfig(cfg, awsCfg, func(o *alert.Options) { o.Logger = log; o.Metrics = metrics })
	if err != nil {
		return err
	}
	lambda.Start(lambdalog.Handle(log, h.Handle))
	return nil
}
