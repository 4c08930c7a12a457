-- Dashboard dataset "cost per user": the estimated cost and the bytes Athena bills (see
-- dashboard_avg_mb_scanned.sql for what every dashboard_*.sql file shares).
SELECT
    CAST(day AS DATE) AS day,
    account_id,
    workgroup,
    role,
    user_arn,
    billed_bytes,
    cost_usd
FROM (
    SELECT
        day,
        account_id,
        workgroup,
        role,
        user_arn,
        sum(billed_bytes) AS billed_bytes,
        sum(cost_usd) AS cost_usd
    FROM "{{.Database}}"."athena_usage"
    GROUP BY day, account_id, workgroup, role, user_arn
)
