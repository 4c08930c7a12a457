package templatecheck

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/athenausage/athena-usage/pkg/athenasql"
	"github.com/athenausage/athena-usage/pkg/config"
)

// access is one permission a function needs, or must not have, for a request that carries the
// condition keys in keys.
type access struct {
	action, resource string
	want             bool
	keys             map[string]string
}

func (a access) String() string {
	if a.keys == nil {
		return fmt.Sprintf("allowed(%s, %s)", a.action, a.resource)
	}
	return fmt.Sprintf("allowed(%s, %s, %v)", a.action, a.resource, a.keys)
}

// sampleDay is a day whose keys the access checks use.
var sampleDay = time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)

// neededActions are the only actions each function's role may grant: what the function calls,
// what Athena does with the extract's credentials, and what Lambda does with the role.
var neededActions = map[string][]string{
	"ExtractFunction": {
		// Lambda: the function's logs, and a failed asynchronous invocation to the queue.
		"logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage",
		// Its queries; it stops its own query when its invocation is about to time out.
		"athena:StartQueryExecution", "athena:GetQueryExecution", "athena:StopQueryExecution",
		// Athena's DDL (DROP TABLE of a partitioned table deletes its partitions first).
		"glue:GetDatabase", "glue:CreateDatabase", "glue:GetTable", "glue:CreateTable", "glue:DeleteTable",
		"glue:UpdateTable", "glue:GetPartition", "glue:GetPartitions", "glue:DeletePartition", "glue:BatchDeletePartition",
		// The trail's key (Decrypt, through S3) and the catalog's (all three, through Glue).
		"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey",
		// Athena's reads of the trail and its writes of the results (the actions Athena's user
		// guide lists for the query result location), and the extract's copy.
		"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
		"s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads",
		"lambda:InvokeFunction",
	},
	"LookupFunction": {
		"logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage",
		"athena:BatchGetQueryExecution",
		// GetObject and HeadObject of the day's IDs, its manifest and an earlier run's parts;
		// the transfer manager's uploads (PutObject, or a multipart upload, aborted when it
		// fails); ListObjectsV2 and DeleteObjects of the stale parts.
		"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListBucket", "s3:DeleteObject",
		"sts:AssumeRole", "lambda:InvokeFunction",
	},
	"AlertFunction": {
		"logs:CreateLogStream", "logs:PutLogEvents", "sqs:SendMessage",
		// One query over the views, its rows, and a stop when the invocation runs out of time.
		"athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults", "athena:StopQueryExecution",
		// Athena reads the views' and tables' definitions; the catalog's key, through Glue.
		"glue:GetDatabase", "glue:GetTable", "glue:GetPartition", "glue:GetPartitions", "kms:Decrypt",
		// Athena's reads of the tables and writes of the result; the record of alerts.
		"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
		"s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads",
		"sns:Publish",
	},
}

// checkAccess checks, with the functions' own configuration, that each role allows what its
// function does (its logs and failure queue, the Athena workgroup, the Glue tables, the
// CloudTrail objects, the results and data keys, the invocations), no action it never needs,
// and nothing where it does not go: no writes where it only reads, no reads where it only writes.
func checkAccess(s *stack) []error {
	roles, _ := roleStatements(s)
	var errs []error
	for _, id := range sortedKeys(neededActions) {
		errs = append(errs, checkActions(id, roles[id])...)
	}
	check := func(id string, want []access) {
		for _, a := range want {
			if got := allowedWith(roles[id], a.action, a.resource, a.keys); got != a.want {
				errs = append(errs, fmt.Errorf("%s: %v = %v, want %v", id, a, got, a.want))
			}
		}
	}
	for _, id := range []string{"ExtractFunction", "LookupFunction"} {
		want, aerrs := s.lambdaAccess(id)
		errs = append(errs, aerrs...)
		check(id, want)
	}
	want, aerrs := s.extractAccess()
	errs = append(errs, aerrs...)
	check("ExtractFunction", append(want, s.kmsAccess()...))
	want, aerrs = s.lookupAccess()
	errs = append(errs, aerrs...)
	check("LookupFunction", want)
	want, aerrs = s.alertAccess()
	errs = append(errs, aerrs...)
	check("AlertFunction", want)
	return errs
}

// checkActions checks that a function's role grants no action outside neededActions.
func checkActions(id string, stmts []statement) []error {
	var errs []error
	for _, st := range stmts {
		for _, a := range st.actions {
			if st.effect == "Allow" && !slices.ContainsFunc(neededActions[id], func(n string) bool { return strings.EqualFold(n, a) }) {
				errs = append(errs, fmt.Errorf("%s: grants %s, which %s never needs (neededActions lists what it does)", st.where, a, id))
			}
		}
	}
	return errs
}

