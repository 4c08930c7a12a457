package templatecheck

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/awslabs/goformation/v7/cloudformation/global"
	"github.com/awslabs/goformation/v7/cloudformation/s3"
	"github.com/awslabs/goformation/v7/cloudformation/serverless"

	"github.com/athenausage/athena-usage/pkg/config"
)

// Lambda settings every function shares: a Go binary named bootstrap on Graviton.
const (
	wantHandler = "bootstrap"
	wantRuntime = "provided.al2023"
	wantArch    = "arm64"
	wantCodeURI = "."
)

// loaders maps each function's logical ID to the config loader its main calls; the returned
// value is the loaded configuration.
var loaders = map[string]func(config.Getenv) (any, error){
	"ExtractFunction": func(g config.Getenv) (any, error) { return config.LoadExtract(g) },
	"LookupFunction":  func(g config.Getenv) (any, error) { return config.LoadLookup(g) },
	"AlertFunction":   func(g config.Getenv) (any, error) { return config.LoadAlert(g) },
}

// knownEnv is every variable pkg/config defines.
var knownEnv = []string{
	config.EnvDatabase, config.EnvWorkgroup, config.EnvDataBucket, config.EnvDataPrefix,
	config.EnvCloudTrailBucket, config.EnvCloudTrailPrefix, config.EnvOrgID, config.EnvAccounts,
	config.EnvRegions, config.EnvProjectionStart, config.EnvPricePerTB, config.EnvLookupFunction, config.EnvLateDays,
	config.EnvLookupRate, config.EnvLookupHeadroom, config.EnvLookupConcurrency, config.EnvLookupPartSize,
	config.EnvLookupMaxAttempts, config.EnvAccountID, config.EnvLookupRoleName, config.EnvRegion,
	config.EnvPartition, config.EnvAlertFunction, config.EnvAlertTopic, config.EnvAlertThreshold,
	config.EnvAlertRatio, config.EnvAlertMinCost, config.EnvStackName,
}

// maxEventAge is the longest, and default, time in seconds Lambda keeps an asynchronous event.
const maxEventAge = 21600

// reservedEnv are variables Lambda sets itself and refuses in a function's configuration.
var reservedEnv = []string{
	"_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
	"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
	"AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
	"AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
}

// globalFunction returns the template's Globals.Function, or an empty one.
func (s *stack) globalFunction() *global.Function {
	if g, err := s.tmpl.GetServerlessGlobalFunction(); err == nil {
		return g
	}
	return &global.Function{}
}

// loadConfig runs a function's config loader on its environment plus what Lambda sets, and
// returns the configuration and the variables the loader read.
func (s *stack) loadConfig(id string) (any, map[string]bool, error) {
	fn, ok := s.fns[id]
	if !ok {
		return nil, nil, fmt.Errorf("%s: no such function in the template", id)
	}
	loader, ok := loaders[id]
	if !ok {
		return nil, nil, fmt.Errorf("%s: no config loader is known for this function; add it to loaders", id)
	}
	vars := fn.Env
	read := map[string]bool{}
	getenv := func(name string) string {
		read[name] = true
		if name == config.EnvRegion {
			return standInRegion
		}
		return vars[name]
	}
	c, err := loader(getenv)
	return c, read, err
}

