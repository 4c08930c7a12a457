-- StartQueryExecution events of one UTC day, [{{.From}}, {{.To}}). CloudTrail files are
-- filed by delivery time, so the day's events are in its own partition and the next one.
-- Free text is written with each backslash doubled: Athena's result CSV does not escape
-- backslashes, and the athena_queries table reads it with OpenCSVSerde, whose escape
-- character is the backslash.
WITH events AS (
    SELECT
        json_extract_scalar(responseelements, '$.queryExecutionId') AS query_id,
        eventtime || eventid AS pick,
        eventid,
        eventtime,
        coalesce(recipientaccountid, useridentity.accountid, account) AS account_id,
        awsregion AS aws_region,
        replace(coalesce(useridentity.arn, useridentity.invokedby, useridentity.principalid), '\', '\\') AS user_arn,
        replace(useridentity.type, '\', '\\') AS user_type,
        replace(useridentity.principalid, '\', '\\') AS principal_id,
        replace(useridentity.username, '\', '\\') AS user_name,
        replace(useridentity.sessioncontext.sessionissuer.username, '\', '\\') AS session_issuer,
        replace(sourceipaddress, '\', '\\') AS source_ip,
        replace(useragent, '\', '\\') AS user_agent,
        replace(coalesce(json_extract_scalar(requestparameters, '$.workGroup'), 'primary'), '\', '\\') AS workgroup,
        replace(json_extract_scalar(requestparameters, '$.queryExecutionContext.database'), '\', '\\') AS query_database,
        replace(errorcode, '\', '\\') AS error_code
    FROM "{{.Database}}"."cloudtrail_logs"
    WHERE day IN ('{{.DayPath}}', '{{.NextDayPath}}')
        AND eventsource = 'athena.amazonaws.com'
        AND eventname = 'StartQueryExecution'
        AND eventtime >= '{{.From}}'
        AND eventtime < '{{.To}}'
),
started AS (
    -- A duplicate delivery, or a retry with the same ClientRequestToken, logs the same query
    -- ID more than once: keep one row, picked by the earliest event.
    SELECT
        query_id,
        min(eventtime) AS event_time,
        min_by(account_id, pick) AS account_id,
        min_by(aws_region, pick) AS aws_region,
        min_by(user_arn, pick) AS user_arn,
        min_by(user_type, pick) AS user_type,
        min_by(principal_id, pick) AS principal_id,
        min_by(user_name, pick) AS user_name,
        min_by(session_issuer, pick) AS session_issuer,
        min_by(source_ip, pick) AS source_ip,
        min_by(user_agent, pick) AS user_agent,
        min_by(workgroup, pick) AS workgroup,
        min_by(query_database, pick) AS query_database,
        CAST(NULL AS VARCHAR) AS error_code,
        count(DISTINCT eventid) AS submissions
    FROM events
    WHERE query_id IS NOT NULL
    GROUP BY query_id
),
failed AS (
    -- Submissions that Athena refused have an error code and no query ID: count them per user.
    SELECT
        CAST(NULL AS VARCHAR) AS query_id,
        min(eventtime) AS event_time,
        account_id,
        aws_region,
        user_arn,
        min_by(user_type, pick) AS user_type,
        min_by(principal_id, pick) AS principal_id,
        min_by(user_name, pick) AS user_name,
        min_by(session_issuer, pick) AS session_issuer,
        min_by(source_ip, pick) AS source_ip,
        min_by(user_agent, pick) AS user_agent,
        min_by(workgroup, pick) AS workgroup,
        min_by(query_database, pick) AS query_database,
        error_code,
        count(DISTINCT eventid) AS submissions
    FROM events
    WHERE query_id IS NULL AND error_code IS NOT NULL
    GROUP BY account_id, aws_region, user_arn, error_code
)
SELECT * FROM (
    SELECT * FROM started
    UNION ALL
    SELECT * FROM failed
)
ORDER BY query_id NULLS LAST, account_id, aws_region, user_arn, error_code
