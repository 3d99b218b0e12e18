"""Subnet planning: deterministic, inside the VPC, never overlapping, stable as AZs are added."""

from __future__ import annotations

from ipaddress import IPv4Network
from pathlib import Path

import pytest
import yaml

from builders import params, subnets
from builders.build import pipeline
from builders.subnets import TIERS
from tests.conftest import PARAMS, props, resources


@pytest.mark.parametrize("prefix", range(16, subnets.MAX_DERIVABLE_VPC_PREFIX + 1))
@pytest.mark.parametrize("az_count", range(1, 7))
def test_derived_subnets_fit_the_vpc_and_never_overlap(prefix: int, az_count: int) -> None:
    vpc = IPv4Network(f"10.20.0.0/{prefix}")
    planned = [s for tier in TIERS for s in subnets.derive(vpc, tier, az_count)]
    assert len(planned) == 3 * az_count
    assert all(s.subnet_of(vpc) for s in planned)
    assert all(not a.overlaps(b) for i, a in enumerate(planned) for b in planned[i + 1 :])
    assert max(s.prefixlen for s in subnets.derive(vpc, "public", az_count)) <= subnets.MAX_PUBLIC_PREFIX


def test_adding_an_az_never_moves_an_existing_subnet() -> None:
    vpc = IPv4Network("10.0.0.0/16")
    for tier in TIERS:
        for n in range(1, 6):
            assert subnets.derive(vpc, tier, n + 1)[:n] == subnets.derive(vpc, tier, n)


def test_cidrsubnet_matches_terraform() -> None:
    # Values from Terraform's documentation of cidrsubnet().
    assert str(subnets.cidrsubnet(IPv4Network("172.16.0.0/12"), 4, 2)) == "172.18.0.0/16"
    assert str(subnets.cidrsubnet(IPv4Network("10.1.2.0/24"), 4, 15)) == "10.1.2.240/28"


def test_overridden_subnets_reach_the_template(tmp_path: Path) -> None:
    doc = yaml.safe_load((PARAMS / "dev.yaml").read_text())
    doc["network"]["subnets"] = {"database": ["10.2.200.0/26", "10.2.200.64/26"]}
    path = tmp_path / "dev.yaml"
    path.write_text(yaml.safe_dump(doc))
    artifacts = {a.filename: a.text for a in pipeline.render(params.load(path))}
    network = yaml.load(artifacts["network.yaml"], Loader=_CfnLoader)
    cidrs = {k: props(v)["CidrBlock"] for k, v in resources(network, "AWS::EC2::Subnet").items()}
    assert cidrs["DatabaseSubnetA"] == "10.2.200.0/26" and cidrs["DatabaseSubnetB"] == "10.2.200.64/26"
    assert cidrs["PrivateSubnetA"] == "10.2.0.0/20", "tiers without an override stay derived"


class _CfnLoader(yaml.SafeLoader):
    """Reads short-form intrinsics as plain values: enough to look at literal properties."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)
