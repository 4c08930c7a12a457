-- Daily cost per user from {{.From}} to {{.Day}}, for the users whose cost on {{.Day}} reaches
-- {{.FloorUSD}} USD (the lower of the alert rules' two floors): their figures on the day and
-- the days their baseline is the median of. Days without a query have no row.
SELECT
    user_arn,
    day,
    sum(queries) AS queries,
    sum(data_scanned_bytes) AS data_scanned_bytes,
    coalesce(sum(cost_usd), 0.0) AS cost_usd
FROM "{{.Database}}"."athena_usage_daily"
WHERE day BETWEEN '{{.From}}' AND '{{.Day}}'
    AND user_arn IN (
        SELECT user_arn
        FROM "{{.Database}}"."athena_usage_daily"
        WHERE day = '{{.Day}}'
        GROUP BY user_arn
        HAVING coalesce(sum(cost_usd), 0.0) >= {{.FloorUSD}}
    )
GROUP BY user_arn, day
ORDER BY user_arn, day
