"""CloudFormation's limits, crossed by a params file a person could write: refused, named, nothing written."""

from __future__ import annotations

from pathlib import Path

import yaml

from builders.build import limits
from tests.conftest import PARAMS, run_build, tree_digest


def test_a_config_with_more_resources_than_a_stack_may_hold_is_refused(tmp_path: Path, committed_copy: Path) -> None:
    # Every interface endpoint is a resource of the network stack; 480 of them take it past 500.
    doc = yaml.safe_load((PARAMS / "prod.yaml").read_text())
    doc["network"]["vpc_endpoints"]["interface_services"] = [f"service{i}" for i in range(480)]
    (tmp_path / "prod.yaml").write_text(yaml.safe_dump(doc))
    before = tree_digest(committed_copy)
    result = run_build("prod", "--params-dir", tmp_path, "--out", committed_copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "prod/network.yaml" in result.stderr and f"{limits.MAX_RESOURCES}" in result.stderr
    assert "CloudFormation limit" in result.stderr and "Traceback" not in result.stderr
    assert tree_digest(committed_copy) == before


def test_every_limit_is_named_with_its_figure() -> None:
    over = limits.Usage(
        "x/y.yaml",
        resources=limits.MAX_RESOURCES + 1,
        parameters=limits.MAX_PARAMETERS + 1,
        outputs=limits.MAX_OUTPUTS + 1,
        size=limits.MAX_BODY_S3 + 1,
    )
    found = over.violations()
    assert len(found) == 4 and all(v.startswith("x/y.yaml: ") for v in found)
    for figure in ("501 resources", "201 parameters", "201 outputs", "1,000,001 bytes"):
        assert any(figure in v for v in found), figure
    at_limit = limits.Usage(
        "x/y.yaml", limits.MAX_RESOURCES, limits.MAX_PARAMETERS, limits.MAX_OUTPUTS, limits.MAX_BODY_S3
    )
    assert at_limit.violations() == []


def test_an_account_wide_template_must_fit_the_inline_limit() -> None:
    size = limits.MAX_BODY_INLINE + 1
    assert limits.Usage("bootstrap.yaml", 1, 0, 0, size).violations() == [], "from S3 it could be 1 MB"
    (found,) = limits.Usage("bootstrap.yaml", 1, 0, 0, size, inline=True).violations()
    assert found == "bootstrap.yaml: 51,201 bytes sent inline, over CloudFormation's limit of 51,200"


def test_the_account_wide_templates_are_checked_as_inline() -> None:
    from builders.build import pipeline

    shared = pipeline.render_shared("us-east-1")
    assert shared and all(a.usage is not None and a.usage.inline for a in shared)
