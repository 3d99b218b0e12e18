"""The deploy steps fed real-shaped CloudFormation responses through botocore's Stubber.

These stand for behaviour of real CloudFormation that no local AWS models:
nested change sets with Replacement and Details, per-resource failure events
in nested stacks, a stack stuck in ROLLBACK_COMPLETE. Response shapes follow
the CloudFormation API reference (DescribeChangeSet, DescribeStackEvents).
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from rich.console import Console

from builders.deploy import changeset, follow, guard, preview
from builders.deploy.aws import Target
from builders.deploy.run import Options, apply
from builders.errors import BuildError

ROOT = "arn:aws:cloudformation:us-east-1:123456789012:stack/nlsql-prod/11111111-aaaa"
DB_STACK = "arn:aws:cloudformation:us-east-1:123456789012:stack/nlsql-prod-Database-ABC/22222222-bbbb"
ROOT_CS = "arn:aws:cloudformation:us-east-1:123456789012:changeSet/nlsql-prod-1/aaaa"
DB_CS = "arn:aws:cloudformation:us-east-1:123456789012:changeSet/nlsql-prod-1-Database/bbbb"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _cf() -> tuple[Any, Stubber]:
    client = boto3.client("cloudformation", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


class _Aws:
    """Hands the stubbed client to the code under test (the boto3 client is the stub, not our code)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.target = Target("us-east-1")

    def client(self, service: str) -> Any:
        assert service == "cloudformation"
        return self._client


def _console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=200, color_system=None), buffer


def _rc(action: str, logical: str, type_: str, **extra: Any) -> dict[str, Any]:
    return {
        "Type": "Resource",
        "ResourceChange": {"Action": action, "LogicalResourceId": logical, "ResourceType": type_, **extra},
    }


ROOT_PAGE = {
    "ChangeSetId": ROOT_CS,
    "ChangeSetName": "nlsql-prod-1",
    "StackName": "nlsql-prod",
    "StackId": ROOT,
    "Status": "CREATE_COMPLETE",
    "ExecutionStatus": "AVAILABLE",
    "Changes": [
        _rc(
            "Modify",
            "Database",
            "AWS::CloudFormation::Stack",
            Replacement="False",
            ChangeSetId=DB_CS,
            Scope=["Properties"],
        ),
        _rc("Modify", "Compute", "AWS::CloudFormation::Stack", Replacement="False", Scope=["Properties"]),
    ],
}
DB_PAGE = {
    "ChangeSetId": DB_CS,
    "ChangeSetName": "nlsql-prod-1-Database",
    "StackName": "nlsql-prod-Database-ABC",
    "StackId": DB_STACK,
    "Status": "CREATE_COMPLETE",
    "Changes": [
        _rc(
            "Modify",
            "DatabaseCluster",
            "AWS::RDS::DBCluster",
            Replacement="Conditional",
            Details=[
                {
                    "Target": {"Attribute": "Properties", "Name": "KmsKeyId", "RequiresRecreation": "Always"},
                    "Evaluation": "Dynamic",
                    "ChangeSource": "ParameterReference",
                    "CausingEntity": "KmsKeyArn",
                }
            ],
        ),
        _rc("Remove", "PgVectorLogGroup", "AWS::Logs::LogGroup"),
        _rc("Add", "DatabaseReader2", "AWS::RDS::DBInstance"),
    ],
}


def test_describe_follows_nested_change_sets_and_keeps_the_replacement_cause() -> None:
    cf, stub = _cf()
    stub.add_response("describe_change_set", ROOT_PAGE, {"ChangeSetName": ROOT_CS})
    stub.add_response("describe_change_set", DB_PAGE, {"ChangeSetName": DB_CS})
    with stub:
        described = changeset.describe(cf, ROOT_CS)
    paths = [(c.stack, c.logical_id) for c in described.changes]
    assert paths == [
        ("nlsql-prod", "Database"),
        ("nlsql-prod/Database", "DatabaseCluster"),
        ("nlsql-prod/Database", "PgVectorLogGroup"),
        ("nlsql-prod/Database", "DatabaseReader2"),
        ("nlsql-prod", "Compute"),
    ]
    cluster = described.changes[1]
    assert cluster.replacement == "Conditional" and cluster.causes == (("KmsKeyId", "Always", "KmsKeyArn"),)


