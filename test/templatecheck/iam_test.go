package templatecheck

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/athenausage/athena-usage/test/internal/samtemplate"
)

// statement is one IAM policy statement, flattened.
type statement struct {
	where        string
	effect       string
	actions      []string
	resources    []string
	anyPrincipal bool
	condition    map[string]any
	// not lists the NotAction, NotResource or NotPrincipal keys the statement uses.
	not []string
}

// parsePolicy flattens a policy document; where names it in messages.
func parsePolicy(where string, doc any) ([]statement, []error) {
	m, ok := doc.(map[string]any)
	if !ok {
		return nil, []error{fmt.Errorf("%s: policy document is %T, not an object", where, doc)}
	}
	raw := m["Statement"]
	list, ok := raw.([]any)
	if !ok {
		list = []any{raw}
	}
	var out []statement
	var errs []error
	for i, e := range list {
		sm, ok := e.(map[string]any)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: statement %d is %T, not an object", where, i, e))
			continue
		}
		st := statement{where: fmt.Sprintf("%s statement %d", where, i)}
		if sid, ok := sm["Sid"].(string); ok {
			st.where = fmt.Sprintf("%s statement %s", where, sid)
		}
		st.effect, _ = sm["Effect"].(string)
		st.actions = strings1(sm["Action"])
		st.resources = strings1(sm["Resource"])
		st.condition, _ = sm["Condition"].(map[string]any)
		switch p := sm["Principal"].(type) {
		case string:
			st.anyPrincipal = p == "*"
		case map[string]any:
			st.anyPrincipal = slices.Contains(strings1(p["AWS"]), "*")
		}
		for _, k := range []string{"NotAction", "NotResource", "NotPrincipal"} {
			if _, ok := sm[k]; ok {
				st.not = append(st.not, k)
			}
		}
		out = append(out, st)
	}
	return out, errs
}

// strings1 reads a string-or-list IAM value.
func strings1(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return nil
}

// roleStatements returns the identity-policy statements each function runs with, by the
// function's logical ID, and those of any other role, by the role's. A function's statements are
// those of the template's role that its Role names: the role's inline Policies and the
// AWS::IAM::Policy, ManagedPolicy and RolePolicy resources attached to it. A function without a
// Role is an error, as SAM then makes a role with AWSLambdaBasicExecutionRole, which allows the
// logs actions on every log group; so are managed policies and SAM policy templates, whose
// statements cannot be checked here.
func roleStatements(s *stack) (map[string][]statement, []error) {
	res, _ := s.tree["Resources"].(map[string]any)
	roles, errs := iamRoles(s, res)
	out := map[string][]statement{}
	used := map[string]bool{}
	for _, id := range sortedKeys(res) {
		if typ, _ := samtemplate.Lookup(res[id], "Type"); typ != "AWS::Serverless::Function" {
			continue
		}
		role, hasRole := samtemplate.Lookup(res[id], "Properties", "Role")
		policies, hasPolicies := samtemplate.Lookup(res[id], "Properties", "Policies")
		if !hasRole {
			errs = append(errs, fmt.Errorf("%s: no Role, so SAM makes one with AWSLambdaBasicExecutionRole, whose logs actions are allowed on every log group; give the function an AWS::IAM::Role of the template", id))
			stmts, perrs := samPolicies(id, policies)
			out[id], errs = stmts, append(errs, perrs...)
			continue
		}
		if hasPolicies {
			errs = append(errs, fmt.Errorf("%s: sets Policies as well as Role; SAM ignores Policies when Role is set", id))
		}
		rid := s.roleID(fmt.Sprint(role))
		if rid == "" {
			errs = append(errs, fmt.Errorf("%s: Role %v is not a role of this template, whose policies the checks could read", id, role))
			continue
		}
		out[id], used[rid] = roles[rid], true
	}
	for rid, stmts := range roles {
		if !used[rid] {
			out[rid] = stmts
		}
	}
	return out, errs
}

