"""CloudFormation's limits, crossed by a params file a person could write: refused, named, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from builders import params
from builders.build import limits, pipeline
from builders.errors import BuildError
from tests.conftest import PARAMS, run_build, tree_digest


def test_hundreds_of_endpoints_are_refused_by_the_loader(tmp_path: Path, committed_copy: Path) -> None:
    """480 interface endpoints would take the network stack past 500 resources; no real list is that long, and
    the loader refuses service names it does not know before anything is rendered."""
    doc = yaml.safe_load((PARAMS / "prod.yaml").read_text())
    doc["network"]["vpc_endpoints"]["interface_services"] = [f"service{i}" for i in range(480)]
    (tmp_path / "prod.yaml").write_text(yaml.safe_dump(doc))
    before = tree_digest(committed_copy)
    result = run_build("prod", "--params-dir", tmp_path, "--out", committed_copy)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "network.vpc_endpoints.interface_services" in result.stderr and "Traceback" not in result.stderr
    assert tree_digest(committed_copy) == before


def test_a_config_with_more_resources_than_a_stack_may_hold_is_refused_when_rendered() -> None:
    """The render-time guard behind the loader: a config past 500 resources (built here without the loader's
    checks) fails with the stack, the figure and 'CloudFormation limit', not troposphere's ValueError."""
    cfg = params.load(PARAMS / "prod.yaml")
    endpoints = cfg.network.vpc_endpoints.model_copy(
        update={"interface_services": tuple(f"service{i}" for i in range(480))}
    )
    wide = cfg.model_copy(update={"network": cfg.network.model_copy(update={"vpc_endpoints": endpoints})})
    with pytest.raises(BuildError) as caught:
        pipeline.render(wide)
    message = str(caught.value)
    assert "prod/network.yaml" in message and f"{limits.MAX_RESOURCES}" in message
    assert "CloudFormation limit" in message and "nothing was written" in message


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
