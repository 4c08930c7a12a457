-- Dashboard dataset "failed and refused queries per user": queries that ran and FAILED, and
-- StartQueryExecution calls Athena refused before a query existed (CloudTrail's errorCode, no
-- query ID, from athena_failed_submissions). See dashboard_avg_mb_scanned.sql for what every
-- dashboard_*.sql file shares.
SELECT
    CAST(day AS DATE) AS day,
    account_id,
    workgroup,
    role,
    user_arn,
    failed,
    refused
FROM (
    SELECT day, account_id, workgroup, role, user_arn, sum(failed) AS failed, sum(refused) AS refused
    FROM (
        SELECT day, account_id, workgroup, role, user_arn, 1 AS failed, 0 AS refused
        FROM "{{.Database}}"."athena_usage"
        WHERE status = 'FAILED'
        UNION ALL
        SELECT day, account_id, workgroup, role, user_arn, 0, submissions
        FROM "{{.Database}}"."athena_failed_submissions"
    )
    GROUP BY day, account_id, workgroup, role, user_arn
)
