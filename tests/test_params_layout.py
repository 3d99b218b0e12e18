"""Params files in another layout (a key renamed since, or named as in the Terraform project): "rename it"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from builders import params
from builders.config import RENAMED, EnvConfig
from builders.errors import ConfigError
from tests.conftest import PARAMS, run_build, tree_digest


def _model_paths(model: type[BaseModel] = EnvConfig, prefix: str = "") -> set[str]:
    """Every key path the current layout has."""
    found = set()
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        found.add(path)
        nested = params._unwrap_model(field.annotation)
        if nested is not None:
            found |= _model_paths(nested, f"{path}.")
    return found


def test_every_rename_points_at_a_key_that_exists_from_one_that_does_not() -> None:
    current = _model_paths()
    for old, (new, _) in RENAMED.items():
        assert new in current, (old, new)
        assert old not in current, old


def _move(doc: dict[str, Any], new: str, old: str) -> dict[str, Any]:
    """`doc` with the value at `new` moved to `old` (an optional key the file leaves out: any value will do)."""
    *parents, last = new.split(".")
    node = doc
    for key in parents:
        node = node.get(key, {})
    value = node.pop(last, True)
    *parents, last = old.split(".")
    node = doc
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return doc


@pytest.mark.parametrize("old", sorted(RENAMED))
def test_an_old_key_is_named_with_what_to_rename_it_to(tmp_path: Path, old: str) -> None:
    new, _ = RENAMED[old]
    path = tmp_path / "prod.yaml"
    path.write_text(yaml.safe_dump(_move(yaml.safe_load((PARAMS / "prod.yaml").read_text()), new, old)))
    with pytest.raises(ConfigError) as caught:
        params.load(path)
    message = str(caught.value)
    assert f"{old}: this key belongs to another params layout: rename it to {new}" in message
    assert f"{new}: is required but missing" not in message, "said once, as the rename"


def test_the_build_says_it_and_writes_nothing(tmp_path: Path, committed_copy: Path) -> None:
    doc = _move(yaml.safe_load((PARAMS / "dev.yaml").read_text()), "network.nat_gateways", "network.single_nat_gateway")
    (tmp_path / "dev.yaml").write_text(yaml.safe_dump(doc))
    before = tree_digest(committed_copy)
    result = run_build("dev", "--params-dir", tmp_path, "--out", committed_copy)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "network.single_nat_gateway" in result.stderr and "rename it to network.nat_gateways" in result.stderr
    assert tree_digest(committed_copy) == before
