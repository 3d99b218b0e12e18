"""templates/ is the snapshot: it must equal a fresh build, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builders import params
from builders.build import pipeline
from tests.conftest import ENVS, PARAMS, TEMPLATES, run_build, tree_digest


@pytest.mark.parametrize("env", ENVS)
def test_committed_templates_equal_a_fresh_build(env: str) -> None:
    artifacts = pipeline.render(params.load(PARAMS / f"{env}.yaml"))
    made = {a.filename: a.text for a in artifacts}
    committed = {p.name: p.read_text(encoding="utf-8") for p in (TEMPLATES / env).iterdir()}
    assert sorted(committed) == sorted(made), "templates/ holds files the build does not make, or misses some"
    for name, text in made.items():
        assert committed[name] == text, f"templates/{env}/{name} is stale: run `python build.py` and commit"


def test_every_environment_has_templates_and_no_other_folder_exists() -> None:
    assert sorted(p.name for p in TEMPLATES.iterdir() if p.is_dir()) == ENVS
    assert {"dev", "staging", "prod"} <= set(ENVS)
    for env in ENVS:
        assert {"root.yaml", "network.yaml", "storage.yaml", "parameters.json"} <= {
            p.name for p in (TEMPLATES / env).iterdir()
        }


def test_rendering_twice_gives_the_same_bytes() -> None:
    cfg = params.load(PARAMS / "prod.yaml")
    assert [a.text for a in pipeline.render(cfg)] == [a.text for a in pipeline.render(cfg)]


def test_check_passes_on_the_committed_templates_under_another_hash_seed() -> None:
    # A child process gets a fresh random hash seed: set or dict ordering leaking into the output would show here.
    result = run_build("--check")
    assert result.returncode == 0, result.stderr
    assert "fresh" in result.stdout


def test_check_lists_a_hand_edited_template_and_writes_nothing(committed_copy: Path) -> None:
    edited = committed_copy / "prod" / "network.yaml"
    edited.write_text(edited.read_text().replace("10.0.0.0/16", "10.9.0.0/16"))
    (committed_copy / "dev" / "storage.yaml").unlink()
    (committed_copy / "dev" / "extra.yaml").write_text("Resources: {}\n")  # the user's: not the build's to judge
    (committed_copy / "dev" / "old.yaml").write_text("Resources: {}\n")  # the build's once (in its manifest)
    manifest = committed_copy / "manifest.json"
    doc = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**doc, "files": sorted([*doc["files"], "dev/old.yaml"])}, indent=2) + "\n")
    before = tree_digest(committed_copy)

    result = run_build("--check", "--out", committed_copy)

    assert result.returncode == 1
    assert "prod/network.yaml: differs from a fresh build" in result.stderr
    assert "dev/storage.yaml: missing" in result.stderr
    assert "dev/old.yaml: no longer built" in result.stderr
    assert "manifest.json: differs from a fresh build" in result.stderr
    assert "left alone: 1 file(s)" in result.stderr and "dev/extra.yaml" in result.stderr
    assert "dev/extra.yaml:" not in result.stderr
    assert "staging" not in result.stderr
    assert tree_digest(committed_copy) == before


def test_build_restores_the_edited_files_and_only_those(committed_copy: Path) -> None:
    edited = committed_copy / "staging" / "storage.yaml"
    pristine = edited.read_text()
    edited.write_text(pristine + "# hand edit\n")
    untouched = committed_copy / "prod" / "network.yaml"
    mtime = untouched.stat().st_mtime_ns

    result = run_build("staging", "prod", "--out", committed_copy)

    assert result.returncode == 0, result.stderr
    assert edited.read_text() == pristine
    assert untouched.stat().st_mtime_ns == mtime, "an unchanged file was rewritten"
    assert "1 file(s) written" in result.stdout
