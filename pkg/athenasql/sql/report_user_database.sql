-- Average MB scanned per query with statistics, by user and database, over [{{.From}}, {{.To}}].
SELECT
    user_arn,
    database,
    sum(queries) AS queries,
    CAST(sum(data_scanned_bytes) AS DOUBLE) / nullif(sum(queries) - sum(queries_without_stats), 0) / 1048576 AS avg_mb_scanned
FROM "{{.Database}}"."athena_usage_daily"
WHERE day BETWEEN '{{.From}}' AND '{{.To}}' AND queries > 0
GROUP BY user_arn, database
ORDER BY user_arn, database
