// Package samtemplate loads a SAM template with goformation, its Ref, Fn::Sub, Fn::GetAtt,
// Fn::Join, Fn::Split, Fn::Select and Fn::If (over the template's Conditions, with AWS::NoValue)
// resolved to values the caller gives, and lists its functions as Lambda would run them:
// Globals merged in. The template checks and the Lambda integration tests load template.yaml
// through it.
package samtemplate

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/serverless"
	"github.com/awslabs/goformation/v7/intrinsics"
)

// Unresolved starts the string that stands for a value Values could not give; the rest of the
// string says what was asked for.
const Unresolved = "<unresolved "

// Values is what the template's references resolve to.
type Values struct {
	StackName, Region, AccountID, Partition string
	// Params are values for parameters, over the template's defaults. A list parameter takes a
	// comma-separated string, as CloudFormation does.
	Params map[string]string
	// Names is what Ref returns, by logical ID: for a resource, its name (a queue's URL), or
	// for any other name the template refers to.
	Names map[string]string
	// NameSuffix, when set, names the resources Names leaves out as CloudFormation would at
	// deploy time: the name the template gives, or StackName-LogicalID-NameSuffix. When it is
	// empty, a reference to such a resource is unresolved.
	NameSuffix string
}

// Template is a template with its intrinsic functions resolved.
type Template struct {
	*cloudformation.Template
	// Tree is the resolved template as generic JSON, for the parts whose goformation types lose
	// information (SAM's Policies union decodes a list of statements as empty policy templates).
	Tree map[string]any
	// Names holds what Ref returns for each resource that Values could name.
	Names map[string]string
	// Unresolved says, for each reference Values could not resolve, what it was and why. The
	// reference's value in Tree and Template is a string starting with the Unresolved mark.
	Unresolved []string
}

// Function is a serverless function as Lambda would run it.
type Function struct {
	// Env is Globals' Environment.Variables overridden by the function's own.
	Env      map[string]string
	Timeout  time.Duration
	MemoryMB int
	// LogFormat, LogLevel and LogGroup are LoggingConfig's LogFormat, ApplicationLogLevel and
	// LogGroup, the function's own over Globals'. An empty LogGroup is Lambda's default,
	// /aws/lambda/<function name>.
	LogFormat, LogLevel, LogGroup string
}

