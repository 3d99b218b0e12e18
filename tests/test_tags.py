"""The seed's tagging strategy: every taggable resource carries the four tags in the template itself."""

from __future__ import annotations

from functools import cache

import pytest
from cfnlint.decode.decode import decode_str
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from tests.conftest import ENVS, STACKS, TEMPLATES, props, template


@cache
def _taggable(type_: str) -> bool:
    """Whether CloudFormation's own resource schema gives the type a Tags property."""
    return "Tags" in PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", type_).schema["properties"]


def _tags(resource: dict) -> dict[str, str]:
    tags = props(resource).get("Tags", [])
    return {t["Key"]: t["Value"] for t in tags}


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("stack", STACKS)
def test_every_taggable_resource_carries_the_seed_tags(env: str, stack: str) -> None:
    doc = template(env, stack)
    checked = 0
    for logical_id, resource in doc["Resources"].items():
        if not _taggable(resource["Type"]):
            continue
        tags = _tags(resource)
        assert tags.get("Project") == "nlsql", logical_id
        assert tags.get("Environment") == env, logical_id
        assert tags.get("ManagedBy") == "cloudformation", logical_id
        assert tags.get("Module") == stack, logical_id
        checked += 1
    assert checked > 0


def test_bootstrap_resources_are_tagged_as_shared() -> None:
    doc, errors = decode_str((TEMPLATES / "bootstrap.yaml").read_text())
    assert not errors
    for logical_id, resource in doc["Resources"].items():
        if not _taggable(resource["Type"]):
            continue
        assert {k: v for k, v in _tags(resource).items() if k != "Name"} == {
            "Project": "nlsql", "Environment": "shared", "ManagedBy": "cloudformation", "Module": "bootstrap"
        }, logical_id  # fmt: skip


def test_untaggable_types_are_really_untaggable() -> None:
    # Guards the test above against a schema lookup that silently says "no Tags" for everything.
    assert _taggable("AWS::EC2::VPC") and _taggable("AWS::S3::Bucket")
    assert not _taggable("AWS::EC2::SubnetRouteTableAssociation")
