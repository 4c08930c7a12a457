package templatecheck

// regression is one way to break the template (or the Makefile): a text edit, which the checks
// must name in an error containing want.
type regression struct {
	name     string
	makefile bool // break the Makefile instead of the template
	old, new string
	// params, when set, replace the optional parameters' values (they are all set otherwise).
	params map[string]string
	want   string
}

// Texts of template.yaml that several regressions edit.
const (
	kmsViaS3 = "                      kms:ViaService: !Sub\n" +
		"                        - \"s3.${KeyRegion}.amazonaws.com\"\n" +
		"                        - KeyRegion: !Select [3, !Split [\":\", !Sub \"${CloudTrailKmsKeyArn}:::\"]]\n"
	extractConcurrency = "      ReservedConcurrentExecutions: !If [HasReservedConcurrency, !Ref ReservedConcurrency, !Ref AWS::NoValue]\n" +
		"      Environment:\n        Variables:\n          ATHENA_DATABASE"
	lookupConcurrency = "off when Athena throttles.\n" +
		"      ReservedConcurrentExecutions: !If [HasReservedConcurrency, !Ref ReservedConcurrency, !Ref AWS::NoValue]\n"
	defaultDatabase = "                  - glue:GetDatabase\n                  - glue:CreateDatabase\n                Resource:\n" +
		"                  - !Sub \"arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:catalog\"\n" +
		"                  - !Sub \"arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:database/default\""
	extractFailureQueue = "              - Sid: FailureQueue\n                Effect: Allow\n                Action: sqs:SendMessage\n" +
		"                Resource: !GetAtt FailedInvocationsQueue.Arn\n              # StopQueryExecution"
	dataBucket          = "athena-usage-databucket-1a2b3c4d5e6f"
	lookupListCondition = "                Condition:\n                  StringLike:\n                    s3:prefix:\n" +
		"                      - !Sub \"${DataPrefix}athena_api_output/*\"\n" +
		"                      - !Sub \"${DataPrefix}athena_usage_state/*\"\n"
)