// checkFunctions checks each function's runtime settings and that its environment satisfies
// its config loader.
func checkFunctions(s *stack) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	fns := s.tmpl.GetAllServerlessFunctionResources()
	for id := range loaders {
		if _, ok := fns[id]; !ok {
			add("%s: missing from the template", id)
		}
	}
	g := s.globalFunction()
	for _, id := range sortedKeys(fns) {
		fn := fns[id]
		if got := firstString(fn.Handler, g.Handler); got != wantHandler {
			add("%s: Handler = %q, want %q", id, got, wantHandler)
		}
		if got := firstString(fn.Runtime, g.Runtime); got != wantRuntime {
			add("%s: Runtime = %q, want %q", id, got, wantRuntime)
		}
		arch := fn.Architectures
		if arch == nil && g.Architectures != nil {
			arch = *g.Architectures
		}
		if !slices.Equal(arch, []string{wantArch}) {
			add("%s: Architectures = %v, want [%s]", id, arch, wantArch)
		}
		code := fn.CodeUri
		if code == nil {
			code = g.CodeUri
		}
		if code == nil || code.String == nil || *code.String != wantCodeURI {
			add("%s: CodeUri is not %q, where the Makefile and go.mod are", id, wantCodeURI)
		}
		if got := fn.AWSCloudFormationMetadata["BuildMethod"]; got != "makefile" {
			add("%s: Metadata.BuildMethod = %v, want makefile", id, got)
		}
		errs = append(errs, checkConcurrency(s, id, fn, g)...)
		errs = append(errs, checkFailureDestination(s, id, fn)...)

		vars := s.fns[id].Env
		for _, k := range sortedKeys(vars) {
			if slices.Contains(reservedEnv, k) {
				add("%s: sets %s, which Lambda reserves", id, k)
			} else if !slices.Contains(knownEnv, k) {
				add("%s: sets %s, which is not one of pkg/config's Env constants", id, k)
			}
		}
		if _, ok := loaders[id]; !ok {
			add("%s: no config loader is known for this function; add it to loaders", id)
			continue
		}
		c, read, err := s.loadConfig(id)
		if err != nil {
			add("%s: config loader rejects the template's environment: %w", id, err)
		}
		// The loader checks only the form of these; what they must be comes from the stack.
		if l, ok := c.(config.Lookup); ok && err == nil {
			if l.AccountID != standInAccount {
				add("%s: %s = %q, want the stack's own account (!Ref AWS::AccountId)", id, config.EnvAccountID, l.AccountID)
			}
			if l.Partition != standInPartition {
				add("%s: %s = %q, want the stack's own partition (!Ref AWS::Partition)", id, config.EnvPartition, l.Partition)
			}
			if want := s.params[paramLookupRoleName]; l.RoleName != want {
				add("%s: %s = %q, want the %s parameter, %q", id, config.EnvLookupRoleName, l.RoleName, paramLookupRoleName, want)
			}
		}
		for _, k := range sortedKeys(vars) {
			if !read[k] && slices.Contains(knownEnv, k) {
				add("%s: sets %s, which its config loader never reads", id, k)
			}
		}
	}
	return errs
}

// reservedConcurrency returns a function's ReservedConcurrentExecutions, or nil.
func reservedConcurrency(fn *serverless.Function, g *global.Function) *int {
	if fn.ReservedConcurrentExecutions != nil {
		return fn.ReservedConcurrentExecutions
	}
	return g.ReservedConcurrentExecutions
}

// checkConcurrency checks a function's reserved concurrency against the ReservedConcurrency
// parameter. With 1, one lookup at a time keeps the sum of the invocations' rate limiters under
// BatchGetQueryExecution's shared quota, and one extract at a time keeps two runs from racing on
// the DROP and CREATE of the tables; the other events wait in Lambda's asynchronous queue.
// With 0, nothing is reserved, so that the stack deploys in any account (checkNewAccount).
func checkConcurrency(s *stack, id string, fn *serverless.Function, g *global.Function) []error {
	rc := reservedConcurrency(fn, g)
	switch want := s.param(paramReservedConcurrency); {
	case want == "1" && (rc == nil || *rc != 1):
		return []error{fmt.Errorf("%s: ReservedConcurrentExecutions is not 1 with %s 1: concurrent invocations would exceed the lookup quota or race on the tables' DDL", id, paramReservedConcurrency)}
	case want != "1" && rc != nil:
		return []error{fmt.Errorf("%s: ReservedConcurrentExecutions is %d with %s %s, want none", id, *rc, paramReservedConcurrency, want)}
	}
	return nil
}

// checkNewAccount checks that the stack deploys in an account whose concurrency quota is still a
// new account's 10: with the parameters at their defaults, no function reserves concurrency, as
// Lambda keeps 100 of the account's concurrency unreserved and refuses a reservation that would
// leave less.
func checkNewAccount(s *stack) []error {
	d, err := loadWith(s.raw, paramStandIns)
	if err != nil {
		return []error{fmt.Errorf("load with the parameters at their defaults: %w", err)}
	}
	var errs []error
	fns := d.tmpl.GetAllServerlessFunctionResources()
	for _, id := range sortedKeys(fns) {
		switch rc := reservedConcurrency(fns[id], d.globalFunction()); {
		case rc == nil:
		case *rc == 0:
			errs = append(errs, fmt.Errorf("%s: ReservedConcurrentExecutions is 0 with the parameters at their defaults, which throttles every invocation", id))
		default:
			errs = append(errs, fmt.Errorf("%s: reserves a concurrency of %d with the parameters at their defaults: Lambda keeps 100 of the account's concurrency unreserved, so an account with a new account's quota of 10 cannot create the stack", id, *rc))
		}
	}
	return errs
}