func regional(service string) string {
	return "arn:" + standInPartition + ":" + service + ":" + standInRegion + ":" + standInAccount + ":"
}

func s3ARN(bucket, key string) string { return "arn:" + standInPartition + ":s3:::" + bucket + key }

// logStream is the ARN of a stream of a log group, such as Lambda writes an invocation's logs to.
func logStream(group string) string {
	return regional("logs") + "log-group:" + group + ":log-stream:2024/03/05/[$LATEST]0123456789abcdef"
}

// lambdaAccess is what Lambda does with a function's role: write the function's logs to its own
// log group (and no other), send a failed asynchronous invocation to the failure queue, and
// invoke the function again to continue its work.
func (s *stack) lambdaAccess(id string) ([]access, []error) {
	var want []access
	var errs []error
	for _, other := range sortedKeys(neededActions) {
		group := s.logGroupName(other)
		for _, a := range []string{"logs:CreateLogStream", "logs:PutLogEvents"} {
			want = append(want, access{action: a, resource: logStream(group), want: other == id})
		}
	}
	want = append(want, access{action: "logs:PutLogEvents", resource: logStream("/aws/lambda/another-function")})
	fn := s.tmpl.GetAllServerlessFunctionResources()[id]
	if c := fn.EventInvokeConfig; c != nil && c.DestinationConfig != nil && c.DestinationConfig.OnFailure != nil {
		want = append(want, access{action: "sqs:SendMessage", resource: c.DestinationConfig.OnFailure.Destination, want: true})
	}
	return append(want, s.invokeSelf(id, &errs)...), errs
}

// extractAccess is what the extract does, and what Athena does with its credentials.
func (s *stack) extractAccess() ([]access, []error) {
	c, _, err := s.loadConfig("ExtractFunction")
	if err != nil {
		return nil, []error{fmt.Errorf("access checks: %w", err)}
	}
	cfg := c.(config.Extract)
	var want []access
	yes := func(action, resource string) {
		want = append(want, access{action: action, resource: resource, want: true})
	}
	no := func(action, resource string) { want = append(want, access{action: action, resource: resource}) }
	wg := regional("athena") + "workgroup/" + cfg.Workgroup
	for _, a := range []string{"athena:StartQueryExecution", "athena:GetQueryExecution", "athena:StopQueryExecution"} {
		yes(a, wg)
	}
	want = append(want, glueAccess(cfg.Database)...)

	root := strings.TrimPrefix(athenasql.FromConfig(cfg).CloudTrailRoot(), "s3://")
	for _, acct := range cfg.Accounts {
		for _, region := range cfg.Regions {
			obj := "arn:" + standInPartition + ":s3:::" + root + acct + "/CloudTrail/" + region + "/2024/03/05/" +
				acct + "_CloudTrail_" + region + "_20240305T0005Z_abcdefgh.json.gz"
			yes("s3:GetObject", obj)
			no("s3:PutObject", obj)
			no("s3:DeleteObject", obj)
		}
	}
	for _, a := range []string{"s3:ListBucket", "s3:GetBucketLocation"} {
		yes(a, s3ARN(cfg.CloudTrailBucket, ""))
	}

	var errs []error
	if loc, ok := s.outputLocation(cfg.Workgroup); !ok {
		errs = append(errs, fmt.Errorf("ExtractFunction: workgroup %s of ATHENA_WORKGROUP has no OutputLocation in the template", cfg.Workgroup))
	} else {
		bucket, prefix, _ := strings.Cut(strings.TrimPrefix(loc, "s3://"), "/")
		for _, key := range []string{"/" + prefix + "0f8a3c2e-1b2d-4e5f-8a9b-0c1d2e3f4a5b.csv", "/" + prefix + "0f8a3c2e-1b2d-4e5f-8a9b-0c1d2e3f4a5b.csv.metadata"} {
			for _, a := range []string{"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"} {
				yes(a, s3ARN(bucket, key))
			}
		}
		for _, a := range []string{"s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"} {
			yes(a, s3ARN(bucket, ""))
		}
	}
	// The target of its copy, which it HEADs first, with the lookup's manifest, to skip an
	// unchanged day (ListBucket makes a missing key's HEAD 404 rather than 403). It neither
	// writes the manifest nor touches the parts.
	queries := s3ARN(cfg.DataBucket, "/"+athenasql.QueriesKey(cfg.DataPrefix, sampleDay))
	yes("s3:PutObject", queries)
	yes("s3:GetObject", queries)
	no("s3:AbortMultipartUpload", queries)
	manifest := s3ARN(cfg.DataBucket, "/"+athenasql.LookupManifestKey(cfg.DataPrefix, sampleDay))
	yes("s3:GetObject", manifest)
	no("s3:PutObject", manifest)
	yes("s3:ListBucket", s3ARN(cfg.DataBucket, ""))
	part := s3ARN(cfg.DataBucket, "/"+athenasql.PartKey(cfg.DataPrefix, sampleDay, 0))
	no("s3:PutObject", part)
	no("s3:GetObject", part)

	lookupARN := cfg.LookupFunction
	if !strings.HasPrefix(lookupARN, "arn:") {
		lookupARN = regional("lambda") + "function:" + lookupARN
	}
	yes("lambda:InvokeFunction", lookupARN)
	return want, errs
}