def test_the_guard_flags_removed_and_maybe_replaced_stateful_resources_only() -> None:
    cf, stub = _cf()
    stub.add_response("describe_change_set", ROOT_PAGE, {"ChangeSetName": ROOT_CS})
    stub.add_response("describe_change_set", DB_PAGE, {"ChangeSetName": DB_CS})
    with stub:
        described = changeset.describe(cf, ROOT_CS)
    flagged = guard.dangerous(described.changes)
    assert [c.logical_id for c in flagged] == ["DatabaseCluster", "PgVectorLogGroup"]
    assert "because of KmsKeyId (Always, by KmsKeyArn)" in guard.describe_danger(flagged[0])
    line = preview.summary(described.changes)
    actions = [c.action for c in described.changes]
    stacks = sum(c.resource_type == "AWS::CloudFormation::Stack" for c in described.changes)
    assert line.startswith(f"{len(actions)} change(s): ")  # the summary adds up to the rows of the tables
    assert f"{actions.count('Add')} to add, {actions.count('Modify')} to modify (0 replaced, 1 conditionally)" in line
    assert f"{actions.count('Remove')} to remove" in line and f"{stacks} of them nested stack(s)" in line
    assert stacks > 0


def _stack(status: str) -> dict[str, Any]:
    return {"Stacks": [{"StackName": "nlsql-prod", "StackId": ROOT, "StackStatus": status, "CreationTime": NOW}]}


def test_a_stateful_replacement_stops_the_deploy_names_it_and_explains_conditional() -> None:
    cf, stub = _cf()
    stub.add_response("describe_stacks", _stack("UPDATE_COMPLETE"), {"StackName": "nlsql-prod"})
    stub.add_response("create_change_set", {"Id": ROOT_CS, "StackId": ROOT}, ANY_CREATE)
    stub.add_response("describe_change_set", ROOT_PAGE, {"ChangeSetName": ROOT_CS})  # wait
    stub.add_response("describe_change_set", ROOT_PAGE, {"ChangeSetName": ROOT_CS})  # describe
    stub.add_response("describe_change_set", DB_PAGE, {"ChangeSetName": DB_CS})
    stub.add_response("delete_change_set", {}, {"ChangeSetName": ROOT_CS})
    console, out = _console()
    with stub, pytest.raises(BuildError) as refused:
        apply(_Aws(cf), "nlsql-prod", {"TemplateBody": "{}"}, {}, {}, Options(Target("us-east-1"), yes=True), console)
    stub.assert_no_pending_responses()  # and execute_change_set was never called: it is not queued
    message = str(refused.value)
    assert "nlsql-prod/Database/DatabaseCluster (AWS::RDS::DBCluster) would be replaced (Conditional)" in message
    assert "nlsql-prod/Database/PgVectorLogGroup (AWS::Logs::LogGroup) would be removed" in message
    assert "cannot tell before it runs" in message and "--allow-replacement" in message
    assert "DatabaseCluster" in out.getvalue(), "the preview was shown before refusing"


ANY_CREATE = {
    "StackName": "nlsql-prod",
    "ChangeSetName": ANY,
    "ChangeSetType": "UPDATE",
    "Parameters": [],
    "Capabilities": changeset.CAPABILITIES,
    "Tags": [],
    "IncludeNestedStacks": True,
    "Description": ANY,
    "TemplateBody": "{}",
}

SAFE_PAGE = {**ROOT_PAGE, "Changes": [_rc("Add", "Queue", "AWS::SQS::Queue")]}


def test_without_a_terminal_and_without_yes_nothing_is_executed() -> None:
    cf, stub = _cf()
    stub.add_response("describe_stacks", _stack("UPDATE_COMPLETE"), {"StackName": "nlsql-prod"})
    stub.add_response("create_change_set", {"Id": ROOT_CS, "StackId": ROOT}, ANY_CREATE)
    stub.add_response("describe_change_set", SAFE_PAGE, {"ChangeSetName": ROOT_CS})
    stub.add_response("describe_change_set", SAFE_PAGE, {"ChangeSetName": ROOT_CS})
    stub.add_response("delete_change_set", {}, {"ChangeSetName": ROOT_CS})  # nothing left behind
    console, _ = _console()
    opts = Options(Target("us-east-1"), yes=False, interactive=False)
    with stub, pytest.raises(BuildError, match="no terminal to ask on and no --yes"):
        apply(_Aws(cf), "nlsql-prod", {"TemplateBody": "{}"}, {}, {}, opts, console)
    stub.assert_no_pending_responses()


