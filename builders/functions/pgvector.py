"""Custom resources: the database's set-up SQL (pgvector, the app's roles), via the RDS Data API.

Runs the resource's Statements in order, each in its own transaction, on
Create and Update (builders/dbaccess.py keeps every one safe to run again).
Inlined into the database stack (ZipFile, 4 KiB at most): stdlib and the
Lambda runtime's boto3 only. Always answers CloudFormation, also on errors and
before the Lambda times out, so the stack never waits an hour for a reply.
"""

import json
import threading
import time
import urllib.request

# A paused Serverless v2 cluster answers these while it resumes (about 15 s).
RETRY = (
    "DatabaseResumingException",
    "DatabaseNotFoundException",
    "ServiceUnavailableError",
    "StatementTimeoutException",
)
MARGIN = 10  # seconds kept to answer before Lambda's own timeout


def send(event, context, status, reason):
    body = json.dumps(
        {
            "Status": status,
            "Reason": f"{reason} (log: {context.log_stream_name})"[:1000],
            "PhysicalResourceId": event.get("PhysicalResourceId") or f"{event['StackId']}/{event['LogicalResourceId']}",
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
        }
    ).encode()
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""})
    urllib.request.urlopen(request, timeout=30).close()


def execute(client, props, sql, deadline):
    delay = 2
    while True:
        try:
            return client.execute_statement(
                resourceArn=props["ClusterArn"], secretArn=props["SecretArn"], database=props["Database"], sql=sql
            )
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code not in RETRY or time.monotonic() + delay > deadline:
                raise
            print(f"{code}; retrying in {delay}s")
            time.sleep(delay)
            delay = min(delay * 2, 20)


def handler(event, context, client=None):
    lock = threading.Lock()
    answered = []

    def answer(status, reason):
        with lock:
            if not answered:
                answered.append(status)
                send(event, context, status, reason)

    budget = context.get_remaining_time_in_millis() / 1000 - MARGIN
    timer = threading.Timer(max(budget, 0), answer, ("FAILED", f"no result within {budget:.0f}s"))
    timer.start()
    try:
        kind = event["RequestType"]
        if kind == "Delete":
            answer("SUCCESS", "left in place: dropping it would drop the app's data or lock it out")
        else:
            if client is None:
                import boto3

                client = boto3.client("rds-data")
            props, deadline = event["ResourceProperties"], time.monotonic() + budget
            for number, sql in enumerate(props["Statements"], 1):
                try:
                    execute(client, props, sql, deadline)
                except Exception as exc:
                    raise RuntimeError(f"statement {number} ({sql[:200]}): {exc}") from exc
            answer("SUCCESS", f"{kind}: {len(props['Statements'])} statement(s)")
    except Exception as exc:
        answer("FAILED", f"{type(exc).__name__}: {exc}")
    finally:
        timer.cancel()
    return answered[0] if answered else None
