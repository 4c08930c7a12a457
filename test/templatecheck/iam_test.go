package templatecheck

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/config"
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

// roleStatements returns the identity-policy statements of each function and IAM resource.
// Managed policies and SAM policy templates are errors: their statements cannot be checked here.
func roleStatements(s *stack) (map[string][]statement, []error) {
	out := map[string][]statement{}
	var errs []error
	res, _ := s.tree["Resources"].(map[string]any)
	for _, id := range sortedKeys(res) {
		typ, _ := samtemplate.Lookup(res[id], "Type")
		var docs []any
		switch typ {
		case "AWS::Serverless::Function":
			p, _ := samtemplate.Lookup(res[id], "Properties", "Policies")
			list, ok := p.([]any)
			if !ok && p != nil {
				list = []any{p}
			}
			for _, e := range list {
				if m, ok := e.(map[string]any); ok && m["Statement"] != nil {
					docs = append(docs, m)
				} else {
					errs = append(errs, fmt.Errorf("%s: policy %v is a managed policy or SAM policy template, whose statements cannot be checked; write the statements inline", id, e))
				}
			}
			if r, ok := samtemplate.Lookup(res[id], "Properties", "Role"); ok {
				errs = append(errs, fmt.Errorf("%s: uses role %v; the check expects SAM to make the role from inline Policies", id, r))
			}
		case "AWS::IAM::Role":
			p, _ := samtemplate.Lookup(res[id], "Properties", "Policies")
			list, _ := p.([]any)
			for _, e := range list {
				if d, ok := samtemplate.Lookup(e, "PolicyDocument"); ok {
					docs = append(docs, d)
				}
			}
			if m, ok := samtemplate.Lookup(res[id], "Properties", "ManagedPolicyArns"); ok {
				errs = append(errs, fmt.Errorf("%s: managed policies %v cannot be checked; write the statements inline", id, m))
			}
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy":
			if d, ok := samtemplate.Lookup(res[id], "Properties", "PolicyDocument"); ok {
				docs = append(docs, d)
			}
		}
		for i, d := range docs {
			stmts, perrs := parsePolicy(fmt.Sprintf("%s policy %d", id, i), d)
			out[id] = append(out[id], stmts...)
			errs = append(errs, perrs...)
		}
	}
	return out, errs
}

// scopedServices are the services whose statements must name ARNs: all their actions used here
// support resource-level permissions.
var scopedServices = []string{"s3", "glue", "athena", "lambda", "kms", "sts"}

// checkIAM checks that no statement allows a wildcard action, and that S3, Glue, Athena,
// Lambda, KMS and STS statements name the stack's ARNs rather than "*".
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
// key or role. Two resources may be in another account: a KMS key, which an organization's
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

// allowed reports whether the statements allow action on resource for a request without
// condition keys; see allowedWith.
func allowed(stmts []statement, action, resource string) bool {
	return allowedWith(stmts, action, resource, nil)
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

// access is one permission a function needs, or must not have.
type access struct {
	action, resource string
	want             bool
}

// sampleDay is a day whose keys the access checks use.
var sampleDay = time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)