def test_with_a_role_arn_cloudformation_works_as_that_role() -> None:
    # In CI the caller may only make change sets and pass the execution role (templates/github-oidc.yaml).
    role = "arn:aws:iam::123456789012:role/cfn-exec-nlsql-us-east-1"
    cf, stub = _cf()
    stub.add_response("describe_stacks", _stack("UPDATE_COMPLETE"), {"StackName": "nlsql-prod"})
    stub.add_response("create_change_set", {"Id": ROOT_CS, "StackId": ROOT}, {**ANY_CREATE, "RoleARN": role})
    stub.add_response("describe_change_set", SAFE_PAGE, {"ChangeSetName": ROOT_CS})
    stub.add_response("describe_change_set", SAFE_PAGE, {"ChangeSetName": ROOT_CS})
    stub.add_response("delete_change_set", {}, {"ChangeSetName": ROOT_CS})
    console, _ = _console()
    opts = Options(Target("us-east-1"), plan_only=True, role_arn=role)
    with stub:
        assert apply(_Aws(cf), "nlsql-prod", {"TemplateBody": "{}"}, {}, {}, opts, console) == 0
    stub.assert_no_pending_responses()


def test_an_empty_change_set_is_no_changes_deleted_and_success() -> None:
    cf, stub = _cf()
    empty = {
        **ROOT_PAGE,
        "Changes": [],
        "Status": "FAILED",
        "StatusReason": "The submitted information didn't contain changes. "
        "Submit different information to create a change set.",
    }
    stub.add_response("describe_stacks", _stack("UPDATE_COMPLETE"), {"StackName": "nlsql-prod"})
    stub.add_response("create_change_set", {"Id": ROOT_CS, "StackId": ROOT}, ANY_CREATE)
    stub.add_response("describe_change_set", empty, {"ChangeSetName": ROOT_CS})
    stub.add_response("describe_change_set", empty, {"ChangeSetName": ROOT_CS})
    stub.add_response("delete_change_set", {}, {"ChangeSetName": ROOT_CS})
    console, out = _console()
    with stub:
        code = apply(
            _Aws(cf), "nlsql-prod", {"TemplateBody": "{}"}, {}, {}, Options(Target("us-east-1"), yes=True), console
        )
    assert code == 0 and "nlsql-prod: no changes" in out.getvalue()
    stub.assert_no_pending_responses()


def test_a_rolled_back_first_create_is_not_deleted_without_consent() -> None:
    cf, stub = _cf()
    stub.add_response("describe_stacks", _stack("ROLLBACK_COMPLETE"), {"StackName": "nlsql-prod"})
    console, _ = _console()
    with stub, pytest.raises(BuildError, match="--recreate-failed"):
        apply(_Aws(cf), "nlsql-prod", {"TemplateBody": "{}"}, {}, {}, Options(Target("us-east-1"), yes=True), console)
    stub.assert_no_pending_responses()  # no delete_stack


def test_update_rollback_failed_names_the_way_out() -> None:
    cf, stub = _cf()
    stub.add_response("describe_stacks", _stack("UPDATE_ROLLBACK_FAILED"), {"StackName": "nlsql-prod"})
    console, _ = _console()
    with stub, pytest.raises(BuildError, match="continue-update-rollback --stack-name nlsql-prod"):
        apply(_Aws(cf), "nlsql-prod", {"TemplateBody": "{}"}, {}, {}, Options(Target("us-east-1"), yes=True), console)


def _event(
    stack_id: str, stack: str, logical: str, type_: str, status: str, at: int, reason: str = "", physical: str = ""
) -> dict:
    return {
        "StackId": stack_id,
        "EventId": f"{logical}-{status}-{at}",
        "StackName": stack,
        "LogicalResourceId": logical,
        "PhysicalResourceId": physical,
        "ResourceType": type_,
        "Timestamp": NOW + timedelta(seconds=at),
        "ResourceStatus": status,
        **({"ResourceStatusReason": reason} if reason else {}),
    }


