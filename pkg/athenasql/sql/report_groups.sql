-- Usage per {{.Key}} over [{{.From}}, {{.To}}], from the daily view that dashboards read.
SELECT
    {{.Key}} AS key,
    sum(queries) AS queries,
    sum(queries_without_stats) AS queries_without_stats,
    sum(succeeded) AS succeeded,
    sum(failed) AS failed,
    sum(cancelled) AS cancelled,
    sum(failed_submissions) AS failed_submissions,
    sum(data_scanned_bytes) AS data_scanned_bytes,
    sum(engine_execution_ms) AS engine_execution_ms,
    sum(cost_usd) AS cost_usd
FROM "{{.Database}}"."athena_usage_daily"
WHERE day BETWEEN '{{.From}}' AND '{{.To}}'
GROUP BY {{.Key}}
ORDER BY cost_usd DESC, queries DESC, key
