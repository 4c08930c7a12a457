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
}

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
	return r.fail("%s is not supported by samtemplate's resolver", name)
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
	}
	if v, ok := r.v.Names[name]; ok {
		return v
	}
	if p, ok := Lookup(r.root, "Parameters", name); ok {
		return r.param(name, p)
	}
	if res, ok := Lookup(r.root, "Resources", name); ok {
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
	}
	return generated
}

func (r *resolver) getAtt(id, attr string) any {
	res, ok := Lookup(r.root, "Resources", id)
	if !ok {
		return r.fail("Fn::GetAtt %s.%s: no such resource", id, attr)
	}
	if attr != "Arn" {
		return r.fail("Fn::GetAtt %s.%s: only Arn is supported", id, attr)
	}
	name := fmt.Sprint(r.resourceName(id, res))
	if strings.HasPrefix(name, Unresolved) {
		return name
	}
	prefix := "arn:" + r.v.Partition + ":"
	regional := func(service string) string {
		return prefix + service + ":" + r.v.Region + ":" + r.v.AccountID + ":"
	}
	typ, _ := Lookup(res, "Type")
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