def test_a_failure_in_a_nested_stack_is_reported_with_its_own_reason() -> None:
    cf, stub = _cf()
    root_events = [  # newest first, as DescribeStackEvents returns them
        _event(ROOT, "nlsql-prod", "nlsql-prod", "AWS::CloudFormation::Stack", "ROLLBACK_COMPLETE", 30, physical=ROOT),
        _event(
            ROOT,
            "nlsql-prod",
            "Database",
            "AWS::CloudFormation::Stack",
            "CREATE_FAILED",
            20,
            "Embedded stack arn:...nlsql-prod-Database-ABC was not successfully created: "
            "The following resource(s) failed to create: [DatabaseCluster]",
            DB_STACK,
        ),  # fmt: skip
        _event(
            ROOT, "nlsql-prod", "Database", "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", 2, physical=DB_STACK
        ),
    ]
    db_events = [
        _event(
            DB_STACK,
            "nlsql-prod-Database-ABC",
            "DatabaseCluster",
            "AWS::RDS::DBCluster",
            "CREATE_FAILED",
            15,
            "Cannot find version 16.99 for aurora-postgresql (Service: Rds, Status Code: 400)",
        ),  # fmt: skip
        _event(
            DB_STACK, "nlsql-prod-Database-ABC", "DatabaseSubnetGroup", "AWS::RDS::DBSubnetGroup", "CREATE_COMPLETE", 5
        ),
    ]
    # First poll: the root's events reveal the nested stack, whose events are read in the same poll.
    stub.add_response("describe_stacks", _stack("ROLLBACK_IN_PROGRESS"), {"StackName": ROOT})
    stub.add_response("describe_stack_events", {"StackEvents": root_events[1:]}, {"StackName": ROOT})
    stub.add_response("describe_stack_events", {"StackEvents": db_events}, {"StackName": DB_STACK})
    stub.add_response("describe_stacks", _stack("ROLLBACK_COMPLETE"), {"StackName": ROOT})
    stub.add_response("describe_stack_events", {"StackEvents": root_events}, {"StackName": ROOT})
    stub.add_response("describe_stack_events", {"StackEvents": db_events}, {"StackName": DB_STACK})
    console, out = _console()
    with stub:
        outcome = follow.follow(
            cf, ROOT, since=NOW, total=3, console=console, interactive=False, sleep=lambda s: None, clock=lambda: 0.0
        )
    assert outcome.status == "ROLLBACK_COMPLETE"
    first = outcome.failures[0]
    assert first["LogicalResourceId"] == "DatabaseCluster" and first["StackPath"] == "nlsql-prod/Database"
    assert "Cannot find version 16.99" in first["ResourceStatusReason"]
    assert all(not f["ResourceStatusReason"].startswith("Embedded stack") for f in outcome.failures)
    log = out.getvalue()
    assert "nlsql-prod/Database/DatabaseSubnetGroup AWS::RDS::DBSubnetGroup CREATE_COMPLETE" in log
    assert log.count("DatabaseCluster AWS::RDS::DBCluster CREATE_FAILED") == 1, "each event printed once"


def test_ci_output_is_never_silent_for_long() -> None:
    cf, stub = _cf()
    ticks = iter(range(0, 10_000, 11))  # every clock read is 11 s later
    for _ in range(4):
        stub.add_response("describe_stacks", _stack("UPDATE_IN_PROGRESS"), {"StackName": ROOT})
        stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": ROOT})
    stub.add_response("describe_stacks", _stack("UPDATE_COMPLETE"), {"StackName": ROOT})
    stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": ROOT})
    console, out = _console()
    with stub:
        outcome = follow.follow(
            cf,
            ROOT,
            since=NOW,
            total=40,
            console=console,
            interactive=False,
            sleep=lambda s: None,
            clock=lambda: next(ticks),
        )
    assert outcome.status == "UPDATE_COMPLETE"
    beats = [line for line in out.getvalue().splitlines() if "still UPDATE_IN_PROGRESS: 0/40 resources done" in line]
    assert len(beats) >= 2 and all(b.startswith("[") for b in beats)


