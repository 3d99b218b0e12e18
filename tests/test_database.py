"""Aurora per environment, asserted on the generated templates."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ENVS, STACKS, function_source, props, ref, resources, template

# What each environment must be, from the issue and the seed: dev scales to zero; prod has a
# reader in another AZ, deletion protection and two weeks of backups; KMS where storage has it.
EXPECTED: dict[str, dict[str, Any]] = {
    "dev": {"scales_to_zero": True, "min_readers": 0, "protected": False, "min_backup_days": 1, "cmk": False},
    "staging": {"scales_to_zero": False, "min_readers": 1, "protected": False, "min_backup_days": 7, "cmk": True},
    "prod": {"scales_to_zero": False, "min_readers": 1, "protected": True, "min_backup_days": 14, "cmk": True},
}


def _cluster(env: str) -> dict[str, Any]:
    (cluster,) = resources(template(env, "database"), "AWS::RDS::DBCluster").values()
    return cluster


def _az(instance: dict[str, Any]) -> int:
    return props(instance)["AvailabilityZone"]["Fn::Select"][0]


@pytest.mark.parametrize("env", ENVS)
def test_aurora_postgresql_16_serverless_v2_with_the_environment_s_capacity(env: str) -> None:
    p = props(_cluster(env))
    assert p["Engine"] == "aurora-postgresql" and p["EngineVersion"].startswith("16.")
    scaling = p["ServerlessV2ScalingConfiguration"]
    assert 1 <= scaling["MaxCapacity"] <= 256 and scaling["MinCapacity"] <= scaling["MaxCapacity"]
    if EXPECTED[env]["scales_to_zero"]:
        assert scaling["MinCapacity"] == 0 and 300 <= scaling["SecondsUntilAutoPause"] <= 86400
    else:
        assert scaling["MinCapacity"] >= 0.5 and "SecondsUntilAutoPause" not in scaling


@pytest.mark.parametrize("env", ENVS)
def test_writer_and_readers_are_serverless_and_readers_sit_in_other_azs(env: str) -> None:
    instances = resources(template(env, "database"), "AWS::RDS::DBInstance")
    writer = instances.pop("DatabaseWriter")
    assert len(instances) >= EXPECTED[env]["min_readers"]
    for instance in (writer, *instances.values()):
        p = props(instance)
        assert p["DBInstanceClass"] == "db.serverless" and p["PubliclyAccessible"] is False
        assert ref(p["DBClusterIdentifier"]) == "DatabaseCluster"
        assert p["EnablePerformanceInsights"] is True
    for reader in instances.values():
        assert _az(reader) != _az(writer) and props(reader)["PromotionTier"] == 1


@pytest.mark.parametrize("env", ENVS)
def test_cluster_is_private_encrypted_backed_up_and_snapshotted_on_delete(env: str) -> None:
    cluster = _cluster(env)
    p = props(cluster)
    assert cluster["DeletionPolicy"] == cluster["UpdateReplacePolicy"] == "Snapshot"
    assert p["DeletionProtection"] is EXPECTED[env]["protected"]
    assert p["VpcSecurityGroupIds"] == [{"Ref": "AuroraSecurityGroupId"}]
    subnet_group = template(env, "database")["Resources"][ref(p["DBSubnetGroupName"])]
    assert props(subnet_group)["SubnetIds"] == {"Ref": "DatabaseSubnetIds"}
    assert p["StorageEncrypted"] is True
    assert ("KmsKeyId" in p) is EXPECTED[env]["cmk"]
    if EXPECTED[env]["cmk"]:
        assert p["KmsKeyId"] == p["MasterUserSecret"]["KmsKeyId"] == {"Ref": "KmsKeyArn"}
    assert p["BackupRetentionPeriod"] >= EXPECTED[env]["min_backup_days"]
    assert p["PreferredBackupWindow"] and p["PreferredMaintenanceWindow"]
    assert "postgresql" in p["EnableCloudwatchLogsExports"]
    assert p["EnableHttpEndpoint"] is True


@pytest.mark.parametrize("env", ENVS)
def test_the_master_password_is_managed_by_secrets_manager_and_written_nowhere(env: str) -> None:
    p = props(_cluster(env))
    assert p["ManageMasterUserPassword"] is True and "MasterUserPassword" not in p
    for stack in STACKS:
        assert not _keys_named(template(env, stack), "MasterUserPassword"), stack


def _keys_named(value: Any, key: str) -> list[Any]:
    """Every value under `key`, anywhere in a nested document."""
    if isinstance(value, dict):
        return [v for k, v in value.items() if k == key] + [x for v in value.values() for x in _keys_named(v, key)]
    if isinstance(value, list):
        return [x for v in value for x in _keys_named(v, key)]
    return []


@pytest.mark.parametrize("env", ENVS)
def test_pgvector_is_installed_after_the_writer_by_a_function_that_cannot_hang_the_stack(env: str) -> None:
    db = template(env, "database")
    (extension,) = resources(db, "Custom::PgVector").values()
    assert extension["DependsOn"] == ["DatabaseWriter"] or extension["DependsOn"] == "DatabaseWriter"
    p = props(extension)
    function = props(db["Resources"][ref(p["ServiceToken"])])
    assert function["Timeout"] < p["ServiceTimeout"] <= 600, "CloudFormation gives up long before its default hour"
    assert function["Code"]["ZipFile"] == function_source("pgvector")
    assert p["Database"] == props(_cluster(env))["DatabaseName"]
    assert p["ClusterArn"] == {"Fn::GetAtt": ["DatabaseCluster", "DBClusterArn"]}


@pytest.mark.parametrize("env", ENVS)
def test_database_outputs(env: str) -> None:
    outputs = template(env, "database")["Outputs"]
    assert {
        "DatabaseEndpoint",
        "DatabaseReaderEndpoint",
        "DatabasePort",
        "DatabaseSecretArn",
        "DatabaseClusterArn",
    } <= set(outputs)
    assert outputs["DatabaseReaderEndpoint"]["Value"] == {"Fn::GetAtt": ["DatabaseCluster", "ReadEndpoint.Address"]}
