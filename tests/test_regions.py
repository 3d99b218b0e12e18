"""Region facts (builders/regions.py): the tables are coherent, and an environment in a second region builds.

The second-region environment is a tests-only params file (tests.conftest.params_in_region), built into a
scratch folder with the real build: its AZ names, endpoint service names, ELB log account and lint region are
those of eu-west-1, never us-east-1's.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builders import regions
from tests.conftest import params_in_region, run_build


def test_every_region_in_the_endpoint_table_is_known_and_every_service_is_one_we_offer() -> None:
    assert set(regions.NOT_OFFERED) <= set(regions.AZS_PER_REGION)
    for region, missing in regions.NOT_OFFERED.items():
        assert missing <= regions.INTERFACE_SERVICES, (region, missing - regions.INTERFACE_SERVICES)
    assert not regions.offers("eu-north-1", "rds-data") and regions.offers("us-east-1", "rds-data")


@pytest.mark.parametrize(
    ("model", "region", "callable_"),
    [
        ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "us-west-2", True),
        ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "eu-west-1", False),
        ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "us-gov-west-1", False),
        ("eu.anthropic.claude-3-5-sonnet-20240620-v1:0", "eu-central-1", True),
        ("eu.anthropic.claude-3-5-sonnet-20240620-v1:0", "ap-south-1", False),
        ("apac.anthropic.claude-3-5-sonnet-20240620-v1:0", "ap-southeast-2", True),
        ("global.anthropic.claude-sonnet-4-20250514-v1:0", "sa-east-1", True),
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", "me-central-1", True),  # a foundation model: not a profile
    ],
)
def test_an_inference_profile_is_callable_only_from_its_geography(model: str, region: str, callable_: bool) -> None:
    assert regions.profile_callable_from(model, region) is callable_


def test_an_environment_in_a_second_region_builds_with_that_regions_facts(tmp_path: Path) -> None:
    # From prod, for its access-log bucket (whose policy names the region's ELB account), with Claude through
    # the EU profile: the US one cannot be invoked from eu-west-1.
    folder = params_in_region(tmp_path / "params", "ireland", "eu-west-1", "prod", {"us.anthropic": "eu.anthropic"})
    out = tmp_path / "templates"
    result = run_build("ireland", "--params-dir", folder, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "lint clean" in result.stdout and "network flows proven" in result.stdout
    network = (out / "ireland" / "network.yaml").read_text()
    assert "us-east-1" not in network  # no AZ, endpoint or log account of the first region leaks in
    storage = (out / "ireland" / "storage.yaml").read_text()
    assert regions.ELB_LOG_ACCOUNTS["eu-west-1"] in storage and regions.ELB_LOG_ACCOUNTS["us-east-1"] not in storage
    values = json.loads((out / "ireland" / "parameters.json").read_text())
    assert "us-east-1" not in json.dumps(values)
