"""pre-commit: the committed hooks, run offline, pass on the repository and catch seeded defects.

Hooks from remote repositories cannot be fetched here, so each one is run as a
`repo: local` twin with the same name, files and args and the same tool from
the test extra (the tool versions are the hooks' revs; see setup.cfg). The
twins are derived from .pre-commit-config.yaml, so a hook added there without
a twin fails this test rather than going untested.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

# The command each remote hook runs (its .pre-commit-hooks.yaml entry), for the local twin.
OFFLINE_ENTRIES = {
    "cfn-lint": ("cfn-lint", None),
    "ruff": ("ruff check", ["python", "pyi"]),
    "ruff-format": ("ruff format", ["python", "pyi"]),
    "check-jsonschema": ("check-jsonschema", None),
}
COPIED = ("build.py", "setup.cfg", "pyproject.toml", ".cfnlintrc", "builders", "params", "templates", "tests")


def _offline(config: dict[str, Any]) -> dict[str, Any]:
    hooks = []
    for repo in config["repos"]:
        for hook in repo["hooks"]:
            if repo["repo"] == "local":
                hooks.append(hook)
                continue
            assert hook["id"] in OFFLINE_ENTRIES, f"no offline twin for remote hook {hook['id']}"
            entry, types = OFFLINE_ENTRIES[hook["id"]]
            twin = {"id": hook["id"], "name": hook.get("name", hook["id"]), "entry": entry, "language": "system"}
            twin.update({k: hook[k] for k in ("files", "args") if k in hook})
            if types:
                twin["types_or"] = types
            hooks.append(twin)
    return {"repos": [{"repo": "local", "hooks": hooks}]}


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository holding the project's sources, and the offline twin of its pre-commit config."""
    root = tmp_path_factory.mktemp("precommit")
    ignore = shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.egg-info")
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=ignore)
        else:
            shutil.copy2(source, root / name)
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    (root / "offline.yaml").write_text(yaml.safe_dump(_offline(config), sort_keys=False))
    for command in (["git", "init", "-q"], ["git", "add", "-A"]):
        subprocess.run(command, cwd=root, check=True)
    return root


def _run(clone: Path, *args: str, skip: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # the venv's tools
        "PRE_COMMIT_HOME": str(clone.parent / "pre-commit-home"),
        "SKIP": skip,
    }
    command = [sys.executable, "-m", "pre_commit", "run", "-c", "offline.yaml", "--color", "never", *args]
    return subprocess.run(command, cwd=clone, capture_output=True, text=True, env=env, timeout=600)


def _verdicts(output: str) -> dict[str, str]:
    """hook name -> Passed / Failed / Skipped, from pre-commit's report lines."""
    verdicts = {}
    for line in output.splitlines():
        for verdict in ("Passed", "Failed", "Skipped"):
            if line.endswith(verdict) and "..." in line:
                verdicts[line.split("...")[0].strip(". ")] = verdict
    return verdicts


def test_every_remote_hook_is_pinned_to_the_version_the_project_tests_with() -> None:
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    setup = (REPO / "setup.cfg").read_text()
    revs = {repo["repo"].rsplit("/", 1)[1]: repo["rev"] for repo in config["repos"] if repo["repo"] != "local"}
    assert revs == {"cfn-lint": "v1.58.0", "ruff-pre-commit": revs["ruff-pre-commit"], "check-jsonschema": "0.39.0"}
    assert "cfn-lint==1.58.0" in setup and "check-jsonschema==0.39.0" in setup
    assert f"ruff=={revs['ruff-pre-commit'].lstrip('v')}" in setup


def test_the_hooks_pass_on_the_repository(clone: Path) -> None:
    # cfn-lint over every committed template is tests/test_lint.py's job; here it runs on the seeded files below.
    result = _run(clone, "--all-files", skip="cfn-lint")
    assert result.returncode == 0, result.stdout + result.stderr
    verdicts = _verdicts(result.stdout)
    assert {v for k, v in verdicts.items() if k != "cfn-lint"} == {"Passed"}, verdicts
    assert len(verdicts) == 6


def test_a_template_edited_by_hand_is_caught(clone: Path) -> None:
    path = clone / "templates" / "dev" / "network.yaml"
    original = path.read_text()
    try:
        path.write_text(original.replace("RetentionInDays: 7", "RetentionInDays: 14", 1))  # valid, but not ours
        assert path.read_text() != original
        result = _run(clone, "--files", "templates/dev/network.yaml")
        verdicts = _verdicts(result.stdout)
        assert result.returncode == 1
        assert verdicts["templates/ is what the builders make from params/"] == "Failed", result.stdout
        assert verdicts["cfn-lint"] == "Passed", "a valid template: only the freshness hook can tell"
        path.write_text(original.replace("    Type: AWS::EC2::VPC\n", "    Type: AWS::EC2::VPC\n    Bogus: 1\n", 1))
        verdicts = _verdicts(_run(clone, "--files", "templates/dev/network.yaml").stdout)
        assert verdicts["cfn-lint"] == "Failed"
    finally:
        path.write_text(original)


def test_a_params_typo_is_caught(clone: Path) -> None:
    path = clone / "params" / "dev.yaml"
    original = path.read_text()
    try:
        path.write_text(original.replace("  az_count:", "  az_cuont:", 1))
        result = _run(clone, "--files", "params/dev.yaml")
        verdicts = _verdicts(result.stdout)
        assert result.returncode == 1
        assert verdicts["params files match params/schema.json"] == "Failed", result.stdout
        assert "az_cuont" in result.stdout
    finally:
        path.write_text(original)
