"""Guarantees of the storage stack: nothing public, TLS only, nothing lost on delete or replace."""

from __future__ import annotations

import pytest

from tests.conftest import ENVS, props, ref, resources, template

STATEFUL = ("AWS::S3::Bucket", "AWS::KMS::Key", "AWS::Logs::LogGroup")


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("stack", ["network", "storage", "database", "compute"])
def test_stateful_resources_survive_stack_deletion_and_replacement(env: str, stack: str) -> None:
    for logical_id, resource in template(env, stack)["Resources"].items():
        if resource["Type"] in STATEFUL:
            assert resource.get("DeletionPolicy") == "Retain", logical_id
            assert resource.get("UpdateReplacePolicy") == "Retain", logical_id


def _bootstrap() -> dict:
    from cfnlint.decode.decode import decode_str

    from tests.conftest import TEMPLATES

    return decode_str((TEMPLATES / "bootstrap.yaml").read_text())[0]


@pytest.mark.parametrize("env", [*ENVS, "bootstrap"])
def test_buckets_are_private_versioned_and_tls_only(env: str) -> None:
    storage = _bootstrap() if env == "bootstrap" else template(env, "storage")
    policies = {
        ref(props(p)["Bucket"]): props(p)["PolicyDocument"]
        for p in resources(storage, "AWS::S3::BucketPolicy").values()
    }
    for logical_id, bucket in resources(storage, "AWS::S3::Bucket").items():
        p = props(bucket)
        assert p["PublicAccessBlockConfiguration"] == dict.fromkeys(
            ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"], True
        )
        assert p["VersioningConfiguration"] == {"Status": "Enabled"}
        assert p["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
        deny = [s for s in policies[logical_id]["Statement"] if s["Effect"] == "Deny"]
        assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert deny[0]["Principal"] == "*" and deny[0]["Action"] == ["s3:*"]
        assert len(deny[0]["Resource"]) == 2, "the bucket and its objects"
        for statement in policies[logical_id]["Statement"]:
            assert statement["Effect"] == "Deny" or statement["Principal"] != "*", "no public grant"


@pytest.mark.parametrize("env", ENVS)
def test_data_lake_lifecycle_aborts_uploads_and_expires_old_versions(env: str) -> None:
    rules = {
        r["Id"]: r
        for r in props(template(env, "storage")["Resources"]["DataLakeBucket"])["LifecycleConfiguration"]["Rules"]
    }
    assert rules["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] >= 1
    assert rules["expire-noncurrent-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] >= 1
    assert all(r["Status"] == "Enabled" for r in rules.values())


@pytest.mark.parametrize("env", ENVS)
def test_kms_key_rotates_and_its_policy_is_the_account_delegation(env: str) -> None:
    """The account delegation to IAM, and CloudWatch Logs for the log groups (tests/test_security_properties.py)."""
    keys = resources(template(env, "storage"), "AWS::KMS::Key")
    for key in keys.values():
        assert props(key)["EnableKeyRotation"] is True
        account, logs, topic, grants = props(key)["KeyPolicy"]["Statement"]
        assert account["Principal"] == {"AWS": [{"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}]}
        assert logs["Principal"] == {"Service": [{"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}]}
        # The alarm topic is encrypted with the key: CloudWatch and EventBridge of this account may publish to it.
        assert topic["Principal"] == {"Service": ["cloudwatch.amazonaws.com", "events.amazonaws.com"]}
        assert topic["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
        assert topic["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
        # kms:* through IAM would let a role grant the key's use to anyone; only AWS services may hold grants
        assert (grants["Effect"], grants["Principal"], grants["Action"]) == (
            "Deny",
            {"AWS": ["*"]},
            ["kms:CreateGrant"],
        )
        assert grants["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "false"}}


def test_access_logs_are_delivered_by_the_logging_service_for_the_data_lake_only() -> None:
    storage = template("prod", "storage")
    policy = props(storage["Resources"]["AccessLogBucketPolicy"])["PolicyDocument"]
    (allow,) = [s for s in policy["Statement"] if s["Effect"] == "Allow" and "Service" in s["Principal"]]
    assert allow["Principal"] == {"Service": ["logging.s3.amazonaws.com"]}
    assert allow["Action"] == ["s3:PutObject"]
    assert allow["Condition"]["ArnLike"]["aws:SourceArn"] == {"Fn::GetAtt": ["DataLakeBucket", "Arn"]}


@pytest.mark.parametrize("env", ENVS)
def test_outputs_name_the_bucket_and_its_key(env: str) -> None:
    storage = template(env, "storage")
    outputs = storage["Outputs"]
    assert {"DataLakeBucketName", "DataLakeBucketArn"} <= set(outputs)
    assert ("KmsKeyArn" in outputs) == bool(resources(storage, "AWS::KMS::Key"))


def test_the_artifacts_bucket_expires_old_templates() -> None:
    bucket = props(_bootstrap()["Resources"]["ArtifactsBucket"])
    rule, plans = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] >= 30 and rule["NoncurrentVersionExpiration"]["NoncurrentDays"] >= 1
    assert "Prefix" not in rule and "Filter" not in rule, "every template expires"
    assert (plans["Prefix"], plans["Status"]) == ("plans/", "Enabled") and plans["ExpirationInDays"] < 30
    assert _bootstrap()["Outputs"]["ArtifactsBucketName"]["Value"] == {"Ref": "ArtifactsBucket"}


@pytest.mark.parametrize("env", ENVS)
def test_no_storage_setting_can_replace_the_data_lake(env: str) -> None:
    """Every storage setting, flipped, changes only properties AWS updates in place: none of the data-lake
    bucket's create-only properties (its registry schema's, as the local AWS reads them) moves, so no params
    edit can make a deploy replace the bucket (the guard would stop it, but it never has to)."""
    from builders import params, storage
    from tests.conftest import PARAMS
    from tests.localaws import _create_only

    cfg = params.load(PARAMS / f"{env}.yaml")
    create_only = _create_only("AWS::S3::Bucket", cfg.region)
    assert "BucketName" in create_only

    def fixed(settings: dict) -> dict:
        changed = cfg.model_copy(update={"storage": cfg.storage.model_copy(update=settings)})
        bucket = storage.build(changed).to_dict()["Resources"]["DataLakeBucket"]["Properties"]
        return {k: v for k, v in bucket.items() if k in create_only}

    s = cfg.storage
    variants = [
        {"encryption": "KMS" if s.encryption == "AES256" else "AES256"},
        {
            "intelligent_tiering": s.intelligent_tiering.model_copy(
                update={"enabled": not s.intelligent_tiering.enabled}
            )
        },
        {"access_logging": s.access_logging.model_copy(update={"enabled": not s.access_logging.enabled})},
        {"noncurrent_version_expiration_days": 1, "abort_incomplete_multipart_upload_days": 1},
    ]
    assert all(fixed(v) == fixed({}) for v in variants)
    committed = props(resources(template(env, "storage"), "AWS::S3::Bucket")["DataLakeBucket"])
    assert fixed({}) == {k: v for k, v in committed.items() if k in create_only}, "the same as the committed one"
