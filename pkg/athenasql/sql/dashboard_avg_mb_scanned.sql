-- Dashboard dataset "average MB scanned by user and database": the bytes of the queries with
-- statistics and their number, so that the average over any filter is the quotient of sums
-- (an average of averages would weigh a user's one query like another's thousand).
-- Like every dashboard_*.sql file: QuickSight runs this text as its dataset (template.yaml),
-- the local report runs it inside dashboard_window.sql. One row per day, account, workgroup
-- and role (the dashboard's filters) and the visual's own columns. day is a DATE.
SELECT
    CAST(day AS DATE) AS day,
    account_id,
    workgroup,
    role,
    user_arn,
    database,
    queries,
    queries_with_stats,
    data_scanned_bytes
FROM (
    SELECT
        day,
        account_id,
        workgroup,
        role,
        user_arn,
        database,
        count(*) AS queries,
        sum(CASE WHEN has_stats THEN 1 ELSE 0 END) AS queries_with_stats,
        sum(CASE WHEN has_stats THEN coalesce(data_scanned_bytes, 0) ELSE 0 END) AS data_scanned_bytes
    FROM "{{.Database}}"."athena_usage"
    GROUP BY day, account_id, workgroup, role, user_arn, database
)
