"""The build touches only what it owns: every --out that could cost a file is refused, before rendering.

Each case runs build.py as a user would, in a scratch copy of the repository
(params/, templates/ with its manifest, README.md, docs/), and checks the
exit status, the one-paragraph message and that no file changed.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from tests.conftest import run_build, scratch_repo, tree_digest


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A scratch repository: what a build reads and writes, and nothing else."""
    root = scratch_repo(tmp_path / "repo")
    (root / ".pre-commit-config.yaml").write_text("repos: []\n")
    return root


def _build(repo: Path, *args: str | Path, cwd: Path | None = None) -> tuple[int, str, str]:
    result = run_build(*args, "--params-dir", repo / "params", cwd=cwd or repo)
    return result.returncode, result.stdout, result.stderr


def _one_paragraph(stderr: str) -> None:
    assert "Traceback" not in stderr
    assert stderr.startswith("error: "), stderr
    assert len(stderr.strip().splitlines()) == 1, stderr


@pytest.mark.parametrize(
    ("out", "says"),
    [
        ("params", "is the params folder"),
        (".", "holds the params folder"),
        ("", "holds the params folder"),
        ("templates/dev", "environment's own folder inside the output folder"),
    ],
)
def test_an_out_that_holds_what_the_build_does_not_own_is_refused(repo: Path, out: str, says: str) -> None:
    before = tree_digest(repo)
    code, stdout, stderr = _build(repo, "dev", "--out", out)
    assert code == 2, stdout + stderr
    assert says in stderr
    _one_paragraph(stderr)
    assert tree_digest(repo) == before


def test_the_repository_root_is_refused_by_absolute_path_too(repo: Path) -> None:
    before = tree_digest(repo)
    code, _, stderr = _build(repo, "--out", repo, cwd=repo / "docs")
    assert code == 2 and "holds the params folder" in stderr
    assert tree_digest(repo) == before


def test_a_folder_of_hand_written_yaml_is_refused(repo: Path, tmp_path: Path) -> None:
    mine = tmp_path / "my-templates"
    mine.mkdir()
    (mine / "vpc.yaml").write_text("Resources: {}\n")
    (mine / "bootstrap.yaml").write_text("# mine, by the same name as the build's\n")
    before = tree_digest(mine)
    code, _, stderr = _build(repo, "dev", "--out", mine)
    assert code == 2
    assert "holds files build.py did not write (vpc.yaml)" in stderr and "manifest.json" in stderr
    _one_paragraph(stderr)
    assert tree_digest(mine) == before


def test_a_folder_with_only_hidden_files_is_not_empty(repo: Path, tmp_path: Path) -> None:
    """A home folder: nothing but dotfiles, which a listing of 'what is here' could overlook."""
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    (home / ".bashrc").write_text("# mine\n")
    before = tree_digest(home)
    code, _, stderr = _build(repo, "dev", "--out", home)
    assert code == 2 and "holds files build.py did not write (.bashrc, .config)" in stderr
    assert tree_digest(home) == before and sorted(p.name for p in home.iterdir()) == [".bashrc", ".config"]


def test_a_folder_with_a_gitkeep_is_an_empty_output_folder(repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / ".gitkeep").write_text("")
    code, _, stderr = _build(repo, "dev", "--out", out)
    assert code == 0, stderr
    assert (out / "manifest.json").is_file() and (out / ".gitkeep").is_file()


@pytest.mark.parametrize("kind", ["file", "device", "read-only folder", "under a file"])
def test_an_out_that_is_not_a_writable_folder_is_refused(repo: Path, tmp_path: Path, kind: str) -> None:
    target = {
        "file": repo / "README.md",
        "device": Path("/dev/null"),
        "read-only folder": tmp_path / "ro",
        "under a file": repo / "README.md" / "templates",
    }[kind]
    if kind == "read-only folder":
        target.mkdir()
        target.chmod(0o555)
    before = tree_digest(repo)
    code, _, stderr = _build(repo, "dev", "--out", target)
    assert code == 2, stderr
    says = {"file": "is a file", "device": "not a folder", "read-only folder": "read-only", "under a file": "is a file"}
    assert says[kind] in stderr
    _one_paragraph(stderr)
    assert tree_digest(repo) == before


