"""The hardening properties, asserted on every generated template rather than trusted to a scanner.

Encrypted at rest (buckets, Aurora, log groups) and in transit (TLS-only
bucket policies, `rds.force_ssl`), nothing public but the ALB, and an access
trail where the environment keeps one. The security groups are held to the
seed's table by tests/test_security_groups.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cfnlint.decode.decode import decode_str

from builders import params, storage
from builders.build.pipeline import SHARED_FILES
from builders.regions import ELB_LOG_ACCOUNTS
from tests.conftest import ENVS, PARAMS, TEMPLATES, props, ref, resources, template
from tests.conftest import STACKS as ALL_STACKS

KEY = {"Ref": "KmsKeyArn"}
# Resource types that would put something on the internet besides the ALB.
PUBLIC_TYPES = {
    "AWS::Lambda::Url",
    "AWS::Lambda::Permission",
    "AWS::EC2::Instance",
    "AWS::ApiGateway::RestApi",
    "AWS::ApiGatewayV2::Api",
    "AWS::CloudFront::Distribution",
    "AWS::S3::AccessPoint",
    "AWS::ElasticLoadBalancing::LoadBalancer",
}


STACKS = ALL_STACKS[1:]  # the nested stacks: the root holds no resources of its own kind


def _account_templates() -> Iterator[tuple[str, dict[str, Any]]]:
    for name in SHARED_FILES:
        doc, errors = decode_str((TEMPLATES / name).read_text(encoding="utf-8"))
        assert not errors, errors
        yield name, doc


def _all_templates() -> Iterator[tuple[str, dict[str, Any]]]:
    for env in ENVS:
        for stack in STACKS:
            yield f"{env}/{stack}", template(env, stack)
    yield from _account_templates()


def _kms(env: str) -> bool:
    return params.load(PARAMS / f"{env}.yaml").storage.encryption == "KMS"


def _skipped(resource: dict[str, Any]) -> set[str]:
    return {s["id"] for s in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])}


@pytest.mark.parametrize("env", ENVS)
def test_the_data_lake_and_the_database_are_encrypted_at_rest_with_the_environments_key(env: str) -> None:
    lake = props(template(env, "storage")["Resources"]["DataLakeBucket"])
    (rule,) = lake["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    default = rule["ServerSideEncryptionByDefault"]
    if _kms(env):
        assert default["SSEAlgorithm"] == "aws:kms" and ref(default["KMSMasterKeyID"]) == "EnvironmentKey"
    else:
        assert default == {"SSEAlgorithm": "AES256"}
    (cluster,) = resources(template(env, "database"), "AWS::RDS::DBCluster").values()
    assert props(cluster)["StorageEncrypted"] is True
    assert (props(cluster).get("KmsKeyId") == KEY) is _kms(env)
    for instance in resources(template(env, "database"), "AWS::RDS::DBInstance").values():
        assert (props(instance).get("PerformanceInsightsKMSKeyId") == KEY) is _kms(env)


def test_every_bucket_is_encrypted_at_rest() -> None:
    buckets = [b for _, doc in _all_templates() for b in resources(doc, "AWS::S3::Bucket").values()]
    assert buckets
    for bucket in buckets:
        (rule,) = props(bucket)["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")


@pytest.mark.parametrize("env", ENVS)
def test_log_groups_use_the_environments_key_where_there_is_one(env: str) -> None:
    """The app's and the function's logs under the key; the flow logs cannot be (their stack deploys first)."""
    for stack in STACKS:
        for logical_id, group in resources(template(env, stack), "AWS::Logs::LogGroup").items():
            if _kms(env) and stack != "network":
                assert props(group)["KmsKeyId"] == KEY, logical_id
                assert "CKV_AWS_158" not in _skipped(group)
            else:
                assert "KmsKeyId" not in props(group) and "CKV_AWS_158" in _skipped(group), logical_id


def test_cloudwatch_logs_may_use_the_key_for_this_accounts_log_groups_only() -> None:
    for env in ENVS:
        for key in resources(template(env, "storage"), "AWS::KMS::Key").values():
            statements = {s["Sid"]: s for s in props(key)["KeyPolicy"]["Statement"]}
            logs = statements["CloudWatchLogsEncryptsThisAccountsLogGroups"]
            assert logs["Principal"] == {"Service": [{"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}]}
            context = logs["Condition"]["StringLike"]["kms:EncryptionContext:aws:logs:arn"]
            assert context == {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"}
            assert all(
                a.startswith(("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt", "kms:Generate")) for a in logs["Action"]
            )


def test_every_bucket_refuses_requests_without_tls() -> None:
    for where, doc in _all_templates():
        policies = {
            ref(props(p)["Bucket"]): props(p)["PolicyDocument"]
            for p in resources(doc, "AWS::S3::BucketPolicy").values()
        }
        for logical_id in resources(doc, "AWS::S3::Bucket"):
            (deny,) = [s for s in policies[logical_id]["Statement"] if s["Effect"] == "Deny"]
            assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, (where, logical_id)
            assert deny["Principal"] == "*" and deny["Action"] == ["s3:*"]
            assert {ref(r) or ref(r["Fn::Join"][1][0]) for r in deny["Resource"]} == {logical_id}


@pytest.mark.parametrize("env", ENVS)
def test_aurora_refuses_connections_without_tls(env: str) -> None:
    db = template(env, "database")
    (cluster,) = resources(db, "AWS::RDS::DBCluster").values()
    group = db["Resources"][ref(props(cluster)["DBClusterParameterGroupName"])]
    assert group["Type"] == "AWS::RDS::DBClusterParameterGroup"
    assert props(group)["Parameters"] == {"rds.force_ssl": "1"}
    major = props(cluster)["EngineVersion"].split(".")[0]
    assert props(group)["Family"] == f"{props(cluster)['Engine']}{major}"


@pytest.mark.parametrize("env", ENVS)
def test_nothing_is_reachable_from_the_internet_but_the_alb(env: str) -> None:
    docs = {stack: template(env, stack) for stack in STACKS}
    for stack, doc in docs.items():
        assert not {r["Type"] for r in doc["Resources"].values()} & PUBLIC_TYPES, stack
    (alb,) = resources(docs["compute"], "AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    assert props(alb)["Scheme"] == "internet-facing" and ref(props(alb)["Subnets"]) == "PublicSubnetIds"
    for service in resources(docs["compute"], "AWS::ECS::Service").values():
        awsvpc = props(service)["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert awsvpc["AssignPublicIp"] == "DISABLED" and ref(awsvpc["Subnets"]) == "PrivateSubnetIds"
    for subnet in resources(docs["network"], "AWS::EC2::Subnet").values():
        assert props(subnet)["MapPublicIpOnLaunch"] is False
    for instance in resources(docs["database"], "AWS::RDS::DBInstance").values():
        assert props(instance)["PubliclyAccessible"] is False
    for function in resources(docs["database"], "AWS::Lambda::Function").values():
        assert "FunctionUrlConfig" not in props(function)


def test_no_bucket_or_key_grants_anything_to_everyone() -> None:
    for where, doc in _all_templates():
        for bucket in resources(doc, "AWS::S3::Bucket").values():
            block = props(bucket)["PublicAccessBlockConfiguration"]
            assert block == dict.fromkeys(
                ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
            )
        policies = [props(p)["PolicyDocument"] for p in resources(doc, "AWS::S3::BucketPolicy").values()]
        policies += [props(k)["KeyPolicy"] for k in resources(doc, "AWS::KMS::Key").values()]
        for policy in policies:
            for statement in policy["Statement"]:
                if statement["Effect"] == "Allow":
                    assert statement["Principal"] != "*" and "*" not in statement["Principal"].get("AWS", []), where


@pytest.mark.parametrize("env", ENVS)
def test_the_alb_logs_requests_to_the_access_log_bucket_where_the_environment_keeps_access_logs(env: str) -> None:
    (alb,) = resources(template(env, "compute"), "AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    attributes = {a["Key"]: a["Value"] for a in props(alb)["LoadBalancerAttributes"]}
    cfg = params.load(PARAMS / f"{env}.yaml")
    if not cfg.storage.access_logging.enabled:
        assert "access_logs.s3.enabled" not in attributes and "CKV_AWS_91" in _skipped(alb)
        return
    assert attributes["access_logs.s3.enabled"] == "true"
    assert ref(attributes["access_logs.s3.bucket"]) == storage.OUT_LOG_BUCKET_NAME
    assert attributes["access_logs.s3.prefix"] == storage.ALB_LOG_PREFIX
    policy = props(template(env, "storage")["Resources"]["AccessLogBucketPolicy"])["PolicyDocument"]
    (elb,) = [s for s in policy["Statement"] if s.get("Sid") == "AllowLoadBalancerAccessLogDelivery"]
    account = ELB_LOG_ACCOUNTS[cfg.region]
    assert elb["Principal"] == {"AWS": [{"Fn::Sub": f"arn:${{AWS::Partition}}:iam::{account}:root"}]}
    assert elb["Action"] == ["s3:PutObject"]
    (resource,) = elb["Resource"]
    assert resource["Fn::Join"][1][1:] == [f"/{storage.ALB_LOG_PREFIX}/AWSLogs/", {"Ref": "AWS::AccountId"}, "/*"]
