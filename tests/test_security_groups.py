"""The seed's security-group table, rule for rule, on every environment's generated template.

Rules are collected the way EC2 sees them: inline ingress and egress plus the
standalone AWS::EC2::SecurityGroupIngress resources. A group with no explicit
egress would get CloudFormation's allow-all rule, so the tests also prove
every group has an explicit egress list.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ENVS, props, ref, resources, template

ANYWHERE = "0.0.0.0/0"
VPC = "vpc-cidr"

# The seed README's table: (group, direction, port, peer).
SEED_RULES = {
    ("alb-sg", "in", 80, ANYWHERE),
    ("alb-sg", "in", 443, ANYWHERE),
    ("alb-sg", "out", 8000, "ecs-tasks-sg"),
    ("alb-sg", "out", 8501, "ecs-tasks-sg"),
    ("ecs-tasks-sg", "in", 8000, "alb-sg"),
    ("ecs-tasks-sg", "in", 8501, "alb-sg"),
    ("ecs-tasks-sg", "out", 5432, "aurora-sg"),
    ("ecs-tasks-sg", "out", 443, ANYWHERE),
    ("aurora-sg", "in", 5432, "ecs-tasks-sg"),
    ("vpc-endpoints-sg", "in", 443, VPC),
}
# Deliberate additions to the seed's table (README, "Security groups"): the UI calls the API task to task,
# through ECS Service Connect, on the API's port.
ADDED_RULES = {
    ("ecs-tasks-sg", "in", 8000, "ecs-tasks-sg"),
    ("ecs-tasks-sg", "out", 8000, "ecs-tasks-sg"),
}
# CDK's "disallow all" egress: matches no packet, so no allow-all is added.
NO_EGRESS = {"CidrIp": "255.255.255.255/32", "IpProtocol": "icmp", "FromPort": 252, "ToPort": 86}


def _labels(network: dict[str, Any]) -> dict[str, str]:
    """Logical id -> the seed's group name, read from each group's description."""
    groups = resources(network, "AWS::EC2::SecurityGroup")
    return {k: props(v)["GroupDescription"].split(":")[0] for k, v in groups.items()}


def _peer(rule: dict[str, Any], labels: dict[str, str]) -> str:
    for key in ("SourceSecurityGroupId", "DestinationSecurityGroupId"):
        if key in rule:
            return labels[ref(rule[key])]
    cidr = rule["CidrIp"]
    return VPC if ref(cidr) == "Vpc" else cidr


def _effective_rules(network: dict[str, Any]) -> set[tuple[str, str, int, str]]:
    labels = _labels(network)
    found = set()
    for gid, group in resources(network, "AWS::EC2::SecurityGroup").items():
        for direction, key in (("in", "SecurityGroupIngress"), ("out", "SecurityGroupEgress")):
            for rule in props(group).get(key, []):
                if rule == {**NO_EGRESS, "Description": rule.get("Description")}:
                    continue
                assert rule["IpProtocol"] == "tcp" and rule["FromPort"] == rule["ToPort"], rule
                found.add((labels[gid], direction, rule["FromPort"], _peer(rule, labels)))
    for rule in resources(network, "AWS::EC2::SecurityGroupIngress").values():
        p = props(rule)
        assert p["IpProtocol"] == "tcp" and p["FromPort"] == p["ToPort"], p
        found.add((labels[ref(p["GroupId"])], "in", p["FromPort"], _peer(p, labels)))
    for rule in resources(network, "AWS::EC2::SecurityGroupEgress").values():
        p = props(rule)
        group = network["Resources"][ref(p["GroupId"])]
        # Standalone egress alone would keep CloudFormation's default allow-all; beside inline egress it does not.
        assert props(group).get("SecurityGroupEgress"), "standalone egress on a group without inline egress"
        assert p["IpProtocol"] == "tcp" and p["FromPort"] == p["ToPort"], p
        found.add((labels[ref(p["GroupId"])], "out", p["FromPort"], _peer(p, labels)))
    return found


def _expected(env: str) -> set[tuple[str, str, int, str]]:
    has_endpoints = bool(resources(template(env, "network"), "AWS::EC2::VPCEndpoint"))
    return {r for r in SEED_RULES | ADDED_RULES if has_endpoints or r[0] != "vpc-endpoints-sg"}


@pytest.mark.parametrize("env", ENVS)
def test_security_groups_match_the_seed_table_rule_for_rule(env: str) -> None:
    assert _effective_rules(template(env, "network")) == _expected(env)


@pytest.mark.parametrize("env", ENVS)
def test_every_group_has_explicit_egress_so_no_default_allow_all(env: str) -> None:
    network = template(env, "network")
    labels = _labels(network)
    for gid, group in resources(network, "AWS::EC2::SecurityGroup").items():
        egress = props(group).get("SecurityGroupEgress")
        assert egress, f"{labels[gid]} would get CloudFormation's allow-all egress"
        if labels[gid] in {"aurora-sg", "vpc-endpoints-sg"}:
            assert [{k: v for k, v in e.items() if k != "Description"} for e in egress] == [NO_EGRESS]


@pytest.mark.parametrize("env", ENVS)
def test_database_is_not_reachable_from_alb(env: str) -> None:
    rules = _effective_rules(template(env, "network"))
    assert not {r for r in rules if r[0] == "aurora-sg" and r[1] == "in" and r[3] != "ecs-tasks-sg"}
    assert not {r for r in rules if r[0] == "alb-sg" and r[1] == "out" and r[3] not in {"ecs-tasks-sg"}}


@pytest.mark.parametrize("env", ENVS)
def test_only_the_alb_accepts_traffic_from_the_internet(env: str) -> None:
    rules = _effective_rules(template(env, "network"))
    assert {r[0] for r in rules if r[1] == "in" and r[3] == ANYWHERE} == {"alb-sg"}


def test_vpc_endpoints_group_exists_exactly_where_endpoints_do() -> None:
    for env in ENVS:
        network = template(env, "network")
        has_endpoints = bool(resources(network, "AWS::EC2::VPCEndpoint"))
        assert ("vpc-endpoints-sg" in _labels(network).values()) == has_endpoints, env
