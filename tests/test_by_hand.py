"""The README's "Trying it without an AWS account", typed as a person would: its own lines, in a shell.

The three lines of that README block run verbatim in bash from the
repository (only the port is changed, to a free one, so parallel test
workers do not collide): the local AWS as `python -m tests.localaws`, the
export, and the deploy at a terminal answering "y". Then the same deploy
again ("no changes"), --status and --delete, and Ctrl-C stops the server.
This is the entry point no other test ran: under `-m` the module is
`__main__`, which once broke every unmodelled resource type.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests import localaws
from tests.conftest import REPO, read_terminal

SECTION = "### Trying it without an AWS account"


def _readme_lines() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split(SECTION, 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((localaws.HOST, 0))
        return int(probe.getsockname()[1])


def _environment() -> dict[str, str]:
    """The test's environment without anything that could reach a real AWS or the tests' own local one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "MOTO_PORT"}
    quiet = {k: v for k, v in localaws.credentials_env().items() if not k.startswith(("AWS_ACCESS", "AWS_SECRET"))}
    return {**env, **quiet, "COLUMNS": "200", "TERM": "xterm"}


def _on_a_terminal(command: str, answer: str = "") -> tuple[int, str]:
    """`bash -c command` in the repository with a pseudo-terminal for its input and output, typing `answer`."""
    import pty

    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        ["bash", "-c", command], cwd=REPO, stdin=secondary, stdout=secondary, stderr=secondary,
        env=_environment(), close_fds=True,
    )  # fmt: skip
    os.close(secondary)
    if answer:
        os.write(primary, answer.encode() + b"\n")
    return read_terminal(primary, process)


@pytest.fixture(scope="module")
def by_hand() -> Iterator[tuple[str, str, str]]:
    """The README's server line running on a free port; yields (export line, deploy line, endpoint URL)."""
    server_line, export_line, deploy_line = _readme_lines()
    assert "-m tests.localaws --port 5000" in server_line and "--endpoint-url http://127.0.0.1:5000" in deploy_line
    port = _free_port()
    server = subprocess.Popen(
        ["bash", "-c", f"exec {server_line.replace('5000', str(port))}"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_environment(),
    )  # fmt: skip
    assert server.stdout is not None
    banner = ""
    deadline = time.monotonic() + 60
    while f"local AWS on http://127.0.0.1:{port}" not in banner and time.monotonic() < deadline:
        line = server.stdout.readline()
        assert line, f"the server ended: {banner}"
        banner += line
    url = f"http://127.0.0.1:{port}"
    try:
        yield export_line, deploy_line.replace("5000", str(port)), url
    finally:
        server.send_signal(signal.SIGINT)  # Ctrl-C, as the banner says
        assert server.wait(timeout=30) == 0
        stdout = server.stdout.read()
        assert "Traceback" not in stdout, stdout


def test_the_readme_deploy_against_the_readme_local_aws(by_hand: tuple[str, str, str]) -> None:
    export_line, deploy_line, _ = by_hand
    code, screen = _on_a_terminal(f"{export_line} && {deploy_line}", answer="y")
    assert code == 0, screen
    assert "list index out of range" not in screen
    assert "[y/N]" in screen and "nlsql-dev" in screen
    assert re.search(r"nlsql-dev\S* ended CREATE_COMPLETE|nlsql-dev outputs", screen), screen

    code, screen = _on_a_terminal(f"{export_line} && {deploy_line}")
    assert code == 0, screen
    assert "nlsql-dev: no changes" in screen


def test_status_and_delete_on_the_same_local_aws(by_hand: tuple[str, str, str]) -> None:
    export_line, deploy_line, url = by_hand
    python = deploy_line.split()[0]
    code, screen = _on_a_terminal(f"{export_line} && {python} build.py dev --status --endpoint-url {url}")
    assert code == 0, screen
    assert "DataLakeBucketName" in screen and ":secret:rds!" in screen

    code, screen = _on_a_terminal(f"{export_line} && {python} build.py dev --delete --endpoint-url {url}", "y")
    assert code == 0, screen
    code, screen = _on_a_terminal(f"{export_line} && {python} build.py dev --status --endpoint-url {url}")
    assert "does not exist" in screen or "not deployed" in screen, screen
