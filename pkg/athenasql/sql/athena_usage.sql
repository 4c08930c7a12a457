CREATE OR REPLACE VIEW "{{.Database}}"."athena_usage" AS
-- One row per query: the CloudTrail side LEFT JOIN the API side, so that a query with no
-- statistics (expired from Athena's 45-day history, or not yet looked up) still counts.
-- Times are plain UTC timestamps (QuickSight does not read timestamps with a time zone). The
-- extraction writes no event time it cannot parse, but a partition written before it checked
-- may hold one: try() makes that row's event_time NULL instead of failing every query.
-- Billing: DML that SUCCEEDED or was CANCELLED is billed for its bytes, rounded up to a whole
-- MB with a 10 MB minimum. DDL, utility and failed queries cost nothing.
SELECT
    day,
    query_id,
    event_time,
    account_id,
    aws_region,
    user_arn,
    user_type,
    principal_id,
    user_name,
    session_issuer,
    coalesce(session_issuer, user_name, user_arn) AS role,
    source_ip,
    user_agent,
    workgroup,
    database,
    status,
    statement_type,
    substatement_type,
    data_scanned_bytes,
    engine_execution_ms,
    total_execution_ms,
    queue_ms,
    planning_ms,
    service_processing_ms,
    result_reused,
    engine_version,
    error_category,
    error_type,
    error_message,
    lookup_error,
    submission_time,
    completion_time,
    has_stats,
    billed_bytes,
    CAST(billed_bytes AS DOUBLE) / 1099511627776 * {{.PricePerTB}} AS cost_usd
FROM (
    SELECT
        q.dt AS day,
        q.query_id,
        CAST(try(from_iso8601_timestamp(q.event_time)) AS TIMESTAMP) AS event_time,
        q.account_id,
        q.aws_region,
        q.user_arn,
        nullif(q.user_type, '') AS user_type,
        nullif(q.principal_id, '') AS principal_id,
        nullif(q.user_name, '') AS user_name,
        nullif(q.session_issuer, '') AS session_issuer,
        nullif(q.source_ip, '') AS source_ip,
        nullif(q.user_agent, '') AS user_agent,
        coalesce(a.workgroup, nullif(q.workgroup, ''), 'primary') AS workgroup,
        coalesce(a.querydatabase, nullif(q.query_database, ''), '(none)') AS database,
        a.status,
        a.statement_type,
        a.substatement_type,
        a.datascanned AS data_scanned_bytes,
        a.executiontime AS engine_execution_ms,
        a.total_execution_ms,
        a.queue_ms,
        a.planning_ms,
        a.service_processing_ms,
        a.result_reused,
        a.engine_version,
        a.error_category,
        a.error_type,
        a.error_message,
        a.lookup_error,
        CAST(from_iso8601_timestamp(a.submissiondatetime) AS TIMESTAMP) AS submission_time,
        CAST(from_iso8601_timestamp(a.completiondatetime) AS TIMESTAMP) AS completion_time,
        (a.queryid IS NOT NULL AND a.lookup_error IS NULL) AS has_stats,
        CASE
            WHEN a.statement_type = 'DML' AND a.status IN ('SUCCEEDED', 'CANCELLED')
            THEN greatest(CAST(ceil(CAST(coalesce(a.datascanned, 0) AS DOUBLE) / 1048576) AS BIGINT), 10) * 1048576
            ELSE 0
        END AS billed_bytes
    FROM "{{.Database}}"."athena_queries" q
    LEFT JOIN "{{.Database}}"."athena_api_output" a
        ON a.dt = q.dt AND a.queryid = q.query_id
    WHERE q.query_id <> ''
)
