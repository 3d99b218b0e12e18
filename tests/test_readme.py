"""The README's two commands are the set-up, and CI runs the second one verbatim."""

from __future__ import annotations

import re

from tests.conftest import REPO


def _readme_commands() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    assert block, "README.md must open with a bash block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_the_two_commands() -> None:
    readme = (REPO / "README.md").read_text()
    assert readme.index("```bash") < readme.index("\n## "), "the commands come before any section"
    install, test = _readme_commands()
    assert install.endswith("build.py") and "pip install" in install
    assert "'.[test]'" in test and test.endswith("pytest")


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert _readme_commands()[1] in ci
    assert "set -euo pipefail" in ci
