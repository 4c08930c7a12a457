// Command lookup is the lookup Lambda function: see package lookup.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/athenausage/athena-usage/pkg/batchget"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/athenausage/athena-usage/pkg/lambdalog"
	"github.com/athenausage/athena-usage/pkg/lookup"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// roleSessionName names the lookup's sessions in the other accounts' CloudTrail.
const roleSessionName = "athena-usage-lookup"

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
	cfg, err := config.LoadLookup(config.FromOS())
	if err != nil {
		return err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion(cfg.Region),
		awsconfig.WithLogger(lambdalog.SDKLogger(log)))
	if err != nil {
		return fmt.Errorf("load AWS config: %w", err)
	}
	s3c := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = cfg.S3PathStyle })
	roles := &assumedRoles{sts: sts.NewFromConfig(awsCfg), partition: partition(cfg.Region), role: cfg.RoleName, creds: map[string]aws.CredentialsProvider{}}
	h, err := lookup.New(cfg, lookup.Clients{
		S3:       s3c,
		Uploader: lookup.NewUploader(transfermanager.New(s3c)),
		Lambda:   awslambda.NewFromConfig(awsCfg),
		// One client per account and region: a query is looked up where it ran, in another
		// account as the role assumed there (the handler asks only when RoleName is set). The
		// engine, not the SDK, retries, so that its limiter sees every throttle.
		Athena: func(account, region string) batchget.BatchGetter {
			return athena.NewFromConfig(awsCfg, batchget.WithoutSDKRetries, func(o *athena.Options) {
				o.Region = region
				if account != cfg.AccountID {
					o.Credentials = roles.in(account)
				}
			})
		},
	}, func(o *lookup.Options) { o.Logger = log })
	if err != nil {
		return err
	}
	lambda.Start(lambdalog.Handle(log, h.Handle))
	return nil
}

// assumedRoles are the credentials of the lookup role in other accounts, one cache per account
// shared by its regions' clients, so that a warm function assumes each role once an hour
// rather than once a client.
type assumedRoles struct {
	sts       *sts.Client
	partition string
	role      string

	mu    sync.Mutex
	creds map[string]aws.CredentialsProvider
}

// in returns the credentials of the role in account.
func (r *assumedRoles) in(account string) aws.CredentialsProvider {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.creds[account]; ok {
		return c
	}
	arn := fmt.Sprintf("arn:%s:iam::%s:role/%s", r.partition, account, r.role)
	c := aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(r.sts, arn, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = roleSessionName
	}))
	r.creds[account] = c
	return c
}

// partition is the ARN partition of region: roles in China and GovCloud have their own.
func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}
