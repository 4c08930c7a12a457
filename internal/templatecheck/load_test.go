package templatecheck

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/intrinsics"
)

var (
	templatePath = flag.String("template", "../../template.yaml", "SAM template to check")
	makefilePath = flag.String("makefile", "../../Makefile", "Makefile that builds the functions")
)

// Stand-ins for what CloudFormation only knows at deploy time. They are valid values, so that
// the config loaders accept them exactly when they would accept the real ones.
const (
	standInStack     = "athena-usage"
	standInAccount   = "123456789012"
	standInRegion    = "us-east-1"
	standInPartition = "aws"
	standInSuffix    = "1a2b3c4d5e6f"
)

// paramStandIns are values for the parameters that have no default; sam deploy asks for them.
var paramStandIns = map[string]string{
	"CloudTrailBucket": "example-cloudtrail-logs",
	"AccountIds":       "111111111111,222222222222",
}

// stack is a template loaded with its intrinsic functions resolved to stand-in values.
type stack struct {
	tmpl *cloudformation.Template
	// tree is the resolved template as generic JSON, for the parts whose goformation types lose
	// information (SAM's Policies union decodes a list of statements as empty policy templates).
	tree map[string]any
	// names holds what Ref returns for each resource, such as a bucket's name.
	names map[string]string
}

// loadFile loads the template at path.
func loadFile(path string) (*stack, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := load(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// loadOrFail loads the template named by -template and stops the test if it cannot.
func loadOrFail(t *testing.T) *stack {
	t.Helper()
	s, err := loadFile(*templatePath)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// load parses a YAML template with goformation, resolving Ref, Fn::Sub, Fn::GetAtt and Fn::Join
// to plausible values. goformation's own resolver drops what it cannot resolve (a Ref to a
// resource, a parameter without a default), which would hide exactly the mistakes these
// tests look for, so the tree is resolved here and handed to goformation already resolved.
func load(data []byte) (*stack, error) {
	raw, err := intrinsics.ProcessYAML(data, &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		return nil, err
	}
	var root map[string]any
	if err := json.Unmarshal(raw, &root); err != nil {
		return nil, err
	}
	r := &resolver{root: root}
	tree := map[string]any{}
	for k, v := range root {
		switch k {
		case "Resources", "Globals", "Outputs":
			tree[k] = r.eval(v)
		default:
			tree[k] = v
		}
	}
	if len(r.errs) > 0 {
		return nil, fmt.Errorf("resolve intrinsic functions: %s", strings.Join(r.errs, "; "))
	}
	stringifyVariables(tree)
	resolved, err := json.Marshal(tree)
	if err != nil {
		return nil, err
	}
	tmpl, err := goformation.ParseJSONWithOptions(resolved, &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		return nil, fmt.Errorf("parse resolved template: %w", err)
	}
	names := map[string]string{}
	if res, ok := root["Resources"].(map[string]any); ok {
		for id, v := range res {
			names[id] = fmt.Sprint(r.resourceName(id, v))
		}
	}
	return &stack{tmpl: tmpl, tree: tree, names: names}, nil
}

// stringifyVariables turns numbers in the functions' environment into strings, as
// CloudFormation does, so that a Ref to a Number parameter fits Lambda's string variables.
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
		vars, ok := e.(map[string]any)
		if !ok {
			continue
		}
		for k, v := range vars {
			if f, ok := v.(float64); ok {
				vars[k] = strconv.FormatFloat(f, 'f', -1, 64)
			}
		}
	}
}

// lookupPath walks nested maps by key.
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

// resolver evaluates intrinsic functions against the unresolved template.
type resolver struct {
	root map[string]any
	errs []string
}

func (r *resolver) fail(format string, args ...any) any {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
	return ""
}

func (r *resolver) eval(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 1 {
			for k, arg := range v {
				if k == "Ref" || strings.HasPrefix(k, "Fn::") {
					return r.intrinsic(k, r.eval(arg))
				}
			}
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = r.eval(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = r.eval(e)
		}
		return out
	}
	return v
}

func (r *resolver) intrinsic(name string, arg any) any {
	switch name {
	case "Ref":
		s, ok := arg.(string)
		if !ok {
			return r.fail("Ref %v: want a name", arg)
		}
		return r.ref(s)
	case "Fn::GetAtt":
		switch a := arg.(type) {
		case string:
			id, attr, _ := strings.Cut(a, ".")
			return r.getAtt(id, attr)
		case []any:
			if len(a) == 2 {
				id, _ := a[0].(string)
				attr, _ := a[1].(string)
				return r.getAtt(id, attr)
			}
		}
		return r.fail("Fn::GetAtt %v: want [resource, attribute]", arg)
	case "Fn::Sub":
		switch a := arg.(type) {
		case string:
			return r.sub(a, nil)
		case []any:
			if len(a) == 2 {
				s, _ := a[0].(string)
				vars, _ := a[1].(map[string]any)
				return r.sub(s, vars)
			}
		}
		return r.fail("Fn::Sub %v: want a string or [string, variables]", arg)
	case "Fn::Join":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			return r.fail("Fn::Join %v: want [delimiter, list]", arg)
		}
		delim, _ := a[0].(string)
		list, ok := a[1].([]any)
		if !ok {
			return r.fail("Fn::Join %v: want a list to join", a[1])
		}
		parts := make([]string, len(list))
		for i, e := range list {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, delim)
	}
	// Resolving more functions means teaching this resolver, not guessing.
	return r.fail("%s is not supported by the template check's resolver", name)
}

