package samtemplate

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// resolver evaluates intrinsic functions against the unresolved template.
type resolver struct {
	root map[string]any
	v    Values
	errs []string
	// conditions caches the template's evaluated Conditions; visiting guards against a
	// condition that refers to itself.
	conditions map[string]bool
	visiting   map[string]bool
}

// noValue is what Ref AWS::NoValue evaluates to: the property or list element that holds it
// is removed, as CloudFormation does.
type noValue struct{}

// fail records why a reference is unresolved and returns the value that stands for it.
func (r *resolver) fail(format string, args ...any) string {
	msg := fmt.Sprintf(format, args...)
	r.errs = append(r.errs, msg)
	return Unresolved + msg + ">"
}

func (r *resolver) eval(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 1 {
			for k, arg := range v {
				if k == "Fn::If" {
					// Only the branch chosen is evaluated: the other may refer to what the
					// condition says is absent.
					return r.ifThen(arg)
				}
				if k == "Ref" || strings.HasPrefix(k, "Fn::") {
					return r.intrinsic(k, r.eval(arg))
				}
			}
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			if e := r.eval(e); e != (noValue{}) {
				out[k] = e
			}
		}
		return out
	case []any:
		out := make([]any, 0, len(v))
		for _, e := range v {
			if e := r.eval(e); e != (noValue{}) {
				out = append(out, e)
			}
		}
		return out
	}
	return v
}

// ifThen evaluates Fn::If [condition, then, else].
func (r *resolver) ifThen(arg any) any {
	a, ok := arg.([]any)
	if !ok || len(a) != 3 {
		return r.fail("Fn::If %v: want [condition, value if true, value if false]", arg)
	}
	name, _ := a[0].(string)
	ok, err := r.condition(name)
	if err != "" {
		return r.fail("Fn::If %v: %s", a[0], err)
	}
	if ok {
		return r.eval(a[1])
	}
	return r.eval(a[2])
}

// condition evaluates one of the template's Conditions; a non-empty string says why it could
// not.
func (r *resolver) condition(name string) (bool, string) {
	if v, ok := r.conditions[name]; ok {
		return v, ""
	}
	expr, ok := Lookup(r.root, "Conditions", name)
	if !ok {
		return false, fmt.Sprintf("no condition %q", name)
	}
	if r.visiting[name] {
		return false, fmt.Sprintf("condition %q refers to itself", name)
	}
	if r.visiting == nil {
		r.visiting, r.conditions = map[string]bool{}, map[string]bool{}
	}
	r.visiting[name] = true
	defer delete(r.visiting, name)
	v, err := r.conditionExpr(expr)
	if err == "" {
		r.conditions[name] = v
	}
	return v, err
}

// conditionExpr evaluates a condition function: Fn::Equals, Fn::Not, Fn::And, Fn::Or, or
// {Condition: name}, which goformation's YAML reader turns into the bare name.
func (r *resolver) conditionExpr(expr any) (bool, string) {
	if name, ok := expr.(string); ok {
		return r.condition(name)
	}
	m, ok := expr.(map[string]any)
	if !ok || len(m) != 1 {
		return false, fmt.Sprintf("condition %v: want one condition function", expr)
	}
	for k, arg := range m {
		if k == "Condition" {
			name, _ := arg.(string)
			return r.condition(name)
		}
		a, ok := arg.([]any)
		if !ok {
			return false, fmt.Sprintf("%s %v: want a list", k, arg)
		}
		switch k {
		case "Fn::Equals":
			if len(a) != 2 {
				return false, fmt.Sprintf("Fn::Equals %v: want two values", arg)
			}
			x, y := r.eval(a[0]), r.eval(a[1])
			for _, e := range []any{x, y} {
				if s, ok := e.(string); ok && strings.HasPrefix(s, Unresolved) {
					return false, "Fn::Equals: " + s
				}
			}
			return fmt.Sprint(x) == fmt.Sprint(y), ""
		case "Fn::Not":
			if len(a) != 1 {
				return false, fmt.Sprintf("Fn::Not %v: want one condition", arg)
			}
			v, err := r.conditionExpr(a[0])
			return !v, err
		case "Fn::And", "Fn::Or":
			and := k == "Fn::And"
			for _, e := range a {
				v, err := r.conditionExpr(e)
				if err != "" {
					return false, err
				}
				if v != and {
					return v, ""
				}
			}
			return and, ""
		}
		return false, fmt.Sprintf("%s is not a condition function samtemplate's resolver knows", k)
	}
	return false, ""
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
	case "Fn::Split":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			return r.fail("Fn::Split %v: want [delimiter, string]", arg)
		}
		delim, _ := a[0].(string)
		str, ok := a[1].(string)
		if !ok || delim == "" {
			return r.fail("Fn::Split %v: want a delimiter and a string", arg)
		}
		var out []any
		for _, e := range strings.Split(str, delim) {
			out = append(out, e)
		}
		return out
	case "Fn::Select":
		return r.selectElem(arg)
	}
	// Resolving more functions means teaching this resolver, not guessing.
	return r.fail("%s is not supported by samtemplate's resolver", name)
}

