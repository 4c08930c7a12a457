CREATE OR REPLACE VIEW "{{.Database}}"."athena_failed_submissions" AS
-- StartQueryExecution calls that Athena refused (no query ID), per day, user and error code.
SELECT
    dt AS day,
    account_id,
    aws_region,
    coalesce(nullif(workgroup, ''), 'primary') AS workgroup,
    user_arn,
    nullif(user_type, '') AS user_type,
    coalesce(nullif(session_issuer, ''), nullif(user_name, ''), user_arn) AS role,
    coalesce(nullif(query_database, ''), '(none)') AS database,
    error_code,
    CAST(submissions AS BIGINT) AS submissions
FROM "{{.Database}}"."athena_queries"
WHERE query_id = '' AND error_code <> ''