def test_a_rolled_back_first_create_is_deleted_and_created_again_with_the_flag() -> None:
    cf, stub = _cf()
    stub.add_response("describe_stacks", _stack("ROLLBACK_COMPLETE"), {"StackName": "nlsql-prod"})
    stub.add_response("delete_stack", {}, {"StackName": "nlsql-prod"})
    stub.add_response("describe_stacks", _stack("DELETE_COMPLETE"), {"StackName": "nlsql-prod"})  # the waiter
    create = {**ANY_CREATE, "ChangeSetType": "CREATE"}
    stub.add_response("create_change_set", {"Id": ROOT_CS, "StackId": ROOT}, create)
    stub.add_response("describe_change_set", SAFE_PAGE, {"ChangeSetName": ROOT_CS})
    stub.add_response("describe_change_set", SAFE_PAGE, {"ChangeSetName": ROOT_CS})
    # No terminal and no --yes: refused at the question, and the new CREATE leaves nothing behind.
    stub.add_response("delete_change_set", {}, {"ChangeSetName": ROOT_CS})
    stub.add_response("delete_stack", {}, {"StackName": ROOT})
    console, out = _console()
    opts = Options(Target("us-east-1"), recreate_failed=True)
    with stub:
        with pytest.raises(BuildError):
            apply(_Aws(cf), "nlsql-prod", {"TemplateBody": "{}"}, {}, {}, opts, console)
        stub.assert_no_pending_responses()
    assert "deleting nlsql-prod (ROLLBACK_COMPLETE) before creating it again" in out.getvalue()


def test_a_plan_never_deletes_a_rolled_back_stack_even_with_the_flag() -> None:
    cf, stub = _cf()
    stub.add_response("describe_stacks", _stack("ROLLBACK_COMPLETE"), {"StackName": "nlsql-prod"})
    console, _ = _console()
    opts = Options(Target("us-east-1"), plan_only=True, recreate_failed=True)
    with stub:  # any call but the DescribeStacks above (a DeleteStack) fails the test
        with pytest.raises(BuildError) as caught:
            apply(_Aws(cf), "nlsql-prod", {"TemplateBody": "{}"}, {}, {}, opts, console)
        stub.assert_no_pending_responses()
    assert "--plan changes nothing" in str(caught.value) and "--recreate-failed" in str(caught.value)


def _stub_to_execution(stub: Stubber) -> None:
    """An update of nlsql-prod with one safe change, made, described and executed: what a deploy does first."""
    stub.add_response("describe_stacks", _stack("UPDATE_COMPLETE"), {"StackName": "nlsql-prod"})
    stub.add_response("create_change_set", {"Id": ROOT_CS, "StackId": ROOT}, ANY_CREATE)
    stub.add_response("describe_change_set", SAFE_PAGE, {"ChangeSetName": ROOT_CS})
    stub.add_response("describe_change_set", SAFE_PAGE, {"ChangeSetName": ROOT_CS})
    stub.add_response("execute_change_set", {}, {"ChangeSetName": ROOT_CS})


