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
-- Bad records never fail a day: each one is left out of the day's queries, and written as a row
-- of its own (bad_record, source_file, source_record; every other column NULL, so the lookup
-- and the views skip it) by the extraction of the day whose folder holds it, so that it is
-- counted once however many days' extractions read that folder. Kinds, first that applies:
--   record            a Records entry that is no event (null, not an object: a row of NULLs)
--   eventTime         not ISO 8601 in UTC, as CloudTrail writes it: no view ever parses one
--   recipientAccountId not 12 digits (the lookup would call Athena in no account)
--   awsRegion         not a region name (it would become an endpoint's host name)
--   responseElements  a successful call whose responseElements is missing or not JSON
--   queryExecutionId  a successful call without a query ID of Athena's form
-- The patterns are those of package config, which the lookup checks again. Athena gives a
-- record's file ("$path") but not its position in the file, so a record is named by its eventID
-- and, when it has none, by '#n': its rank among the file's records without one, in the order of
-- their fields (deterministic: records that tie are alike in every field read here).
WITH records AS (
    SELECT
        "$path" AS source_file,
        day AS folder,
        eventid,
        eventtime,
        errorcode,
        responseelements,
        requestparameters,
        json_extract_scalar(responseelements, '$.queryExecutionId') AS raw_query_id,
        coalesce(recipientaccountid, useridentity.accountid, account) AS raw_account_id,
        awsregion,
        useridentity,
        sourceipaddress,
        useragent,
        eventsource
    FROM "{{.Database}}"."cloudtrail_logs"
    WHERE day IN ({{.DayPaths}})
        AND (eventsource = 'athena.amazonaws.com' AND eventname = 'StartQueryExecution'
            OR eventsource IS NULL AND eventname IS NULL AND eventid IS NULL AND eventtime IS NULL)
),
checked AS (
    SELECT
        *,
        CASE
            WHEN eventsource IS NULL THEN 'record'
            WHEN NOT regexp_like(coalesce(eventtime, ''), '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$') THEN 'eventTime'
            WHEN NOT regexp_like(raw_account_id, '^[0-9]{12}$') THEN 'recipientAccountId'
            WHEN awsregion IS NOT NULL AND NOT regexp_like(awsregion, '^[a-z]{2}(-gov|-iso[a-z]{0,2})?-[a-z]+-[0-9]{1,2}$') THEN 'awsRegion'
            WHEN errorcode IS NULL AND json_extract(responseelements, '$') IS NULL THEN 'responseElements'
            WHEN errorcode IS NULL AND NOT regexp_like(coalesce(raw_query_id, ''), '^[0-9A-Za-z_-]{1,128}$') THEN 'queryExecutionId'
        END AS bad_record
    FROM records
),
events AS (
    SELECT
        replace(replace(replace(raw_query_id, '\', '\\'), chr(13), '\\r'), chr(10), '\\n') AS query_id,
        eventtime || eventid AS pick,
        eventid,
        eventtime,
        replace(replace(replace(raw_account_id, '\', '\\'), chr(13), '\\r'), chr(10), '\\n') AS account_id,
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
    FROM checked
    WHERE bad_record IS NULL
        AND eventtime >= '{{.LookbackFrom}}'
        AND eventtime < '{{.To}}'
),
ranked AS (
    -- A duplicate delivery, or a retry with the same ClientRequestToken, logs the same query
    -- ID more than once: keep one row, the earliest event's (by time, then eventID), on that
    -- event's day; records that tie are ranked by every column kept, so the pick is
    -- deterministic even when a forged record repeats another's eventID. nth_event numbers
    -- the query's distinct eventIDs.
    -- (Windows, not a min_by per column and count(DISTINCT eventid): each min_by holds its own
    -- copy of pick for every query ID, gigabytes at a million queries that no engine can spill
    -- to disk, while a window's rows can be.)
    SELECT
        *,
        row_number() OVER (
            PARTITION BY query_id
            ORDER BY eventtime, pick, account_id, aws_region, user_arn, user_type, principal_id, user_name,
                session_issuer, source_ip, user_agent, workgroup, query_database) AS nth,
        CASE WHEN eventid IS NOT NULL THEN dense_rank() OVER (PARTITION BY query_id ORDER BY eventid) END AS nth_event
    FROM events
    WHERE query_id IS NOT NULL
),
counted AS (
    -- The query's submissions: its distinct eventIDs (NULL, ranked last, is none).
    SELECT *, coalesce(max(nth_event) OVER (PARTITION BY query_id), 0) AS submissions
    FROM ranked
),
started AS (
    SELECT
        query_id,
        eventtime AS event_time,
        account_id,
        aws_region,
        user_arn,
        user_type,
        principal_id,
        user_name,
        session_issuer,
        source_ip,
        user_agent,
        workgroup,
        query_database,
        CAST(NULL AS VARCHAR) AS error_code,
        submissions
    FROM counted
    WHERE nth = 1 AND eventtime >= '{{.From}}'
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
),
rejected AS (
    -- The day's own folder's bad records, named by file and eventID (or rank, see above).
    SELECT
        bad_record,
        replace(replace(replace(source_file, '\', '\\'), chr(13), '\\r'), chr(10), '\\n') AS source_file,
        replace(replace(replace(coalesce(eventid, '#' || CAST(row_number() OVER (
            PARTITION BY source_file, eventid IS NULL
            ORDER BY eventtime, raw_query_id, raw_account_id, awsregion, errorcode, responseelements) AS VARCHAR)),
            '\', '\\'), chr(13), '\\r'), chr(10), '\\n') AS source_record
    FROM checked
    WHERE bad_record IS NOT NULL AND folder = '{{.DayPath}}'
)
SELECT * FROM (
    SELECT *, CAST(NULL AS VARCHAR) AS bad_record, CAST(NULL AS VARCHAR) AS source_file, CAST(NULL AS VARCHAR) AS source_record FROM started
    UNION ALL
    SELECT *, CAST(NULL AS VARCHAR) AS bad_record, CAST(NULL AS VARCHAR) AS source_file, CAST(NULL AS VARCHAR) AS source_record FROM failed
    UNION ALL
    SELECT
        CAST(NULL AS VARCHAR) AS query_id, CAST(NULL AS VARCHAR) AS event_time, CAST(NULL AS VARCHAR) AS account_id,
        CAST(NULL AS VARCHAR) AS aws_region, CAST(NULL AS VARCHAR) AS user_arn, CAST(NULL AS VARCHAR) AS user_type,
        CAST(NULL AS VARCHAR) AS principal_id, CAST(NULL AS VARCHAR) AS user_name, CAST(NULL AS VARCHAR) AS session_issuer,
        CAST(NULL AS VARCHAR) AS source_ip, CAST(NULL AS VARCHAR) AS user_agent, CAST(NULL AS VARCHAR) AS workgroup,
        CAST(NULL AS VARCHAR) AS query_database, CAST(NULL AS VARCHAR) AS error_code, CAST(NULL AS BIGINT) AS submissions,
        bad_record, source_file, source_record
    FROM rejected
)
ORDER BY query_id NULLS LAST, account_id, aws_region, user_arn, error_code, bad_record, source_file, source_record
