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


def _build_commands() -> list[str]:
    """Every `python build.py ...` the README shows: in its bash blocks (one per line, comments cut) and in
    backticks in the prose (a line break inside one read as a space); placeholders as a user would fill them."""
    text = (REPO / "README.md").read_text()
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.splitlines():
            at = line.find("python build.py")
            if at >= 0:
                found.append(line[at:].split("  #", 1)[0].split(" # ", 1)[0])
    found += [" ".join(m.split()) for m in re.findall(r"`(python build\.py[^`]*)`", text)]
    return [c.replace("<env>", "dev").replace(" qa ", " dev ").strip() for c in found]


def test_every_build_py_command_the_readme_shows_is_one_build_py_accepts() -> None:
    """A by-hand command that fails at argparse is the README failing its reader at the first step."""
    import shlex
    import sys

    sys.path.insert(0, str(REPO))
    import build

    commands = _build_commands()
    assert len(commands) >= 30, commands  # the blocks and the prose were both read
    refused = []
    for command in commands:
        args = shlex.split(command)[2:]
        try:
            build.parse(args)
        except SystemExit as exc:
            if exc.code != 0 or "--help" not in args:
                refused.append(command)
    assert refused == [], refused
