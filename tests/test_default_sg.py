"""The default-security-group custom resource's handler, run against the local AWS: it revokes every rule.

AWS gives a new VPC's default group an ingress rule from itself and an allow-all egress rule (moto only the
egress one, so the test adds the ingress one first, as AWS has it).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests import localaws


@pytest.fixture(scope="module")
def ec2() -> Iterator[Any]:
    local = localaws.start()
    yield boto3.client("ec2", endpoint_url=local.url, region_name="us-east-1")
    local.stop()


class _Context:
    log_stream_name = "local/stream"


def _run(kind: str, group: str, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str | None]]:
    """Call the handler as Lambda would, and return what it answered CloudFormation."""
    monkeypatch.setitem(sys.modules, "cfnresponse", localaws._cfnresponse())  # what Lambda gives inline code
    monkeypatch.delitem(sys.modules, "builders.functions.default_sg", raising=False)
    default_sg = importlib.import_module("builders.functions.default_sg")
    answers: list[tuple[str, str, str | None]] = []

    def send(event: Any, context: Any, status: str, data: Any, physical: Any = None, no_echo: bool = False,
             reason: Any = None) -> None:  # fmt: skip
        answers.append((status, physical, reason))

    monkeypatch.setattr(default_sg.cfnresponse, "send", send)
    event = {"RequestType": kind, "ResourceProperties": {"GroupId": group}, "StackId": "s", "RequestId": "r",
             "LogicalResourceId": "Restrict", "ResponseURL": "http://127.0.0.1:9/unused"}  # fmt: skip
    default_sg.handler(event, _Context())
    return answers


def _default_group(ec2: Any) -> str:
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    wanted = [{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}]
    (group,) = ec2.describe_security_groups(Filters=wanted)["SecurityGroups"]
    self_rule = {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": group["GroupId"]}]}
    ec2.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[self_rule])
    return group["GroupId"]


def test_create_revokes_every_rule_and_answers_with_the_group(ec2, monkeypatch) -> None:
    group = _default_group(ec2)
    assert _run("Create", group, monkeypatch) == [("SUCCESS", group, None)]
    (found,) = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    assert found["IpPermissions"] == [] and found["IpPermissionsEgress"] == []
    assert _run("Update", group, monkeypatch) == [("SUCCESS", group, None)], "an empty group stays empty, no error"


def test_a_group_that_is_not_there_answers_failed_with_the_reason(ec2, monkeypatch) -> None:
    ((status, physical, reason),) = _run("Create", "sg-0000000000000dead", monkeypatch)
    assert (status, physical) == ("FAILED", "sg-0000000000000dead")
    assert reason.startswith("ClientError: ") and "InvalidGroup.NotFound" in reason


def test_delete_touches_nothing(ec2, monkeypatch) -> None:
    group = _default_group(ec2)
    assert _run("Delete", group, monkeypatch) == [("SUCCESS", group, None)]
    (found,) = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    assert found["IpPermissions"], "left as it is"


def test_the_inline_source_fits_cloudformation_s_zipfile_limit() -> None:
    from tests.conftest import function_source

    assert len(function_source("default_sg").encode()) <= 4096
