"""--drift: the root stack and every nested stack checked for drift, in one report and one exit status.

End to end (build.py processes against the local AWS, whose drift detection never recurses into nested stacks,
as CloudFormation's does not): dev is deployed once for the module and the tests, in file order, change it
behind the stacks' backs with plain boto3 calls; the report must name the nested stack, the resource, the
property and both values. The report's renderings are also checked on hand-made reports, and the waiting on
real-shaped CloudFormation answers (botocore's Stubber) with a clock that runs out.
"""

from __future__ import annotations

import io
import re
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from builders.deploy import drift
from tests import localaws
from tests.conftest import PARAMS, run_build
from tests.test_accounts import OTHER, _params
from tests.test_deploy_e2e import _build, _client
from tests.test_deploy_rollback import _start

STACK = "nlsql-dev"


@pytest.fixture(scope="module")
def local() -> Iterator[localaws.LocalAws]:
    server = localaws.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("drift")
    shutil.copytree(PARAMS, root / "params")
    return root


@pytest.fixture(scope="module")
def deployed(local: localaws.LocalAws, workdir: Path) -> localaws.LocalAws:
    """dev, deployed once for the module (a deploy takes a while); the tests after change it by hand."""
    result = _build(local, workdir, "dev", "--deploy", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    return local


def _nested(local: localaws.LocalAws, logical_id: str) -> str:
    """The ARN of the root's nested stack `logical_id`."""
    cf = _client(local, "cloudformation")
    summaries = cf.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    return next(s["PhysicalResourceId"] for s in summaries if s["LogicalResourceId"] == logical_id)


def _physical(local: localaws.LocalAws, nested: str, logical_id: str) -> str:
    cf = _client(local, "cloudformation")
    summaries = cf.list_stack_resources(StackName=_nested(local, nested))["StackResourceSummaries"]
    return next(s["PhysicalResourceId"] for s in summaries if s["LogicalResourceId"] == logical_id)


def _lines(text: str) -> list[str]:
    """Each output line with its runs of spaces made one: table columns, as a reader scans them."""
    return [" ".join(line.split()) for line in text.splitlines()]


def test_an_environment_never_deployed_has_unknown_drift(local, workdir) -> None:
    result = _build(local, workdir, "dev", "--drift")
    assert result.returncode == 2, result.stdout + result.stderr
    said = " ".join(result.stderr.split())
    assert "nlsql-dev is not deployed in us-east-1 (no stack of that name)" in said
    assert "python build.py dev --deploy" in said and "Traceback" not in result.stderr


def test_credentials_of_another_account_are_refused_before_any_detection(deployed, tmp_path) -> None:
    dev = _params(tmp_path, account_id=OTHER)
    result = _build(deployed, tmp_path, "dev", "--drift")
    assert result.returncode == 2, result.stdout + result.stderr
    said = " ".join(result.stderr.split())
    assert f"{dev}: account_id is {OTHER}, but the credentials are for account 123456789012" in said
    cf = _client(deployed, "cloudformation")
    for stack in [STACK, _nested(deployed, "Network")]:
        statuses = {s["DriftInformation"]["StackResourceDriftStatus"]
                    for s in cf.list_stack_resources(StackName=stack)["StackResourceSummaries"]}  # fmt: skip
        assert statuses == {"NOT_CHECKED"}, "no detection ran"


def test_a_deployed_environment_is_in_sync(deployed, workdir) -> None:
    result = _build(deployed, workdir, "dev", "--drift")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = _lines(result.stdout)
    assert "nlsql-dev: in sync: 6 stacks" in result.stdout
    for stack in ("nlsql-dev", "nlsql-dev/Network", "nlsql-dev/Storage", "nlsql-dev/Compute"):
        assert any(line.startswith(f"{stack} IN_SYNC 0 ") for line in lines), (stack, result.stdout)
    # The root's own resources are its nested stacks, which its detection does not check.
    assert "nlsql-dev IN_SYNC 0 0 5" in lines


def test_on_a_terminal_each_stack_has_a_progress_line_with_its_detection_status(deployed, workdir) -> None:
    import os
    import pty
    import subprocess
    import sys

    from tests.conftest import REPO, read_terminal

    localaws.DRIFT_LOOKS_IN_PROGRESS[STACK] = 3  # the root's detection ends last: the others wait, done, meanwhile
    primary, secondary = pty.openpty()
    env = {**os.environ, **localaws.credentials_env(), "COLUMNS": "150", "TERM": "xterm"}
    env.pop("AWS_ENDPOINT_URL", None)
    try:
        process = subprocess.Popen([sys.executable, str(REPO / "build.py"), "dev", "--drift", "--endpoint-url",
                                    deployed.url, "--params-dir", str(workdir / "params")],
                                   stdin=secondary, stdout=secondary, stderr=secondary, env=env)  # fmt: skip
        os.close(secondary)
        code, output = read_terminal(primary, process)
    finally:
        localaws.DRIFT_LOOKS_IN_PROGRESS.clear()
    assert code == 0, output
    assert re.search(r"nlsql-dev +DETECTION_IN_PROGRESS", output), "the root's line while it runs"
    for stack in ("nlsql-dev", "nlsql-dev/Network", "nlsql-dev/Storage", "nlsql-dev/Database", "nlsql-dev/Compute",
                  "nlsql-dev/Monitoring"):  # fmt: skip
        assert re.search(rf"{re.escape(stack)} +DETECTION_COMPLETE \(IN_SYNC\)", output), (stack, output)
    assert "nlsql-dev: in sync: 6 stacks" in output


def test_a_retention_changed_by_hand_in_a_nested_stack_is_named_with_both_values(deployed, workdir) -> None:
    group = _physical(deployed, "Network", "FlowLogGroup")
    _client(deployed, "logs").put_retention_policy(logGroupName=group, retentionInDays=30)
    result = _build(deployed, workdir, "dev", "--drift")
    assert result.returncode == 1, result.stdout + result.stderr
    lines = _lines(result.stdout)
    assert "nlsql-dev/Network FlowLogGroup AWS::Logs::LogGroup MODIFIED /RetentionInDays 7 30 NOT_EQUAL" in lines
    assert any(line.startswith("nlsql-dev/Network DRIFTED 1 ") for line in lines), result.stdout
    assert any(line.startswith("nlsql-dev IN_SYNC 0 ") for line in lines), "the root itself did not drift"
    assert "nlsql-dev: DRIFTED: 1 resource(s) in 1 of 6 stacks differ from their templates" in result.stdout


def test_a_resource_deleted_by_hand_is_deleted_and_the_summary_file_gets_the_markdown(deployed, workdir) -> None:
    _client(deployed, "logs").delete_log_group(logGroupName=_physical(deployed, "Compute", "UiLogGroup"))
    summary = workdir / "summary.md"
    summary.write_text("### an earlier step\n")
    result = _build(deployed, workdir, "dev", "--drift", "--summary", str(summary))
    assert result.returncode == 1, result.stdout + result.stderr
    lines = _lines(result.stdout)
    assert "nlsql-dev/Compute UiLogGroup AWS::Logs::LogGroup DELETED resource is gone" in lines
    assert "nlsql-dev/Network FlowLogGroup AWS::Logs::LogGroup MODIFIED /RetentionInDays 7 30 NOT_EQUAL" in lines
    text = summary.read_text()
    assert text.startswith("### an earlier step\n### nlsql-dev: drift (us-east-1)\n"), "appended, not replaced"
    assert (
        "| nlsql-dev/Network | FlowLogGroup | AWS::Logs::LogGroup | MODIFIED | `/RetentionInDays` | `7` | `30` |"
        in text
    )
    assert "| nlsql-dev/Compute | UiLogGroup | AWS::Logs::LogGroup | DELETED |" in text


def test_a_detection_that_fails_on_one_stack_reports_the_others_and_exits_2(deployed, workdir) -> None:
    localaws.DRIFT_FAILURES["DataLakeBucket"] = "Access Denied"
    try:
        result = _build(deployed, workdir, "dev", "--drift")
    finally:
        localaws.DRIFT_FAILURES.clear()
    assert result.returncode == 2, result.stdout + result.stderr
    lines = _lines(result.stdout)
    assert "nlsql-dev/Storage FAILED: Failed to detect drift on resources [DataLakeBucket]: Access Denied" in " ".join(
        lines
    )
    assert "nlsql-dev/Network FlowLogGroup AWS::Logs::LogGroup MODIFIED /RetentionInDays 7 30 NOT_EQUAL" in lines
    assert "nlsql-dev: drift UNKNOWN: no answer for nlsql-dev/Storage (of 6 stacks)" in result.stdout


def test_diff_with_drift_shows_both_and_what_a_deploy_would_do_to_the_manual_changes(deployed, workdir) -> None:
    """FlowLogGroup's retention changed by hand and UiLogGroup deleted (as the tests above leave them, made sure
    of here); this checkout changes both (flow-log and app-log retention), so a deploy would overwrite the one
    and fail on the other."""
    logs = _client(deployed, "logs")
    logs.put_retention_policy(logGroupName=_physical(deployed, "Network", "FlowLogGroup"), retentionInDays=30)
    ui = _physical(deployed, "Compute", "UiLogGroup")
    if logs.describe_log_groups(logGroupNamePrefix=ui)["logGroups"]:
        logs.delete_log_group(logGroupName=ui)
    dev = workdir / "params" / "dev.yaml"
    before = dev.read_text()
    dev.write_text(before.replace("log_retention_days: 7 ", "log_retention_days: 14 ", 1)
                   .replace("    retention_days: 7 ", "    retention_days: 14 ", 1))  # fmt: skip
    summary = workdir / "both.md"
    try:
        result = _build(deployed, workdir, "dev", "--diff", "deployed", "--drift", "--summary", str(summary))
    finally:
        dev.write_text(before)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = _lines(result.stdout)
    said = " ".join(lines)
    assert "nlsql-dev/Network FlowLogGroup AWS::Logs::LogGroup MODIFIED /RetentionInDays 7 30 NOT_EQUAL" in lines
    assert "nlsql-dev: changed here and by hand" in result.stdout
    assert re.search(r"FlowLogGroup AWS::Logs::LogGroup Modify \(in place\) MODIFIED /RetentionInDays the deploy "
                     r"sets RetentionInDays from the template, overwriting the manual change", said), said  # fmt: skip
    assert re.search(r"UiLogGroup AWS::Logs::LogGroup Modify \(in place\) DELETED deleted by hand, so the "
                     r"deploy's update of it fails", said), said  # fmt: skip
    text = summary.read_text()
    assert "### nlsql-dev: drift (us-east-1)" in text and "### nlsql-dev: changed here and by hand" in text
    assert text.index("RetentionInDays") < text.index("### nlsql-dev: drift"), "the diff first, then the drift"


def test_drift_goes_alone_or_with_diff(tmp_path) -> None:
    result = run_build("dev", "--plan", "--drift")
    assert result.returncode == 2 and "--drift goes alone, or with --diff" in result.stderr


def test_ctrl_c_while_waiting_exits_130_and_says_the_detections_go_on(deployed, workdir) -> None:
    localaws.DRIFT_LOOKS_IN_PROGRESS[STACK] = 10_000  # the root's detection takes its time, as a big stack's does
    try:
        process = _start(deployed, workdir, "dev", "--drift")
        lines = []
        for line in process.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if "detecting drift of 6 stack(s)" in line:
                process.send_signal(signal.SIGINT)
        code, output = process.wait(), "".join(lines)
    finally:
        localaws.DRIFT_LOOKS_IN_PROGRESS.clear()
    assert code == 130, output
    said = " ".join(output.split())
    assert "interrupted; the drift detections already started go on in AWS (they change nothing)" in said
    assert "python build.py dev --drift" in said and "Traceback" not in output


def test_summary_goes_with_drift_only(tmp_path) -> None:
    result = run_build("dev", "--status", "--summary", tmp_path / "s.md")
    assert result.returncode == 2 and "--summary goes with --diff or --drift" in result.stderr
    assert not (tmp_path / "s.md").exists()


def test_a_summary_file_that_cannot_be_written_is_refused_before_aws_is_asked(local, workdir, tmp_path) -> None:
    result = _build(local, workdir, "dev", "--drift", "--summary", str(tmp_path / "no-such-folder" / "s.md"))
    assert result.returncode == 2, result.stdout + result.stderr
    said = " ".join(result.stderr.split())
    assert "--summary" in said and "no-such-folder" in said and "nothing was asked of AWS" in said


# --- the renderings, on hand-made reports ----------------------------------------------------------------------

POLICY = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}'
REPORT = drift.DriftReport(
    root="nlsql-prod",
    region="eu-west-1",
    stacks=(
        drift.StackDrift("nlsql-prod", "arn:root", "IN_SYNC", checked=0, not_checked=5),
        drift.StackDrift("nlsql-prod/Network", "arn:net", "DRIFTED", drifted=2, checked=40, not_checked=3),
        drift.StackDrift("nlsql-prod/Storage", "arn:st", "FAILED", "Failed to detect drift on resources [B]: denied"),
    ),
    resources=(
        drift.ResourceDrift("nlsql-prod/Network", "FlowLogGroup", "AWS::Logs::LogGroup", "MODIFIED", "g", (
            drift.PropertyDrift("/RetentionInDays", "365", "30", "NOT_EQUAL"),
            drift.PropertyDrift("/Tags/2", "null", '{"Key": "a|b", "Value": "`x`"}', "ADD"),
        )),
        drift.ResourceDrift("nlsql-prod/Network", "Role", "AWS::IAM::Role", "MODIFIED", "r", (
            drift.PropertyDrift("/Policies/0/PolicyDocument", POLICY * 2, POLICY, "NOT_EQUAL"),
        )),
        drift.ResourceDrift("nlsql-prod/Network", "AlbSecurityGroup", "AWS::EC2::SecurityGroup", "DELETED", "sg-1"),
    ),
)  # fmt: skip


