package samtemplate

import (
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const fnTemplate = `
Transform: AWS::Serverless-2016-10-31
Parameters:
  Accounts: {Type: CommaDelimitedList}
  Rate: {Type: Number, Default: 15}
  Prefix: {Type: String, Default: ""}
  Level: {Type: String, Default: WARN}
Globals:
  Function:
    Timeout: 900
    MemorySize: 256
    LoggingConfig:
      LogFormat: JSON
      ApplicationLogLevel: !Ref Level
    Environment:
      Variables:
        DATA_BUCKET: !Ref Data
        PREFIX: !Ref Prefix
Resources:
  Data: {Type: AWS::S3::Bucket}
  Queue: {Type: AWS::SQS::Queue}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      MemorySize: 512
      LoggingConfig:
        LogGroup: !Sub "/aws/lambda/${AWS::StackName}-fn"
      Environment:
        Variables:
          ACCOUNTS: !Join [",", !Ref Accounts]
          RATE: !Ref Rate
          OTHER: !Ref Other
          SELF: !Sub "${AWS::StackName}-fn in ${Data.Arn}/${!Literal}"
      Policies:
        - SQSSendMessagePolicy: {QueueName: !GetAtt Queue.QueueName}
`

// TestFunctions resolves a small template to given names, as the Lambda integration tests do
// with template.yaml.
func TestFunctions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "template.yaml")
	if err := os.WriteFile(path, []byte(fnTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	v := Values{
		Params:    map[string]string{"Accounts": "111122223333,444455556666"},
		Names:     map[string]string{"Data": "local-data", "Other": "other-fn"},
		StackName: "stack", Region: "us-east-1", AccountID: "123456789012", Partition: "aws",
	}
	tmpl, err := LoadFile(path, v)
	if err != nil {
		t.Fatal(err)
	}
	fns, err := tmpl.Functions()
	if err != nil {
		t.Fatal(err)
	}
	got := fns["Fn"]
	want := map[string]string{
		"DATA_BUCKET": "local-data",
		"PREFIX":      "",
		"ACCOUNTS":    "111122223333,444455556666",
		"RATE":        "15",
		"OTHER":       "other-fn",
		"SELF":        "stack-fn in arn:aws:s3:::local-data/${Literal}",
	}
	for k, w := range want {
		if got.Env[k] != w {
			t.Errorf("Functions: %s = %q, want %q", k, got.Env[k], w)
		}
	}
	if len(got.Env) != len(want) {
		t.Errorf("Functions: variables %v, want exactly %v", slices.Sorted(maps.Keys(got.Env)), slices.Sorted(maps.Keys(want)))
	}
	if got.Timeout != 900*time.Second || got.MemoryMB != 512 {
		t.Errorf("Functions: timeout %v, memory %d MB, want 15m0s, 512 MB", got.Timeout, got.MemoryMB)
	}
	if got.LogFormat != "JSON" || got.LogLevel != "WARN" || got.LogGroup != "/aws/lambda/stack-fn" {
		t.Errorf("Functions: log format %q, level %q, group %q, want Globals' JSON and WARN and the function's /aws/lambda/stack-fn",
			got.LogFormat, got.LogLevel, got.LogGroup)
	}
	// The queue has no name here, which only its policy needs.
	if len(tmpl.Unresolved) != 1 || !strings.Contains(tmpl.Unresolved[0], "Queue.QueueName") {
		t.Errorf("LoadFile: Unresolved = %q, want only Queue.QueueName", tmpl.Unresolved)
	}

	delete(v.Names, "Other")
	tmpl, err = LoadFile(path, v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tmpl.Functions(); err == nil || !strings.Contains(err.Error(), "OTHER") {
		t.Errorf("Functions without a name for Other: error %v, want one naming OTHER", err)
	}
}

// TestNameSuffix checks the names and ARNs made up for resources the caller does not name, as
// the template checks use them.
func TestNameSuffix(t *testing.T) {
	const text = `
Parameters:
  Env: {Type: String}
Resources:
  Data: {Type: AWS::S3::Bucket}
  Named: {Type: AWS::S3::Bucket, Properties: {BucketName: !Sub "${AWS::StackName}-${Env}-named"}}
  Queue: {Type: AWS::SQS::Queue}
  Fn: {Type: AWS::Serverless::Function, Properties: {FunctionName: !Sub "${AWS::StackName}-fn"}}
  Logs: {Type: AWS::Logs::LogGroup}
  WG: {Type: AWS::Athena::WorkGroup, Properties: {Name: analysts}}
Outputs:
  DataArn: {Value: !GetAtt Data.Arn}
  NamedRef: {Value: !Ref Named}
  QueueRef: {Value: !Ref Queue}
  QueueArn: {Value: !GetAtt [Queue, Arn]}
  FnArn: {Value: !GetAtt Fn.Arn}
  LogsArn: {Value: !GetAtt Logs.Arn}
  WGRef: {Value: !Ref WG}
`
	v := Values{
		Params:    map[string]string{"Env": "test"},
		StackName: "stk", Region: "eu-west-1", AccountID: "123456789012", Partition: "aws",
		NameSuffix: "X1",
	}
	tmpl, err := Load([]byte(text), v)
	if err != nil {
		t.Fatal(err)
	}
	if len(tmpl.Unresolved) > 0 {
		t.Fatalf("Load: Unresolved = %q, want none", tmpl.Unresolved)
	}
	tests := []struct{ output, want string }{
		{"DataArn", "arn:aws:s3:::stk-data-x1"},
		{"NamedRef", "stk-test-named"},
		{"QueueRef", "https://sqs.eu-west-1.amazonaws.com/123456789012/stk-Queue-X1"},
		{"QueueArn", "arn:aws:sqs:eu-west-1:123456789012:stk-Queue-X1"},
		{"FnArn", "arn:aws:lambda:eu-west-1:123456789012:function:stk-fn"},
		{"LogsArn", "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/stk-Logs-X1:*"},
		{"WGRef", "analysts"},
	}
	for _, tt := range tests {
		got, _ := Lookup(tmpl.Tree, "Outputs", tt.output, "Value")
		if got != tt.want {
			t.Errorf("Load: Outputs.%s = %v, want %q", tt.output, got, tt.want)
		}
	}
	if got := tmpl.Names["Named"]; got != "stk-test-named" {
		t.Errorf("Load: Names[Named] = %q, want stk-test-named", got)
	}
}

func TestUnresolved(t *testing.T) {
	tests := []struct {
		name, value, want string
	}{
		{"unknown name", "!Ref Nothing", "Ref Nothing: no such parameter or resource"},
		{"parameter without a value", "!Ref NoDefault", "Ref NoDefault: parameter without a default"},
		{"resource without a name", "!Ref Data", "resource Data has no name in Names"},
		{"attribute other than Arn", "!GetAtt Data.DomainName", "only Arn is supported"},
		{"list in Sub", `!Sub "${List}"`, "${List} is not a string"},
		{"unsupported function", "!GetAZs us-east-1", "Fn::GetAZs is not supported"},
		{"select outside the list", `!Select [2, !Split [":", "a:b"]]`, "index 2 outside a list of 2"},
		{"split of a list", `!Split [",", !Ref List]`, "want a delimiter and a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := `
Parameters:
  NoDefault: {Type: String}
  List: {Type: CommaDelimitedList, Default: "a,b"}
Resources:
  Data: {Type: AWS::S3::Bucket}
Outputs:
  Out: {Value: ` + tt.value + `}
`
			tmpl, err := Load([]byte(text), Values{})
			if err != nil {
				t.Fatal(err)
			}
			if len(tmpl.Unresolved) != 1 || !strings.Contains(tmpl.Unresolved[0], tt.want) {
				t.Errorf("Load(Out: %s): Unresolved = %q, want one containing %q", tt.value, tmpl.Unresolved, tt.want)
			}
			got, _ := Lookup(tmpl.Tree, "Outputs", "Out", "Value")
			if s, _ := got.(string); !strings.HasPrefix(s, Unresolved) {
				t.Errorf("Load(Out: %s): Out = %v, want the %q mark", tt.value, got, Unresolved)
			}
		})
	}
}

// TestSelectSplit checks Fn::Select over Fn::Split, as the template reads a key's region from
// its ARN.
func TestSelectSplit(t *testing.T) {
	const text = `
Parameters:
  Key: {Type: String, Default: ""}
Outputs:
  Via:
    Value: !Sub
      - "s3.${R}.amazonaws.com"
      - R: !Select [3, !Split [":", !Sub "${Key}:::"]]
  Last: {Value: !Select ["1", [a, b]]}
`
	tests := []struct{ key, via string }{
		{"arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab", "s3.eu-west-1.amazonaws.com"},
		{"", "s3..amazonaws.com"},
	}
	for _, tt := range tests {
		tmpl, err := Load([]byte(text), Values{Params: map[string]string{"Key": tt.key}})
		if err != nil {
			t.Fatal(err)
		}
		if len(tmpl.Unresolved) > 0 {
			t.Fatalf("Load(Key %q): Unresolved = %q, want none", tt.key, tmpl.Unresolved)
		}
		if got, _ := Lookup(tmpl.Tree, "Outputs", "Via", "Value"); got != tt.via {
			t.Errorf("Load(Key %q): Outputs.Via = %v, want %s", tt.key, got, tt.via)
		}
		if got, _ := Lookup(tmpl.Tree, "Outputs", "Last", "Value"); got != "b" {
			t.Errorf("Load: Outputs.Last = %v, want b", got)
		}
	}
}

// TestConditions checks Fn::If over the template's Conditions, AWS::NoValue, and the role SAM
// adds for a function: the template guards optional policy statements with them.
func TestConditions(t *testing.T) {
	const text = `
Parameters:
  Key: {Type: String, Default: ""}
  Mode: {Type: String, Default: a}
Conditions:
  HasKey: !Not [!Equals [!Ref Key, ""]]
  ModeA: !Equals [!Ref Mode, a]
  Both: !And [!Condition HasKey, !Condition ModeA]
  Either: !Or [!Condition HasKey, !Condition ModeA]
Resources:
  Fn: {Type: AWS::Serverless::Function, Properties: {FunctionName: fn}}
Outputs:
  List: {Value: [first, !If [HasKey, !Ref Key, !Ref AWS::NoValue], last]}
  Map: {Value: {A: !If [HasKey, !Ref Key, !Ref AWS::NoValue], B: b}}
  Both: {Value: !If [Both, yes, no]}
  Either: {Value: !If [Either, yes, no]}
  Role: {Value: !GetAtt FnRole.Arn}
`
	tests := []struct {
		name   string
		params map[string]string
		want   map[string]any
	}{
		{"defaults", nil, map[string]any{
			"List": []any{"first", "last"}, "Map": map[string]any{"B": "b"}, "Both": "no", "Either": "yes",
		}},
		{"key set", map[string]string{"Key": "k", "Mode": "b"}, map[string]any{
			"List": []any{"first", "k", "last"}, "Map": map[string]any{"A": "k", "B": "b"}, "Both": "no", "Either": "yes",
		}},
		{"key set, mode a", map[string]string{"Key": "k"}, map[string]any{"Both": "yes"}},
		{"neither", map[string]string{"Mode": "b"}, map[string]any{"Either": "no"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Values{Params: tt.params, StackName: "stk", Region: "us-east-1", AccountID: "123456789012",
				Partition: "aws", NameSuffix: "X1"}
			tmpl, err := Load([]byte(text), v)
			if err != nil {
				t.Fatal(err)
			}
			if len(tmpl.Unresolved) > 0 {
				t.Fatalf("Load: Unresolved = %q, want none", tmpl.Unresolved)
			}
			for out, want := range tt.want {
				got, _ := Lookup(tmpl.Tree, "Outputs", out, "Value")
				if !reflect.DeepEqual(got, want) {
					t.Errorf("Load(%v): Outputs.%s = %#v, want %#v", tt.params, out, got, want)
				}
			}
			const role = "arn:aws:iam::123456789012:role/stk-FnRole-X1"
			if got, _ := Lookup(tmpl.Tree, "Outputs", "Role", "Value"); got != role {
				t.Errorf("Load: Outputs.Role = %v, want %s", got, role)
			}
		})
	}

	bad := strings.Replace(text, "!If [Both, yes, no]", "!If [Missing, yes, no]", 1)
	tmpl, err := Load([]byte(bad), Values{StackName: "stk", NameSuffix: "X1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(tmpl.Unresolved) != 1 || !strings.Contains(tmpl.Unresolved[0], `no condition "Missing"`) {
		t.Errorf("Load(Fn::If on a missing condition): Unresolved = %q, want one naming it", tmpl.Unresolved)
	}
}