// checkLogGroups checks that each function logs to a log group of the template that has a
// retention, the one its role may write to. A group the template lacks, Lambda would create on
// the first invocation, with no retention.
func checkLogGroups(s *stack) []error {
	groups := map[string]string{}
	for id := range s.tmpl.GetAllLogsLogGroupResources() {
		groups[s.names[id]] = id
	}
	var errs []error
	for _, id := range sortedKeys(s.tmpl.GetAllServerlessFunctionResources()) {
		name := s.logGroupName(id)
		gid, ok := groups[name]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: logs to %s, which is not a log group of this template: Lambda would create it, keeping the logs forever", id, name))
			continue
		}
		if s.tmpl.GetAllLogsLogGroupResources()[gid].RetentionInDays == nil {
			errs = append(errs, fmt.Errorf("%s: log group %s has no RetentionInDays: its logs would be kept forever", id, gid))
		}
	}
	return errs
}

// checkFailureDestination checks that failed asynchronous invocations go to an encrypted queue.
func checkFailureDestination(s *stack, id string, fn *serverless.Function) []error {
	c := fn.EventInvokeConfig
	if c == nil || c.DestinationConfig == nil || c.DestinationConfig.OnFailure == nil {
		return []error{fmt.Errorf("%s: no EventInvokeConfig.DestinationConfig.OnFailure for failed async invokes", id)}
	}
	var errs []error
	if c.MaximumRetryAttempts == nil || *c.MaximumRetryAttempts != 2 {
		errs = append(errs, fmt.Errorf("%s: EventInvokeConfig.MaximumRetryAttempts is not 2", id))
	}
	// Behind a reserved concurrency of 1, a backfill's events wait their turn in the queue; an
	// age limit under Lambda's maximum would send waiting days to the failure queue sooner.
	if a := c.MaximumEventAgeInSeconds; a != nil && *a < maxEventAge {
		errs = append(errs, fmt.Errorf("%s: EventInvokeConfig.MaximumEventAgeInSeconds is %d, want Lambda's maximum, %d: queued days would expire", id, *a, maxEventAge))
	}
	dest := c.DestinationConfig.OnFailure
	if dest.Type == nil || *dest.Type != "SQS" {
		return append(errs, fmt.Errorf("%s: OnFailure destination type is not SQS", id))
	}
	for qid, q := range s.tmpl.GetAllSQSQueueResources() {
		if !strings.HasSuffix(dest.Destination, ":"+s.names[qid][strings.LastIndex(s.names[qid], "/")+1:]) {
			continue
		}
		if (q.SqsManagedSseEnabled == nil || !*q.SqsManagedSseEnabled) && q.KmsMasterKeyId == nil {
			errs = append(errs, fmt.Errorf("%s: OnFailure queue %s is not encrypted", id, qid))
		}
		return errs
	}
	return append(errs, fmt.Errorf("%s: OnFailure destination %s is not a queue of this template", id, dest.Destination))
}

func firstString(ptrs ...*string) string {
	for _, p := range ptrs {
		if p != nil {
			return *p
		}
	}
	return ""
}