def test_a_report_s_exit_status_is_unknown_over_drifted_over_in_sync() -> None:
    assert REPORT.exit_code == 2
    known = drift.DriftReport("r", "x", REPORT.stacks[:2], REPORT.resources)
    assert known.exit_code == 1
    assert drift.DriftReport("r", "x", REPORT.stacks[:1], ()).exit_code == 0


def test_values_are_compact_and_cut() -> None:
    assert drift.compact("30") == "30"
    assert drift.compact('{"a": [1, 2]}') == '{"a":[1,2]}'
    long = drift.compact(POLICY * 2)
    assert len(long) == 80 and long.endswith("…") and "\n" not in long
    assert drift.compact("line one\nline two") == "line one line two"


def test_render_shows_every_drifted_property_and_every_stack() -> None:
    out = io.StringIO()
    drift.render(Console(file=out, width=300, highlight=False), REPORT)
    lines = _lines(out.getvalue())
    assert "nlsql-prod/Network FlowLogGroup AWS::Logs::LogGroup MODIFIED /RetentionInDays 365 30 NOT_EQUAL" in lines
    assert '/Tags/2 null {"Key":"a|b","Value":"`x`"} ADD' in lines, "a second property of the same resource"
    assert "nlsql-prod/Network AlbSecurityGroup AWS::EC2::SecurityGroup DELETED resource is gone" in lines
    assert "nlsql-prod/Network DRIFTED 2 40 3" in lines and "nlsql-prod IN_SYNC 0 0 5" in lines
    assert "nlsql-prod/Storage FAILED: Failed to detect drift on resources [B]: denied 0 0 0" in lines
    assert "nlsql-prod: drift UNKNOWN: no answer for nlsql-prod/Storage (of 3 stacks); 3 drifted resource(s) found " \
           "where it could tell" in lines  # fmt: skip


