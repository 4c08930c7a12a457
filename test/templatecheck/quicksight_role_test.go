package templatecheck

import (
	"fmt"
	"slices"
	"strings"

	"github.com/athenausage/athena-usage/test/internal/samtemplate"
)

// quickSightActions are the only actions the data source's role may have: running queries in
// the stack's workgroup, reading the catalog, the tables' objects and Athena's results, and
// writing those results.
var quickSightActions = []string{
	"athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults",
	"athena:GetQueryResultsStream", "athena:StopQueryExecution", "athena:GetWorkGroup",
	"glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions",
	"kms:Decrypt",
	"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
	"s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads",
}

// checkQuickSightRole checks that the data source's role is least privilege: QuickSight of this
// account alone may assume it, its actions are quickSightActions, and each names only the
// stack's workgroup, database, tables' prefixes and results location.
func checkQuickSightRole(s *stack) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	trust, _ := samtemplate.Lookup(s.tree, "Resources", quickSightRole, "Properties", "AssumeRolePolicyDocument")
	for _, st := range asList(mustLookup(trust, "Statement")) {
		svc, _ := samtemplate.Lookup(st, "Principal", "Service")
		acct, _ := samtemplate.Lookup(st, "Condition", "StringEquals", "aws:SourceAccount")
		if svc != "quicksight.amazonaws.com" || acct != standInAccount {
			add("%s: trusts %v (aws:SourceAccount %v), want quicksight.amazonaws.com of the stack's account only", quickSightRole, svc, acct)
		}
	}
	roles, rerrs := roleStatements(s)
	errs = append(errs, rerrs...)
	if len(roles[quickSightRole]) == 0 {
		add("%s: no policy statements", quickSightRole)
	}
	allowed := quickSightResources(s)
	for _, st := range roles[quickSightRole] {
		for _, a := range st.actions {
			if !slices.Contains(quickSightActions, a) {
				add("%s: action %s is more than the data source needs", st.where, a)
			}
		}
		for _, r := range st.resources {
			if !slices.Contains(allowed, r) {
				add("%s: resource %s is not the stack's workgroup, database, tables or results", st.where, r)
			}
		}
		if slices.Contains(st.actions, "s3:PutObject") && slices.ContainsFunc(st.resources, func(r string) bool {
			return !strings.HasPrefix(r, "arn:aws:s3:::"+s.names["ResultsBucket"]+"/athena-results/")
		}) {
			add("%s: s3:PutObject outside Athena's results", st.where)
		}
	}
	return errs
}

// quickSightResources are the ARNs the data source's role may name.
func quickSightResources(s *stack) []string {
	arn := func(svc, rest string) string {
		return fmt.Sprintf("arn:aws:%s:%s:%s:%s", svc, standInRegion, standInAccount, rest)
	}
	db, data, results := s.param("DatabaseName"), s.names["DataBucket"], s.names["ResultsBucket"]
	out := []string{
		arn("athena", "workgroup/"+s.names["AthenaWorkGroup"]),
		arn("glue", "catalog"), arn("glue", "database/"+db), arn("glue", "table/"+db+"/*"),
		"arn:aws:s3:::" + data,
		"arn:aws:s3:::" + data + "/" + s.param("DataPrefix") + "athena_queries/*",
		"arn:aws:s3:::" + data + "/" + s.param("DataPrefix") + "athena_api_output/*",
		"arn:aws:s3:::" + results,
		"arn:aws:s3:::" + results + "/athena-results/*",
	}
	if k := s.param(paramGlueKey); k != "" {
		out = append(out, k)
	}
	return out
}

// checkQuickSightDataSource checks that the data source runs in the stack's workgroup with the
// role of its own.
func checkQuickSightDataSource(s *stack) []error {
	var errs []error
	for _, id := range resourcesOfType(s, "AWS::QuickSight::DataSource") {
		p, _ := samtemplate.Lookup(s.tree, "Resources", id, "Properties", "DataSourceParameters", "AthenaParameters")
		wg, _ := samtemplate.Lookup(p, "WorkGroup")
		role, _ := samtemplate.Lookup(p, "RoleArn")
		if wg != s.names["AthenaWorkGroup"] {
			errs = append(errs, fmt.Errorf("%s: WorkGroup %v, want the stack's %s", id, wg, s.names["AthenaWorkGroup"]))
		}
		if want := "arn:aws:iam::" + standInAccount + ":role/" + s.names[quickSightRole]; role != want {
			errs = append(errs, fmt.Errorf("%s: RoleArn %v, want %s's %s", id, role, quickSightRole, want))
		}
	}
	return errs
}

func mustLookup(v any, keys ...string) any { r, _ := samtemplate.Lookup(v, keys...); return r }
