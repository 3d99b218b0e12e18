"""Uploads for a deploy: content-hash keys, and the root by URL once it is too big to send inline.

S3 here is moto in-process (no network): what is checked is what lands in the bucket.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from builders.build.limits import MAX_BODY_INLINE
from builders.deploy import upload

BUCKET = "artifacts"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
        client.create_bucket(Bucket=BUCKET)
        yield client


def _url(key: str) -> str:
    return f"https://{BUCKET}.s3.us-east-1.amazonaws.com/{key}"


def _body(size: int, child_url: str = "https://example/child.yaml") -> str:
    doc = {"Description": "x" * size, "Resources": {"Child": {"Type": "AWS::CloudFormation::Stack",
                                                                "Properties": {"TemplateURL": child_url}}}}  # fmt: skip
    return json.dumps(doc)


def test_a_root_within_the_inline_limit_goes_as_the_body_and_uploads_nothing(s3) -> None:
    body = _body(1000)
    assert upload.root_template(s3, BUCKET, "prod", body, _url) == {"TemplateBody": body}
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_a_root_over_the_inline_limit_goes_by_url_with_exactly_its_bytes(s3) -> None:
    body = _body(MAX_BODY_INLINE)
    assert len(body.encode()) > MAX_BODY_INLINE
    template = upload.root_template(s3, BUCKET, "prod", body, _url)
    (key,) = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert template == {"TemplateURL": _url(key)}
    assert key.startswith("templates/prod/") and key.endswith("/root.json")
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode() == body


def test_a_changed_child_gives_the_packaged_root_a_new_key(s3) -> None:
    # root.yaml itself is unchanged when only a child changes; the packaged body, with the child's new URL, is not.
    first = upload.root_template(s3, BUCKET, "prod", _body(60_000, "https://a/1/network.yaml"), _url)
    second = upload.root_template(s3, BUCKET, "prod", _body(60_000, "https://a/2/network.yaml"), _url)
    assert first["TemplateURL"] != second["TemplateURL"]
    again = upload.root_template(s3, BUCKET, "prod", _body(60_000, "https://a/1/network.yaml"), _url)
    assert again == first and s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 2


def test_child_keys_follow_the_content() -> None:
    one = upload.key_for("dev", "network.yaml", "Resources: {}\n")
    assert one == upload.key_for("dev", "network.yaml", "Resources: {}\n")
    assert one != upload.key_for("dev", "network.yaml", "Resources: {A: 1}\n")
    assert one.startswith("templates/dev/") and one.endswith("/network.yaml")


def test_a_key_that_holds_exactly_the_template_is_reused_and_anything_else_there_stops_the_deploy(s3) -> None:
    text = "Resources: {}\n"
    key = upload.key_for("dev", "network.yaml", text)
    assert upload.put_if_missing(s3, BUCKET, key, text) is True
    assert upload.put_if_missing(s3, BUCKET, key, text) is False, "the same bytes: reused"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"Resources: {Evil: {Type: AWS::IAM::Role}}\n")
    with pytest.raises(upload.ForeignObject, match="holds 42 other bytes: someone other than a deploy wrote it"):
        upload.put_if_missing(s3, BUCKET, key, text)
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().startswith(b"Resources: {Evil"), "left for forensics"


def test_plans_and_deploys_upload_to_separate_areas_named_as_the_roles_allow() -> None:
    from builders import iam

    text = "Resources: {}\n"
    plan, deploy = (upload.key_for("dev", "network.yaml", text, area) for area in (upload.PLANS, upload.DEPLOYS))
    assert plan.split("/", 1)[1] == deploy.split("/", 1)[1] and plan != deploy
    assert (plan.split("/")[0], deploy.split("/")[0]) == (iam.PLAN_AREA, iam.DEPLOY_AREA)
