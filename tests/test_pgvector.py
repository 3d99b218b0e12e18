"""The set-up SQL custom resources' handler, run locally: boto3's rds-data client with botocore's
Stubber, and CloudFormation's pre-signed response URL played by a real HTTP server on 127.0.0.1.
What the SQL does to a real PostgreSQL is tests/test_dbaccess.py's."""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
from botocore.stub import Stubber

from builders.functions import pgvector
from tests.conftest import LambdaContext, function_source

CLUSTER = "arn:aws:rds:us-east-1:123456789012:cluster:nlsql-dev"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!cluster-abc"


def _event(url: str, kind: str = "Create", **extra: Any) -> dict[str, Any]:
    return {
        "RequestType": kind,
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/nlsql-dev-Database/1",
        "RequestId": "req-1",
        "LogicalResourceId": "PgVectorExtension",
        "ResourceType": "Custom::PgVector",
        "ResourceProperties": {
            "ServiceToken": "x",
            "ClusterArn": CLUSTER,
            "SecretArn": SECRET,
            "Database": "nlsql",
            "Statements": ["CREATE EXTENSION IF NOT EXISTS vector"],
        },
        **extra,
    }


def _client() -> tuple[Any, Stubber]:
    client = boto3.client("rds-data", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


EXPECTED = {
    "resourceArn": CLUSTER,
    "secretArn": SECRET,
    "database": "nlsql",
    "sql": "CREATE EXTENSION IF NOT EXISTS vector",
}


def test_create_runs_the_statement_and_answers_success(response_url) -> None:
    url, received = response_url
    client, stub = _client()
    stub.add_response("execute_statement", {"numberOfRecordsUpdated": 0}, EXPECTED)
    with stub:
        assert pgvector.handler(_event(url), LambdaContext(60), client) == "SUCCESS"
        stub.assert_no_pending_responses()
    (answer,) = received
    assert answer["Status"] == "SUCCESS"
    assert answer["RequestId"] == "req-1" and answer["LogicalResourceId"] == "PgVectorExtension"
    assert answer["PhysicalResourceId"].endswith("/PgVectorExtension")


def test_statements_run_in_order_and_a_failing_one_stops_the_rest_and_is_named(response_url) -> None:
    url, received = response_url
    client, stub = _client()
    sql = ["CREATE ROLE a", "GRANT rds_iam TO a", "ALTER ROLE a SET x = 1"]
    stub.add_response("execute_statement", {}, {**EXPECTED, "sql": sql[0]})
    stub.add_client_error("execute_statement", "BadRequestException", 'role "rds_iam" does not exist')
    with stub:  # a third call would find no response queued and raise: the handler must stop at the failure
        event = _event(url)
        event["ResourceProperties"]["Statements"] = sql
        assert pgvector.handler(event, LambdaContext(60), client) == "FAILED"
        stub.assert_no_pending_responses()
    (answer,) = received
    assert "statement 2 (GRANT rds_iam TO a)" in answer["Reason"] and "does not exist" in answer["Reason"]


def test_update_keeps_the_physical_id_so_cloudformation_does_not_delete_anything(response_url) -> None:
    url, received = response_url
    client, stub = _client()
    stub.add_response("execute_statement", {}, EXPECTED)
    with stub:
        pgvector.handler(_event(url, "Update", PhysicalResourceId="pgvector-1"), LambdaContext(60), client)
    assert received[0]["PhysicalResourceId"] == "pgvector-1" and received[0]["Status"] == "SUCCESS"


def test_a_sql_error_answers_failed_with_the_reason(response_url) -> None:
    url, received = response_url
    client, stub = _client()
    stub.add_client_error("execute_statement", "BadRequestException", 'permission denied to create extension "vector"')
    with stub:
        assert pgvector.handler(_event(url), LambdaContext(60), client) == "FAILED"
    (answer,) = received
    assert answer["Status"] == "FAILED"
    assert "BadRequestException" in answer["Reason"] and "permission denied" in answer["Reason"]
    assert LambdaContext.log_stream_name in answer["Reason"]


def test_a_resuming_cluster_is_retried_until_it_answers(response_url, monkeypatch) -> None:
    url, received = response_url
    monkeypatch.setattr(pgvector.time, "sleep", lambda seconds: None)
    client, stub = _client()
    stub.add_client_error("execute_statement", "DatabaseResumingException", "resuming after auto-pause")
    stub.add_client_error("execute_statement", "DatabaseResumingException", "resuming after auto-pause")
    stub.add_response("execute_statement", {}, EXPECTED)
    with stub:
        assert pgvector.handler(_event(url), LambdaContext(60), client) == "SUCCESS"
        stub.assert_no_pending_responses()
    assert [a["Status"] for a in received] == ["SUCCESS"]


def test_delete_answers_success_without_touching_the_database(response_url) -> None:
    url, received = response_url
    client, stub = _client()  # no responses queued: any call would raise
    with stub:
        assert (
            pgvector.handler(_event(url, "Delete", PhysicalResourceId="pgvector-1"), LambdaContext(60), client)
            == "SUCCESS"
        )
    assert received[0]["Status"] == "SUCCESS" and received[0]["PhysicalResourceId"] == "pgvector-1"


def test_a_hung_call_is_answered_failed_before_lambda_times_out(response_url) -> None:
    url, received = response_url
    released = threading.Event()

    class Hanging:
        def execute_statement(self, **kwargs: Any) -> None:
            released.wait(5)

    started = time.monotonic()
    # 11 s left, 10 s margin: the timer answers after ~1 s, long before the call returns.
    thread = threading.Thread(
        target=pgvector.handler, args=(_event(url), LambdaContext(pgvector.MARGIN + 1), Hanging())
    )
    thread.start()
    while not received and time.monotonic() - started < 4:
        time.sleep(0.05)
    released.set()
    thread.join(10)
    assert [a["Status"] for a in received] == ["FAILED"], "exactly one answer, and it came from the timer"
    assert "no result within" in received[0]["Reason"]
    assert time.monotonic() - started < 5


def test_the_inline_source_fits_cloudformation_s_zipfile_limit() -> None:
    source = function_source("pgvector")
    assert len(source.encode()) <= 4096
    compile(source, "index.py", "exec")