// selectElem evaluates Fn::Select [index, list]. As in CloudFormation, an index outside the
// list is an error, not an empty value.
func (r *resolver) selectElem(arg any) any {
	a, ok := arg.([]any)
	if !ok || len(a) != 2 {
		return r.fail("Fn::Select %v: want [index, list]", arg)
	}
	i, err := strconv.Atoi(fmt.Sprint(a[0]))
	list, ok := a[1].([]any)
	if err != nil || !ok {
		return r.fail("Fn::Select %v: want a number and a list", arg)
	}
	if i < 0 || i >= len(list) {
		return r.fail("Fn::Select %v: index %d outside a list of %d", arg, i, len(list))
	}
	return list[i]
}

var subVar = regexp.MustCompile(`\$\{([^}]*)\}`)

func (r *resolver) sub(s string, vars map[string]any) string {
	return subVar.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		if lit, ok := strings.CutPrefix(name, "!"); ok {
			return "${" + lit + "}"
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
		return r.fail("Fn::Sub %q: ${%s} is not a string", s, name)
	})
}

func (r *resolver) ref(name string) any {
	switch name {
	case "AWS::AccountId":
		return r.v.AccountID
	case "AWS::Region":
		return r.v.Region
	case "AWS::Partition":
		return r.v.Partition
	case "AWS::StackName":
		return r.v.StackName
	case "AWS::URLSuffix":
		return "amazonaws.com"
	case "AWS::NoValue":
		return noValue{}
	}
	if v, ok := r.v.Names[name]; ok {
		return v
	}
	if p, ok := Lookup(r.root, "Parameters", name); ok {
		return r.param(name, p)
	}
	if res, ok := r.resource(name); ok {
		return r.resourceName(name, res)
	}
	return r.fail("Ref %s: no such parameter or resource", name)
}

// param returns a parameter's value from Params, or its default.
func (r *resolver) param(name string, p any) any {
	typ, _ := Lookup(p, "Type")
	var value any
	if v, ok := r.v.Params[name]; ok {
		value = v
	} else if d, ok := Lookup(p, "Default"); ok {
		value = d
	} else {
		return r.fail("Ref %s: parameter without a default or a value in Params", name)
	}
	switch t, _ := typ.(string); {
	case t == "CommaDelimitedList" || strings.HasPrefix(t, "List<"):
		var list []any
		for _, e := range strings.Split(fmt.Sprint(value), ",") {
			list = append(list, strings.TrimSpace(e))
		}
		return list
	case t == "String":
		return fmt.Sprint(value)
	case t == "Number":
		if s, ok := value.(string); ok {
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				return f
			}
		}
	}
	return value
}

// resource returns the template's resource id, or one that SAM's transform adds and that a
// template may refer to: the role <Function>Role of a serverless function without a Role.
func (r *resolver) resource(id string) (any, bool) {
	if res, ok := Lookup(r.root, "Resources", id); ok {
		return res, true
	}
	fnID, ok := strings.CutSuffix(id, "Role")
	if !ok {
		return nil, false
	}
	fn, ok := Lookup(r.root, "Resources", fnID)
	if typ, _ := Lookup(fn, "Type"); !ok || typ != "AWS::Serverless::Function" {
		return nil, false
	}
	if _, ok := Lookup(fn, "Properties", "Role"); ok {
		return nil, false
	}
	return map[string]any{"Type": "AWS::IAM::Role"}, true
}