def test_markdown_is_one_table_of_resources_and_one_of_stacks_with_cells_escaped() -> None:
    text = drift.markdown(REPORT)
    lines = text.splitlines()
    assert lines[0] == "### nlsql-prod: drift (eu-west-1)"
    assert "| stack | logical id | type | drift | property | expected | actual | difference |" in lines
    assert ("| nlsql-prod/Network | FlowLogGroup | AWS::Logs::LogGroup | MODIFIED | `/RetentionInDays` | `365` | "
            "`30` | NOT_EQUAL |") in lines  # fmt: skip
    # A pipe would split the cell, a backtick end the code span: both are escaped, not lost.
    assert '|  |  |  |  | `/Tags/2` | `null` | `` {"Key":"a\\|b","Value":"`x`"} `` | ADD |' in lines
    assert "| nlsql-prod/Storage | FAILED: Failed to detect drift on resources [B]: denied | 0 | 0 | 0 |" in lines
    assert "| --- | --- | ---: | ---: | ---: |" in lines
    tables = [line for line in lines if line.startswith("| stack |")]
    assert len(tables) == 2


# --- waiting, on real-shaped answers ---------------------------------------------------------------------------


class _Clock:
    """Time that passes only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_every_page_of_a_stack_s_drifted_resources_is_read() -> None:
    import boto3
    from botocore.stub import Stubber

    cf = boto3.client("cloudformation", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(cf)
    filters = ["MODIFIED", "DELETED"]

    def drifted(logical_id: str) -> dict[str, Any]:
        return {"StackId": "arn:s", "LogicalResourceId": logical_id, "ResourceType": "AWS::Logs::LogGroup",
                "StackResourceDriftStatus": "DELETED", "Timestamp": "2026-01-01T00:00:00Z"}  # fmt: skip

    stub.add_response("describe_stack_resource_drifts", {"StackResourceDrifts": [drifted("A")], "NextToken": "t"},
                      {"StackName": "arn:s", "StackResourceDriftStatusFilters": filters})  # fmt: skip
    stub.add_response("describe_stack_resource_drifts", {"StackResourceDrifts": [drifted("B")]},
                      {"StackName": "arn:s", "StackResourceDriftStatusFilters": filters, "NextToken": "t"})  # fmt: skip
    with stub:
        found = drift.resource_drifts(cf, "arn:s", "nlsql-dev/Compute")
    stub.assert_no_pending_responses()
    assert [(r.stack, r.logical_id, r.status) for r in found] == [
        ("nlsql-dev/Compute", "A", "DELETED"), ("nlsql-dev/Compute", "B", "DELETED")]  # fmt: skip


def test_a_detection_with_no_answer_in_time_is_unknown_and_a_refused_one_failed() -> None:
    import boto3
    from botocore.stub import ANY, Stubber

    cf = boto3.client("cloudformation", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    root, child = "arn:aws:cloudformation:us-east-1:123456789012:stack/nlsql-dev/1", "arn:child"
    stub = Stubber(cf)
    stub.add_response(
        "list_stack_resources",
        {
            "StackResourceSummaries": [
                {
                    "LogicalResourceId": "Network",
                    "PhysicalResourceId": child,
                    "ResourceType": "AWS::CloudFormation::Stack",
                    "LastUpdatedTimestamp": "2026-01-01T00:00:00Z",
                    "ResourceStatus": "CREATE_COMPLETE",
                }
            ]
        },
        {"StackName": root},
    )
    stub.add_response("list_stack_resources", {"StackResourceSummaries": []}, {"StackName": child})
    stub.add_response("detect_stack_drift", {"StackDriftDetectionId": "d-root"}, {"StackName": root})
    stub.add_client_error(
        "detect_stack_drift",
        "ValidationError",
        "Stack [arn:child] does not exist",
        expected_params={"StackName": child},
    )
    running = {
        "StackId": root,
        "StackDriftDetectionId": "d-root",
        "DetectionStatus": "DETECTION_IN_PROGRESS",
        "Timestamp": "2026-01-01T00:00:00Z",
    }
    for _ in range(20):  # more than the wait makes: it stops at the timeout
        stub.add_response("describe_stack_drift_detection_status", running, {"StackDriftDetectionId": ANY})
    clock = _Clock()
    with stub:
        report = drift.detect(
            cf,
            {"StackId": root, "StackName": "nlsql-dev"},
            "us-east-1",
            Console(file=io.StringIO()),
            timeout=60,
            sleep=clock.sleep,
            clock=lambda: clock.now,
        )
    assert [(s.stack, s.status) for s in report.stacks] == [("nlsql-dev", "UNKNOWN"), ("nlsql-dev/Network", "FAILED")]
    assert report.stacks[0].reason == "no answer within 1 minute(s); it may still end in AWS"
    assert "ValidationError: Stack [arn:child] does not exist" in report.stacks[1].reason
    assert report.exit_code == 2
    # The back-off grows from a second to at most POLL_MAX, and the last wait ends at the timeout, not after.
    assert clock.sleeps[0] == drift.POLL_FIRST and max(clock.sleeps) <= drift.POLL_MAX
    assert clock.sleeps == sorted(clock.sleeps[:-1]) + clock.sleeps[-1:] and clock.now == 60
