package templatecheck

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func report(t *testing.T, errs []error) {
	t.Helper()
	for _, err := range errs {
		t.Error(err)
	}
}

func TestFunctions(t *testing.T) { report(t, checkFunctions(loadOrFail(t))) }

func TestIAMLeastPrivilege(t *testing.T) { report(t, checkIAM(loadOrFail(t))) }

func TestRolesAllowWhatFunctionsDo(t *testing.T) { report(t, checkAccess(loadOrFail(t))) }

func TestBuckets(t *testing.T) { report(t, checkBuckets(loadOrFail(t))) }

func TestWorkgroups(t *testing.T) { report(t, checkWorkgroups(loadOrFail(t))) }

func TestMakefileTargets(t *testing.T) {
	mk, err := os.ReadFile(*makefilePath)
	if err != nil {
		t.Fatal(err)
	}
	report(t, checkMakefile(loadOrFail(t), string(mk)))
}

// TestMakefileBuildsForLambda checks what the build-<LogicalId> targets would run, without
// running it: a static linux/arm64 bootstrap of the function's own main package.
func TestMakefileBuildsForLambda(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	mk, err := filepath.Abs(*makefilePath)
	if err != nil {
		t.Fatal(err)
	}
	artifacts := filepath.Join(t.TempDir(), "artifacts")
	for id := range loadOrFail(t).tmpl.GetAllServerlessFunctionResources() {
		t.Run(id, func(t *testing.T) {
			cmd := exec.Command("make", "--no-print-directory", "-n", "-f", mk, "-C", filepath.Dir(mk),
				"build-"+id, "ARTIFACTS_DIR="+artifacts)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("make -n build-%s: %v\n%s", id, err, out)
			}
			dir := "./functions/" + strings.ToLower(strings.TrimSuffix(id, "Function"))
			for _, want := range []string{"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0", "lambda.norpc",
				"-o " + artifacts + "/bootstrap", dir} {
				if !strings.Contains(string(out), want) {
					t.Errorf("make -n build-%s = %q, want it to contain %q", id, out, want)
				}
			}
		})
	}
}

// allChecks runs every check on a template and Makefile.
func allChecks(s *stack, makefile string) []error {
	var errs []error
	errs = append(errs, checkFunctions(s)...)
	errs = append(errs, checkIAM(s)...)
	errs = append(errs, checkAccess(s)...)
	errs = append(errs, checkBuckets(s)...)
	errs = append(errs, checkWorkgroups(s)...)
	errs = append(errs, checkMakefile(s, makefile)...)
	errs = append(errs, checkOptionalGrants(s)...)
	return errs
}

// TestOptionalGrantsOff checks the template with the optional parameters at their defaults:
// every check passes, and no role has the KMS or STS grants that those parameters add.
func TestOptionalGrantsOff(t *testing.T) {
	data, err := os.ReadFile(*templatePath)
	if err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile(*makefilePath)
	if err != nil {
		t.Fatal(err)
	}
	s, err := loadWith(data, paramStandIns)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{paramKMSKey, paramLookupRoleName} {
		if s.params[p] != "" {
			t.Fatalf("parameter %s is set to %q; this test is about its default", p, s.params[p])
		}
	}
	report(t, allChecks(s, string(mk)))
	roles, _ := roleStatements(s)
	for _, id := range sortedKeys(roles) {
		for _, st := range roles[id] {
			for _, a := range st.actions {
				if svc, _, _ := strings.Cut(strings.ToLower(a), ":"); svc == "kms" || svc == "sts" {
					t.Errorf("%s: grants %s with the optional parameters empty", st.where, a)
				}
			}
		}
	}
}

