package lookup

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/athenausage/athena-usage/pkg/batchget"
	"github.com/athenausage/athena-usage/pkg/config"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*config.Lookup, *Clients)
		wantErr string
	}{
		{name: "defaults"},
		{name: "role in a partition", edit: func(c *config.Lookup, _ *Clients) { c.RoleName, c.Partition = "lookup", "aws-cn" }},
		{name: "role without a partition", edit: func(c *config.Lookup, _ *Clients) { c.RoleName = "lookup" }, wantErr: `partition ""`},
		{name: "role in a bad partition", edit: func(c *config.Lookup, _ *Clients) { c.RoleName, c.Partition = "lookup", "aws/x" }, wantErr: `partition "aws/x"`},
		{name: "bad role", edit: func(c *config.Lookup, _ *Clients) { c.RoleName, c.Partition = "a/b", "aws" }, wantErr: `role name "a/b"`},
		{name: "negative part size", edit: func(c *config.Lookup, _ *Clients) { c.PartSize = -1 }, wantErr: "part size -1"},
		{name: "bad bucket", edit: func(c *config.Lookup, _ *Clients) { c.DataBucket = "Bad_Bucket" }, wantErr: `bucket "Bad_Bucket"`},
		{name: "no uploader", edit: func(_ *config.Lookup, c *Clients) { c.Uploader = nil }, wantErr: "clients: S3, Uploader, Lambda and Athena are all required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Lookup{Shared: config.Shared{Region: "us-east-1", DataBucket: testBucket}, AccountID: testAccount}
			s := newFakeS3()
			clients := Clients{S3: s, Uploader: s, Lambda: &fakeLambda{}, Athena: func(string, string) batchget.BatchGetter { return &fakeAthena{} }}
			if tt.edit != nil {
				tt.edit(&cfg, &clients)
			}
			h, err := New(cfg, clients)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New() error = %v", err)
			}
			if h.cfg.PartSize != DefaultPartSize || h.opts.PartsInFlight != DefaultPartsInFlight || h.opts.SafetyMargin != DefaultSafetyMargin || h.log == nil {
				t.Errorf("New() part size %d, options %+v, want the defaults", h.cfg.PartSize, h.opts)
			}
		})
	}
}

// TestNewFromConfig checks the clients NewFromConfig makes, without calling them.
func TestNewFromConfig(t *testing.T) {
	cfg := config.Lookup{
		Shared:    config.Shared{Region: "us-east-1", DataBucket: testBucket, S3PathStyle: true},
		AccountID: testAccount,
		RoleName:  "athena-usage-lookup",
		Partition: "aws",
	}
	own := credentials.NewStaticCredentialsProvider("AKID", "secret", "")
	h, err := NewFromConfig(cfg, aws.Config{Region: "us-east-1", Credentials: own})
	if err != nil {
		t.Fatalf("NewFromConfig: %v", err)
	}
	if o := h.clients.S3.(*s3.Client).Options(); !o.UsePathStyle {
		t.Errorf("S3 client UsePathStyle = false, want the configuration's true")
	}
	athenaOptions := func(account, region string) athena.Options {
		return h.clients.Athena(account, region).(*athena.Client).Options()
	}
	ownEU := athenaOptions(testAccount, "eu-west-1")
	if _, ok := ownEU.Retryer.(aws.NopRetryer); !ok || ownEU.Region != "eu-west-1" {
		t.Errorf("own account's client in eu-west-1: region %s, retryer %T, want eu-west-1 without retries", ownEU.Region, ownEU.Retryer)
	}
	if c, err := ownEU.Credentials.Retrieve(context.Background()); err != nil || c.AccessKeyID != "AKID" {
		t.Errorf("own account's client: credentials %s, %v, want the function's own", c.AccessKeyID, err)
	}
	// Another account's clients share one cache of the role's credentials across regions.
	east, west := athenaOptions("444455556666", "us-east-1"), athenaOptions("444455556666", "us-west-2")
	third := athenaOptions("777788889999", "us-east-1")
	if _, ok := east.Credentials.(*aws.CredentialsCache); !ok || east.Credentials != west.Credentials || east.Credentials == third.Credentials {
		t.Errorf("other accounts' credentials %T, shared across regions %v, across accounts %v, want one cache per account",
			east.Credentials, east.Credentials == west.Credentials, east.Credentials == third.Credentials)
	}
}

// fakeSTS records the roles it is asked to assume.
type fakeSTS struct {
	mu    sync.Mutex
	calls []*sts.AssumeRoleInput
}

func (f *fakeSTS) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, _ ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, in)
	return &sts.AssumeRoleOutput{Credentials: &ststypes.Credentials{
		AccessKeyId:     aws.String("ASIAEXAMPLE"),
		SecretAccessKey: aws.String("secret"),
		SessionToken:    aws.String("token"),
		Expiration:      aws.Time(time.Now().Add(time.Hour)),
	}}, nil
}

func TestAssumedRoles(t *testing.T) {
	f := &fakeSTS{}
	roles := newAssumedRoles(f, "aws-cn", "athena-usage-lookup")
	ctx := context.Background()
	for range 3 {
		if _, err := roles.in("444455556666").Retrieve(ctx); err != nil {
			t.Fatalf("Retrieve: %v", err)
		}
	}
	if _, err := roles.in("777788889999").Retrieve(ctx); err != nil {
		t.Fatalf("Retrieve: %v", err)
	}
	var got []string
	for _, in := range f.calls {
		got = append(got, aws.ToString(in.RoleArn)+" "+aws.ToString(in.RoleSessionName))
	}
	want := []string{
		"arn:aws-cn:iam::444455556666:role/athena-usage-lookup " + roleSessionName,
		"arn:aws-cn:iam::777788889999:role/athena-usage-lookup " + roleSessionName,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("AssumeRole calls = %q, want one per account: %q", got, want)
	}
}