// iamRoles returns the statements of each AWS::IAM::Role of the template, by logical ID.
func iamRoles(s *stack, res map[string]any) (map[string][]statement, []error) {
	roles := map[string][]statement{}
	var errs []error
	add := func(rid, where string, doc any) {
		stmts, perrs := parsePolicy(where, doc)
		roles[rid] = append(roles[rid], stmts...)
		errs = append(errs, perrs...)
	}
	for _, id := range sortedKeys(res) {
		typ, _ := samtemplate.Lookup(res[id], "Type")
		switch typ {
		case "AWS::IAM::Role":
			roles[id] = []statement{}
			p, _ := samtemplate.Lookup(res[id], "Properties", "Policies")
			list, _ := p.([]any)
			for i, e := range list {
				if d, ok := samtemplate.Lookup(e, "PolicyDocument"); ok {
					add(id, fmt.Sprintf("%s policy %d", id, i), d)
				}
			}
			if m, ok := samtemplate.Lookup(res[id], "Properties", "ManagedPolicyArns"); ok {
				errs = append(errs, fmt.Errorf("%s: managed policies %v cannot be checked (AWSLambdaBasicExecutionRole allows the logs actions on every log group); write the statements inline", id, m))
			}
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy":
			d, _ := samtemplate.Lookup(res[id], "Properties", "PolicyDocument")
			names, _ := samtemplate.Lookup(res[id], "Properties", "Roles")
			if n, ok := samtemplate.Lookup(res[id], "Properties", "RoleName"); ok {
				names = []any{n}
			}
			for _, name := range strings1(names) {
				if rid := s.roleID(name); rid != "" {
					add(rid, id+" policy", d)
				} else {
					errs = append(errs, fmt.Errorf("%s: attached to role %s, which is not a role of this template", id, name))
				}
			}
		}
	}
	return roles, errs
}

// samPolicies reads the statements of a serverless function's Policies, for a function whose
// role SAM makes.
func samPolicies(id string, p any) ([]statement, []error) {
	list, ok := p.([]any)
	if !ok && p != nil {
		list = []any{p}
	}
	var out []statement
	var errs []error
	for i, e := range list {
		if m, ok := e.(map[string]any); ok && m["Statement"] != nil {
			stmts, perrs := parsePolicy(fmt.Sprintf("%s policy %d", id, i), m)
			out, errs = append(out, stmts...), append(errs, perrs...)
		} else {
			errs = append(errs, fmt.Errorf("%s: policy %v is a managed policy or SAM policy template, whose statements cannot be checked; write the statements inline", id, e))
		}
	}
	return out, errs
}

// roleID returns the logical ID of the template's role with the given name or ARN, or "".
func (s *stack) roleID(nameOrARN string) string {
	name := nameOrARN[strings.LastIndex(nameOrARN, "/")+1:]
	for _, id := range sortedKeys(s.tmpl.GetAllIAMRoleResources()) {
		if s.names[id] == name {
			return id
		}
	}
	return ""
}

// scopedServices are the services whose statements must name ARNs: all their actions used here
// support resource-level permissions.
var scopedServices = []string{"s3", "glue", "athena", "lambda", "kms", "sts", "logs", "sqs", "sns"}

// checkIAM checks that no statement allows a wildcard action, and that S3, Glue, Athena,
// Lambda, KMS, STS, CloudWatch Logs, SQS and SNS statements name the stack's ARNs rather than "*".
func checkIAM(s *stack) []error {
	roles, errs := roleStatements(s)
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, id := range sortedKeys(s.tmpl.GetAllServerlessFunctionResources()) {
		if len(roles[id]) == 0 {
			add("%s: no inline policy statements", id)
		}
	}
	for _, id := range sortedKeys(roles) {
		for _, st := range roles[id] {
			if st.effect != "Allow" {
				continue
			}
			if len(st.not) > 0 {
				add("%s: uses %s, which grants everything not listed", st.where, strings.Join(st.not, ", "))
			}
			services := map[string]bool{}
			for _, a := range st.actions {
				if strings.ContainsAny(a, "*?") {
					add("%s: action %q has a wildcard; list the actions", st.where, a)
				}
				svc, _, _ := strings.Cut(a, ":")
				services[strings.ToLower(svc)] = true
			}
			if len(st.actions) == 0 {
				add("%s: no actions", st.where)
			}
			for svc := range services {
				if !slices.Contains(scopedServices, svc) {
					continue
				}
				if len(services) > 1 {
					add("%s: mixes %s actions with other services; one service per statement keeps the resources exact", st.where, svc)
				}
				for _, r := range st.resources {
					if err := checkARN(svc, r, st.actions); err != nil {
						add("%s: %v", st.where, err)
					}
				}
			}
		}
	}
	return errs
}