// TestChecksCatchRegressions breaks the template (or Makefile) one way at a time and expects the
// checks to name the breakage, so that a check that can no longer fail is noticed.
func TestChecksCatchRegressions(t *testing.T) {
	tmplText, err := os.ReadFile(*templatePath)
	if err != nil {
		t.Fatal(err)
	}
	mkText, err := os.ReadFile(*makefilePath)
	if err != nil {
		t.Fatal(err)
	}
	base, err := load(tmplText)
	if err != nil {
		t.Fatal(err)
	}
	if errs := allChecks(base, string(mkText)); len(errs) > 0 {
		t.Fatalf("the unbroken template fails the checks: %v", joinErrs(errs))
	}

	tests := []struct {
		name     string
		makefile bool // break the Makefile instead of the template
		old, new string
		// params, when set, replace the parameter values (the options are set otherwise).
		params map[string]string
		want   string
	}{
		{name: "handler", old: "    Handler: bootstrap\n", new: "    Handler: main\n", want: `Handler = "main"`},
		{name: "runtime", old: "Runtime: provided.al2023", new: "Runtime: provided.al2", want: "Runtime"},
		{name: "architecture", old: "Architectures: [arm64]", new: "Architectures: [x86_64]", want: "Architectures"},
		{name: "build method", old: "      BuildMethod: makefile\n", new: "      BuildMethod: go1.x\n", want: "BuildMethod"},
		{name: "missing variable", old: "          LOOKUP_FUNCTION: !Ref LookupFunction\n", new: "", want: "LOOKUP_FUNCTION is required"},
		{name: "invalid variable", old: "          PROJECTION_START: !Ref ProjectionStart\n", new: "          PROJECTION_START: 2024-3-5\n", want: "PROJECTION_START"},
		{name: "unknown variable", old: "          LOOKUP_MAX_ATTEMPTS: !Ref LookupMaxAttempts\n", new: "          LOOKUP_MAX_ATTEMPTS: !Ref LookupMaxAttempts\n          LOOKUP_TIMEOUT: \"60\"\n", want: "LOOKUP_TIMEOUT, which is not one of pkg/config's Env constants"},
		{name: "variable the loader ignores", old: "          LOOKUP_MAX_ATTEMPTS: !Ref LookupMaxAttempts\n", new: "          LOOKUP_MAX_ATTEMPTS: !Ref LookupMaxAttempts\n          ATHENA_WORKGROUP: !Ref AthenaWorkGroup\n", want: "ATHENA_WORKGROUP, which its config loader never reads"},
		{name: "reserved variable", old: "        DATA_PREFIX: !Ref DataPrefix\n", new: "        DATA_PREFIX: !Ref DataPrefix\n        AWS_REGION: eu-west-1\n", want: "AWS_REGION, which Lambda reserves"},
		{name: "wildcard action", old: "                - athena:GetWorkGroup\n", new: "                - athena:*\n", want: `action "athena:*" has a wildcard`},
		{name: "wildcard resource", old: "                - !GetAtt LookupFunction.Arn\n", new: "                - \"*\"\n", want: `resource "*" for lambda actions`},
		{name: "wildcard bucket", old: `Resource: !Sub "arn:${AWS::Partition}:s3:::${CloudTrailBucket}/${CloudTrailPrefix}AWSLogs/*"`, new: `Resource: "arn:aws:s3:::*/AWSLogs/*"`, want: "is not one named bucket"},
		{name: "managed policy", old: "      Policies:\n        - Version: \"2012-10-17\"\n          Statement:\n            # Queries run", new: "      Policies:\n        - AmazonAthenaFullAccess\n        - Version: \"2012-10-17\"\n          Statement:\n            # Queries run", want: "AmazonAthenaFullAccess"},
		{name: "invoke the wrong function", old: "                - !GetAtt LookupFunction.Arn\n", new: "                - !GetAtt FailedInvocationsQueue.Arn\n", want: "ExtractFunction: allowed(lambda:InvokeFunction, arn:aws:lambda:us-east-1:123456789012:function:athena-usage-lookup)"},
		{name: "extract cannot invoke itself", old: `:function:${AWS::StackName}-extract"`, new: `:function:${AWS::StackName}-extractor"`, want: "ExtractFunction: allowed(lambda:InvokeFunction, arn:aws:lambda:us-east-1:123456789012:function:athena-usage-extract)"},
		{name: "lookup cannot invoke itself", old: `:function:${AWS::StackName}-lookup"`, new: `:function:${AWS::StackName}-lookup2"`, want: "LookupFunction: allowed(lambda:InvokeFunction"},
		{name: "lookup writes its input", old: "              Action: s3:GetObject\n              Resource: !Sub \"${DataBucket.Arn}/${DataPrefix}athena_queries/*\"\n", new: "              Action: [s3:GetObject, s3:PutObject]\n              Resource: !Sub \"${DataBucket.Arn}/${DataPrefix}athena_queries/*\"\n", want: "allowed(s3:PutObject, arn:aws:s3:::athena-usage-databucket-1a2b3c4d5e6f/athena_queries/dt=2024-03-05/queries.csv) = true, want false"},
		{name: "results prefix not granted", old: `Resource: !Sub "${ResultsBucket.Arn}/athena-results/*"`, new: `Resource: !Sub "${ResultsBucket.Arn}/results/*"`, want: "ExtractFunction: allowed(s3:PutObject, arn:aws:s3:::athena-usage-resultsbucket-1a2b3c4d5e6f/athena-results/"},
		{name: "public access", old: "        RestrictPublicBuckets: true\n", new: "        RestrictPublicBuckets: false\n", want: "ResultsBucket: public access block RestrictPublicBuckets is not true"},
		{name: "no encryption", old: "    Properties:\n      BucketEncryption:\n        ServerSideEncryptionConfiguration:\n          - ServerSideEncryptionByDefault:\n              SSEAlgorithm: AES256\n            BucketKeyEnabled: true\n", new: "    Properties:\n", want: "ResultsBucket: does not encrypt"},
		{name: "TLS not required", old: "                aws:SecureTransport: \"false\"\n", new: "                aws:SecureTransport: \"true\"\n", want: "ResultsBucket: no bucket policy denies"},
		{name: "policy on the wrong bucket", old: "      Bucket: !Ref DataBucket\n", new: "      Bucket: !Ref ResultsBucket\n", want: "DataBucket: no bucket policy denies"},
		{name: "no failure destination", old: "        DestinationConfig:\n          OnFailure:\n            Type: SQS\n            Destination: !GetAtt FailedInvocationsQueue.Arn\n", new: "", want: "OnFailure"},
		{name: "queued events expire early", old: "        MaximumEventAgeInSeconds: 21600\n", new: "        MaximumEventAgeInSeconds: 3600\n", want: "MaximumEventAgeInSeconds is 3600"},
		{name: "unencrypted queue", old: "      SqsManagedSseEnabled: true\n", new: "      SqsManagedSseEnabled: false\n", want: "is not encrypted"},
		{name: "results never expire", old: "            Prefix: athena-results/\n", new: "            Prefix: old-results/\n", want: "do not expire"},
		{name: "default database not creatable", old: "              Action:\n                - glue:GetDatabase\n                - glue:CreateDatabase\n              Resource:\n                - !Sub \"arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:catalog\"\n                - !Sub \"arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:database/default\"", new: "              Action:\n                - glue:GetDatabase\n              Resource:\n                - !Sub \"arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:catalog\"\n                - !Sub \"arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:database/default\"", want: "allowed(glue:CreateDatabase, arn:aws:glue:us-east-1:123456789012:database/default) = false, want true"},
		{name: "partitions not deletable", old: "                - glue:BatchDeletePartition\n", new: "", want: "allowed(glue:BatchDeletePartition, arn:aws:glue:us-east-1:123456789012:table/athena_usage/cloudtrail_logs) = false, want true"},
		{name: "KMS grant not guarded", old: "              - HasCloudTrailKmsKey\n", new: "              - HasLookupRole\n", params: map[string]string{paramLookupRoleName: "member-lookup"}, want: "grants kms:Decrypt although CloudTrailKmsKeyArn is empty"},
		{name: "KMS grant missing", old: "              - HasCloudTrailKmsKey\n", new: "              - HasLookupRole\n", params: map[string]string{paramKMSKey: optionStandIns[paramKMSKey]}, want: "ExtractFunction: allowed(kms:Decrypt, " + optionStandIns[paramKMSKey] + ", map[kms:ViaService:s3.us-east-1.amazonaws.com]) = false, want true"},
		{name: "KMS on any key", old: "                Resource: !Ref CloudTrailKmsKeyArn\n", new: "                Resource: \"*\"\n", want: `resource "*" for kms actions`},
		{name: "KMS outside S3", old: "                Condition:\n                  StringEquals:\n                    kms:ViaService: !Sub \"s3.${AWS::Region}.amazonaws.com\"\n", new: "", want: "allowed(kms:Decrypt, " + optionStandIns[paramKMSKey] + ", map[]) = true, want false"},
		{name: "assume role not guarded", old: "              - HasLookupRole\n", new: "              - HasCloudTrailKmsKey\n", params: map[string]string{paramKMSKey: optionStandIns[paramKMSKey]}, want: "grants sts:AssumeRole although LookupRoleName is empty"},
		{name: "assume any role", old: `:role/${LookupRoleName}"`, new: `:role/*"`, want: "not one named role without a path"},
		{name: "assume the wrong role", old: `:role/${LookupRoleName}"`, new: `:role/${LookupRoleName}-x"`, want: "LookupFunction: allowed(sts:AssumeRole, arn:aws:iam::111111111111:role/athena-usage-member-lookup) = false, want true"},
		{name: "more than assume role in any account", old: "                Action: sts:AssumeRole\n", new: "                Action: [sts:AssumeRole, sts:TagSession]\n", want: "is allowed for sts:AssumeRole alone"},
		{name: "extract not serialized", old: "instead of running alongside.\n      ReservedConcurrentExecutions: 1\n", new: "instead of running beside.\n", want: "ExtractFunction: ReservedConcurrentExecutions is not 1"},
		{name: "lookup concurrency", old: "asynchronous queue.\n      ReservedConcurrentExecutions: 1\n", new: "asynchronous queue.\n      ReservedConcurrentExecutions: 4\n", want: "LookupFunction: ReservedConcurrentExecutions is not 1"},
		{name: "no account ID", old: "          ACCOUNT_ID: !Ref AWS::AccountId\n", new: "", want: "ACCOUNT_ID is required"},
		{name: "fixed account ID", old: "          ACCOUNT_ID: !Ref AWS::AccountId\n", new: "          ACCOUNT_ID: \"111111111111\"\n", want: `ACCOUNT_ID = "111111111111", want the stack's own account`},
		{name: "role name not passed", old: "          LOOKUP_ROLE_NAME: !Ref LookupRoleName\n", new: "", want: `LOOKUP_ROLE_NAME = "", want the LookupRoleName parameter`},
		{name: "missing build target", makefile: true, old: "build-LookupFunction:", new: "build-Lookup:", want: "no build-LookupFunction target"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, mk := string(tmplText), string(mkText)
			target := &tmpl
			if tc.makefile {
				target = &mk
			}
			if !strings.Contains(*target, tc.old) {
				t.Fatalf("the text to break, %q, is gone; update this case", tc.old)
			}
			*target = strings.Replace(*target, tc.old, tc.new, 1)
			load := load
			if tc.params != nil {
				load = func(data []byte) (*stack, error) {
					params := maps.Clone(paramStandIns)
					maps.Copy(params, tc.params)
					return loadWith(data, params)
				}
			}
			s, err := load([]byte(tmpl))
			if err != nil {
				t.Fatalf("load broken template: %v", err)
			}
			errs := allChecks(s, mk)
			for _, err := range errs {
				if strings.Contains(err.Error(), tc.want) {
					return
				}
			}
			t.Errorf("checks of the template with %q replaced by %q = %v, want an error containing %q",
				tc.old, tc.new, joinErrs(errs), tc.want)
		})
	}
}
