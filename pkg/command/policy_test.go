package command

import (
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// policyHeading is the heading of docs/deploy.md above the command line's IAM policy.
const policyHeading = "### A policy for the command line"

// iamActions are the SDK operations whose IAM action has another name.
var iamActions = map[string]string{
	"s3:HeadObject": "s3:GetObject", // S3 authorizes a HEAD as the GET it describes
	"lambda:Invoke": "lambda:InvokeFunction",
}

// services are the IAM service prefixes of the clients' fields.
var services = map[string]string{
	"cloudFormation": "cloudformation",
	"athena":         "athena",
	"s3":             "s3",
	"sqs":            "sqs",
	"lambda":         "lambda",
}

// onBehalf are the policy's statements that are not the commands' own calls, with their
// actions: each is why the policy has more than the calls.
var onBehalf = map[string][]string{
	// A HEAD or GET of a missing key is 403, not 404, without s3:ListBucket; Athena lists the
	// tables' objects and asks for the bucket's region.
	"ListDataBucket": {"s3:ListBucket", "s3:GetBucketLocation"},
	// Athena reads the views and tables with the caller's credentials.
	"AthenaReadsCatalog": {"glue:GetDatabase", "glue:GetTable", "glue:GetPartitions"},
	// Athena writes the report queries' results with the caller's credentials, and
	// GetQueryResults reads them back.
	"AthenaWritesResults":      {"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"},
	"AthenaListsResultsBucket": {"s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"},
}

// calledActions are the IAM actions of every method of the interfaces the clients return: all
// the AWS calls the commands make.
func calledActions(t *testing.T) []string {
	t.Helper()
	var out []string
	ct := reflect.TypeFor[clients]()
	for i := range ct.NumField() {
		f := ct.Field(i)
		service, ok := services[f.Name]
		if !ok {
			t.Fatalf("clients.%s has no IAM service in services", f.Name)
		}
		api := f.Type.Out(0)
		for j := range api.NumMethod() {
			action := service + ":" + api.Method(j).Name
			if a, ok := iamActions[action]; ok {
				action = a
			}
			out = append(out, action)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

type statement struct {
	Sid    string
	Effect string
	Action []string
}

// policy reads the IAM policy in docs/deploy.md under policyHeading.
func policy(t *testing.T) []statement {
	t.Helper()
	doc, err := os.ReadFile("../../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "\n"+policyHeading+"\n")
	if !ok {
		t.Fatalf("docs/deploy.md has no heading %q", policyHeading)
	}
	_, rest, ok = strings.Cut(rest, "```json\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatalf("docs/deploy.md has no JSON block under %q", policyHeading)
	}
	dec := json.NewDecoder(strings.NewReader(block))
	dec.DisallowUnknownFields()
	var p struct {
		Version   string
		Statement []struct {
			statement
			Resource any
		}
	}
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("policy in docs/deploy.md: %v", err)
	}
	out := make([]statement, len(p.Statement))
	for i, s := range p.Statement {
		out[i] = s.statement
	}
	return out
}

// TestPolicyGrantsTheCalls checks docs/deploy.md's policy for the command line: its Call…
// statements allow exactly the AWS operations the commands' client interfaces declare, and
// each other statement is one of the known calls made on the commands' behalf.
func TestPolicyGrantsTheCalls(t *testing.T) {
	var calls []string
	seen := map[string]bool{}
	for _, s := range policy(t) {
		if s.Effect != "Allow" {
			t.Errorf("statement %s: Effect %q, want Allow", s.Sid, s.Effect)
		}
		for _, a := range s.Action {
			if strings.Contains(a, "*") {
				t.Errorf("statement %s: action %q, want no wildcard", s.Sid, a)
			}
		}
		if strings.HasPrefix(s.Sid, "Call") {
			calls = append(calls, s.Action...)
			continue
		}
		want, ok := onBehalf[s.Sid]
		if !ok {
			t.Errorf("statement %s is neither a Call… statement nor one of onBehalf: say why the commands need it", s.Sid)
		} else if !slices.Equal(s.Action, want) {
			t.Errorf("statement %s: actions %q, want %q", s.Sid, s.Action, want)
		}
		seen[s.Sid] = true
	}
	for sid := range onBehalf {
		if !seen[sid] {
			t.Errorf("policy lacks statement %s", sid)
		}
	}
	slices.Sort(calls)
	if want := calledActions(t); !slices.Equal(calls, want) {
		t.Errorf("policy's Call… actions = %q, want the commands' calls %q", calls, want)
	}
}