// checkBuckets checks that every bucket blocks public access, encrypts, and has a policy that
// denies requests without TLS.
func checkBuckets(s *stack) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	policies := s.tmpl.GetAllS3BucketPolicyResources()
	buckets := s.tmpl.GetAllS3BucketResources()
	if len(buckets) == 0 {
		add("no buckets in the template")
	}
	for _, id := range sortedKeys(buckets) {
		b := buckets[id]
		enc := b.BucketEncryption
		if enc == nil || len(enc.ServerSideEncryptionConfiguration) == 0 {
			add("%s: does not encrypt (no BucketEncryption)", id)
		} else {
			for _, rule := range enc.ServerSideEncryptionConfiguration {
				d := rule.ServerSideEncryptionByDefault
				if d == nil || !slices.Contains([]string{"AES256", "aws:kms", "aws:kms:dsse"}, d.SSEAlgorithm) {
					add("%s: does not encrypt by default (SSEAlgorithm unset)", id)
				}
			}
		}
		p := b.PublicAccessBlockConfiguration
		if p == nil {
			add("%s: no PublicAccessBlockConfiguration", id)
		} else {
			for name, v := range map[string]*bool{
				"BlockPublicAcls": p.BlockPublicAcls, "BlockPublicPolicy": p.BlockPublicPolicy,
				"IgnorePublicAcls": p.IgnorePublicAcls, "RestrictPublicBuckets": p.RestrictPublicBuckets,
			} {
				if v == nil || !*v {
					add("%s: public access block %s is not true", id, name)
				}
			}
		}
		name := s.names[id]
		arn := "arn:" + standInPartition + ":s3:::" + name
		denied := false
		for _, pid := range sortedKeys(policies) {
			if policies[pid].Bucket != name {
				continue
			}
			stmts, perrs := parsePolicy(pid, policies[pid].PolicyDocument)
			errs = append(errs, perrs...)
			for _, st := range stmts {
				if deniesInsecureTransport(st, arn) {
					denied = true
				}
			}
		}
		if !denied {
			add("%s: no bucket policy denies requests with aws:SecureTransport false on the bucket and its objects", id)
		}
	}
	return errs
}

// deniesInsecureTransport reports whether a statement denies everyone every S3 action on the
// bucket and its objects when the request does not use TLS.
func deniesInsecureTransport(st statement, bucketARN string) bool {
	if st.effect != "Deny" || !st.anyPrincipal || len(st.not) > 0 {
		return false
	}
	if !slices.Contains(st.actions, "s3:*") && !slices.Contains(st.actions, "*") {
		return false
	}
	if !matchesAny(st.resources, bucketARN) || !matchesAny(st.resources, bucketARN+"/any/key") {
		return false
	}
	b, ok := st.condition["Bool"].(map[string]any)
	if !ok {
		return false
	}
	switch v := b["aws:SecureTransport"].(type) {
	case string:
		return v == "false"
	case bool:
		return !v
	case []any:
		return len(v) == 1 && fmt.Sprint(v[0]) == "false"
	}
	return false
}

// checkWorkgroups checks that each workgroup enforces its settings and writes encrypted results
// into a bucket of the template under a prefix that expires.
func checkWorkgroups(s *stack) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	wgs := s.tmpl.GetAllAthenaWorkGroupResources()
	if len(wgs) == 0 {
		add("no Athena workgroup in the template")
	}
	for _, id := range sortedKeys(wgs) {
		c := wgs[id].WorkGroupConfiguration
		if c == nil || c.EnforceWorkGroupConfiguration == nil || !*c.EnforceWorkGroupConfiguration {
			add("%s: EnforceWorkGroupConfiguration is not true", id)
		}
		if c == nil || c.ResultConfiguration == nil || c.ResultConfiguration.OutputLocation == nil {
			add("%s: no result OutputLocation", id)
			continue
		}
		if e := c.ResultConfiguration.EncryptionConfiguration; e == nil || e.EncryptionOption == "" {
			add("%s: results are not encrypted", id)
		}
		loc := *c.ResultConfiguration.OutputLocation
		bucket, prefix, _ := strings.Cut(strings.TrimPrefix(loc, "s3://"), "/")
		bid := ""
		for _, b := range sortedKeys(s.tmpl.GetAllS3BucketResources()) {
			if s.names[b] == bucket {
				bid = b
			}
		}
		if bid == "" {
			add("%s: OutputLocation %s is not in a bucket of this template", id, loc)
			continue
		}
		if !expires(s.tmpl.GetAllS3BucketResources()[bid], prefix) {
			add("%s: results under %s do not expire: no enabled lifecycle rule of %s covers %q", id, loc, bid, prefix)
		}
	}
	return errs
}

// expires reports whether an enabled lifecycle rule of the bucket expires every object under
// prefix ("" for the whole bucket).
func expires(b *s3.Bucket, prefix string) bool {
	if b.LifecycleConfiguration == nil {
		return false
	}
	for _, r := range b.LifecycleConfiguration.Rules {
		filtered := len(r.TagFilters) > 0 || r.ObjectSizeGreaterThan != nil || r.ObjectSizeLessThan != nil
		if r.Status == "Enabled" && r.ExpirationInDays != nil && !filtered &&
			(r.Prefix == nil || strings.HasPrefix(prefix, *r.Prefix)) {
			return true
		}
	}
	return false
}

