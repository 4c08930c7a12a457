CREATE EXTERNAL TABLE `{{.Database}}`.`athena_queries` (
    query_id STRING,
    event_time STRING,
    account_id STRING,
    aws_region STRING,
    user_arn STRING,
    user_type STRING,
    principal_id STRING,
    user_name STRING,
    session_issuer STRING,
    source_ip STRING,
    user_agent STRING,
    workgroup STRING,
    query_database STRING,
    error_code STRING,
    submissions STRING,
    bad_record STRING,
    source_file STRING,
    source_record STRING
)
COMMENT 'One row per query started in a day (from CloudTrail), one per user and error code for failed submissions, and one per bad record (bad_record: its kind) delivered that day'
PARTITIONED BY (dt STRING)
ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde'
WITH SERDEPROPERTIES (
    'separatorChar' = ',',
    'quoteChar' = '"',
    'escapeChar' = '\\'
)
LOCATION '{{.QueriesRoot}}'
TBLPROPERTIES (
    'skip.header.line.count' = '1',
    'projection.enabled' = 'true',
    'projection.dt.type' = 'date',
    'projection.dt.format' = 'yyyy-MM-dd',
    'projection.dt.interval' = '1',
    'projection.dt.interval.unit' = 'DAYS',
    'projection.dt.range' = '{{.ProjectionStartDay}},NOW',
    'storage.location.template' = '{{.QueriesRoot}}dt=${dt}/'
)
