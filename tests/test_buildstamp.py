"""The build stamp: a rebuild answers from it only when nothing a build depends on has changed.

Each test builds in-process with a stand-in for the lint workers that finds
every template clean (lint is tests/test_lintcache.py's subject), into its
own output folder and cache folder, and tells a stamped rebuild ("nothing
re-rendered") from a full one by the summary line.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from builders import cli
from builders.build import buildstamp, lint, lintcache
from tests.conftest import PARAMS, REPO, TEMPLATE_COUNT, CleanLintPool, tree_digest

STAMPED = "nothing re-rendered"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A params copy and an output folder beside a README.md and docs/, as in the repository; its own cache."""
    monkeypatch.setattr(lint, "LintPool", CleanLintPool)
    monkeypatch.setenv(lintcache.ENV_VAR, str(tmp_path / "cache"))
    shutil.copytree(PARAMS, tmp_path / "params")
    shutil.copy(REPO / "README.md", tmp_path / "README.md")
    shutil.copytree(REPO / "docs", tmp_path / "docs")
    return tmp_path / "params", tmp_path / "templates"


def _build(workspace: tuple[Path, Path], capsys: pytest.CaptureFixture[str], *envs: str, cache: bool = True) -> str:
    params_dir, out = workspace
    code = cli.run(list(envs), check=False, params_dir=params_dir, out_dir=out, quiet=False, started=0.0, cache=cache)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def test_a_rebuild_with_nothing_changed_prints_the_same_summary_without_rendering(
    workspace: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    first = _build(workspace, capsys)
    before = tree_digest(workspace[1].parent)
    second = _build(workspace, capsys)

    assert STAMPED not in first and STAMPED in second
    assert CleanLintPool.submitted, "the first build linted"
    table = [line for line in first.splitlines() if line.endswith("%")]
    assert table and table == [line for line in second.splitlines() if line.endswith("%")]
    assert f"(0 linted, {TEMPLATE_COUNT} cached)" in second
    assert tree_digest(workspace[1].parent) == before


@pytest.mark.parametrize(
    "change",
    [
        "a params value",
        "a new params file",
        "a hand-edited template",
        "a removed template",
        "an extra file in the output folder",
        "an edit anywhere in README.md",
        "a removed diagram",
        "a corrupted stamp",
    ],
)
def test_any_change_to_inputs_or_files_means_a_full_build(
    workspace: tuple[Path, Path], capsys: pytest.CaptureFixture[str], change: str
) -> None:
    params_dir, out = workspace
    _build(workspace, capsys)
    base = out.parent
    if change == "a params value":
        prod = params_dir / "prod.yaml"
        prod.write_text(prod.read_text().replace("    max_count: 6\n", "    max_count: 7\n"))
    elif change == "a new params file":
        (params_dir / "qa.yaml").write_text(
            (params_dir / "dev.yaml").read_text().replace("environment: dev", "environment: qa")
        )
    elif change == "a hand-edited template":
        (out / "dev" / "network.yaml").write_text((out / "dev" / "network.yaml").read_text() + "# edited\n")
    elif change == "a removed template":
        (out / "dev" / "root.yaml").unlink()
    elif change == "an extra file in the output folder":
        (out / "dev" / "extra.yaml").write_text("Resources: {}\n")
    elif change == "an edit anywhere in README.md":
        (base / "README.md").write_text((base / "README.md").read_text() + "\nA new paragraph.\n")
    elif change == "a removed diagram":
        (base / "docs" / "dev.svg").unlink()
    else:
        for stamp in (base / "cache" / buildstamp.SUBDIR).glob("*.json"):
            stamp.write_text('{"format": 1, "inputs": ')

    rebuilt = _build(workspace, capsys)

    assert STAMPED not in rebuilt
    assert STAMPED in _build(workspace, capsys), "the full build left a stamp for the next one"


def test_a_change_to_the_code_means_a_full_build(
    workspace: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code = tmp_path / "code"
    shutil.copytree(REPO / "builders", code, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(buildstamp, "CODE_ROOTS", (code,))
    _build(workspace, capsys)
    assert STAMPED in _build(workspace, capsys)
    (code / "network.py").write_text(
        (code / "network.py").read_text() + "\n# a comment changes nothing, but who knows\n"
    )
    assert STAMPED not in _build(workspace, capsys)


def test_a_build_of_some_environments_has_its_own_stamp(
    workspace: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _build(workspace, capsys)
    assert STAMPED not in _build(workspace, capsys, "dev")
    assert STAMPED in _build(workspace, capsys, "dev")
    assert STAMPED in _build(workspace, capsys)


def test_no_cache_lints_everything_and_never_stamps(
    workspace: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _build(workspace, capsys)
    again = _build(workspace, capsys, cache=False)
    assert STAMPED not in again and f"({TEMPLATE_COUNT} linted, 0 cached)" in again
    assert len(CleanLintPool.submitted) == TEMPLATE_COUNT


def test_check_never_answers_from_the_stamp(workspace: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    params_dir, out = workspace
    _build(workspace, capsys)
    prod = params_dir / "prod.yaml"
    prod.write_text(prod.read_text().replace("    max_count: 6\n", "    max_count: 7\n"))
    code = cli.run([], check=True, params_dir=params_dir, out_dir=out, quiet=False, started=0.0)
    assert code == 1
    assert "prod/compute.yaml: differs from a fresh build" in capsys.readouterr().err


def test_a_stamp_is_not_saved_when_a_file_is_not_what_the_build_wrote(
    workspace: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file edited between the build's write and its stamp must not be recorded as the build's output."""
    params_dir, out = workspace
    real = buildstamp.snapshot

    def edited_meanwhile(out_dir: Path, with_docs: bool) -> dict[str, str]:
        files = real(out_dir, with_docs)
        return {**files, "templates/dev/network.yaml": "0" * 64}

    monkeypatch.setattr(buildstamp, "snapshot", edited_meanwhile)
    _build(workspace, capsys)
    monkeypatch.setattr(buildstamp, "snapshot", real)
    assert not list((out.parent / "cache" / buildstamp.SUBDIR).glob("*.json"))
    assert STAMPED not in _build(workspace, capsys)
