-- Dashboard dataset "queries per database", by final state. Queries Athena returned no state for
-- are queries minus the three states (see dashboard_avg_mb_scanned.sql for what every
-- dashboard_*.sql file shares).
SELECT
    CAST(day AS DATE) AS day,
    account_id,
    workgroup,
    role,
    database,
    queries,
    succeeded,
    failed,
    cancelled,
    queries - succeeded - failed - cancelled AS no_state
FROM (
    SELECT
        day,
        account_id,
        workgroup,
        role,
        database,
        count(*) AS queries,
        sum(CASE WHEN status = 'SUCCEEDED' THEN 1 ELSE 0 END) AS succeeded,
        sum(CASE WHEN status = 'FAILED' THEN 1 ELSE 0 END) AS failed,
        sum(CASE WHEN status = 'CANCELLED' THEN 1 ELSE 0 END) AS cancelled
    FROM "{{.Database}}"."athena_usage"
    GROUP BY day, account_id, workgroup, role, database
)