def test_a_file_the_build_does_not_own_is_reported_and_left_alone(repo: Path) -> None:
    notes = repo / "templates" / "my-notes.yaml"
    notes.write_text("# my notes\n")
    extra = repo / "templates" / "dev" / "extra.yaml"
    extra.write_text("Resources: {}\n")
    code, stdout, stderr = _build(repo, "dev", "--out", "templates")
    assert code == 0, stderr
    assert notes.read_text() == "# my notes\n" and extra.read_text() == "Resources: {}\n"
    assert "left alone: 2 file(s)" in stdout and "templates/my-notes.yaml" in stdout
    code, _, stderr = _build(repo, "--check", "--out", "templates")
    assert code == 0, stderr
    assert "left alone: 2 file(s)" in stderr


def test_a_build_of_all_environments_removes_only_owned_files_of_a_removed_one(repo: Path) -> None:
    (repo / "params" / "qa.yaml").write_text(
        (repo / "params" / "dev.yaml").read_text().replace("environment: dev", "environment: qa")
    )
    code, _, stderr = _build(repo, "qa", "--out", "templates")
    assert code == 0, stderr
    assert "qa/root.yaml" in json.loads((repo / "templates" / "manifest.json").read_text())["files"]
    (repo / "templates" / "qa" / "notes.txt").write_text("mine\n")
    (repo / "params" / "qa.yaml").unlink()

    code, stdout, stderr = _build(repo, "--out", "templates")

    assert code == 0, stderr
    assert "templates/qa/root.yaml (removed)" in stdout
    assert sorted(p.name for p in (repo / "templates" / "qa").iterdir()) == ["notes.txt"]
    assert not any(f.startswith("qa/") for f in json.loads((repo / "templates" / "manifest.json").read_text())["files"])
    assert (repo / "params" / "prod.yaml").is_file() and (repo / ".pre-commit-config.yaml").is_file()


def test_a_file_at_a_path_the_build_writes_but_does_not_own_is_not_overwritten(repo: Path) -> None:
    (repo / "templates" / "qa").mkdir()
    mine = repo / "templates" / "qa" / "root.yaml"
    mine.write_text("# my own root stack\n")
    (repo / "params" / "qa.yaml").write_text(
        (repo / "params" / "dev.yaml").read_text().replace("environment: dev", "environment: qa")
    )
    before = tree_digest(repo)
    code, _, stderr = _build(repo, "qa", "--out", "templates")
    assert code == 2
    assert "templates/qa/root.yaml exists but build.py did not write it" in stderr and "Traceback" not in stderr
    assert tree_digest(repo) == before


@pytest.mark.parametrize("where", ["templates/dev", "docs"])
def test_a_file_where_the_build_makes_a_folder_is_refused(repo: Path, where: str) -> None:
    target = repo / where
    shutil.rmtree(target)
    target.write_text("not a folder\n")
    before = tree_digest(repo)
    code, _, stderr = _build(repo, "--out", "templates")
    assert code == 2, stderr
    assert f"{where}" in stderr and "is a file" in stderr and "Traceback" not in stderr
    assert tree_digest(repo) == before


def test_an_output_folder_from_before_the_manifest_is_adopted(repo: Path) -> None:
    (repo / "templates" / "manifest.json").unlink()
    code, stdout, stderr = _build(repo, "--out", "templates")
    assert code == 0, stderr
    assert "templates/manifest.json" in stdout
    code, _, stderr = _build(repo, "--check", "--out", "templates")
    assert code == 0, stderr


@pytest.mark.parametrize("damage", ["{not json", '{"format": 1, "files": ["../../etc/passwd"]}', "[" * 100_000])
def test_a_damaged_manifest_stops_the_build_rather_than_guessing(repo: Path, damage: str) -> None:
    (repo / "templates" / "manifest.json").write_text(damage)
    before = tree_digest(repo)
    code, _, stderr = _build(repo, "dev", "--out", "templates")
    assert code == 2
    assert "not a manifest build.py wrote" in stderr and "git checkout" in stderr and "Traceback" not in stderr
    assert tree_digest(repo) == before


def test_a_read_only_template_is_not_replaced(repo: Path) -> None:
    """A file someone made read-only is one they do not want changed: the build stops before writing any file."""
    network = repo / "templates" / "dev" / "network.yaml"
    network.write_text(network.read_text() + "# edited\n")
    compute = repo / "templates" / "dev" / "compute.yaml"
    compute.write_text(compute.read_text() + "# edited\n")
    network.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    before = tree_digest(repo)
    try:
        code, _, stderr = _build(repo, "dev", "--out", "templates")
    finally:
        os.chmod(network, 0o644)
    assert code == 1, stderr
    assert "templates/dev/network.yaml" in stderr and "read-only" in stderr and "nothing was written" in stderr
    assert tree_digest(repo) == before
