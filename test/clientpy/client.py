#!/usr/bin/env python3
"""A third-party client of `athena-usage local serve`: boto3 and nothing of athena-usage's code.

It plays the original design (AWS Big Data blog, "How realtor.com Monitors Amazon Athena Usage
with AWS CloudTrail and Amazon QuickSight", ../shared/seeds/002_*.txt) against the local
stand-ins, the way a user who follows AWS's documentation would:

  1. runs a few queries, so that Athena knows their IDs, and writes CloudTrail's record of them
     (gzip log files in CloudTrail's layout, uploaded with upload_file);
  2. creates cloudtrail_logs in `default` with AWS's documented DDL, verbatim but for LOCATION,
     in both its forms: the Hive JSON SerDe with manual partitions (then ALTER TABLE ADD
     PARTITION per day, as the guide says), and the older CloudTrail SerDe;
  3. runs the design's last-day query (json_extract, from_iso8601_timestamp,
     date_add('day', -1, now())) and one with quoted identifiers, paging GetQueryResults;
  4. looks the IDs up with BatchGetQueryExecution, uploads them as CSV under the design's
     athena_api_output table, and runs the design's join;
  5. asserts the rows Athena would return: JSON values as JSON text, one join row per query,
     and the same rows from both DDLs.

Usage: client.py ATHENA_USAGE_BINARY   (exits 0 when every check passed)
"""

import csv
import datetime as dt
import gzip
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import boto3
from botocore.config import Config

ACCOUNT = "123456789012"
REGION = "us-east-1"
TRAIL_BUCKET = "cloudtrail-logs"  # the buckets `local serve` creates
RESULTS = "s3://athena-usage-results/clientpy/"
DATA_BUCKET = "athena-usage-data"
HERE = os.path.dirname(os.path.abspath(__file__))

# AWS's documented DDLs, verbatim, as the engine's tests keep them (from the Athena user guide:
# "Creating a table for CloudTrail logs in Athena using manual partitioning" and, the older
# form, "CloudTrail SerDe"); only LOCATION changes.
TESTDATA = os.path.join(HERE, "..", "..", "local", "sqlengine", "testdata")


def aws_ddl(file, location):
    with open(os.path.join(TESTDATA, file)) as f:
        ddl = f.read()
    i = ddl.rindex("LOCATION '")
    return ddl[:i] + f"LOCATION '{location}';\n"


DDL_MANUAL_PARTITIONS = aws_ddl("cloudtrail_manual_partitions.sql",
                                f"s3://{TRAIL_BUCKET}/AWSLogs/{ACCOUNT}/CloudTrail/")
DDL_CLOUDTRAIL_SERDE = aws_ddl("cloudtrail_serde.sql", f"s3://{TRAIL_BUCKET}/AWSLogs/{ACCOUNT}/")

# The design's queries, as the blog gives them (its text lost the SELECT lists in extraction;
# they are filled in with the columns the blog describes).
LAST_DAY_QUERY = """with data AS (
    SELECT  json_extract(responseelements,
            '$.queryExecutionId') AS query_id,
            (useridentity.arn) AS uid,
            (useridentity.sessioncontext.sessionIssuer.userName) AS role,
            from_iso8601_timestamp(eventtime) AS dt
    FROM    cloudtrail_logs
    WHERE   eventsource='athena.amazonaws.com'
            AND eventname='StartQueryExecution'
            AND json_extract(responseelements, '$.queryExecutionId') is NOT null)
SELECT *
FROM   data
WHERE  dt > date_add('day',-1,now() )"""

QUOTED_QUERY = """SELECT "eventid", "useridentity"."arn" AS "Uid",
       json_extract_scalar("responseelements", '$.queryExecutionId') AS "query id"
FROM "default"."cloudtrail_logs"
WHERE "eventname" = 'StartQueryExecution' AND "responseelements" IS NOT NULL
  AND from_iso8601_timestamp("eventtime") > date_add('day', -1, now())
ORDER BY "eventid\""""