// LoadFile loads the template at path; see Load.
func LoadFile(path string, v Values) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := Load(data, v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Load parses a YAML or JSON template, resolving the intrinsic functions in Resources, Globals
// and Outputs against v. goformation's own resolver drops what it cannot resolve (a Ref to a
// resource, a parameter without a default), which would hide the mistakes the callers look
// for, so the tree is resolved here and handed to goformation already resolved. What v cannot
// resolve is listed in Unresolved rather than failing the load: callers differ in which parts
// of the template must resolve.
func Load(data []byte, v Values) (*Template, error) {
	raw, err := intrinsics.ProcessYAML(data, &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		return nil, err
	}
	var root map[string]any
	if err := json.Unmarshal(raw, &root); err != nil {
		return nil, err
	}
	r := &resolver{root: root, v: v}
	tree := map[string]any{}
	for k, e := range root {
		switch k {
		case "Resources", "Globals", "Outputs":
			tree[k] = r.eval(e)
		default:
			tree[k] = e
		}
	}
	// Sorted, as the maps were walked in no order.
	unresolved := slices.Sorted(slices.Values(r.errs))
	stringifyVariables(tree)
	resolved, err := forGoformation(tree)
	if err != nil {
		return nil, err
	}
	tmpl, err := goformation.ParseJSONWithOptions(resolved, &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		return nil, fmt.Errorf("parse resolved template: %w", err)
	}
	names := map[string]string{}
	if res, ok := root["Resources"].(map[string]any); ok {
		for id, e := range res {
			if name, ok := r.resourceName(id, e).(string); ok && !strings.HasPrefix(name, Unresolved) {
				names[id] = name
			}
		}
	}
	return &Template{Template: tmpl, Tree: tree, Names: names, Unresolved: unresolved}, nil
}

// Functions returns the serverless functions by logical ID, Globals.Function's environment,
// timeout and memory merged into each. It fails if an environment variable is unresolved.
func (t *Template) Functions() (map[string]Function, error) {
	base := Function{Env: map[string]string{}}
	if g, err := t.GetServerlessGlobalFunction(); err == nil {
		base.set(g.Environment, g.Timeout, g.MemorySize)
	}
	base.setLogging(Lookup(t.Tree, "Globals", "Function", "LoggingConfig"))
	out := map[string]Function{}
	var errs []string
	fns := t.GetAllServerlessFunctionResources()
	for _, id := range slices.Sorted(maps.Keys(fns)) {
		fn := fns[id]
		f := base
		f.Env = maps.Clone(base.Env)
		f.set(fn.Environment, fn.Timeout, fn.MemorySize)
		f.setLogging(Lookup(t.Tree, "Resources", id, "Properties", "LoggingConfig"))
		for _, k := range slices.Sorted(maps.Keys(f.Env)) {
			if strings.Contains(f.Env[k], Unresolved) {
				errs = append(errs, fmt.Sprintf("%s: variable %s = %q", id, k, f.Env[k]))
			}
		}
		out[id] = f
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("unresolved environment: %s", strings.Join(errs, "; "))
	}
	return out, nil
}

// set applies the settings that Globals.Function or a function gives.
func (f *Function) set(env *serverless.Function_FunctionEnvironment, timeout, memoryMB *int) {
	if env != nil {
		maps.Copy(f.Env, env.Variables)
	}
	if timeout != nil {
		f.Timeout = time.Duration(*timeout) * time.Second
	}
	if memoryMB != nil {
		f.MemoryMB = *memoryMB
	}
}

// setLogging applies a LoggingConfig (goformation's serverless.Function has no field for it, so
// it is read from the resolved tree).
func (f *Function) setLogging(cfg any, ok bool) {
	if !ok {
		return
	}
	m, _ := cfg.(map[string]any)
	if v, ok := m["LogFormat"].(string); ok {
		f.LogFormat = v
	}
	if v, ok := m["ApplicationLogLevel"].(string); ok {
		f.LogLevel = v
	}
	if v, ok := m["LogGroup"].(string); ok {
		f.LogGroup = v
	}
}

// stringifyVariables turns numbers in the functions' environment into strings, as
// CloudFormation does, so that a Ref to a Number parameter fits Lambda's string variables
// (goformation's map[string]string would refuse the number).
func stringifyVariables(tree map[string]any) {
	var envs []any
	if g, ok := Lookup(tree, "Globals", "Function", "Environment", "Variables"); ok {
		envs = append(envs, g)
	}
	if res, ok := tree["Resources"].(map[string]any); ok {
		for _, r := range res {
			if v, ok := Lookup(r, "Properties", "Environment", "Variables"); ok {
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

// forGoformation encodes the resolved tree for goformation, without the serverless functions'
// LoggingConfig: goformation's serverless.Function has no field for it and refuses the unknown
// property (Globals' is let through). Functions reads it from the tree instead.
func forGoformation(tree map[string]any) ([]byte, error) {
	data, err := json.Marshal(tree)
	if err != nil {
		return nil, err
	}
	var cp map[string]any
	if err := json.Unmarshal(data, &cp); err != nil {
		return nil, err
	}
	res, _ := cp["Resources"].(map[string]any)
	for _, r := range res {
		if typ, _ := Lookup(r, "Type"); typ != "AWS::Serverless::Function" {
			continue
		}
		if props, ok := Lookup(r, "Properties"); ok {
			if m, ok := props.(map[string]any); ok {
				delete(m, "LoggingConfig")
			}
		}
	}
	return json.Marshal(cp)
}

// Lookup walks nested maps of generic JSON, such as a Template's Tree, by key.
func Lookup(v any, keys ...string) (any, bool) {
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
