package lambdait

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/intrinsics"
)

// unresolved starts the value an intrinsic function gets when the local deployment has no
// value for what it names. goformation's handlers cannot fail, so the mark is checked in the
// values the test uses: the rest of the template (policies, queues) may stay unresolved.
const unresolved = "<unresolved "

// deployment is what the template's references mean locally.
type deployment struct {
	// Params overrides parameters; the rest take the template's defaults. A list parameter
	// takes a comma-separated string, as CloudFormation does.
	Params map[string]string
	// Names is what Ref returns for a resource, by logical ID.
	Names                                   map[string]string
	StackName, Region, AccountID, Partition string
}

// function is one function of the template as the local deployment would run it.
type function struct {
	// Env is Globals' Environment.Variables overridden by the function's own.
	Env      map[string]string
	Timeout  time.Duration
	MemoryMB int
}

// loadFunctions parses the SAM template at path with goformation, resolving Ref, Fn::Sub and
// Fn::GetAtt against d, and returns its serverless functions by logical ID.
func loadFunctions(path string, d deployment) (map[string]function, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := &resolver{d: d}
	raw, err := intrinsics.ProcessYAML(data, &intrinsics.ProcessorOptions{
		IntrinsicHandlerOverrides: map[string]intrinsics.IntrinsicHandler{
			"Ref":        r.ref,
			"Fn::GetAtt": r.getAtt,
			"Fn::Sub":    r.sub,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var tree map[string]any
	if err := json.Unmarshal(raw, &tree); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// CloudFormation turns a Number parameter into a string inside Environment.Variables;
	// goformation's map[string]string would refuse the number.
	stringifyVariables(tree)
	resolved, err := json.Marshal(tree)
	if err != nil {
		return nil, err
	}
	tmpl, err := goformation.ParseJSONWithOptions(resolved, &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		return nil, fmt.Errorf("%s: parse resolved template: %w", path, err)
	}
	return functions(tmpl)
}

func functions(tmpl *cloudformation.Template) (map[string]function, error) {
	base := function{Env: map[string]string{}}
	if g, err := tmpl.GetServerlessGlobalFunction(); err == nil {
		if g.Environment != nil {
			for k, v := range g.Environment.Variables {
				base.Env[k] = v
			}
		}
		if g.Timeout != nil {
			base.Timeout = time.Duration(*g.Timeout) * time.Second
		}
		if g.MemorySize != nil {
			base.MemoryMB = *g.MemorySize
		}
	}
	out := map[string]function{}
	var errs []string
	for id, fn := range tmpl.GetAllServerlessFunctionResources() {
		f := function{Env: map[string]string{}, Timeout: base.Timeout, MemoryMB: base.MemoryMB}
		for k, v := range base.Env {
			f.Env[k] = v
		}
		if fn.Environment != nil {
			for k, v := range fn.Environment.Variables {
				f.Env[k] = v
			}
		}
		if fn.Timeout != nil {
			f.Timeout = time.Duration(*fn.Timeout) * time.Second
		}
		if fn.MemorySize != nil {
			f.MemoryMB = *fn.MemorySize
		}
		for _, k := range sortedKeys(f.Env) {
			if strings.Contains(f.Env[k], unresolved) {
				errs = append(errs, fmt.Sprintf("%s: variable %s = %q", id, k, f.Env[k]))
			}
		}
		out[id] = f
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("environment the local deployment cannot resolve: %s", strings.Join(errs, "; "))
	}
	return out, nil
}

func stringifyVariables(tree map[string]any) {
	var envs []any
	if g, ok := lookupPath(tree, "Globals", "Function", "Environment", "Variables"); ok {
		envs = append(envs, g)
	}
	if res, ok := tree["Resources"].(map[string]any); ok {
		for _, r := range res {
			if v, ok := lookupPath(r, "Properties", "Environment", "Variables"); ok {
				envs = append(envs, v)
			}
		}
	}
	for _, e := range envs {
		vars, _ := e.(map[string]any)
		for k, v := range vars {
			if f, ok := v.(float64); ok {
				vars[k] = strconv.FormatFloat(f, 'f', -1, 64)
			}
		}
	}
}

func lookupPath(v any, keys ...string) (any, bool) {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

// resolver holds goformation intrinsic handlers that resolve to the local deployment.
type resolver struct{ d deployment }

func (r *resolver) ref(_ string, input, template any) any {
	name, ok := input.(string)
	if !ok {
		return fmt.Sprintf("%sRef %v>", unresolved, input)
	}
	switch name {
	case "AWS::AccountId":
		return r.d.AccountID
	case "AWS::Region":
		return r.d.Region
	case "AWS::Partition":
		return r.d.Partition
	case "AWS::StackName":
		return r.d.StackName
	case "AWS::URLSuffix":
		return "amazonaws.com"
	}
	if v, ok := r.d.Names[name]; ok {
		return v
	}
	p, ok := lookupPath(template, "Parameters", name)
	if !ok {
		return fmt.Sprintf("%sRef %s>", unresolved, name)
	}
	typ, _ := lookupPath(p, "Type")
	var value any
	if v, ok := r.d.Params[name]; ok {
		value = v
	} else if v, ok := lookupPath(p, "Default"); ok {
		value = v
	} else {
		return fmt.Sprintf("%sRef %s: parameter without a default or a local value>", unresolved, name)
	}
	switch t, _ := typ.(string); {
	case t == "CommaDelimitedList" || strings.HasPrefix(t, "List<"):
		var list []any
		for _, e := range strings.Split(fmt.Sprint(value), ",") {
			list = append(list, strings.TrimSpace(e))
		}
		return list
	case t == "Number":
		if s, ok := value.(string); ok {
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				return f
			}
		}
	}
	return value
}

func (r *resolver) getAtt(_ string, input, template any) any {
	var id, attr string
	switch a := input.(type) {
	case string:
		id, attr, _ = strings.Cut(a, ".")
	case []any:
		if len(a) == 2 {
			id, _ = a[0].(string)
			attr, _ = a[1].(string)
		}
	}
	name, ok := r.d.Names[id]
	typ, _ := lookupPath(template, "Resources", id, "Type")
	switch {
	case ok && attr == "Arn" && typ == "AWS::S3::Bucket":
		return "arn:" + r.d.Partition + ":s3:::" + name
	case ok && attr == "Arn" && (typ == "AWS::Serverless::Function" || typ == "AWS::Lambda::Function"):
		return "arn:" + r.d.Partition + ":lambda:" + r.d.Region + ":" + r.d.AccountID + ":function:" + name
	}
	return fmt.Sprintf("%sGetAtt %s.%s>", unresolved, id, attr)
}

var subVar = regexp.MustCompile(`\$\{([^}]*)\}`)

func (r *resolver) sub(_ string, input, template any) any {
	var (
		s    string
		vars map[string]any
	)
	switch a := input.(type) {
	case string:
		s = a
	case []any:
		if len(a) == 2 {
			s, _ = a[0].(string)
			vars, _ = a[1].(map[string]any)
		}
	}
	return subVar.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		if lit, ok := strings.CutPrefix(name, "!"); ok {
			return "${" + lit + "}"
		}
		var v any
		if v, ok := vars[name]; ok {
			return fmt.Sprint(v)
		}
		if id, attr, ok := strings.Cut(name, "."); ok {
			v = r.getAtt("Fn::GetAtt", []any{id, attr}, template)
		} else {
			v = r.ref("Ref", name, template)
		}
		switch v := v.(type) {
		case string:
			return v
		case float64:
			return strconv.FormatFloat(v, 'f', -1, 64)
		}
		return fmt.Sprintf("%sSub ${%s}>", unresolved, name)
	})
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestLoadFunctionsResolvesToLocalNames checks the loader on a small template, so that a
// mistake in it is not taken for one in the functions.
func TestLoadFunctionsResolvesToLocalNames(t *testing.T) {
	const tmpl = `
Transform: AWS::Serverless-2016-10-31
Parameters:
  Accounts: {Type: CommaDelimitedList}
  Rate: {Type: Number, Default: 15}
  Prefix: {Type: String, Default: ""}
Globals:
  Function:
    Timeout: 900
    MemorySize: 256
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
      Environment:
        Variables:
          ACCOUNTS: !Join [",", !Ref Accounts]
          RATE: !Ref Rate
          OTHER: !Ref Other
          SELF: !Sub "${AWS::StackName}-fn in ${Data.Arn}/${!Literal}"
      Policies:
        - SQSSendMessagePolicy: {QueueName: !GetAtt Queue.QueueName}
`
	path := t.TempDir() + "/template.yaml"
	if err := os.WriteFile(path, []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	d := deployment{
		Params:    map[string]string{"Accounts": "111122223333,444455556666"},
		Names:     map[string]string{"Data": "local-data", "Other": "other-fn"},
		StackName: "stack", Region: "us-east-1", AccountID: "123456789012", Partition: "aws",
	}
	fns, err := loadFunctions(path, d)
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
			t.Errorf("loadFunctions: %s = %q, want %q", k, got.Env[k], w)
		}
	}
	if len(got.Env) != len(want) {
		t.Errorf("loadFunctions: variables %v, want exactly %v", sortedKeys(got.Env), sortedKeys(want))
	}
	if got.Timeout != 900*time.Second || got.MemoryMB != 512 {
		t.Errorf("loadFunctions: timeout %v, memory %d MB, want 15m0s, 512 MB", got.Timeout, got.MemoryMB)
	}

	delete(d.Names, "Other")
	if _, err := loadFunctions(path, d); err == nil || !strings.Contains(err.Error(), "OTHER") {
		t.Errorf("loadFunctions without a name for Other: error %v, want one naming OTHER", err)
	}
}