API_OUTPUT_DDL = """CREATE EXTERNAL TABLE athena_api_output(
  queryid string,
  querydatabase string,
  executiontime bigint,
  datascanned bigint,
  status string,
  submissiondatetime string,
  completiondatetime string
)
ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe'
WITH SERDEPROPERTIES (
  'serialization.format' = ',',
  'field.delim' = ','
) LOCATION 's3://athena-usage-data/clientpy/athena_api_output/'
TBLPROPERTIES ('has_encrypted_data'='false')"""

JOIN_QUERY = """SELECT c.useridentity.arn AS uid,
       json_extract(c.responseelements, '$.queryExecutionId') qid,
       a.querydatabase, a.executiontime, a.datascanned, a.status
FROM  cloudtrail_logs c
JOIN  athena_api_output a
ON    cast(json_extract(c.responseelements, '$.queryExecutionId') as varchar) = a.queryid
WHERE eventsource = 'athena.amazonaws.com'
AND   eventname = 'StartQueryExecution'
AND   from_iso8601_timestamp(eventtime) >  date_add('day',-5 ,now()  )"""

failures = []


def check(cond, what, detail=""):
    """Records a failed check, printing detail with it; the run goes on so that one run
    reports every failure."""
    print(("ok   " if cond else "FAIL ") + what + ("" if cond else detail), flush=True)
    if not cond:
        failures.append(what)
    return cond