var subVar = regexp.MustCompile(`\$\{([^}]*)\}`)

func (r *resolver) sub(s string, vars map[string]any) string {
	return subVar.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		if strings.HasPrefix(name, "!") {
			return "${" + name[1:] + "}"
		}
		if v, ok := vars[name]; ok {
			return fmt.Sprint(v)
		}
		var v any
		if id, attr, ok := strings.Cut(name, "."); ok {
			v = r.getAtt(id, attr)
		} else {
			v = r.ref(name)
		}
		switch v := v.(type) {
		case string:
			return v
		case float64:
			return strconv.FormatFloat(v, 'f', -1, 64)
		}
		r.fail("Fn::Sub %q: ${%s} is not a string", s, name)
		return ""
	})
}

func (r *resolver) ref(name string) any {
	switch name {
	case "AWS::AccountId":
		return standInAccount
	case "AWS::Region":
		return standInRegion
	case "AWS::Partition":
		return standInPartition
	case "AWS::StackName":
		return standInStack
	case "AWS::URLSuffix":
		return "amazonaws.com"
	}
	if p, ok := lookupPath(r.root, "Parameters", name); ok {
		return r.param(name, p)
	}
	if res, ok := lookupPath(r.root, "Resources", name); ok {
		return r.resourceName(name, res)
	}
	return r.fail("Ref %s: no such parameter or resource", name)
}

// param returns a parameter's default, or its stand-in when it has none.
func (r *resolver) param(name string, p any) any {
	typ, _ := lookupPath(p, "Type")
	var value any
	if d, ok := lookupPath(p, "Default"); ok {
		value = d
	} else if s, ok := paramStandIns[name]; ok {
		value = s
	} else {
		return r.fail("parameter %s has no default and the check has no stand-in for it", name)
	}
	if t, _ := typ.(string); t == "CommaDelimitedList" || strings.HasPrefix(t, "List<") {
		var list []any
		for _, e := range strings.Split(fmt.Sprint(value), ",") {
			list = append(list, strings.TrimSpace(e))
		}
		return list
	}
	if t, _ := typ.(string); t == "String" {
		return fmt.Sprint(value)
	}
	return value
}

// resourceName is what Ref returns for a resource: its given name, or one like CloudFormation makes.
func (r *resolver) resourceName(id string, res any) any {
	typ, _ := lookupPath(res, "Type")
	prop := func(keys ...string) (any, bool) {
		v, ok := lookupPath(res, append([]string{"Properties"}, keys...)...)
		if !ok {
			return nil, false
		}
		return r.eval(v), true
	}
	generated := standInStack + "-" + id + "-" + standInSuffix
	switch typ {
	case "AWS::S3::Bucket":
		if v, ok := prop("BucketName"); ok {
			return v
		}
		return strings.ToLower(generated)
	case "AWS::Athena::WorkGroup":
		if v, ok := prop("Name"); ok {
			return v
		}
		return r.fail("Ref %s: workgroup has no Name", id)
	case "AWS::Glue::Database":
		if v, ok := prop("DatabaseInput", "Name"); ok {
			return v
		}
		return r.fail("Ref %s: database has no DatabaseInput.Name", id)
	case "AWS::Serverless::Function", "AWS::Lambda::Function":
		if v, ok := prop("FunctionName"); ok {
			return v
		}
		return generated
	case "AWS::SQS::Queue":
		name := any(generated)
		if v, ok := prop("QueueName"); ok {
			name = v
		}
		return fmt.Sprintf("https://sqs.%s.amazonaws.com/%s/%v", standInRegion, standInAccount, name)
	case "AWS::Logs::LogGroup":
		if v, ok := prop("LogGroupName"); ok {
			return v
		}
		return "/aws/" + generated
	}
	return generated
}

func (r *resolver) getAtt(id, attr string) any {
	res, ok := lookupPath(r.root, "Resources", id)
	if !ok {
		return r.fail("Fn::GetAtt %s.%s: no such resource", id, attr)
	}
	if attr != "Arn" {
		return r.fail("Fn::GetAtt %s.%s: only Arn is supported", id, attr)
	}
	name := fmt.Sprint(r.resourceName(id, res))
	prefix := "arn:" + standInPartition + ":"
	regional := func(service string) string {
		return prefix + service + ":" + standInRegion + ":" + standInAccount + ":"
	}
	typ, _ := lookupPath(res, "Type")
	switch typ {
	case "AWS::S3::Bucket":
		return prefix + "s3:::" + name
	case "AWS::SQS::Queue":
		return regional("sqs") + name[strings.LastIndex(name, "/")+1:]
	case "AWS::Serverless::Function", "AWS::Lambda::Function":
		return regional("lambda") + "function:" + name
	case "AWS::Logs::LogGroup":
		return regional("logs") + "log-group:" + name + ":*"
	}
	return r.fail("Fn::GetAtt %s.Arn: resource type %v is not supported", id, typ)
}

// sortedKeys returns a map's keys in order, for stable messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
