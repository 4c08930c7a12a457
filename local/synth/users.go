package synth

import (
	"fmt"
	"math"
)

// Identity types as CloudTrail writes them in userIdentity.type.
const (
	TypeIAMUser       = "IAMUser"
	TypeAssumedRole   = "AssumedRole"
	TypeFederatedUser = "FederatedUser"
	TypeAWSService    = "AWSService"
)

// ServicePrincipal is the AWS service that runs queries of its own (dashboard refreshes).
const ServicePrincipal = "quicksight.amazonaws.com"

const upperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

var (
	iamNames     = []string{"johndoe", "maria.garcia", "wei.chen", "priya", "etl-runner", "olga", "tom.b", "ana", "kenji", "lucas"}
	sessionNames = []string{"alice@example.com", "bob@example.com", "chloe@example.com", "deepak@example.com", "emma@example.com", "farid@example.com"}
	fedNames     = []string{"carol", "dmitri", "yuki", "sam"}
	roleNames    = []string{"DataAnalyst", "DataEngineer", "Reporting"}
)

// user is a caller and what its CloudTrail userIdentity looks like.
type user struct {
	User
	accessKeyID string
	issuerARN   string
	issuerPID   string
	issuerType  string
	sourceIP    string
	userAgent   string
	databases   []int // indexes into databases, favourite first
}

func nameAt(names []string, i int) string {
	if i < len(names) {
		return names[i]
	}
	return fmt.Sprintf("%s%d", names[i%len(names)], i/len(names)+1)
}

// makeUsers creates, for Users n: one AWS service, about n/8 federated users, about 3n/8
// assumed-role sessions spread over fewer roles (so roles have several sessions), and IAM users
// for the rest. Query shares follow a Zipf-like curve, so a few users run most queries.
func (g *generator) makeUsers() {
	n := g.opts.Users
	fed := max(1, n/8)
	sessions := max(2, n*3/8)
	iam := n - 1 - fed - sessions
	roles := max(1, sessions/2)
	acct := func(i int) string { return g.opts.Accounts[i%len(g.opts.Accounts)] }
	region := func(i int) string { return g.opts.Regions[i%len(g.opts.Regions)] }

	for i := range iam {
		a := acct(i)
		name := nameAt(iamNames, i)
		g.users = append(g.users, &user{
			User: User{
				ARN: "arn:aws:iam::" + a + ":user/" + name, Type: TypeIAMUser, Account: a,
				PrincipalID: "AIDA" + g.token(17, upperAlnum), UserName: name, HomeRegion: region(i),
			},
			accessKeyID: "AKIA" + g.token(16, upperAlnum),
		})
	}
	rolePIDs := make([]string, roles)
	for i := range rolePIDs {
		rolePIDs[i] = "AROA" + g.token(17, upperAlnum)
	}
	for i := range sessions {
		ri := i % roles
		a := acct(ri)
		role := nameAt(roleNames, ri)
		name := nameAt(sessionNames, i)
		g.users = append(g.users, &user{
			User: User{
				ARN: "arn:aws:sts::" + a + ":assumed-role/" + role + "/" + name, Type: TypeAssumedRole, Account: a,
				PrincipalID: rolePIDs[ri] + ":" + name, SessionIssuer: role, HomeRegion: region(i + 1),
			},
			accessKeyID: "ASIA" + g.token(16, upperAlnum),
			issuerARN:   "arn:aws:iam::" + a + ":role/" + role,
			issuerPID:   rolePIDs[ri],
			issuerType:  "Role",
		})
	}
	for i := range fed {
		a := acct(i + 1)
		name := nameAt(fedNames, i)
		const broker = "sso-broker"
		g.users = append(g.users, &user{
			User: User{
				ARN: "arn:aws:sts::" + a + ":federated-user/" + name, Type: TypeFederatedUser, Account: a,
				PrincipalID: a + ":" + name, SessionIssuer: broker, HomeRegion: region(i),
			},
			accessKeyID: "ASIA" + g.token(16, upperAlnum),
			issuerARN:   "arn:aws:iam::" + a + ":user/" + broker,
			issuerPID:   "AIDA" + g.token(17, upperAlnum),
			issuerType:  "IAMUser",
		})
	}
	g.users = append(g.users, &user{
		User: User{ARN: ServicePrincipal, Type: TypeAWSService, Account: g.opts.Accounts[0], HomeRegion: g.opts.Regions[0]},
	})

	agents := []string{
		"AWS Internal",
		"aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.1.79 md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#amzn.2023 prompt/off command/athena.start-query-execution",
		"aws-sdk-go-v2/1.30.3 ua/2.1 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 api/athena#1.44.3",
		"Boto3/1.34.144 md/Botocore#1.34.144 ua/2.0 os/linux#5.10.219 md/arch#x86_64 lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.144",
		"JDBC/2.1.5.1001 (Java 17.0.11; Linux 5.15.0) AthenaJDBCDriver",
	}
	g.weights = make([]float64, len(g.users))
	ranks := g.r.Perm(len(g.users))
	for i, u := range g.users {
		g.weights[i] = 1 / math.Pow(float64(ranks[i]+1), 0.9)
		if u.Type == TypeAWSService {
			u.sourceIP = ServicePrincipal
			u.userAgent = ServicePrincipal
		} else {
			u.sourceIP = fmt.Sprintf("%s.%d", []string{"198.51.100", "203.0.113", "192.0.2"}[g.r.IntN(3)], 10+g.r.IntN(240))
			u.userAgent = agents[g.r.IntN(len(agents))]
		}
		u.databases = g.r.Perm(len(databases))[:2+g.r.IntN(2)]
	}
}

// identity is the userIdentity element of u's records at time at.
func (u *user) identity(at string) identity {
	if u.Type == TypeAWSService {
		return identity{Type: u.Type, InvokedBy: ServicePrincipal}
	}
	id := identity{
		Type: u.Type, PrincipalID: u.PrincipalID, ARN: u.ARN, AccountID: u.Account,
		AccessKeyID: u.accessKeyID, UserName: u.UserName,
	}
	if u.issuerARN != "" {
		id.SessionContext = &sessionContext{
			SessionIssuer: &sessionIssuer{
				Type: u.issuerType, PrincipalID: u.issuerPID, ARN: u.issuerARN,
				AccountID: u.Account, UserName: u.SessionIssuer,
			},
			Attributes: attributes{CreationDate: at, MFAAuthenticated: "false"},
		}
		if u.Type == TypeAssumedRole {
			id.SessionContext.WebIDFederationData = &struct{}{}
		}
	}
	return id
}