class _Interrupted:
    """A CloudFormation client whose wait for the stack is cut short by Ctrl-C."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def describe_stacks(self, **kwargs: Any) -> Any:
        if kwargs["StackName"] == ROOT:  # following: the user presses Ctrl-C
            raise KeyboardInterrupt
        return self._real.describe_stacks(**kwargs)


def test_ctrl_c_while_following_leaves_the_stack_deploying_and_says_how_to_follow_again() -> None:
    cf, stub = _cf()
    _stub_to_execution(stub)
    stub.add_response("describe_stacks", _stack("UPDATE_IN_PROGRESS"), {"StackName": "nlsql-prod"})
    console, out = _console()
    with stub:
        code = apply(_Aws(_Interrupted(cf)), "nlsql-prod", {"TemplateBody": "{}"}, {}, {},
                     Options(Target("us-east-1"), yes=True), console)  # fmt: skip
    assert code == 130
    assert "keeps deploying in CloudFormation" in out.getvalue()
    assert "python build.py prod --follow" in out.getvalue()


@pytest.mark.parametrize("action", ["Dynamic", "Import", "SyncWithActual"])
def test_an_action_of_unknown_effect_on_a_stateful_resource_is_guarded_like_a_replacement(action: str) -> None:
    bucket = changeset.Change("nlsql-prod/Storage", action, "DataLakeBucket", "AWS::S3::Bucket", "", ())
    queue = changeset.Change("nlsql-prod/Compute", action, "Queue", "AWS::SQS::Queue", "", ())
    assert guard.dangerous([bucket, queue]) == [bucket]
    assert f"({action})" in guard.describe_danger(bucket)


def test_yes_with_a_reviewed_change_set_that_is_gone_refuses_to_make_a_new_one() -> None:
    cf, stub = _cf()
    stub.add_response("describe_stacks", _stack("UPDATE_COMPLETE"), {"StackName": "nlsql-prod"})
    stub.add_client_error(
        "describe_change_set", "ChangeSetNotFound", "ChangeSet [pr-42] does not exist", http_status_code=404
    )
    console, _ = _console()
    opts = Options(Target("us-east-1"), yes=True, change_set_name="pr-42")
    with stub:  # a CreateChangeSet or ExecuteChangeSet here would be an unstubbed call, and fail the test
        with pytest.raises(BuildError) as caught:
            apply(_Aws(cf), "nlsql-prod", {"TemplateBody": "{}"}, {}, {}, opts, console)
        stub.assert_no_pending_responses()
    assert "change set pr-42 of nlsql-prod is gone" in str(caught.value)
    assert "python build.py prod --plan --change-set-name pr-42" in str(caught.value)


def test_a_change_set_still_computing_at_the_timeout_is_a_clear_error() -> None:
    cf, stub = _cf()
    for _ in range(3):
        stub.add_response(
            "describe_change_set", {**SAFE_PAGE, "Status": "CREATE_IN_PROGRESS"}, {"ChangeSetName": ROOT_CS}
        )
    clock = iter([0.0, 0.0, 5.0, 11.0])
    with stub:
        with pytest.raises(BuildError) as caught:
            changeset.wait(cf, ROOT_CS, timeout=10, sleep=lambda _: None, clock=lambda: next(clock))
    assert "still CREATE_IN_PROGRESS after 10s" in str(caught.value) and "describe-change-set" in str(caught.value)


def test_expired_credentials_while_following_say_the_deploy_goes_on() -> None:
    cf, stub = _cf()
    _stub_to_execution(stub)
    stub.add_client_error("describe_stacks", "ExpiredToken", "The security token included in the request is expired")
    console, _ = _console()
    with stub:
        with pytest.raises(BuildError) as caught:
            apply(
                _Aws(cf), "nlsql-prod", {"TemplateBody": "{}"}, {}, {}, Options(Target("us-east-1"), yes=True), console
            )
    message = str(caught.value)
    assert "ExpiredToken" in message or "expired" in message
    assert "keeps deploying in CloudFormation" in message and "python build.py prod --follow" in message


def test_a_change_set_that_fails_says_why_at_every_level_and_leaves_nothing() -> None:
    """The root's reason over two pages (NextToken), the nested stack's own, and the validation events; then the
    change set and the empty stack of a CREATE are deleted."""
    cf, stub = _cf()
    stub.add_client_error("describe_stacks", "ValidationError", "Stack with id nlsql-prod does not exist")
    create = {**ANY_CREATE, "ChangeSetType": "CREATE"}
    stub.add_response("create_change_set", {"Id": ROOT_CS, "StackId": ROOT}, create)
    failed_root = {**ROOT_PAGE, "Status": "FAILED", "StatusReason": "Nested change set " + DB_CS + " was not created"}
    stub.add_response("describe_change_set", failed_root, {"ChangeSetName": ROOT_CS})  # the wait
    stub.add_response("describe_change_set", {**failed_root, "NextToken": "page-2"}, {"ChangeSetName": ROOT_CS})
    stub.add_response(
        "describe_change_set",
        {**failed_root, "Changes": [_rc("Add", "Queue", "AWS::SQS::Queue")]},
        {"ChangeSetName": ROOT_CS, "NextToken": "page-2"},
    )
    nested = {**DB_PAGE, "Status": "FAILED", "StatusReason": "Template format error: Unresolved resource [Vpc]"}
    stub.add_response("describe_change_set", nested, {"ChangeSetName": DB_CS})
    event = {
        "EventId": "e1",
        "EventType": "VALIDATION_ERROR",
        "LogicalResourceId": "DataLakeBucket",
        "ValidationName": "PROPERTY_VALIDATION",
        "ValidationStatus": "FAILED",
        "ValidationPath": "/Properties/BucketName",
        "ValidationStatusReason": "does not match pattern ^[a-z0-9.-]{3,63}$",
    }
    stub.add_response("describe_events", {"OperationEvents": [event]}, {"ChangeSetName": ROOT_CS})
    stub.add_response("delete_change_set", {}, {"ChangeSetName": ROOT_CS})
    stub.add_response("delete_stack", {}, {"StackName": ROOT})
    console, _ = _console()
    with stub:
        with pytest.raises(BuildError) as caught:
            apply(
                _Aws(cf), "nlsql-prod", {"TemplateBody": "{}"}, {}, {}, Options(Target("us-east-1"), yes=True), console
            )
        stub.assert_no_pending_responses()
    message = str(caught.value)
    assert "is FAILED; nothing was executed and it was deleted, with the empty stack it was made on" in message
    assert "nlsql-prod/Database: Template format error: Unresolved resource [Vpc]" in message
    assert "PROPERTY_VALIDATION: DataLakeBucket/Properties/BucketName: does not match pattern" in message


def test_nested_change_sets_that_only_had_no_changes_are_deleted_after_the_deploy() -> None:
    cf, stub = _cf()
    stub.add_response("describe_stacks", _stack("UPDATE_COMPLETE"), {"StackName": "nlsql-prod"})
    stub.add_response("create_change_set", {"Id": ROOT_CS, "StackId": ROOT}, ANY_CREATE)
    root = {**ROOT_PAGE, "Changes": [*ROOT_PAGE["Changes"], _rc("Add", "Queue", "AWS::SQS::Queue")]}
    empty_nested = {**DB_PAGE, "Status": "FAILED", "Changes": [],
                    "StatusReason": "The submitted information didn't contain changes."}  # fmt: skip
    stub.add_response("describe_change_set", root, {"ChangeSetName": ROOT_CS})  # the wait
    stub.add_response("describe_change_set", root, {"ChangeSetName": ROOT_CS})
    stub.add_response("describe_change_set", empty_nested, {"ChangeSetName": DB_CS})
    stub.add_response("execute_change_set", {}, {"ChangeSetName": ROOT_CS})
    stub.add_response("describe_stacks", _stack("UPDATE_COMPLETE"), {"StackName": ROOT})
    stub.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": ROOT})
    stub.add_response("delete_change_set", {}, {"ChangeSetName": DB_CS})
    stub.add_response("describe_stacks", _stack("UPDATE_COMPLETE"), {"StackName": "nlsql-prod"})
    console, _ = _console()
    with stub:
        code = apply(
            _Aws(cf), "nlsql-prod", {"TemplateBody": "{}"}, {}, {}, Options(Target("us-east-1"), yes=True), console
        )
        stub.assert_no_pending_responses()
    assert code == 0


@pytest.mark.parametrize(("production", "command"), [
    (False, "python build.py dev --delete"),
    (True, "aws cloudformation delete-stack --stack-name nlsql-dev"),
])  # fmt: skip
def test_a_rollback_that_failed_names_the_delete_the_environment_allows(production: bool, command: str) -> None:
    import io

    from rich.console import Console

    from builders.deploy.follow import Outcome
    from builders.deploy.run import report_failure

    out = io.StringIO()
    failure = {"StackPath": "nlsql-dev/Database", "LogicalResourceId": "PgVectorExtension",
               "ResourceType": "Custom::PgVector", "ResourceStatusReason": "no answer"}  # fmt: skip
    report_failure(Console(file=out, width=400), "nlsql-dev", Outcome("ROLLBACK_FAILED", [failure]), production)
    text = out.getvalue()
    assert "nlsql-dev could not roll back" in text
    assert text.rstrip().endswith(command)
    assert ("python build.py" in text) is not production, "a production stack is never offered build.py --delete"
