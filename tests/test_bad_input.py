"""Bad params: a clear error naming the file and key, exit 2, no traceback, nothing written.

Each case starts from the real prod.yaml, changes one thing, and runs
build.py as a user would, against a copy of templates/.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import PARAMS, run_build, tree_digest


def _prod() -> dict[str, Any]:
    return yaml.safe_load((PARAMS / "prod.yaml").read_text())


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    *parents, last = path.split(".")
    node = doc
    for key in parents:
        node = node.setdefault(key, {})
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return doc


_DELETE = object()

# (case id, key path to change, new value, the key path the error must name, words the error must contain)
CASES = [
    ("unknown-key", "network.nat_gateway", "single", "network.nat_gateway", ["unknown key", "nat_gateways"]),
    ("root-user", "compute.run_as_uid", 0, "compute.run_as_uid", ["greater than or equal to 1"]),
    ("unknown-top-key", "regoin", "us-east-1", "regoin", ["unknown key", "region"]),
    ("wrong-type-int", "network.az_count", "3", "network.az_count", ["integer", "'3'"]),
    ("wrong-type-bool", "network.vpc_endpoints.enabled", "yes please", "network.vpc_endpoints.enabled", ["boolean"]),
    ("wrong-type-mapping", "network.flow_logs", 90, "network.flow_logs", ["mapping", "retention_days"]),
    ("missing-key", "network.vpc_cidr", _DELETE, "network.vpc_cidr", ["required"]),
    ("invalid-cidr", "network.vpc_cidr", "10.0.0.0/33", "network.vpc_cidr", ["not an IPv4 network"]),
    ("host-bits-cidr", "network.vpc_cidr", "10.0.0.1/16", "network.vpc_cidr", ["host bits"]),
    ("vpc-too-big", "network.vpc_cidr", "10.0.0.0/8", "network.vpc_cidr", ["/16 to /28"]),
    ("az-count-zero", "network.az_count", 0, "network.az_count", ["greater than or equal to 1"]),
    ("az-count-seven", "network.az_count", 7, "network.az_count", ["less than or equal to 6"]),
    ("az-count-above-region", "region", "us-west-1", "network.az_count", ["us-west-1 offers 2"]),
    ("unknown-region", "region", "mars-north-1", "region", ["unknown region", "us-east-1"]),
    # Region facts (builders/regions.py): an inference profile of another geography, an endpoint the region lacks.
    ("bedrock-profile-abroad", "region", "eu-west-1", "compute.bedrock_models",
     ["us.anthropic.claude-3-5-sonnet-20241022-v2:0", "cannot be invoked from eu-west-1", "eu."]),
    ("endpoint-not-in-region", "network.vpc_endpoints.interface_services", ["logs", "rds-data", "textract"],
     "network.vpc_endpoints.interface_services", ["rds-data, textract: no interface endpoint in eu-north-1"]),
    ("bad-retention", "network.flow_logs.retention_days", 8, "network.flow_logs.retention_days", ["7, 14"]),
    ("bad-nat-mode", "network.nat_gateways", "two", "network.nat_gateways", ["single", "per_az"]),
    ("nat-none-without-endpoints", "network.vpc_endpoints.enabled", False, "network.vpc_endpoints.enabled", []),
    ("subnet-outside-vpc", "network.subnets", {"public": ["10.9.0.0/24", "10.0.97.0/24", "10.0.98.0/24"]},
     "network.subnets.public[0]", ["not inside the VPC CIDR 10.0.0.0/16"]),
    ("subnets-overlap", "network.subnets", {"database": ["10.0.0.0/24", "10.0.113.0/24", "10.0.114.0/24"]},
     "network.subnets.database[0]", ["overlaps 10.0.0.0/20"]),
    ("subnet-count", "network.subnets", {"private": ["10.0.0.0/20"]}, "network.subnets.private", ["one per AZ"]),
    ("public-subnet-too-small", "network.subnets", {"public": ["10.0.96.0/28", "10.0.97.0/24", "10.0.98.0/24"]},
     "network.subnets.public[0]", ["/27 or larger"]),
    ("env-name-mismatch", "environment", "staging", "environment", ["prod.yaml", "must match"]),
    ("bad-encryption", "storage.encryption", "aes", "storage.encryption", ["AES256", "KMS"]),
    ("duplicate-endpoint", "network.vpc_endpoints.interface_services", ["logs", "logs"],
     "network.vpc_endpoints.interface_services", ["more than once"]),
    ("fargate-size", "compute.api.memory", 1536, "compute.api.memory", ["does not go with cpu 1024", "2048"]),
    ("fargate-cpu", "compute.ui.cpu", 300, "compute.ui.cpu", ["not a Fargate size", "256"]),
    ("desired-outside-range", "compute.api.desired_count", 9, "compute.api.desired_count", ["between min_count"]),
    ("acu-step", "database.max_capacity", 2.3, "database.max_capacity", ["multiple of 0.5"]),
    ("acu-order", "database.min_capacity", 32, "database.max_capacity", ["at least min_capacity"]),
    ("pause-needs-zero", "database.auto_pause_seconds", 600, "database.auto_pause_seconds", ["only applies"]),
    ("prod-needs-reader", "database.readers", 0, "database.readers", ["at least 1 reader"]),
    ("engine-15", "database.engine_version", "15.4", "database.engine_version", ["pattern"]),
    ("certificate", "compute.certificate", "my-cert", "compute.certificate", ["pattern"]),
    ("pi-days", "database.performance_insights_days", 30, "database.performance_insights_days", ["7, 31"]),
    ("app-log-retention", "log_retention_days", 10, "log_retention_days", ["CloudWatch Logs does not accept 10"]),
    ("archive-order", "storage.intelligent_tiering.deep_archive_access_days", 90,
     "storage.intelligent_tiering.deep_archive_access_days", ["180"]),
    # Accepted with exit 0 before (troposphere or AWS would have refused them later):
    ("backup-window-short", "database.backup_window", "03:00-03:10", "database.backup_window",
     ["lasts 10 minutes", "at least 30 minutes"]),
    ("maintenance-window-short", "database.maintenance_window", "sun:05:00-sun:05:20",
     "database.maintenance_window", ["at least 30 minutes"]),
    ("windows-overlap", "database.maintenance_window", "wed:03:30-wed:04:30", "database.maintenance_window",
     ["overlaps the daily backup window 03:00-04:00"]),
    ("windows-overlap-backup-moved", "database.backup_window", "04:45-05:15", "database.maintenance_window",
     ["overlaps"]),
    ("bedrock-none", "compute.bedrock_models", [], "compute.bedrock_models", ["at least 1 item"]),
    ("bedrock-duplicate", "compute.bedrock_models", ["amazon.titan-embed-text-v2:0", "amazon.titan-embed-text-v2:0"],
     "compute.bedrock_models", ["more than once: amazon.titan-embed-text-v2:0"]),
    ("bedrock-too-many", "compute.bedrock_models", [f"anthropic.claude-model-{i:04d}-v1:0" for i in range(120)],
     "compute.bedrock_models", ["too large", "10,240", "at most about"]),
    ("vpc-multicast", "network.vpc_cidr", "224.0.0.0/16", "network.vpc_cidr", ["multicast"]),
    ("vpc-loopback", "network.vpc_cidr", "127.0.0.0/16", "network.vpc_cidr", ["loopback"]),
    ("vpc-link-local", "network.vpc_cidr", "169.254.0.0/16", "network.vpc_cidr", ["link-local"]),
    ("vpc-this-network", "network.vpc_cidr", "0.0.0.0/16", "network.vpc_cidr", ["'this network'"]),
    ("vpc-reserved", "network.vpc_cidr", "240.0.0.0/16", "network.vpc_cidr", ["reserved"]),
    ("archive-prefix-empty", "storage.intelligent_tiering.archive_prefix", "",
     "storage.intelligent_tiering.archive_prefix", ["write null"]),
    ("archive-prefix-long", "storage.intelligent_tiering.archive_prefix", "a/" * 513,
     "storage.intelligent_tiering.archive_prefix", ["1,026 bytes", "at most 1,024"]),
    ("unknown-endpoint", "network.vpc_endpoints.interface_services", ["logs", "secretmanager"],
     "network.vpc_endpoints.interface_services", ["'secretmanager' (did you mean 'secretsmanager'?)"]),
    ("username-admin", "database.master_username", "admin", "database.master_username", ["reserved by RDS"]),
    ("username-rdsadmin", "database.master_username", "rdsadmin", "database.master_username", ["reserved by RDS"]),
    ("username-rds-role", "database.master_username", "rds_superuser", "database.master_username", ["reserved by RDS"]),
    ("username-postgres", "database.master_username", "postgres", "database.master_username", ["best-known"]),
    ("username-pg", "database.master_username", "pg_admin", "database.master_username", ["pg_"]),
    ("username-keyword", "database.master_username", "select", "database.master_username", ["reserved word"]),
    ("app-user-is-master", "database.access.app_user", "nlsql_admin", "database.access.app_user", ["master user"]),
    ("reader-is-app", "database.access", {"app_user": "nlsql_a", "readonly_user": "nlsql_a"},
     "database.access.readonly_user", ["also access.app_user"]),
    ("reader-quote", "database.access.readonly_user", 'r"; DROP DATABASE nlsql; --', "database.access.readonly_user",
     ["pattern"]),
    ("reader-prefix", "database.access.readonly_user", "llm", "database.access.readonly_user",
     ["must start with 'nlsql_'", "permissions boundary"]),
    ("reader-reserved", "database.access.readonly_user", "pg_reader", "database.access.readonly_user", ["pg_"]),
    ("analytics-public", "database.access.analytics_schemas", ["public"], "database.access.analytics_schemas",
     ["PostgreSQL makes for everyone"]),
    ("app-schema-public", "database.access.app_schema", "public", "database.access.app_schema", ["for everyone"]),
    ("analytics-not-a-list", "database.access.analytics_schemas", "analytics", "database.access.analytics_schemas",
     ["must be a list", "'analytics' (str)"]),
    ("analytics-none", "database.access.analytics_schemas", [], "database.access.analytics_schemas", ["at least 1"]),
    ("analytics-has-app", "database.access.analytics_schemas", ["sales", "app"], "database.access.analytics_schemas",
     ["chat memory"]),
    ("statement-timeout-zero", "database.access.statement_timeout_seconds", 0,
     "database.access.statement_timeout_seconds", ["greater than or equal to 1"]),
    ("reader-limit-huge", "database.access.readonly_connection_limit", 100000,
     "database.access.readonly_connection_limit", ["less than or equal to 5000"]),
]  # fmt: skip


def _run_case(tmp_path: Path, committed_copy: Path, text: str, env: str = "prod") -> tuple[Any, Path]:
    params_dir = tmp_path / "params"
    params_dir.mkdir()
    (params_dir / f"{env}.yaml").write_text(text)
    before = tree_digest(committed_copy)
    result = run_build(env, "--params-dir", params_dir, "--out", committed_copy)
    assert tree_digest(committed_copy) == before, "a failed build touched templates/"
    assert "Traceback" not in result.stderr + result.stdout
    return result, params_dir / f"{env}.yaml"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_params_get_a_clear_error_and_write_nothing(tmp_path: Path, committed_copy: Path, case: tuple) -> None:
    _, path, value, key, words = case
    doc = _set(_prod(), path, value)
    if case[0] == "nat-none-without-endpoints":
        doc["network"]["nat_gateways"] = "none"
        key = "network.nat_gateways"
    if case[0] == "endpoint-not-in-region":  # a region without them, with Claude through its EU profile
        doc["region"] = "eu-north-1"
        doc["compute"]["bedrock_models"] = ["eu.anthropic.claude-3-5-sonnet-20240620-v1:0"]
    result, params_file = _run_case(tmp_path, committed_copy, yaml.safe_dump(doc))
    assert result.returncode == 2
    assert str(params_file) in result.stderr
    assert f"  {key}:" in result.stderr, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("network: [1, 2\n", ["not valid YAML", "line"]),
        ("- just\n- a list\n", ["top level must be a mapping"]),
        ("environment: prod\nenvironment: dev\n", ["duplicate key 'environment'"]),
        ("", ["top level must be a mapping", "NoneType"]),
        ("\t\x00", ["not valid YAML"]),
    ],
    ids=["unclosed-flow", "list-root", "duplicate-key", "empty", "control-chars"],
)
def test_yaml_that_does_not_parse_into_a_mapping(
    tmp_path: Path, committed_copy: Path, text: str, words: list[str]
) -> None:
    result, params_file = _run_case(tmp_path, committed_copy, text)
    assert result.returncode == 2
    assert str(params_file) in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def test_unknown_environment_names_the_ones_that_exist(committed_copy: Path) -> None:
    before = tree_digest(committed_copy)
    result = run_build("prd", "--out", committed_copy)
    assert result.returncode == 2
    assert "unknown environment 'prd'" in result.stderr
    assert "dev, prod, staging" in result.stderr and "Did you mean 'prod'" in result.stderr
    assert tree_digest(committed_copy) == before


def test_one_bad_environment_stops_the_whole_build_before_any_write(tmp_path: Path) -> None:
    params_dir = tmp_path / "params"
    shutil.copytree(PARAMS, params_dir)
    staging = params_dir / "staging.yaml"
    staging.write_text(staging.read_text().replace("az_count: 3", "az_count: 9"))
    out = tmp_path / "out"

    result = run_build("--params-dir", params_dir, "--out", out)

    assert result.returncode == 2
    assert "staging.yaml" in result.stderr and "network.az_count" in result.stderr
    assert not out.exists(), "dev and prod were written although staging failed"


def test_several_problems_in_one_file_are_reported_together(tmp_path: Path, committed_copy: Path) -> None:
    doc = _prod()
    doc["network"]["az_count"] = "three"
    doc["storage"]["encryption"] = "rot13"
    doc["colour"] = "blue"
    result, _ = _run_case(tmp_path, committed_copy, yaml.safe_dump(doc))
    assert result.returncode == 2
    assert "3 problems" in result.stderr
    for key in ("network.az_count", "storage.encryption", "colour"):
        assert f"  {key}:" in result.stderr
