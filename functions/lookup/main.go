// Command lookup is the lookup Lambda function: see package lookup.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/fanout"
	"github.com/athenausage/athena-usage/pkg/lambdalog"
	"github.com/athenausage/athena-usage/pkg/lookup"
	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func main() {
	log := lambdalog.New(os.Stdout, slog.LevelInfo)
	if err := run(log); err != nil {
		lambdalog.ExitInit(log, config.RuntimeAPI(config.FromOS()), err)
	}
}

func run(log *slog.Logger) error {
	cfg, err := config.LoadLookup(config.FromOS())
	if err != nil {
		return err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion(cfg.Region))
	if err != nil {
		return fmt.Errorf("load AWS config: %w", err)
	}
	s3c := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = cfg.S3PathStyle })
	h, err := lookup.New(cfg, lookup.Clients{
		S3:       s3c,
		Uploader: lookup.NewUploader(transfermanager.New(s3c)),
		Lambda:   awslambda.NewFromConfig(awsCfg),
		// One client per region: a query is looked up where it ran. The engine, not the SDK,
		// retries, so that its limiter sees every throttle.
		Athena: func(region string) fanout.BatchGetter {
			return athena.NewFromConfig(awsCfg, fanout.WithoutSDKRetries, func(o *athena.Options) { o.Region = region })
		},
	}, func(o *lookup.Options) { o.Logger = log })
	if err != nil {
		return err
	}
	lambda.Start(lambdalog.Handle(log, h.Handle))
	return nil
}
