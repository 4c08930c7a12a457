-- StartQueryExecution events of one UTC day, [{{.From}}, {{.To}}), each query ID on the day of
-- its earliest event.
--
-- Partitions: CloudTrail files are filed by delivery time, and a file "can contain records
-- written at any point before that time", so the day's events are read from its own folder and
-- the following ones ({{.DayPaths}}); the schedule re-extracts recent days to pick up late
-- deliveries. The previous day's events are read too, over [{{.LookbackFrom}}, {{.To}}): a client
-- retry with the same ClientRequestToken around midnight logs one query ID on two days, and
-- it is counted once, on the day of its earliest event.
--
-- Free text (names, user agent, database, workgroup...) can hold anything, line breaks
-- included. Athena's result CSV keeps a line break inside quotes, but the athena_queries table
-- reads it with OpenCSVSerde one line at a time, so a line break would split the row and let
-- the rest of the text pass for a row of its own. Every text column is therefore written with
-- each backslash doubled (OpenCSVSerde's escape character is the backslash) and CR and LF as
-- the two characters \r and \n, which the table reads back as such.
--
-- An eventtime that is not ISO 8601 (UTC, as CloudTrail writes it) is not an event of any day:
-- such records are left out here, so that no view ever parses one.
WITH events AS (
    SELECT
        replace(replace(replace(json_extract_scalar(responseelements, '$.queryExecutionId'), '\', '\\'), chr(13), '\\r'), chr(10), '\\n') AS query_id,
        eventtime || eventid AS pick,
        eventid,
        eventtime,
        replace(replace(replace(coalesce(recipientaccountid, useridentity.accountid, account), '\', '\\'), chr(13), '\\r'), chr(10), '\\n') AS account_id,
        replace(replace(replace(awsregion, '\', '\\'), chr(13), '\\r'), chr(10), '\\n') AS aws_region,
        replace(replace(replace(coalesce(useridentity.arn, useridentity.invokedby, useridentity.principalid), '\', '\\'), chr(13), '\\r'), chr(10), '\\n') AS user_arn,
        replace(replace(replace(useridentity.type, '\', '\\'), chr(13), '\\r'), chr(10), '\\n') AS user_type,
        replace(replace(replace(useridentity.principalid, '\', '\\'), chr(13), '\\r'), chr(10), '\\n') AS principal_id,
        replace(replace(replace(useridentity.username, '\', '\\'), chr(13), '\\r'), chr(10), '\\n') AS user_name,
        replace(replace(replace(useridentity.sessioncontext.sessionissuer.username, '\', '\\'), chr(13), '\\r'), chr(10), '\\n') AS session_issuer,
        replace(replace(replace(sourceipaddress, '\', '\\'), chr(13), '\\r'), chr(10), '\\n') AS source_ip,
        replace(replace(replace(useragent, '\', '\\'), chr(13), '\\r'), chr(10), '\\n') AS user_agent,
        replace(replace(replace(coalesce(json_extract_scalar(requestparameters, '$.workGroup'), 'primary'), '\', '\\'), chr(13), '\\r'), chr(10), '\\n') AS workgroup,
        replace(replace(replace(json_extract_scalar(requestparameters, '$.queryExecutionContext.database'), '\', '\\'), chr(13), '\\r'), chr(10), '\\n') AS query_database,
        replace(replace(replace(errorcode, '\', '\\'), chr(13), '\\r'), chr(10), '\\n') AS error_code
    FROM "{{.Database}}"."cloudtrail_logs"
    WHERE day IN ({{.DayPaths}})
        AND eventsource = 'athena.amazonaws.com'
        AND eventname = 'StartQueryExecution'
        AND regexp_like(eventtime, '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$')
        AND eventtime >= '{{.LookbackFrom}}'
        AND eventtime < '{{.To}}'
),
started AS (
    -- A duplicate delivery, or a retry with the same ClientRequestToken, logs the same query
    -- ID more than once: keep one row, picked by the earliest event, on that event's day.
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
    HAVING min(eventtime) >= '{{.From}}'
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
    WHERE query_id IS NULL AND error_code IS NOT NULL AND eventtime >= '{{.From}}'
    GROUP BY account_id, aws_region, user_arn, error_code
)
SELECT * FROM (
    SELECT * FROM started
    UNION ALL
    SELECT * FROM failed
)
ORDER BY query_id NULLS LAST, account_id, aws_region, user_arn, error_code
