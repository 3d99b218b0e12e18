"""Inputs that gave a Python traceback: each is now one clear paragraph, the right exit status, nothing written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PARAMS, REPO, TEMPLATES, run_build, scratch_repo, tree_digest


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return scratch_repo(tmp_path / "repo")


def _args(repo: Path) -> list[str | Path]:
    return ["--params-dir", repo / "params", "--out", repo / "templates"]


def _clean(stderr: str) -> None:
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr


@pytest.mark.parametrize("url", ["notaurl", "http://[::1", "ftp://127.0.0.1:5000", "http://:5000", "http://host:x"])
def test_an_endpoint_url_that_is_not_a_url_is_a_usage_error(url: str) -> None:
    result = run_build("dev", "--status", "--endpoint-url", url)
    assert result.returncode == 2
    assert "--endpoint-url" in result.stderr and "e.g. http://127.0.0.1:5000" in result.stderr
    _clean(result.stderr)


@pytest.mark.parametrize("action", [(), ("--deploy",), ("--status",)])
def test_retain_without_delete_is_a_usage_error(action: tuple[str, ...]) -> None:
    result = run_build("dev", *action, "--retain", "nlsql-dev/Network/Vpc")
    assert result.returncode == 2
    assert "--retain goes with --delete" in result.stderr
    _clean(result.stderr)


def test_a_template_that_is_not_utf8_is_stale_and_rebuilt(repo: Path) -> None:
    network = repo / "templates" / "dev" / "network.yaml"
    network.write_bytes(network.read_bytes().replace(b"Description", b"Descr\xe9ption", 1))
    check = run_build("--check", *_args(repo), cwd=repo)
    assert check.returncode == 1
    assert "templates/dev/network.yaml: differs from a fresh build" in check.stderr
    _clean(check.stderr)
    build = run_build(*_args(repo), cwd=repo)
    assert build.returncode == 0, build.stderr
    assert network.read_bytes() == (TEMPLATES / "dev" / "network.yaml").read_bytes()


@pytest.mark.parametrize("command", [(), ("--check",)])
def test_a_readme_that_is_not_utf8_is_named_with_its_line(repo: Path, command: tuple[str, ...]) -> None:
    readme = repo / "README.md"
    lines = readme.read_bytes().split(b"\n")
    lines[6] = lines[6] + b" caf\xe9"
    readme.write_bytes(b"\n".join(lines))
    before = tree_digest(repo)
    result = run_build(*command, *_args(repo), cwd=repo)
    assert result.returncode == 2
    assert "README.md: line 7: not UTF-8 (byte 0xe9)" in result.stderr
    _clean(result.stderr)
    assert tree_digest(repo) == before


def test_a_deeply_nested_cache_or_build_record_entry_is_a_miss(repo: Path, tmp_path: Path) -> None:
    cache = {"NLSQL_CACHE_DIR": str(tmp_path / "cache")}
    assert run_build("dev", *_args(repo), cwd=repo, env=cache).returncode == 0
    entries = list((tmp_path / "cache").rglob("*.json"))
    assert any(p.parent.name == "cfn-lint" for p in entries) and any(p.parent.name == "builds" for p in entries)
    for entry in entries:
        entry.write_text("[" * 200_000)
    result = run_build("-v", "dev", *_args(repo), cwd=repo, env=cache)
    assert result.returncode == 0, result.stderr
    assert "nothing re-rendered" not in result.stdout and "linted: " in result.stdout  # both were misses
    _clean(result.stderr)


def test_stdout_on_a_full_device_is_one_line_on_stderr(repo: Path) -> None:
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, str(REPO / "build.py"), "dev", *map(str, _args(repo))],
            cwd=repo,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=300,
        )
    assert result.returncode == 1
    assert result.stderr.strip() == "error: cannot write to standard output: No space left on device"


def test_a_working_folder_deleted_under_the_process(repo: Path, tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    args = " ".join(f"'{a}'" for a in [REPO / "build.py", "dev", *_args(repo)])
    result = subprocess.run(
        ["sh", "-c", f"cd '{gone}' && rmdir '{gone}' && exec '{sys.executable}' {args}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "built bootstrap, dev" in result.stdout
    _clean(result.stderr)


@pytest.fixture
def code_copy(tmp_path: Path) -> Path:
    """build.py, builders/ and .cfnlintrc in a folder of their own, so its .cfnlintrc can be broken safely."""
    root = tmp_path / "code"
    root.mkdir()
    shutil.copytree(REPO / "builders", root / "builders", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "build.py", root / "build.py")
    shutil.copy(REPO / ".cfnlintrc", root / ".cfnlintrc")
    shutil.copytree(PARAMS, root / "params")
    return root


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("ignore_checks: [W3002\n", "line 2, column 1: not valid YAML"),
        ("ignore_checks: W3002\n", "ignore_checks must be a list of strings"),
        ("ignore_check:\n  - W3002\n", "'ignore_check' is not a cfn-lint setting; allowed: "),
        ("- W3002\n", "must be a mapping of cfn-lint settings"),
    ],
)
def test_a_broken_cfnlintrc_is_named_with_its_line_or_key(
    code_copy: Path, tmp_path: Path, text: str, says: str
) -> None:
    (code_copy / ".cfnlintrc").write_text(text)
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, str(code_copy / "build.py"), "dev", "--out", str(out)],
        cwd=code_copy,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NLSQL_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert result.returncode == 2, result.stderr
    assert f"{code_copy / '.cfnlintrc'}: {says}" in result.stderr
    assert "out of memory" not in result.stderr
    _clean(result.stderr)
    assert not out.exists()


def test_build_py_outside_its_virtualenv_names_the_package_and_the_command() -> None:
    """`python -S` leaves site-packages out, as a system Python without the project's packages would."""
    result = subprocess.run(
        [sys.executable, "-S", str(REPO / "build.py"), "dev"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "build.py needs the package" in result.stderr
    assert "python3 -m venv .venv && .venv/bin/pip install -e ." in result.stderr
    _clean(result.stderr)


def test_output_values_are_printed_exactly_off_a_terminal(repo: Path) -> None:
    """No rich emoji codes, no wrapping at 80 columns when stdout is a pipe: what is printed can be copied."""
    result = subprocess.run(
        [sys.executable, str(REPO / "build.py"), "--check", *map(str, _args(repo))],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != "COLUMNS"},
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1, result.stdout
    assert json.dumps(result.stdout)  # plain text


def test_deploy_output_values_are_printed_whole_and_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    """A secret ARN keeps its ':secret:' (rich would make it an emoji) and a long value is not cut with '…'."""
    from builders import cli
    from builders.deploy import run as deploying

    arn = "arn:aws:secretsmanager:us-east-1:111122223333:secret:rds!cluster-0a1b2c3d-4e5f-6789-abcd-ef0123456789-AbCdEf"
    url = "https://" + "x" * 150 + ".elb.amazonaws.com/[api]"
    stack = {"StackName": "nlsql-dev", "Outputs": [{"OutputKey": "DbSecretArn", "OutputValue": arn},
                                                   {"OutputKey": "AppUrl", "OutputValue": url}]}  # fmt: skip
    deploying._show_outputs(cli._console(), stack)
    printed = capsys.readouterr().out
    assert arn in printed and url in printed
    assert "…" not in printed