// checkTeardown checks that sam delete can remove the stack. CloudFormation cannot delete a
// bucket that still holds objects (the stack's deletion fails with BucketNotEmpty), so a bucket
// that the functions or Athena write into must be retained; and a retained bucket of scratch
// query results must empty itself, every object expiring (versions too, if it keeps them).
func checkTeardown(s *stack) []error {
	roles, _ := roleStatements(s)
	scratch := map[string]bool{}
	for id := range s.tmpl.GetAllAthenaWorkGroupResources() {
		if loc, ok := s.outputLocation(s.names[id]); ok {
			bucket, _, _ := strings.Cut(strings.TrimPrefix(loc, "s3://"), "/")
			scratch[bucket] = true
		}
	}
	var errs []error
	buckets := s.tmpl.GetAllS3BucketResources()
	for _, id := range sortedKeys(buckets) {
		b, name := buckets[id], s.names[id]
		policy := string(b.AWSCloudFormationDeletionPolicy)
		if policy == "" {
			policy = "Delete"
		}
		retained := policy == "Retain" || policy == "RetainExceptOnCreate"
		if (scratch[name] || writes(roles, name)) && !retained {
			errs = append(errs, fmt.Errorf("%s: DeletionPolicy %s, but the stack writes objects into it and CloudFormation cannot delete a bucket that is not empty: sam delete would fail with BucketNotEmpty; retain it", id, policy))
		}
		if !scratch[name] {
			continue
		}
		if !expires(b, "") {
			errs = append(errs, fmt.Errorf("%s: holds scratch query results, but no enabled lifecycle rule expires every object: retained on delete, it would never empty", id))
		}
		if v := b.VersioningConfiguration; v != nil && v.Status == "Enabled" && !expiresVersions(b) {
			errs = append(errs, fmt.Errorf("%s: keeps versions, but no lifecycle rule expires noncurrent versions: retained on delete, it would never empty", id))
		}
	}
	return errs
}

// writes reports whether a role's statement allows s3:PutObject on objects of the bucket.
func writes(roles map[string][]statement, bucket string) bool {
	prefix := "arn:" + standInPartition + ":s3:::" + bucket + "/"
	for _, stmts := range roles {
		for _, st := range stmts {
			if st.effect == "Allow" && matchesAnyFold(st.actions, "s3:PutObject") &&
				slices.ContainsFunc(st.resources, func(r string) bool { return strings.HasPrefix(r, prefix) || r == "*" }) {
				return true
			}
		}
	}
	return false
}

// expiresVersions reports whether an enabled lifecycle rule expires the bucket's noncurrent
// versions.
func expiresVersions(b *s3.Bucket) bool {
	if b.LifecycleConfiguration == nil {
		return false
	}
	for _, r := range b.LifecycleConfiguration.Rules {
		if r.Status == "Enabled" && (r.NoncurrentVersionExpiration != nil || r.NoncurrentVersionExpirationInDays != nil) {
			return true
		}
	}
	return false
}

// makeTarget matches a rule's targets at the start of a Makefile line.
var makeTarget = regexp.MustCompile(`(?m)^([A-Za-z0-9_.-]+(?:[ \t]+[A-Za-z0-9_.-]+)*)[ \t]*:`)

// checkMakefile checks that the Makefile has SAM's build-<LogicalId> target for each function.
func checkMakefile(s *stack, makefile string) []error {
	targets := map[string]bool{}
	for _, m := range makeTarget.FindAllStringSubmatch(makefile, -1) {
		for _, t := range strings.Fields(m[1]) {
			targets[t] = true
		}
	}
	var errs []error
	for _, id := range sortedKeys(s.tmpl.GetAllServerlessFunctionResources()) {
		if !targets["build-"+id] {
			errs = append(errs, fmt.Errorf("%s: the Makefile has no build-%s target for sam build", id, id))
		}
	}
	return errs
}

// joinErrs is errors.Join that keeps nil for no errors.
func joinErrs(errs []error) error { return errors.Join(errs...) }