// arnService is the service an action's resources belong to, where it is not the action's own.
var arnService = map[string]string{"sts": "iam"}

// checkARN checks that a resource of a service's statement (with the given actions) names that
// service's resources in the stack's account, without a wildcard bucket, database, function,
// key, role, queue or log group. Two resources may be in another account: a KMS key, which an organization's
// trail often has in its management or log archive account, and the lookup's role in each
// member account (see checkAssumeRoleARN).
func checkARN(service, arn string, actions []string) error {
	if arn == "*" {
		return fmt.Errorf("resource \"*\" for %s actions; name the ARNs", service)
	}
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] != standInPartition {
		return fmt.Errorf("resource %q is not an ARN", arn)
	}
	want := service
	if s, ok := arnService[service]; ok {
		want = s
	}
	if parts[2] != want {
		return fmt.Errorf("resource %q is not a %s ARN", arn, want)
	}
	switch service {
	case "s3":
		bucket, _, _ := strings.Cut(parts[5], "/")
		if bucket == "" || strings.ContainsAny(bucket, "*?") {
			return fmt.Errorf("resource %q: bucket %q is not one named bucket", arn, bucket)
		}
		return nil
	case "kms":
		kind, id, _ := strings.Cut(parts[5], "/")
		if kind != "key" || id == "" || strings.ContainsAny(arn, "*?") {
			return fmt.Errorf("resource %q: not one named KMS key", arn)
		}
		return nil
	case "sts":
		return checkAssumeRoleARN(arn, parts, actions)
	}
	if parts[4] != standInAccount {
		return fmt.Errorf("resource %q: account %q, want the stack's account", arn, parts[4])
	}
	kind, name, _ := strings.Cut(strings.ReplaceAll(parts[5], ":", "/"), "/")
	switch {
	case kind == "" || strings.ContainsAny(kind, "*?"):
		return fmt.Errorf("resource %q: no resource type", arn)
	case service == "lambda" && strings.ContainsAny(name, "*?"):
		return fmt.Errorf("resource %q: not one named function", arn)
	case service == "glue" && kind == "database" && strings.ContainsAny(name, "*?"):
		return fmt.Errorf("resource %q: not one named database", arn)
	case service == "glue" && kind == "table" && strings.ContainsAny(strings.Split(name, "/")[0], "*?"):
		return fmt.Errorf("resource %q: tables of any database", arn)
	case service == "sqs" && strings.ContainsAny(parts[5], "*?"):
		return fmt.Errorf("resource %q: not one named queue", arn)
	case service == "sns" && strings.ContainsAny(parts[5], "*?"):
		return fmt.Errorf("resource %q: not one named topic", arn)
	case service == "logs":
		// log-group:<name>, or log-group:<name>:* for its streams.
		group, _, _ := strings.Cut(strings.TrimPrefix(parts[5], "log-group:"), ":")
		if !strings.HasPrefix(parts[5], "log-group:") || group == "" || strings.ContainsAny(group, "*?") {
			return fmt.Errorf("resource %q: not one named log group", arn)
		}
	}
	return nil
}