def serve(binary, state):
    """Starts `local serve` over state and returns the process and the variables it printed."""
    proc = subprocess.Popen([binary, "local", "serve", "--dir", state],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    env = {}
    for line in proc.stdout:
        if line.startswith("Serving until interrupted"):
            return proc, env
        if line.startswith("export "):
            for kv in line[len("export "):].split():
                k, _, v = kv.partition("=")
                env[k] = v
    proc.wait()
    sys.exit("local serve exited before serving: " + proc.stderr.read())


def run_query(athena, sql, database="default"):
    """Starts sql, waits for it and returns its ID; a failed statement fails the run."""
    qid = athena.start_query_execution(
        QueryString=sql, QueryExecutionContext={"Database": database},
        ResultConfiguration={"OutputLocation": RESULTS})["QueryExecutionId"]
    deadline = time.monotonic() + 60
    while True:
        st = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
        if st["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        if time.monotonic() > deadline:
            sys.exit(f"query {qid} still {st['State']} after 60 s: {sql[:60]}")
        time.sleep(0.05)
    if st["State"] != "SUCCEEDED":
        sys.exit(f"query {sql[:80]!r}: {st['State']}: {st.get('StateChangeReason')}")
    return qid


def results(athena, qid, page_size):
    """Pages GetQueryResults; returns the column info, the rows as lists (None for NULL) and
    the number of pages."""
    pages = athena.get_paginator("get_query_results").paginate(
        QueryExecutionId=qid, PaginationConfig={"PageSize": page_size})
    columns, rows, n = None, [], 0
    for page in pages:
        n += 1
        rs = page["ResultSet"]
        if columns is None:
            columns = [(c["Name"], c["Type"]) for c in rs["ResultSetMetadata"]["ColumnInfo"]]
        for r in rs["Rows"]:
            rows.append([d.get("VarCharValue") for d in r["Data"]])
    # The first row of a SELECT's results is the header.
    check(rows and rows[0] == [c[0] for c in columns], f"results of {qid} start with the header row")
    return columns, rows[1:], n


def event(template, now, minutes_ago, **fields):
    """A CloudTrail record made from one of AWS's documented entries (the seed fixtures)."""
    e = json.loads(json.dumps(template))
    t = now - dt.timedelta(minutes=minutes_ago)
    e["eventTime"] = t.strftime("%Y-%m-%dT%H:%M:%SZ")
    e.update(fields)
    return e


def write_trail(s3, events):
    """Writes events as CloudTrail delivers them: one gzip file per day, under
    AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/; returns the days."""
    days = {}
    for e in events:
        days.setdefault(e["eventTime"][:10], []).append(e)
    with tempfile.TemporaryDirectory() as tmp:
        for day, evs in days.items():
            y, m, d = day.split("-")
            name = f"{ACCOUNT}_CloudTrail_{REGION}_{y}{m}{d}T0000Z_clientpy.json.gz"
            local = os.path.join(tmp, name)
            with gzip.open(local, "wt") as f:
                json.dump({"Records": evs}, f)
            s3.upload_file(local, TRAIL_BUCKET, f"AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/{y}/{m}/{d}/{name}")
    return sorted(days)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with tempfile.TemporaryDirectory() as state:
        proc, env = serve(sys.argv[1], state)
        try:
            scenario(env)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                failures.append("local serve did not stop within 15 s of SIGINT")
    if failures:
        print(f"client test: {len(failures)} check(s) failed", file=sys.stderr)
        sys.exit(1)
    print("client test: every check passed")


def clients(env):
    kw = dict(region_name=env["AWS_REGION"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
              aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    athena = boto3.client("athena", endpoint_url=env["AWS_ENDPOINT_URL_ATHENA"], **kw)
    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL_S3"],
                      config=Config(s3={"addressing_style": "path"}), **kw)
    return athena, s3


def scenario(env):
    athena, s3 = clients(env)
    with open(os.path.join(TESTDATA, "start_query_execution_succeeded.json")) as f:
        succeeded = json.load(f)
    with open(os.path.join(TESTDATA, "start_query_execution_failed.json")) as f:
        failed = json.load(f)

    # 1. Users' queries, and CloudTrail's record of them.
    users = [f"arn:aws:iam::{ACCOUNT}:user/{u}" for u in ("alice", "bob")]
    role = {"type": "AssumedRole", "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/analyst/carol",
            "accountId": ACCOUNT, "principalId": "AROAEXAMPLE:carol",
            "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "analyst",
                                                 "arn": f"arn:aws:iam::{ACCOUNT}:role/analyst"}}}
    ids = [run_query(athena, f"SELECT {i} AS n, 'x' AS s") for i in range(7)]
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    events, expected = [], {}
    for i, qid in enumerate(ids):
        ident = role if i % 3 == 2 else dict(succeeded["userIdentity"], arn=users[i % 3])
        e = event(succeeded, now, 10 + 7 * i, userIdentity=ident, eventID=f"ev-{i}",
                  responseElements={"queryExecutionId": qid})
        events.append(e)
        expected[qid] = e
    # Not StartQueryExecution answers, or too old: none of them is in a result.
    events.append(event(failed, now, 5, eventID="ev-failed"))
    events.append(event(succeeded, now, 60 * 24 * 10, eventID="ev-old",
                        responseElements={"queryExecutionId": "00000000-0000-0000-0000-000000000000"}))
    days = write_trail(s3, events)

    rows_by_ddl = {}
    for name, ddl in (("manual partitions (Hive JSON SerDe)", DDL_MANUAL_PARTITIONS),
                      ("CloudTrail SerDe", DDL_CLOUDTRAIL_SERDE)):
        print(f"--- cloudtrail_logs with AWS's {name} DDL")
        run_query(athena, "DROP TABLE IF EXISTS cloudtrail_logs")
        run_query(athena, ddl)
        if "PARTITIONED BY" in ddl:
            for day in days:
                y, m, d = day.split("-")
                run_query(athena, f"""ALTER TABLE cloudtrail_logs ADD
   PARTITION (region='{REGION}',
              year='{y}',
              month='{m}',
              day='{d}')
   LOCATION 's3://{TRAIL_BUCKET}/AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/{y}/{m}/{d}/'""")
        rows_by_ddl[name] = design(athena, s3, expected, now, first=not rows_by_ddl)
    a, b = rows_by_ddl.values()
    check(a == b, f"both CloudTrail DDLs give the same rows ({len(a[0])} last-day rows, {len(a[1])} join rows)")


def design(athena, s3, expected, now, first):
    """Runs the design over cloudtrail_logs; returns the last-day rows and the join's rows."""
    # 3. The last-day query: query_id is JSON, rendered as JSON text (quotes included).
    qid = run_query(athena, LAST_DAY_QUERY)
    columns, rows, pages = results(athena, qid, page_size=3)
    check(columns == [("query_id", "json"), ("uid", "varchar"), ("role", "varchar"),
                      ("dt", "timestamp with time zone")], f"last-day query columns: {columns}")
    check(pages > 1, f"GetQueryResults paged ({pages} pages of 3)")
    want = sorted([json.dumps(q), e["userIdentity"]["arn"],
                   e["userIdentity"].get("sessionContext", {}).get("sessionIssuer", {}).get("userName"),
                   e["eventTime"].replace("T", " ").replace("Z", ".000 UTC")] for q, e in expected.items())
    got = sorted(rows, key=lambda r: [x or "" for x in r])
    want.sort(key=lambda r: [x or "" for x in r])
    check(got == want, "last-day query returns one row per query, as Athena would",
          f":\n  got  {got}\n  want {want}")

    qid = run_query(athena, QUOTED_QUERY)
    columns, rows, _ = results(athena, qid, page_size=50)
    check([c[0] for c in columns] == ["eventid", "uid", "query id"], f"quoted identifiers name the columns: {columns}")
    want_q = sorted([e["eventID"], e["userIdentity"]["arn"], q] for q, e in expected.items())
    check(rows == want_q, "quoted-identifier query returns its rows", f":\n  got  {rows}\n  want {want_q}")

    # 4. BatchGetQueryExecution in batches of 50, the IDs read back from the JSON text.
    ids = [json.loads(r[0]) for r in got]
    executions = []
    for i in range(0, len(ids), 50):
        out = athena.batch_get_query_execution(QueryExecutionIds=ids[i:i + 50])
        check(not out["UnprocessedQueryExecutionIds"], "BatchGetQueryExecution knows every ID")
        executions += out["QueryExecutions"]
    check(sorted(e["QueryExecutionId"] for e in executions) == sorted(expected),
          "BatchGetQueryExecution answers each ID once")
    if first:
        unknown = "00000000-0000-0000-0000-000000000000"
        out = athena.batch_get_query_execution(QueryExecutionIds=[ids[0], ids[0], unknown])
        check(len(out["QueryExecutions"]) == 2 and [u["QueryExecutionId"] for u in out["UnprocessedQueryExecutionIds"]] == [unknown],
              "BatchGetQueryExecution answers a repeated ID each time and reports an unknown one")

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for e in executions:
        st, stats = e["Status"], e["Statistics"]
        w.writerow([e["QueryExecutionId"], e["QueryExecutionContext"].get("Database", ""),
                    stats["EngineExecutionTimeInMillis"], stats["DataScannedInBytes"], st["State"],
                    st["SubmissionDateTime"].isoformat(), st["CompletionDateTime"].isoformat()])
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        f.write(buf.getvalue())
    s3.upload_file(f.name, DATA_BUCKET, "clientpy/athena_api_output/part-0.csv")
    os.unlink(f.name)
    run_query(athena, "DROP TABLE IF EXISTS athena_api_output")
    run_query(athena, API_OUTPUT_DDL)

    # 5. The design's join: one row per joined query.
    qid = run_query(athena, JOIN_QUERY)
    columns, rows, _ = results(athena, qid, page_size=1000)
    check([c for c, _ in columns] == ["uid", "qid", "querydatabase", "executiontime", "datascanned", "status"],
          f"join columns: {columns}")
    stats = {e["QueryExecutionId"]: e for e in executions}
    want_j = sorted([expected[q]["userIdentity"]["arn"], json.dumps(q), "default",
                     str(stats[q]["Statistics"]["EngineExecutionTimeInMillis"]),
                     str(stats[q]["Statistics"]["DataScannedInBytes"]), "SUCCEEDED"] for q in expected)
    rows.sort()
    check(rows == want_j, f"the design's join returns one row per joined query ({len(rows)} of {len(want_j)})",
          f":\n  got  {rows}\n  want {want_j}")
    return got, rows


if __name__ == "__main__":
    main()
