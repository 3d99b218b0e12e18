"""checkov over every generated template: no failed check, and every skip in the templates' own metadata.

checkov runs from a virtualenv of its own (see `checkov_cli`): it pins
boto3/botocore 1.35, packaging 23 and networkx 2 below what this project
installs, so in the project's venv it would downgrade them under moto, awscli
and cfn-lint. It runs once over the whole templates/ tree, offline
(`--skip-download`), with no config file in reach (an empty HOME and working
directory), so the only way a check is skipped is the resource's
`Metadata.checkov.skip` that builders/scanners.py writes.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode.decode import decode_str

from tests.conftest import REPO, TEMPLATES

CHECKOV_VERSION = "3.3.30"  # one exact version: its checks change between releases
VENV = REPO / ".cache" / f"checkov-{CHECKOV_VERSION}"
README = REPO / "README.md"

Finding = tuple[str, str, str]  # (template path under templates/, resource, check id)


def checkov_cli() -> Path:
    """The pinned checkov's CLI, installed from the package index into its own venv on first use."""
    executable = VENV / "bin" / "checkov"
    ready = VENV / ".ready"
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV.parent / f".checkov-{CHECKOV_VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two pytest runs must not build the venv at once
        if not ready.exists():
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
            pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
            subprocess.run([*pip, f"checkov=={CHECKOV_VERSION}"], check=True, timeout=900)
            ready.write_text(CHECKOV_VERSION)
    return executable


def run_checkov(root: Path, tmp: Path, quiet: bool = True) -> dict[str, Any]:
    """checkov's JSON report on every template under `root`: failed checks and the summary (and, not quiet, the
    passed and skipped checks too)."""
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    command = [
        str(checkov_cli()),
        *("--framework", "cloudformation", "--output", "json", "--skip-download"),
        *(["--quiet"] if quiet else []),
        *("--directory", str(root)),
    ]
    env = {**os.environ, "HOME": str(home)}
    done = subprocess.run(command, cwd=home, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode in (0, 1), done.stderr  # 1: failed checks, reported below
    report = json.loads(done.stdout)
    (report,) = report if isinstance(report, list) else [report]
    assert report["check_type"] == "cloudformation"
    assert report["summary"]["checkov_version"] == CHECKOV_VERSION
    assert report["summary"]["parsing_errors"] == 0
    return report


def _failed(report: dict[str, Any]) -> set[Finding]:
    return {
        (f["file_path"].lstrip("/"), f["resource"].split(".")[-1], f["check_id"])
        for f in report["results"]["failed_checks"]
    }


def _templates() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(TEMPLATES.rglob("*.yaml")):
        doc, errors = decode_str(path.read_text(encoding="utf-8"))
        assert not errors, errors
        yield str(path.relative_to(TEMPLATES)), doc


def metadata_skips() -> list[tuple[str, str, dict[str, Any]]]:
    """(template, resource, skip entry) for every checkov skip in the committed templates."""
    return [
        (path, logical_id, entry)
        for path, doc in _templates()
        for logical_id, resource in doc.get("Resources", {}).items()
        for entry in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]


@pytest.fixture(scope="module")
def committed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_checkov(TEMPLATES, tmp_path_factory.mktemp("checkov"))


def test_no_checkov_check_fails_on_any_template(committed: dict[str, Any]) -> None:
    failed = sorted(_failed(committed))
    listed = "\n".join(f"  {path} {resource}: {check}" for path, resource, check in failed)
    assert not failed, (
        f"checkov: {len(failed)} failed check(s); fix them, or skip in the builder with a reason:\n{listed}"
    )
    assert committed["summary"]["passed"] > 0


def test_checks_are_skipped_only_by_the_templates_metadata(committed: dict[str, Any]) -> None:
    assert committed["summary"]["skipped"] == len(metadata_skips())
    configs = [p for p in (".checkov.yaml", ".checkov.yml") for d in (REPO, TEMPLATES) if (d / p).exists()]
    assert not configs, f"a checkov config file could skip checks globally: {configs}"


def test_every_skip_names_a_check_and_says_why() -> None:
    skips = metadata_skips()
    assert skips, "no skips at all: drop this test's expectations, not the check"
    for path, resource, entry in skips:
        assert set(entry) == {"id", "comment"}, (path, resource, entry)
        assert entry["id"].startswith("CKV_AWS_"), (path, resource, entry)
        assert len(entry["comment"].strip()) >= 20, f"{path} {resource} {entry['id']}: say why in the comment"
    keys = [(path, resource, entry["id"]) for path, resource, entry in skips]
    assert len(keys) == len(set(keys)), "a check is skipped twice on one resource"


def test_every_skip_excuses_a_check_that_would_fail(tmp_path: Path) -> None:
    """The templates without their skips fail exactly the skipped checks: no skip is stale or too wide."""
    stripped = tmp_path / "templates"
    for path, doc in _templates():
        for resource in doc.get("Resources", {}).values():
            metadata = resource.get("Metadata", {})
            metadata.pop("checkov", None)
            if not metadata:
                resource.pop("Metadata", None)
        target = stripped / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(doc, indent=1), encoding="utf-8")  # JSON is YAML
    skipped = {(path, resource, entry["id"]) for path, resource, entry in metadata_skips()}
    assert _failed(run_checkov(stripped, tmp_path)) == skipped


def test_the_readme_lists_every_skipped_check() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Security scanners", 1)[1].split("\n## ", 1)[0]
    assert f"checkov {CHECKOV_VERSION}" in section
    missing = sorted({entry["id"] for _, _, entry in metadata_skips()} - set(section.split("`")))
    assert not missing, f"README 'Security scanners' does not list {missing}"


def test_the_readme_s_checkov_counts_are_today_s(tmp_path: Path) -> None:
    """The README's "passed / failed / skipped now" row, per environment and account-wide template, is what checkov
    reports on the committed templates (a hand-written count goes stale as the templates grow)."""
    committed = run_checkov(TEMPLATES, tmp_path, quiet=False)
    counts: dict[str, list[int]] = {}
    for column, kind in enumerate(("passed_checks", "failed_checks", "skipped_checks")):
        for check in committed["results"][kind]:
            path = check["file_path"].lstrip("/")
            where = path.split("/")[0] if "/" in path else path.removesuffix(".yaml")
            counts.setdefault(where, [0, 0, 0])[column] += 1
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    header = next(line for line in readme.splitlines() if line.startswith("| | dev | staging | prod |"))
    row = next(line for line in readme.splitlines() if line.startswith("| passed / failed / skipped now |"))
    columns = [c.strip() for c in header.strip("|").split("|")][1:]
    shown = [c.strip() for c in row.strip("|").split("|")][1:]
    assert dict(zip(columns, shown, strict=True)) == {k: " / ".join(map(str, v)) for k, v in counts.items()}
