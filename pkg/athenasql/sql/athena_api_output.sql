CREATE EXTERNAL TABLE `{{.Database}}`.`athena_api_output` (
    queryid STRING,
    querydatabase STRING,
    executiontime BIGINT,
    datascanned BIGINT,
    status STRING,
    submissiondatetime STRING,
    completiondatetime STRING,
    workgroup STRING,
    statement_type STRING,
    substatement_type STRING,
    total_execution_ms BIGINT,
    queue_ms BIGINT,
    planning_ms BIGINT,
    service_processing_ms BIGINT,
    result_reused BOOLEAN,
    engine_version STRING,
    error_category INT,
    error_type INT,
    error_message STRING,
    catalog STRING,
    lookup_error STRING
)
COMMENT 'BatchGetQueryExecution results, one row per query ID'
PARTITIONED BY (dt STRING)
ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe'
WITH SERDEPROPERTIES (
    'serialization.format' = ',',
    'field.delim' = ',',
    'escape.delim' = '\\',
    'serialization.escape.crlf' = 'true'
)
LOCATION '{{.APIOutputRoot}}'
TBLPROPERTIES (
    'projection.enabled' = 'true',
    'projection.dt.type' = 'date',
    'projection.dt.format' = 'yyyy-MM-dd',
    'projection.dt.interval' = '1',
    'projection.dt.interval.unit' = 'DAYS',
    'projection.dt.range' = '{{.ProjectionStartDay}},NOW',
    'storage.location.template' = '{{.APIOutputRoot}}dt=${dt}/'
)
