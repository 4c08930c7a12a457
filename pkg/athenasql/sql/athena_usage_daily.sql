CREATE OR REPLACE VIEW "{{.Database}}"."athena_usage_daily" AS
-- Day x user x database. Failed submissions (refused before a query existed) are counted in
-- failed_submissions, not in queries.
SELECT
    day,
    user_arn,
    role,
    database,
    sum(queries) AS queries,
    sum(queries_without_stats) AS queries_without_stats,
    sum(succeeded) AS succeeded,
    sum(failed) AS failed,
    sum(cancelled) AS cancelled,
    sum(failed_submissions) AS failed_submissions,
    sum(data_scanned_bytes) AS data_scanned_bytes,
    CAST(sum(data_scanned_bytes) AS DOUBLE) / nullif(sum(queries_with_stats), 0) / 1048576 AS avg_mb_scanned,
    sum(engine_execution_ms) AS engine_execution_ms,
    sum(billed_bytes) AS billed_bytes,
    sum(cost_usd) AS cost_usd
FROM (
    SELECT
        day,
        user_arn,
        role,
        database,
        1 AS queries,
        CASE WHEN has_stats THEN 0 ELSE 1 END AS queries_without_stats,
        CASE WHEN has_stats THEN 1 ELSE 0 END AS queries_with_stats,
        CASE WHEN status = 'SUCCEEDED' THEN 1 ELSE 0 END AS succeeded,
        CASE WHEN status = 'FAILED' THEN 1 ELSE 0 END AS failed,
        CASE WHEN status = 'CANCELLED' THEN 1 ELSE 0 END AS cancelled,
        0 AS failed_submissions,
        coalesce(data_scanned_bytes, 0) AS data_scanned_bytes,
        coalesce(engine_execution_ms, 0) AS engine_execution_ms,
        billed_bytes,
        cost_usd
    FROM "{{.Database}}"."athena_usage"
    UNION ALL
    SELECT
        day,
        user_arn,
        role,
        database,
        0, 0, 0, 0, 0, 0,
        submissions,
        0, 0, 0, 0.0
    FROM "{{.Database}}"."athena_failed_submissions"
)
GROUP BY day, user_arn, role, database