// checkAccess checks, with the functions' own configuration, that each role allows what its
// function does (the Athena workgroup, the Glue tables, the CloudTrail objects, the results
// and data keys, the invocations) and no writes where the function only reads.
func checkAccess(s *stack) []error {
	roles, _ := roleStatements(s)
	var errs []error
	check := func(id string, want []access) {
		for _, a := range want {
			if got := allowed(roles[id], a.action, a.resource); got != a.want {
				errs = append(errs, fmt.Errorf("%s: allowed(%s, %s) = %v, want %v", id, a.action, a.resource, got, a.want))
			}
		}
	}
	regional := func(service string) string {
		return "arn:" + standInPartition + ":" + service + ":" + standInRegion + ":" + standInAccount + ":"
	}
	s3ARN := func(bucket, key string) string { return "arn:" + standInPartition + ":s3:::" + bucket + key }

	if c, _, err := s.loadConfig("ExtractFunction"); err != nil {
		errs = append(errs, fmt.Errorf("access checks: %w", err))
	} else {
		cfg := c.(config.Extract)
		var want []access
		wg := regional("athena") + "workgroup/" + cfg.Workgroup
		for _, a := range []string{"athena:StartQueryExecution", "athena:GetQueryExecution", "athena:StopQueryExecution"} {
			want = append(want, access{a, wg, true})
		}
		catalog := regional("glue") + "catalog"
		db := regional("glue") + "database/" + cfg.Database
		// Athena requires both on the default database too, which it creates where it is missing.
		for _, a := range []string{"glue:GetDatabase", "glue:CreateDatabase"} {
			want = append(want, access{a, catalog, true}, access{a, db, true},
				access{a, regional("glue") + "database/default", true})
		}
		// DROP TABLE of a partitioned table reads and deletes its partitions first.
		for _, table := range []string{athenasql.CloudTrailTable, athenasql.QueriesTable, athenasql.APIOutputTable} {
			for _, a := range []string{"glue:GetPartition", "glue:GetPartitions", "glue:DeletePartition", "glue:BatchDeletePartition"} {
				want = append(want, access{a, catalog, true}, access{a, db, true},
					access{a, regional("glue") + "table/" + cfg.Database + "/" + table, true})
			}
		}
		for _, table := range []string{athenasql.CloudTrailTable, athenasql.QueriesTable, athenasql.APIOutputTable,
			athenasql.UsageView, athenasql.FailedSubmissionsView, athenasql.UsageDailyView} {
			for _, a := range []string{"glue:GetTable", "glue:CreateTable", "glue:DeleteTable", "glue:UpdateTable", "glue:GetPartitions"} {
				want = append(want, access{a, catalog, true}, access{a, db, true},
					access{a, regional("glue") + "table/" + cfg.Database + "/" + table, true})
			}
		}
		want = append(want, access{"glue:DeleteTable", regional("glue") + "table/default/" + athenasql.CloudTrailTable, false})

		root := strings.TrimPrefix(athenasql.FromConfig(cfg).CloudTrailRoot(), "s3://")
		for _, acct := range cfg.Accounts {
			for _, region := range cfg.Regions {
				obj := "arn:" + standInPartition + ":s3:::" + root + acct + "/CloudTrail/" + region + "/2024/03/05/" +
					acct + "_CloudTrail_" + region + "_20240305T0005Z_abcdefgh.json.gz"
				want = append(want, access{"s3:GetObject", obj, true}, access{"s3:PutObject", obj, false},
					access{"s3:DeleteObject", obj, false})
			}
		}
		for _, a := range []string{"s3:ListBucket", "s3:GetBucketLocation"} {
			want = append(want, access{a, s3ARN(cfg.CloudTrailBucket, ""), true})
		}
		errs = append(errs, s.checkKMS(roles["ExtractFunction"])...)

		if loc, ok := s.outputLocation(cfg.Workgroup); !ok {
			errs = append(errs, fmt.Errorf("ExtractFunction: workgroup %s of ATHENA_WORKGROUP has no OutputLocation in the template", cfg.Workgroup))
		} else {
			bucket, prefix, _ := strings.Cut(strings.TrimPrefix(loc, "s3://"), "/")
			for _, key := range []string{"/" + prefix + "0f8a3c2e-1b2d-4e5f-8a9b-0c1d2e3f4a5b.csv", "/" + prefix + "0f8a3c2e-1b2d-4e5f-8a9b-0c1d2e3f4a5b.csv.metadata"} {
				for _, a := range []string{"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"} {
					want = append(want, access{a, s3ARN(bucket, key), true})
				}
			}
			for _, a := range []string{"s3:ListBucket", "s3:GetBucketLocation"} {
				want = append(want, access{a, s3ARN(bucket, ""), true})
			}
		}
		queries := s3ARN(cfg.DataBucket, "/"+athenasql.QueriesKey(cfg.DataPrefix, sampleDay))
		want = append(want, access{"s3:PutObject", queries, true}, access{"s3:GetObject", queries, true})
		lookupARN := cfg.LookupFunction
		if !strings.HasPrefix(lookupARN, "arn:") {
			lookupARN = regional("lambda") + "function:" + lookupARN
		}
		want = append(want, access{"lambda:InvokeFunction", lookupARN, true})
		want = append(want, s.invokeSelf("ExtractFunction", &errs)...)
		check("ExtractFunction", want)
	}

	if c, _, err := s.loadConfig("LookupFunction"); err != nil {
		errs = append(errs, fmt.Errorf("access checks: %w", err))
	} else {
		cfg := c.(config.Lookup)
		var want []access
		for _, wg := range []string{
			regional("athena") + "workgroup/primary",
			"arn:" + standInPartition + ":athena:eu-west-1:" + standInAccount + ":workgroup/analysts",
		} {
			want = append(want, access{"athena:BatchGetQueryExecution", wg, true},
				access{"athena:StartQueryExecution", wg, false})
		}
		queries := s3ARN(cfg.DataBucket, "/"+athenasql.QueriesKey(cfg.DataPrefix, sampleDay))
		want = append(want, access{"s3:GetObject", queries, true}, access{"s3:PutObject", queries, false},
			access{"s3:DeleteObject", queries, false})
		part := s3ARN(cfg.DataBucket, "/"+athenasql.PartKey(cfg.DataPrefix, sampleDay, 0))
		for _, a := range []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"} {
			want = append(want, access{a, part, true})
		}
		want = append(want, access{"s3:ListBucket", s3ARN(cfg.DataBucket, ""), true})
		if cfg.RoleName != "" {
			role := func(account, name string) string {
				return "arn:" + standInPartition + ":iam::" + account + ":role/" + name
			}
			for _, acct := range []string{"111111111111", "222222222222"} {
				want = append(want, access{"sts:AssumeRole", role(acct, cfg.RoleName), true},
					access{"sts:AssumeRole", role(acct, "OrganizationAccountAccessRole"), false})
			}
		}
		want = append(want, s.invokeSelf("LookupFunction", &errs)...)
		check("LookupFunction", want)
	}
	return errs
}

