-- One user's queries on {{.Day}}, most expensive first: the drill-in of an alert.
SELECT query_id, event_time, workgroup, database, status, data_scanned_bytes, cost_usd
FROM "{{.Database}}"."athena_usage"
WHERE day = '{{.Day}}' AND user_arn = '{{.User}}'
ORDER BY cost_usd DESC, query_id
LIMIT 100