// resourceName is what Ref returns for a resource: its name in Names or, with a NameSuffix, the
// name it is given or one like CloudFormation makes.
func (r *resolver) resourceName(id string, res any) any {
	if v, ok := r.v.Names[id]; ok {
		return v
	}
	if r.v.NameSuffix == "" {
		return r.fail("resource %s has no name in Names", id)
	}
	typ, _ := Lookup(res, "Type")
	prop := func(keys ...string) (any, bool) {
		v, ok := Lookup(res, append([]string{"Properties"}, keys...)...)
		if !ok {
			return nil, false
		}
		return r.eval(v), true
	}
	generated := r.v.StackName + "-" + id + "-" + r.v.NameSuffix
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
		return fmt.Sprintf("https://sqs.%s.amazonaws.com/%s/%v", r.v.Region, r.v.AccountID, name)
	case "AWS::Logs::LogGroup":
		if v, ok := prop("LogGroupName"); ok {
			return v
		}
		return "/aws/" + generated
	case "AWS::QuickSight::DataSource", "AWS::QuickSight::DataSet", "AWS::QuickSight::Dashboard":
		// Ref of these is not their ID, but their ARNs are made of it.
		for _, key := range []string{"DataSourceId", "DataSetId", "DashboardId"} {
			if v, ok := prop(key); ok {
				return v
			}
		}
		return r.fail("Ref %s: no ID", id)
	case "AWS::SNS::Topic":
		name := any(generated)
		if v, ok := prop("TopicName"); ok {
			name = v
		}
		return fmt.Sprintf("arn:%s:sns:%s:%s:%v", r.v.Partition, r.v.Region, r.v.AccountID, name)
	}
	return generated
}

func (r *resolver) getAtt(id, attr string) any {
	res, ok := r.resource(id)
	if !ok {
		return r.fail("Fn::GetAtt %s.%s: no such resource", id, attr)
	}
	typ, _ := Lookup(res, "Type")
	queueName := typ == "AWS::SQS::Queue" && attr == "QueueName"
	if attr != "Arn" && !queueName {
		return r.fail("Fn::GetAtt %s.%s: only Arn is supported (and a queue's QueueName)", id, attr)
	}
	if _, named := r.v.Names[id]; !named && r.v.NameSuffix == "" {
		return r.fail("Fn::GetAtt %s.%s: resource %s has no name in Names", id, attr, id)
	}
	name := fmt.Sprint(r.resourceName(id, res))
	if strings.HasPrefix(name, Unresolved) {
		return name
	}
	if queueName {
		return name[strings.LastIndex(name, "/")+1:]
	}
	prefix := "arn:" + r.v.Partition + ":"
	regional := func(service string) string {
		return prefix + service + ":" + r.v.Region + ":" + r.v.AccountID + ":"
	}
	switch typ {
	case "AWS::S3::Bucket":
		return prefix + "s3:::" + name
	case "AWS::SQS::Queue":
		return regional("sqs") + name[strings.LastIndex(name, "/")+1:]
	case "AWS::Serverless::Function", "AWS::Lambda::Function":
		return regional("lambda") + "function:" + name
	case "AWS::Logs::LogGroup":
		return regional("logs") + "log-group:" + name + ":*"
	case "AWS::IAM::Role":
		return prefix + "iam::" + r.v.AccountID + ":role/" + name
	case "AWS::QuickSight::DataSource":
		return regional("quicksight") + "datasource/" + name
	case "AWS::QuickSight::DataSet":
		return regional("quicksight") + "dataset/" + name
	case "AWS::QuickSight::Dashboard":
		return regional("quicksight") + "dashboard/" + name
	}
	return r.fail("Fn::GetAtt %s.Arn: resource type %v is not supported", id, typ)
}
