"""The seed's "Environment Differences" table, asserted on the generated templates.

The expected values are the seed README's table, typed in here on purpose:
the test holds the templates to the requirement, not to the params files.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import props, resources, template

SEED_TABLE: dict[str, dict[str, Any]] = {
    "dev": {
        "vpc_cidr": "10.2.0.0/16",
        "azs": 2,
        "nat_gateways": 1,
        "endpoints": False,
        "flow_log_days": 7,
        "sse": "AES256",
        "intelligent_tiering": False,
        "access_logging": False,
    },
    "prod": {
        "vpc_cidr": "10.0.0.0/16",
        "azs": 3,
        "nat_gateways": 3,
        "endpoints": True,
        "flow_log_days": 90,
        "sse": "aws:kms",
        "intelligent_tiering": True,
        "access_logging": True,
    },
}


def _azs_of(network: dict[str, Any], tier: str) -> list[int]:
    subnets = [props(r) for k, r in resources(network, "AWS::EC2::Subnet").items() if k.startswith(tier.capitalize())]
    return sorted(s["AvailabilityZone"]["Fn::Select"][0] for s in subnets)


def _data_lake(env: str) -> dict[str, Any]:
    return props(resources(template(env, "storage"), "AWS::S3::Bucket")["DataLakeBucket"])


@pytest.mark.parametrize("env", sorted(SEED_TABLE))
def test_vpc_cidr(env: str) -> None:
    (vpc,) = resources(template(env, "network"), "AWS::EC2::VPC").values()
    assert props(vpc)["CidrBlock"] == SEED_TABLE[env]["vpc_cidr"]
    assert props(vpc)["EnableDnsSupport"] is True and props(vpc)["EnableDnsHostnames"] is True


@pytest.mark.parametrize("env", sorted(SEED_TABLE))
def test_every_tier_spans_the_table_s_availability_zones(env: str) -> None:
    for tier in ("public", "private", "database"):
        assert _azs_of(template(env, "network"), tier) == list(range(SEED_TABLE[env]["azs"])), tier


@pytest.mark.parametrize("env", sorted(SEED_TABLE))
def test_nat_gateways(env: str) -> None:
    network = template(env, "network")
    assert len(resources(network, "AWS::EC2::NatGateway")) == SEED_TABLE[env]["nat_gateways"]
    assert len(resources(network, "AWS::EC2::EIP")) == SEED_TABLE[env]["nat_gateways"]


@pytest.mark.parametrize("env", sorted(SEED_TABLE))
def test_vpc_endpoints(env: str) -> None:
    endpoints = resources(template(env, "network"), "AWS::EC2::VPCEndpoint").values()
    kinds = sorted(props(e)["VpcEndpointType"] for e in endpoints)
    assert kinds == (["Gateway"] + ["Interface"] * 4 if SEED_TABLE[env]["endpoints"] else [])


@pytest.mark.parametrize("env", sorted(SEED_TABLE))
def test_flow_log_retention(env: str) -> None:
    network = template(env, "network")
    group = resources(network, "AWS::Logs::LogGroup")["FlowLogGroup"]
    assert props(group)["RetentionInDays"] == SEED_TABLE[env]["flow_log_days"]
    (flow_log,) = resources(network, "AWS::EC2::FlowLog").values()
    assert props(flow_log)["LogDestinationType"] == "cloud-watch-logs"


@pytest.mark.parametrize("env", sorted(SEED_TABLE))
def test_s3_encryption(env: str) -> None:
    (rule,) = _data_lake(env)["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == SEED_TABLE[env]["sse"]
    keys = resources(template(env, "storage"), "AWS::KMS::Key")
    if SEED_TABLE[env]["sse"] == "aws:kms":
        (key_id,) = keys
        assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {"Fn::GetAtt": [key_id, "Arn"]}
        assert rule["BucketKeyEnabled"] is True
    else:
        assert keys == {}


@pytest.mark.parametrize("env", sorted(SEED_TABLE))
def test_intelligent_tiering(env: str) -> None:
    bucket = _data_lake(env)
    classes = [t["StorageClass"] for r in bucket["LifecycleConfiguration"]["Rules"] for t in r.get("Transitions", [])]
    if SEED_TABLE[env]["intelligent_tiering"]:
        assert classes == ["INTELLIGENT_TIERING"]
        (config,) = bucket["IntelligentTieringConfigurations"]
        assert {t["AccessTier"] for t in config["Tierings"]} == {"ARCHIVE_ACCESS", "DEEP_ARCHIVE_ACCESS"}
    else:
        assert classes == []
        assert "IntelligentTieringConfigurations" not in bucket


@pytest.mark.parametrize("env", sorted(SEED_TABLE))
def test_access_logging(env: str) -> None:
    bucket = _data_lake(env)
    buckets = resources(template(env, "storage"), "AWS::S3::Bucket")
    if SEED_TABLE[env]["access_logging"]:
        assert bucket["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": "AccessLogBucket"}
        log_sse = props(buckets["AccessLogBucket"])["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert log_sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"  # the only kind S3 logs into
    else:
        assert "LoggingConfiguration" not in bucket
        assert list(buckets) == ["DataLakeBucket"]