// checkAssumeRoleARN checks the resource of an STS statement: one named role without a path.
// Its account may be "*" for sts:AssumeRole alone, and only there: the lookup assumes the same
// role in every member account of an organization trail, whose accounts change as the
// organization does, and the role's own trust policy in each account (which names the
// lookup's role) is what limits who may assume it.
func checkAssumeRoleARN(arn string, parts []string, actions []string) error {
	kind, name, _ := strings.Cut(parts[5], "/")
	if kind != "role" || name == "" || strings.ContainsAny(name, "*?/") {
		return fmt.Errorf("resource %q: not one named role without a path", arn)
	}
	if parts[3] != "" {
		return fmt.Errorf("resource %q: IAM ARNs have no region", arn)
	}
	switch {
	case parts[4] == standInAccount:
		return nil
	case parts[4] == "*" && slices.Equal(actions, []string{"sts:AssumeRole"}):
		return nil
	case parts[4] == "*":
		return fmt.Errorf("resource %q: a role in any account is allowed for sts:AssumeRole alone, not %v", arn, actions)
	}
	return fmt.Errorf("resource %q: account %q, want the stack's account or, for sts:AssumeRole, \"*\"", arn, parts[4])
}

// allowedWith reports whether the statements allow action on resource for a request that
// carries the condition keys in keys: some Allow matches and its conditions hold, and no Deny
// matches. A condition the evaluator cannot read never lets an Allow through and always lets
// a Deny apply, so that it errs towards refusing.
func allowedWith(stmts []statement, action, resource string, keys map[string]string) bool {
	ok := false
	for _, st := range stmts {
		if len(st.not) > 0 || !matchesAnyFold(st.actions, action) || !matchesAny(st.resources, resource) {
			continue
		}
		holds, known := conditionHolds(st.condition, keys)
		switch st.effect {
		case "Deny":
			if holds || !known {
				return false
			}
		case "Allow":
			ok = ok || holds && known
		}
	}
	return ok
}

// conditionHolds evaluates a Condition block against a request's keys: every operator and key
// must hold, a key with several values holds when one matches, and a key the request lacks
// does not hold. known is false for an operator other than the few read here.
func conditionHolds(cond map[string]any, keys map[string]string) (holds, known bool) {
	holds = true
	for op, block := range cond {
		m, ok := block.(map[string]any)
		if !ok {
			return false, false
		}
		var match func(pattern, value string) bool
		switch op {
		case "StringEquals", "ArnEquals":
			match = func(p, v string) bool { return p == v }
		case "StringLike", "ArnLike":
			match = func(p, v string) bool { return glob(p, false).MatchString(v) }
		case "Bool":
			match = strings.EqualFold
		default:
			return false, false
		}
		for key, want := range m {
			values := strings1(want)
			if values == nil {
				values = []string{fmt.Sprint(want)} // a bare true, false or number
			}
			got, present := lookupFold(keys, key)
			if !present || !slices.ContainsFunc(values, func(p string) bool { return match(p, got) }) {
				holds = false
			}
		}
	}
	return holds, true
}

// lookupFold finds a condition key, whose name IAM compares without case.
func lookupFold(keys map[string]string, key string) (string, bool) {
	for k, v := range keys {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}

func matchesAny(patterns []string, s string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return glob(p, false).MatchString(s) })
}

func matchesAnyFold(patterns []string, s string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return glob(p, true).MatchString(s) })
}

// globs caches compiled patterns: the access checks match the same few thousand times.
var globs sync.Map // globKey -> *regexp.Regexp

type globKey struct {
	pattern string
	fold    bool
}

// glob compiles an IAM pattern, where * matches any run of characters and ? any one.
func glob(p string, fold bool) *regexp.Regexp {
	if re, ok := globs.Load(globKey{p, fold}); ok {
		return re.(*regexp.Regexp)
	}
	re := compileGlob(p, fold)
	globs.Store(globKey{p, fold}, re)
	return re
}

func compileGlob(p string, fold bool) *regexp.Regexp {
	q := regexp.QuoteMeta(p)
	q = strings.ReplaceAll(q, `\*`, `.*`)
	q = strings.ReplaceAll(q, `\?`, `.`)
	if fold {
		q = "(?i)" + q
	}
	return regexp.MustCompile("^" + q + "$")
}