// glueAccess is what Athena's DDL does in the Glue catalog with the extract's credentials.
func glueAccess(database string) []access {
	var want []access
	catalog := regional("glue") + "catalog"
	db := regional("glue") + "database/" + database
	yes := func(action string, resources ...string) {
		for _, r := range resources {
			want = append(want, access{action: action, resource: r, want: true})
		}
	}
	// Athena requires both on the default database too, which it creates where it is missing.
	for _, a := range []string{"glue:GetDatabase", "glue:CreateDatabase"} {
		yes(a, catalog, db, regional("glue")+"database/default")
	}
	// DROP TABLE of a partitioned table reads and deletes its partitions first.
	for _, table := range []string{athenasql.CloudTrailTable, athenasql.QueriesTable, athenasql.APIOutputTable} {
		for _, a := range []string{"glue:GetPartition", "glue:GetPartitions", "glue:DeletePartition", "glue:BatchDeletePartition"} {
			yes(a, catalog, db, regional("glue")+"table/"+database+"/"+table)
		}
	}
	for _, table := range []string{athenasql.CloudTrailTable, athenasql.QueriesTable, athenasql.APIOutputTable,
		athenasql.UsageView, athenasql.FailedSubmissionsView, athenasql.UsageDailyView} {
		for _, a := range []string{"glue:GetTable", "glue:CreateTable", "glue:DeleteTable", "glue:UpdateTable", "glue:GetPartitions"} {
			yes(a, catalog, db, regional("glue")+"table/"+database+"/"+table)
		}
	}
	return append(want, access{action: "glue:DeleteTable", resource: regional("glue") + "table/default/" + athenasql.CloudTrailTable})
}

// lookupAccess is what the lookup does.
func (s *stack) lookupAccess() ([]access, []error) {
	c, _, err := s.loadConfig("LookupFunction")
	if err != nil {
		return nil, []error{fmt.Errorf("access checks: %w", err)}
	}
	cfg := c.(config.Lookup)
	var want []access
	yes := func(action, resource string) {
		want = append(want, access{action: action, resource: resource, want: true})
	}
	no := func(action, resource string) { want = append(want, access{action: action, resource: resource}) }
	for _, wg := range []string{
		regional("athena") + "workgroup/primary",
		"arn:" + standInPartition + ":athena:eu-west-1:" + standInAccount + ":workgroup/analysts",
	} {
		yes("athena:BatchGetQueryExecution", wg)
		no("athena:StartQueryExecution", wg)
	}
	queries := s3ARN(cfg.DataBucket, "/"+athenasql.QueriesKey(cfg.DataPrefix, sampleDay))
	yes("s3:GetObject", queries)
	no("s3:PutObject", queries)
	no("s3:DeleteObject", queries)
	part := s3ARN(cfg.DataBucket, "/"+athenasql.PartKey(cfg.DataPrefix, sampleDay, 0))
	for _, a := range []string{"s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"} {
		yes(a, part)
	}
	// An earlier run's parts, whose final rows it reuses.
	yes("s3:GetObject", part)
	manifest := s3ARN(cfg.DataBucket, "/"+athenasql.LookupManifestKey(cfg.DataPrefix, sampleDay))
	yes("s3:GetObject", manifest)
	yes("s3:PutObject", manifest)
	no("s3:DeleteObject", manifest)
	// It lists a day's parts and its manifest, and nothing else of the bucket. Without
	// s3:ListBucket on the bucket (a GET carries no s3:prefix), S3 answers a GET of a missing
	// key with 403, so the lookup lists what may be missing rather than GET it.
	bucket := s3ARN(cfg.DataBucket, "")
	want = append(want,
		access{"s3:ListBucket", bucket, true, map[string]string{"s3:prefix": athenasql.APIOutputDayPrefix(cfg.DataPrefix, sampleDay)}},
		access{"s3:ListBucket", bucket, true, map[string]string{"s3:prefix": athenasql.LookupManifestKey(cfg.DataPrefix, sampleDay)}},
		access{"s3:ListBucket", bucket, false, map[string]string{"s3:prefix": cfg.DataPrefix + athenasql.QueriesTable + "/"}},
		access{"s3:ListBucket", bucket, false, nil})
	// A completed day goes to the alert function.
	if cfg.AlertFunction == "" {
		return nil, []error{errors.New("LookupFunction: no " + config.EnvAlertFunction + ": completed days would never be checked for alerts")}
	}
	yes("lambda:InvokeFunction", regional("lambda")+"function:"+cfg.AlertFunction)
	if cfg.RoleName != "" {
		role := func(account, name string) string {
			return "arn:" + standInPartition + ":iam::" + account + ":role/" + name
		}
		for _, acct := range []string{"111111111111", "222222222222"} {
			yes("sts:AssumeRole", role(acct, cfg.RoleName))
			no("sts:AssumeRole", role(acct, "OrganizationAccountAccessRole"))
		}
	}
	return want, nil
}

