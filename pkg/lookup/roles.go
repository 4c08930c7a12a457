package lookup

import (
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
)

// roleSessionName names the lookup's sessions in the other accounts' CloudTrail.
const roleSessionName = "athena-usage-lookup"

// assumedRoles are the credentials of the lookup role in other accounts, one cache per account
// shared by its regions' clients, so that a warm function assumes each role once an hour
// rather than once a client.
type assumedRoles struct {
	sts       stscreds.AssumeRoleAPIClient
	partition string
	role      string

	mu    sync.Mutex
	creds map[string]aws.CredentialsProvider
}

func newAssumedRoles(client stscreds.AssumeRoleAPIClient, partition, role string) *assumedRoles {
	return &assumedRoles{sts: client, partition: partition, role: role, creds: map[string]aws.CredentialsProvider{}}
}

// in returns the credentials of the role in account.
func (r *assumedRoles) in(account string) aws.CredentialsProvider {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.creds[account]; ok {
		return c
	}
	c := aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(r.sts, r.arn(account), func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = roleSessionName
	}))
	r.creds[account] = c
	return c
}

// arn is the role's ARN in account.
func (r *assumedRoles) arn(account string) string {
	return fmt.Sprintf("arn:%s:iam::%s:role/%s", r.partition, account, r.role)
}
