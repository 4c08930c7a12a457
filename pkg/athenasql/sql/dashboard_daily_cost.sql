-- Dashboard dataset "daily cost": the trend of the estimated cost, with the queries and bytes
-- behind it (see dashboard_avg_mb_scanned.sql for what every dashboard_*.sql file shares).
SELECT
    CAST(day AS DATE) AS day,
    account_id,
    workgroup,
    role,
    queries,
    data_scanned_bytes,
    cost_usd
FROM (
    SELECT
        day,
        account_id,
        workgroup,
        role,
        count(*) AS queries,
        sum(coalesce(data_scanned_bytes, 0)) AS data_scanned_bytes,
        sum(cost_usd) AS cost_usd
    FROM "{{.Database}}"."athena_usage"
    GROUP BY day, account_id, workgroup, role
)