var regressions = []regression{
	// Functions: runtime, build and environment.
	{name: "handler", old: "    Handler: bootstrap\n", new: "    Handler: main\n", want: `Handler = "main"`},
	{name: "runtime", old: "Runtime: provided.al2023", new: "Runtime: provided.al2", want: "Runtime"},
	{name: "architecture", old: "Architectures: [arm64]", new: "Architectures: [x86_64]", want: "Architectures"},
	{name: "build method", old: "      BuildMethod: makefile\n", new: "      BuildMethod: go1.x\n", want: "BuildMethod"},
	{name: "missing variable", old: "          LOOKUP_FUNCTION: !Ref LookupFunction\n", new: "", want: "LOOKUP_FUNCTION is required"},
	{name: "invalid variable", old: "          PROJECTION_START: !Ref ProjectionStart\n", new: "          PROJECTION_START: 2024-3-5\n", want: "PROJECTION_START"},
	{name: "unknown variable", old: "          LOOKUP_MAX_ATTEMPTS: !Ref LookupMaxAttempts\n", new: "          LOOKUP_MAX_ATTEMPTS: !Ref LookupMaxAttempts\n          LOOKUP_TIMEOUT: \"60\"\n", want: "LOOKUP_TIMEOUT, which is not one of pkg/config's Env constants"},
	{name: "variable the loader ignores", old: "          LOOKUP_MAX_ATTEMPTS: !Ref LookupMaxAttempts\n", new: "          LOOKUP_MAX_ATTEMPTS: !Ref LookupMaxAttempts\n          ATHENA_WORKGROUP: !Ref AthenaWorkGroup\n", want: "ATHENA_WORKGROUP, which its config loader never reads"},
	{name: "reserved variable", old: "        DATA_PREFIX: !Ref DataPrefix\n", new: "        DATA_PREFIX: !Ref DataPrefix\n        AWS_REGION: eu-west-1\n", want: "AWS_REGION, which Lambda reserves"},
	{name: "no account ID", old: "          ACCOUNT_ID: !Ref AWS::AccountId\n", new: "", want: "ACCOUNT_ID is required"},
	{name: "fixed account ID", old: "          ACCOUNT_ID: !Ref AWS::AccountId\n", new: "          ACCOUNT_ID: \"111111111111\"\n", want: `ACCOUNT_ID = "111111111111", want the stack's own account`},
	{name: "role name not passed", old: "          LOOKUP_ROLE_NAME: !Ref LookupRoleName\n", new: "", want: `LOOKUP_ROLE_NAME = "", want the LookupRoleName parameter`},
	{name: "alert role publishes to any topic", old: "                Action: sns:Publish\n                Resource: !Ref AlertTopic\n", new: "                Action: sns:Publish\n                Resource: \"*\"\n", want: `resource "*" for sns actions`},
	{name: "lookup cannot invoke the alert", old: "                  - !GetAtt AlertFunction.Arn\n", new: "", want: "LookupFunction: allowed(lambda:InvokeFunction, arn:aws:lambda:us-east-1:123456789012:function:athena-usage-alert) = false"},
	{name: "no alert function for the lookup", old: "          ALERT_FUNCTION: !Ref AlertFunction\n", new: "", want: "no ALERT_FUNCTION"},
	{name: "missing build target", makefile: true, old: "build-LookupFunction:", new: "build-Lookup:", want: "no build-LookupFunction target"},

	// Concurrency: off by default, so that a new account can deploy; 1 for both when asked.
	{name: "reserved concurrency default above 0", old: "    Default: 0\n    AllowedValues: [0, 1]\n", new: "    Default: 1\n    AllowedValues: [0, 1]\n", want: "reserves a concurrency of 1 with the parameters at their defaults"},
	{name: "reserved concurrency hard-coded", old: extractConcurrency, new: "      ReservedConcurrentExecutions: 1\n      Environment:\n        Variables:\n          ATHENA_DATABASE", want: "ExtractFunction: reserves a concurrency of 1 with the parameters at their defaults"},
	{name: "reserved concurrency 0 passed to Lambda", old: extractConcurrency, new: "      ReservedConcurrentExecutions: !Ref ReservedConcurrency\n      Environment:\n        Variables:\n          ATHENA_DATABASE", want: "ExtractFunction: ReservedConcurrentExecutions is 0 with the parameters at their defaults, which throttles"},
	{name: "extract not serialized", old: extractConcurrency, new: "      Environment:\n        Variables:\n          ATHENA_DATABASE", want: "ExtractFunction: ReservedConcurrentExecutions is not 1 with ReservedConcurrency 1"},
	{name: "lookup concurrency", old: lookupConcurrency, new: "off when Athena throttles.\n      ReservedConcurrentExecutions: 4\n", want: "LookupFunction: ReservedConcurrentExecutions is not 1"},
	{name: "no failure destination", old: "        DestinationConfig:\n          OnFailure:\n            Type: SQS\n            Destination: !GetAtt FailedInvocationsQueue.Arn\n", new: "", want: "OnFailure"},
	{name: "queued events expire early", old: "        MaximumEventAgeInSeconds: 21600\n", new: "        MaximumEventAgeInSeconds: 3600\n", want: "MaximumEventAgeInSeconds is 3600"},
	{name: "unencrypted queue", old: "      SqsManagedSseEnabled: true\n", new: "      SqsManagedSseEnabled: false\n", want: "is not encrypted"},

	// Roles: the template's own, inline, least privilege.
	{name: "SAM makes the role", old: "      Role: !GetAtt ExtractFunctionRole.Arn\n", new: "", want: "ExtractFunction: no Role, so SAM makes one with AWSLambdaBasicExecutionRole"},
	{name: "Policies beside Role", old: "      Role: !GetAtt ExtractFunctionRole.Arn\n", new: "      Role: !GetAtt ExtractFunctionRole.Arn\n      Policies: [AWSLambdaBasicExecutionRole]\n", want: "ExtractFunction: sets Policies as well as Role"},
	{name: "managed policy", old: "      Description: athena-usage extract function\n", new: "      Description: athena-usage extract function\n      ManagedPolicyArns:\n        - arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole\n", want: "ExtractFunctionRole: managed policies"},
	{name: "wildcard action", old: "                  - athena:StopQueryExecution\n", new: "                  - athena:*\n", want: `action "athena:*" has a wildcard`},
	{name: "GetQueryResults re-added", old: "                  - athena:StopQueryExecution\n", new: "                  - athena:StopQueryExecution\n                  - athena:GetQueryResults\n", want: "grants athena:GetQueryResults, which ExtractFunction never needs"},
	{name: "GetWorkGroup re-added", old: "                  - athena:StopQueryExecution\n", new: "                  - athena:StopQueryExecution\n                  - athena:GetWorkGroup\n", want: "grants athena:GetWorkGroup, which ExtractFunction never needs"},
	{name: "extract cannot stop its query", old: "                  - athena:StopQueryExecution\n", new: "", want: "ExtractFunction: allowed(athena:StopQueryExecution"},
	{name: "wildcard resource", old: "                  - !GetAtt LookupFunction.Arn\n", new: "                  - \"*\"\n", want: `resource "*" for lambda actions`},
	{name: "wildcard bucket", old: `Resource: !Sub "arn:${AWS::Partition}:s3:::${CloudTrailBucket}/${CloudTrailPrefix}AWSLogs/*"`, new: `Resource: "arn:aws:s3:::*/AWSLogs/*"`, want: "is not one named bucket"},
	{name: "invoke the wrong function", old: "                  - !GetAtt LookupFunction.Arn\n", new: "                  - !GetAtt FailedInvocationsQueue.Arn\n", want: "ExtractFunction: allowed(lambda:InvokeFunction, arn:aws:lambda:us-east-1:123456789012:function:athena-usage-lookup)"},
	{name: "extract cannot invoke itself", old: `:function:${AWS::StackName}-extract"`, new: `:function:${AWS::StackName}-extractor"`, want: "ExtractFunction: allowed(lambda:InvokeFunction, arn:aws:lambda:us-east-1:123456789012:function:athena-usage-extract)"},
	{name: "lookup cannot invoke itself", old: `:function:${AWS::StackName}-lookup"`, new: `:function:${AWS::StackName}-lookup2"`, want: "LookupFunction: allowed(lambda:InvokeFunction"},
	{name: "default database not creatable", old: defaultDatabase, new: "                  - glue:GetDatabase\n                Resource:\n                  - !Sub \"arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:database/default\"", want: "allowed(glue:CreateDatabase, arn:aws:glue:us-east-1:123456789012:database/default) = false, want true"},
	{name: "partitions not deletable", old: "                  - glue:BatchDeletePartition\n", new: "", want: "allowed(glue:BatchDeletePartition, arn:aws:glue:us-east-1:123456789012:table/athena_usage/cloudtrail_logs) = false, want true"},

	// S3: what each function reads and writes, and nothing more.
	{name: "results prefix not granted", old: `Resource: !Sub "${ResultsBucket.Arn}/athena-results/*"`, new: `Resource: !Sub "${ResultsBucket.Arn}/results/*"`, want: "ExtractFunction: allowed(s3:PutObject, arn:aws:s3:::athena-usage-resultsbucket-1a2b3c4d5e6f/athena-results/"},
	{name: "extract reads the parts", old: "                Action: s3:GetObject\n                Resource: !Sub \"${DataBucket.Arn}/${DataPrefix}athena_usage_state/*\"\n", new: "                Action: s3:GetObject\n                Resource: !Sub \"${DataBucket.Arn}/${DataPrefix}*\"\n", want: "ExtractFunction: allowed(s3:GetObject, arn:aws:s3:::" + dataBucket + "/athena_api_output/dt=2024-03-05/part-00000.csv) = true, want false"},
	{name: "lookup writes its input", old: "                Action: s3:GetObject\n                Resource: !Sub \"${DataBucket.Arn}/${DataPrefix}athena_queries/*\"\n", new: "                Action: [s3:GetObject, s3:PutObject]\n                Resource: !Sub \"${DataBucket.Arn}/${DataPrefix}athena_queries/*\"\n", want: "LookupFunction: allowed(s3:PutObject, arn:aws:s3:::" + dataBucket + "/athena_queries/dt=2024-03-05/queries.csv) = true, want false"},
	{name: "lookup cannot read its parts", old: "                  - s3:GetObject\n                  - s3:PutObject\n                  - s3:AbortMultipartUpload\n                  - s3:DeleteObject\n", new: "                  - s3:PutObject\n                  - s3:AbortMultipartUpload\n                  - s3:DeleteObject\n", want: "LookupFunction: allowed(s3:GetObject, arn:aws:s3:::" + dataBucket + "/athena_api_output/dt=2024-03-05/part-00000.csv) = false, want true"},
	{name: "lookup cannot abort an upload", old: "                  - s3:PutObject\n                  - s3:AbortMultipartUpload\n                  - s3:DeleteObject\n", new: "                  - s3:PutObject\n                  - s3:DeleteObject\n", want: "LookupFunction: allowed(s3:AbortMultipartUpload"},
	{name: "lookup lists the whole bucket", old: lookupListCondition, new: "", want: "LookupFunction: allowed(s3:ListBucket, arn:aws:s3:::" + dataBucket + ") = true, want false"},
	// The lookup lists a day's manifest rather than GET it, which answers 403 when it is missing.
	{name: "lookup cannot list its manifest", old: "                      - !Sub \"${DataPrefix}athena_usage_state/*\"\n", new: "", want: "LookupFunction: allowed(s3:ListBucket, arn:aws:s3:::" + dataBucket + ", map[s3:prefix:athena_usage_state/dt=2024-03-05/lookup.json]) = false, want true"},
	// The extract HEADs a day's object and GETs its manifest, either of which may be missing:
	// only s3:ListBucket on the bucket, with no s3:prefix condition, makes S3 answer 404.
	{name: "extract lists only a prefix", old: "                Action: s3:ListBucket\n                Resource: !GetAtt DataBucket.Arn\n              # The extract hands", new: "                Action: s3:ListBucket\n                Resource: !GetAtt DataBucket.Arn\n                Condition:\n                  StringLike:\n                    s3:prefix: !Sub \"${DataPrefix}athena_queries/*\"\n              # The extract hands", want: "ExtractFunction: allowed(s3:ListBucket, arn:aws:s3:::" + dataBucket + ") = false, want true"},

	// Logs and the failure queue: the function's own, through its own role.
	{name: "logs on any log group", old: "                Resource: !GetAtt ExtractLogGroup.Arn\n", new: "                Resource: \"*\"\n", want: `resource "*" for logs actions`},
	{name: "logs on the other function's group", old: "                Resource: !GetAtt ExtractLogGroup.Arn\n", new: "                Resource: !GetAtt LookupLogGroup.Arn\n", want: "ExtractFunction: allowed(logs:CreateLogStream, arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/athena-usage-extract:log-stream:"},
	{name: "log group without retention", old: "      LogGroupName: !Sub \"/aws/lambda/${AWS::StackName}-extract\"\n      RetentionInDays: !Ref LogRetentionDays\n", new: "      LogGroupName: !Sub \"/aws/lambda/${AWS::StackName}-extract\"\n", want: "log group ExtractLogGroup has no RetentionInDays"},
	{name: "logs elsewhere", old: "        LogGroup: !Ref ExtractLogGroup\n", new: "        LogGroup: /aws/lambda/elsewhere\n", want: "ExtractFunction: logs to /aws/lambda/elsewhere, which is not a log group of this template"},
	{name: "failure queue not allowed", old: extractFailureQueue, new: "              # StopQueryExecution", want: "ExtractFunction: allowed(sqs:SendMessage"},

	// Optional grants: KMS and STS only when their parameters ask for them.
	{name: "KMS grant not guarded", old: "                - HasCloudTrailKmsKey\n", new: "                - HasLookupRole\n", params: map[string]string{paramLookupRoleName: "member-lookup"}, want: "grants kms:Decrypt although CloudTrailKmsKeyArn and GlueCatalogKmsKeyArn are empty"},
	{name: "KMS grant missing", old: "                - HasCloudTrailKmsKey\n", new: "                - HasLookupRole\n", params: map[string]string{paramKMSKey: optionStandIns[paramKMSKey]}, want: "ExtractFunction: allowed(kms:Decrypt, " + optionStandIns[paramKMSKey] + ", map[kms:ViaService:s3.eu-west-1.amazonaws.com]) = false, want true"},
	{name: "KMS on any key", old: "                  Resource: !Ref CloudTrailKmsKeyArn\n", new: "                  Resource: \"*\"\n", want: `resource "*" for kms actions`},
	{name: "KMS outside S3", old: "                  Condition:\n                    StringEquals:\n" + kmsViaS3, new: "", want: "allowed(kms:Decrypt, " + optionStandIns[paramKMSKey] + ", map[]) = true, want false"},
	{name: "KMS through S3 of the stack's region", old: kmsViaS3, new: "                      kms:ViaService: !Sub \"s3.${AWS::Region}.amazonaws.com\"\n", want: "ExtractFunction: allowed(kms:Decrypt, " + optionStandIns[paramKMSKey] + ", map[kms:ViaService:s3.eu-west-1.amazonaws.com]) = false, want true"},
	{name: "catalog key grant not guarded", old: "                - HasGlueCatalogKmsKey\n", new: "                - HasCloudTrailKmsKey\n", params: map[string]string{paramKMSKey: optionStandIns[paramKMSKey]}, want: `GlueCatalogKms: grants kms:Decrypt on "", which is not the value of CloudTrailKmsKeyArn or GlueCatalogKmsKeyArn`},
	{name: "catalog key outside Glue", old: "                  Condition:\n                    StringEquals:\n                      kms:ViaService: !Sub \"glue.${AWS::Region}.amazonaws.com\"\n", new: "", want: "allowed(kms:Encrypt, " + optionStandIns[paramGlueKey] + ", map[]) = true, want false"},
	{name: "assume role not guarded", old: "                - HasLookupRole\n", new: "                - HasCloudTrailKmsKey\n", params: map[string]string{paramKMSKey: optionStandIns[paramKMSKey]}, want: "grants sts:AssumeRole although LookupRoleName is empty"},
	{name: "assume any role", old: `:role/${LookupRoleName}"`, new: `:role/*"`, want: "not one named role without a path"},
	{name: "assume the wrong role", old: `:role/${LookupRoleName}"`, new: `:role/${LookupRoleName}-x"`, want: "LookupFunction: allowed(sts:AssumeRole, arn:aws:iam::111111111111:role/athena-usage-member-lookup) = false, want true"},
	{name: "more than assume role in any account", old: "                  Action: sts:AssumeRole\n", new: "                  Action: [sts:AssumeRole, sts:TagSession]\n", want: "is allowed for sts:AssumeRole alone"},

	// Buckets and workgroup: locked down, and the stack deletable.
	{name: "public access", old: "        RestrictPublicBuckets: true\n", new: "        RestrictPublicBuckets: false\n", want: "ResultsBucket: public access block RestrictPublicBuckets is not true"},
	{name: "no encryption", old: "    Properties:\n      BucketEncryption:\n        ServerSideEncryptionConfiguration:\n          - ServerSideEncryptionByDefault:\n              SSEAlgorithm: AES256\n            BucketKeyEnabled: true\n", new: "    Properties:\n", want: "ResultsBucket: does not encrypt"},
	{name: "TLS not required", old: "                aws:SecureTransport: \"false\"\n", new: "                aws:SecureTransport: \"true\"\n", want: "ResultsBucket: no bucket policy denies"},
	{name: "policy on the wrong bucket", old: "      Bucket: !Ref DataBucket\n", new: "      Bucket: !Ref ResultsBucket\n", want: "DataBucket: no bucket policy denies"},
	{name: "results never expire", old: "          - Id: ExpireEverything\n            Status: Enabled\n", new: "          - Id: ExpireEverything\n            Status: Enabled\n            Prefix: old-results/\n", want: "do not expire"},
	{name: "results bucket deleted with the stack", old: "  ResultsBucket:\n    Type: AWS::S3::Bucket\n    DeletionPolicy: Retain\n", new: "  ResultsBucket:\n    Type: AWS::S3::Bucket\n    DeletionPolicy: Delete\n", want: "ResultsBucket: DeletionPolicy Delete, but the stack writes objects into it"},
	{name: "data bucket deleted with the stack", old: "  DataBucket:\n    Type: AWS::S3::Bucket\n    DeletionPolicy: Retain\n", new: "  DataBucket:\n    Type: AWS::S3::Bucket\n", want: "DataBucket: DeletionPolicy Delete, but the stack writes objects into it"},
	{name: "results bucket not emptiable", old: "          - Id: ExpireEverything\n            Status: Enabled\n", new: "          - Id: ExpireEverything\n            Status: Enabled\n            Prefix: athena-results/\n", want: "ResultsBucket: holds scratch query results, but no enabled lifecycle rule expires every object"},
	{name: "results bucket keeps versions", old: "      OwnershipControls:\n", new: "      VersioningConfiguration:\n        Status: Enabled\n      OwnershipControls:\n", want: "ResultsBucket: keeps versions, but no lifecycle rule expires noncurrent versions"},
}