// checkKMS checks the extract's grant on the trail's KMS key, when CloudTrailKmsKeyArn is set:
// kms:Decrypt on that key alone, and only in the requests S3 makes for the role, which is how
// Athena's reads of the trail reach KMS.
func (s *stack) checkKMS(stmts []statement) []error {
	key := s.params[paramKMSKey]
	if key == "" {
		return nil
	}
	viaS3 := map[string]string{"kms:ViaService": "s3." + standInRegion + ".amazonaws.com"}
	other := key[:strings.LastIndex(key, "/")+1] + "0000aaaa-00aa-00aa-00aa-000000aaaaaa"
	want := []struct {
		action, resource string
		keys             map[string]string
		want             bool
	}{
		{"kms:Decrypt", key, viaS3, true},
		{"kms:Decrypt", key, nil, false},
		{"kms:Decrypt", key, map[string]string{"kms:ViaService": "athena." + standInRegion + ".amazonaws.com"}, false},
		{"kms:Decrypt", other, viaS3, false},
		{"kms:Encrypt", key, viaS3, false},
		{"kms:GenerateDataKey", key, viaS3, false},
	}
	var errs []error
	for _, a := range want {
		if got := allowedWith(stmts, a.action, a.resource, a.keys); got != a.want {
			errs = append(errs, fmt.Errorf("ExtractFunction: allowed(%s, %s, %v) = %v, want %v", a.action, a.resource, a.keys, got, a.want))
		}
	}
	return errs
}

// optionalGrants are the services whose grants exist only when a parameter is set.
var optionalGrants = map[string]string{"kms": paramKMSKey, "sts": paramLookupRoleName}

// checkOptionalGrants checks that no role has a KMS or STS grant while the parameter that asks
// for it is empty: the template must guard those statements with their conditions.
func checkOptionalGrants(s *stack) []error {
	roles, _ := roleStatements(s)
	var errs []error
	for _, id := range sortedKeys(roles) {
		for _, st := range roles[id] {
			for _, a := range st.actions {
				svc, _, _ := strings.Cut(strings.ToLower(a), ":")
				if p, ok := optionalGrants[svc]; ok && s.params[p] == "" && st.effect == "Allow" {
					errs = append(errs, fmt.Errorf("%s: grants %s although %s is empty", st.where, a, p))
				}
			}
		}
	}
	return errs
}

// invokeSelf is the permission a function needs to continue its work in a new invocation of
// itself. Its policy can name its own ARN only through a fixed FunctionName: a GetAtt of the
// function in its own role would be a circular reference.
func (s *stack) invokeSelf(id string, errs *[]error) []access {
	fn := s.tmpl.GetAllServerlessFunctionResources()[id]
	if fn == nil || fn.FunctionName == nil {
		*errs = append(*errs, fmt.Errorf("%s: no fixed FunctionName, so its policy cannot name its own ARN to invoke itself", id))
		return nil
	}
	arn := "arn:" + standInPartition + ":lambda:" + standInRegion + ":" + standInAccount + ":function:" + *fn.FunctionName
	return []access{{"lambda:InvokeFunction", arn, true}}
}

// outputLocation returns the result location of the template's workgroup with the given name.
func (s *stack) outputLocation(workgroup string) (string, bool) {
	for id, wg := range s.tmpl.GetAllAthenaWorkGroupResources() {
		c := wg.WorkGroupConfiguration
		if s.names[id] != workgroup || c == nil || c.ResultConfiguration == nil || c.ResultConfiguration.OutputLocation == nil {
			continue
		}
		return *c.ResultConfiguration.OutputLocation, true
	}
	return "", false
}