// kmsAccess is the extract's use of the keys the optional parameters name. The trail's key:
// kms:Decrypt alone, only in the requests S3 makes for the role (which is how Athena's reads of
// the trail reach KMS) in the key's region, which S3 calls KMS from and which need not be the
// stack's. The catalog's key: what Glue does to encrypt and decrypt metadata, through Glue in
// the stack's region.
func (s *stack) kmsAccess() []access {
	var want []access
	if key := s.params[paramKMSKey]; key != "" {
		keyRegion := strings.Split(key, ":")[3]
		via := func(service, region string) map[string]string {
			return map[string]string{"kms:ViaService": service + "." + region + ".amazonaws.com"}
		}
		other := key[:strings.LastIndex(key, "/")+1] + "0000aaaa-00aa-00aa-00aa-000000aaaaaa"
		want = append(want,
			access{"kms:Decrypt", key, true, via("s3", keyRegion)},
			access{"kms:Decrypt", key, false, map[string]string{}},
			access{"kms:Decrypt", key, false, via("athena", keyRegion)},
			access{"kms:Decrypt", other, false, via("s3", keyRegion)},
			access{"kms:Encrypt", key, false, via("s3", keyRegion)},
			access{"kms:GenerateDataKey", key, false, via("s3", keyRegion)})
		if keyRegion != standInRegion {
			want = append(want, access{"kms:Decrypt", key, false, via("s3", standInRegion)})
		}
	}
	if key := s.params[paramGlueKey]; key != "" {
		viaGlue := map[string]string{"kms:ViaService": "glue." + standInRegion + ".amazonaws.com"}
		for _, a := range []string{"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"} {
			want = append(want, access{a, key, true, viaGlue}, access{a, key, false, map[string]string{}})
		}
		want = append(want, access{"kms:Decrypt", key, false, map[string]string{"kms:ViaService": "s3." + standInRegion + ".amazonaws.com"}})
	}
	return want
}

// optionalGrants are the parameters without which a service's grants must not exist.
var optionalGrants = map[string][]string{"kms": {paramKMSKey, paramGlueKey}, "sts": {paramLookupRoleName}}

// checkOptionalGrants checks that no role has a KMS or STS grant while the parameters that ask
// for it are empty, and no KMS grant on a key that no parameter names: the template must guard
// those statements with their conditions.
func checkOptionalGrants(s *stack) []error {
	roles, _ := roleStatements(s)
	var errs []error
	for _, id := range sortedKeys(roles) {
		for _, st := range roles[id] {
			if st.effect != "Allow" {
				continue
			}
			for _, a := range st.actions {
				svc, _, _ := strings.Cut(strings.ToLower(a), ":")
				params, ok := optionalGrants[svc]
				if !ok {
					continue
				}
				var keys []string
				for _, p := range params {
					if v := s.params[p]; v != "" {
						keys = append(keys, v)
					}
				}
				switch {
				case len(keys) == 0:
					empty := strings.Join(params, " and ") + " are empty"
					if len(params) == 1 {
						empty = params[0] + " is empty"
					}
					errs = append(errs, fmt.Errorf("%s: grants %s although %s", st.where, a, empty))
				case svc == "kms":
					for _, r := range st.resources {
						if !slices.Contains(keys, r) {
							errs = append(errs, fmt.Errorf("%s: grants %s on %q, which is not the value of %s", st.where, a, r, strings.Join(params, " or ")))
						}
					}
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
	arn := regional("lambda") + "function:" + *fn.FunctionName
	return []access{{action: "lambda:InvokeFunction", resource: arn, want: true}}
}

// logGroupName is the log group a function's logs go to: LoggingConfig's LogGroup, or Lambda's
// default, /aws/lambda/<function name>.
func (s *stack) logGroupName(id string) string {
	if g := s.fns[id].LogGroup; g != "" {
		return g
	}
	name := id
	if fn := s.tmpl.GetAllServerlessFunctionResources()[id]; fn != nil && fn.FunctionName != nil {
		name = *fn.FunctionName
	}
	return "/aws/lambda/" + name
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
