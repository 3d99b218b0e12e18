"""Rollback triggers fed real-shaped STS and CloudWatch answers (botocore's Stubber): what the local AWS cannot
show. A composite alarm as a trigger, DescribeAlarms refused, and a rollback whose reason names no alarm ARN
(AWS's exact words are not modelled locally, so the deploy must not depend on them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.stub import Stubber

from builders.deploy import triggers
from builders.deploy.aws import Target
from builders.deploy.changeset import ChangeSet
from builders.deploy.follow import Outcome
from builders.deploy.run import _rolled_back_by
from builders.params import load
from tests.conftest import PARAMS

ACCOUNT = "123456789012"


class _Aws:
    """Hands each stubbed boto3 client to the code under test (the clients are stubs, not our code)."""

    def __init__(self, region: str = "eu-west-1") -> None:
        self.target = Target(region)
        self.clients: dict[str, Any] = {}
        self.stubs: dict[str, Stubber] = {}
        for service in ("sts", "cloudwatch"):
            client = boto3.client(service, region_name=region, aws_access_key_id="x", aws_secret_access_key="x")
            self.clients[service], self.stubs[service] = client, Stubber(client)

    def client(self, service: str) -> Any:
        return self.clients[service]


def _prod() -> Any:
    return load(PARAMS / "prod.yaml")


def _identity(aws: _Aws, partition: str = "aws") -> None:
    arn = f"arn:{partition}:sts::{ACCOUNT}:assumed-role/deployer/ci"
    aws.stubs["sts"].add_response("get_caller_identity", {"UserId": "AROA:ci", "Account": ACCOUNT, "Arn": arn})


def test_prod_s_trigger_is_looked_up_by_name_and_a_composite_alarm_gets_its_own_type() -> None:
    cfg, aws = _prod(), _Aws()
    assert triggers.wanted_names(cfg) == ("nlsql-prod-app-unhealthy",)
    _identity(aws, "aws-cn")
    aws.stubs["cloudwatch"].add_response(
        "describe_alarms",
        {"MetricAlarms": [], "CompositeAlarms": [{"AlarmName": "nlsql-prod-app-unhealthy", "StateValue": "OK"}]},
        {"AlarmNames": ["nlsql-prod-app-unhealthy"], "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]},
    )
    with aws.stubs["sts"], aws.stubs["cloudwatch"]:
        found = triggers.look_up(aws, cfg)
    assert found is not None
    arn = f"arn:aws-cn:cloudwatch:eu-west-1:{ACCOUNT}:alarm:nlsql-prod-app-unhealthy"  # no AlarmArn: made up
    assert found.configuration() == {
        "RollbackTriggers": [{"Arn": arn, "Type": "AWS::CloudWatch::CompositeAlarm"}],
        "MonitoringTimeInMinutes": 15,
    }
    assert triggers.lines(found.wanted, found.configuration()) == [
        "watching nlsql-prod-app-unhealthy for 15 minutes after the last resource; a deploy that sets it off is "
        "rolled back"
    ]


def test_alarms_that_cannot_be_read_leave_the_deploy_unwatched_and_say_why() -> None:
    cfg, aws = _prod(), _Aws()
    _identity(aws)
    aws.stubs["cloudwatch"].add_client_error(
        "describe_alarms", "AccessDenied", "User is not authorized to perform: cloudwatch:DescribeAlarms"
    )
    with aws.stubs["sts"], aws.stubs["cloudwatch"]:
        found = triggers.look_up(aws, cfg)
    assert found is not None and found.configuration() == triggers.NONE, "an empty list: nothing kept from before"
    (line,) = triggers.lines(found.wanted, found.configuration(), found.unreadable)
    assert line.startswith("not watched: nlsql-prod-app-unhealthy: its state could not be read (AccessDenied")


def test_an_environment_without_triggers_looks_nothing_up() -> None:
    aws = _Aws()
    with aws.stubs["sts"], aws.stubs["cloudwatch"]:  # no answer stubbed: any call would fail the test
        assert triggers.look_up(aws, load(PARAMS / "dev.yaml")) is None


def _rolled_back(reason: str) -> Outcome:
    return Outcome("UPDATE_ROLLBACK_COMPLETE", [], reason)


WATCHED = ChangeSet(
    id="cs", name="cs", stack_name="nlsql-prod", stack_id="", kind="UPDATE", status="CREATE_COMPLETE", reason="",
    rollback={"RollbackTriggers": [{"Arn": f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:nlsql-prod-app-unhealthy",
                                    "Type": "AWS::CloudWatch::Alarm"}], "MonitoringTimeInMinutes": 15},
)  # fmt: skip


def test_the_alarm_is_read_from_the_rollback_reason_and_else_from_what_is_in_alarm() -> None:
    named = f"Stack update rolled back: alarm arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:nlsql-prod-app-unhealthy"
    quiet = _Aws()
    with quiet.stubs["cloudwatch"]:  # named in the reason: CloudWatch is not asked
        assert _rolled_back_by(quiet, _rolled_back(named), WATCHED.rollback) == "nlsql-prod-app-unhealthy"

    aws = _Aws()
    since = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    aws.stubs["cloudwatch"].add_response(
        "describe_alarms",
        {
            "MetricAlarms": [
                {"AlarmName": "nlsql-prod-app-unhealthy", "StateValue": "ALARM", "StateUpdatedTimestamp": since}
            ],
            "CompositeAlarms": [],
        },  # fmt: skip
        {
            "AlarmNames": ["nlsql-prod-app-unhealthy"],
            "StateValue": "ALARM",
            "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
        },  # fmt: skip
    )
    with aws.stubs["cloudwatch"]:
        assert _rolled_back_by(aws, _rolled_back("Rollback requested"), WATCHED.rollback) == "nlsql-prod-app-unhealthy"


def test_a_rollback_with_a_failed_resource_is_not_put_on_the_alarm() -> None:
    failed = Outcome("UPDATE_ROLLBACK_COMPLETE", [{"LogicalResourceId": "ApiService"}], "")
    aws = _Aws()
    with aws.stubs["cloudwatch"]:  # no answer stubbed: CloudWatch must not be asked
        assert _rolled_back_by(aws, failed, WATCHED.rollback) is None
