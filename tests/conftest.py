"""Shared fixtures: the committed templates, parsed, and a way to run build.py as a user would."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode.decode import decode_str

from builders.build.pipeline import SHARED_FILES
from builders.docs.readback import props, ref, resources  # noqa: F401 - the tests' template readers
from builders.root import LAYERS

REPO = Path(__file__).resolve().parent.parent
PARAMS = REPO / "params"
TEMPLATES = REPO / "templates"
# Every stack of an environment: the root, then its nested stacks in deploy order (builders/root.py LAYERS).
STACKS: tuple[str, ...] = ("root", *(layer.module for layer in LAYERS))
ENVS = sorted(p.stem for p in PARAMS.glob("*.yaml"))
# The templates a build of everything writes: every environment's stacks, and the account-wide ones.
TEMPLATE_COUNT = len(ENVS) * len(STACKS) + len(SHARED_FILES)


@cache
def template(env: str, stack: str) -> dict[str, Any]:
    """A committed template, parsed the way CloudFormation reads it (short-form tags expanded)."""
    doc, errors = decode_str((TEMPLATES / env / f"{stack}.yaml").read_text(encoding="utf-8"))
    assert not errors, errors
    return doc


def run_build(
    *args: str | Path, cwd: Path = REPO, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """python build.py ARGS in a child process (with `env` added to the environment): what a user would see."""
    return subprocess.run(
        [sys.executable, str(REPO / "build.py"), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under root with its content hash and mtime: any write shows up as a difference."""
    return {
        str(p.relative_to(root)): f"{hashlib.sha256(p.read_bytes()).hexdigest()}:{p.stat().st_mtime_ns}"
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def scratch_repo(root: Path, docs: bool = True) -> Path:
    """A scratch repository at root: params/, templates/ (with its manifest) and, with docs, README.md and docs/.

    What a build reads and writes and nothing else, so that a build that
    misbehaves there can cost nothing of the real repository.
    """
    import shutil

    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(PARAMS, root / "params")
    shutil.copytree(TEMPLATES, root / "templates")
    if docs:
        shutil.copytree(REPO / "docs", root / "docs")
        shutil.copy(REPO / "README.md", root / "README.md")
    return root


def params_in_region(
    folder: Path, env: str, region: str, source: str = "dev", replace: dict[str, str] | None = None
) -> Path:
    """A tests-only params folder: a copy of params/ plus `<env>.yaml`, params/<source>.yaml moved to `region`
    (with the `replace` text substitutions made, e.g. the Bedrock profiles of that region's geography).

    The second-region environment the tests build and deploy lives here, never in params/: the product's
    environments are the user's, and one in eu-west-1 would change every committed template and table.
    """
    import shutil

    shutil.copytree(PARAMS, folder, dirs_exist_ok=True)
    text = (PARAMS / f"{source}.yaml").read_text(encoding="utf-8")
    for old, new in (replace or {}).items():
        text = text.replace(old, new)
    for key, value in (("environment", env), ("region", region)):
        start = text.index(f"\n{key}: ") + len(key) + 3
        end = min(i for i in (text.find(" ", start), text.find("\n", start)) if i != -1)
        text = text[:start] + value + text[end:]
    (folder / f"{env}.yaml").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def committed_copy(tmp_path: Path) -> Path:
    """A private copy of templates/, for runs that might write."""
    import shutil

    out = tmp_path / "templates"
    shutil.copytree(TEMPLATES, out)
    return out


@pytest.fixture(scope="session", autouse=True)
def _session_build_cache(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Builds in tests keep lint verdicts and build stamps in this session's own folder, never the repository's
    .cache/ (so they neither trust nor pollute it); tests about the cache point it elsewhere themselves."""
    from builders.build.lintcache import ENV_VAR

    before = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = str(tmp_path_factory.mktemp("build-cache"))
    yield
    if before is None:
        os.environ.pop(ENV_VAR, None)
    else:
        os.environ[ENV_VAR] = before


class CleanLintPool:
    """A stand-in for builders.build.lint.LintPool that finds every template clean without running cfn-lint."""

    submitted: list[str] = []  # the relpaths are unknown here: the texts, in order, of the last pool made

    def __init__(self, workers: int | None = None) -> None:
        CleanLintPool.submitted = []
        self.workers = 1

    def start(self, count: int) -> None:
        pass

    def submit(self, text: str, region: str) -> None:
        CleanLintPool.submitted.append(text)

    def results(self, progress: Any = None) -> list[list[Any]]:
        return [[] for _ in CleanLintPool.submitted]

    def __enter__(self) -> CleanLintPool:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def read_terminal(primary: int, process: subprocess.Popen[bytes], timeout: float = 300) -> tuple[int, str]:
    """Everything a child wrote to its pseudo-terminal until it ended, and its exit status; closes `primary`."""
    import select
    import time

    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 1)
        if ready:
            try:
                data = os.read(primary, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    code = process.wait(timeout=timeout)
    os.close(primary)
    return code, b"".join(chunks).decode("utf-8", "replace")


def function_source(label: str) -> str:
    """A custom resource's inline source (builders/functions/<label>.py), as the build reads it."""
    from importlib import resources as package

    return package.files("builders.functions").joinpath(f"{label}.py").read_text("utf-8")


# --- custom resource handlers, run locally ---------------------------------------------------


class _Responses(BaseHTTPRequestHandler):
    """CloudFormation's pre-signed response URL, played by a real HTTP server on 127.0.0.1."""

    received: list[dict[str, Any]] = []

    def do_PUT(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def response_url() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Handler", (_Responses,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/response?signature=x", received
    finally:
        server.shutdown()
        server.server_close()


class LambdaContext:
    """What a custom resource handler reads from Lambda's context: its log stream and the time it has left."""

    log_stream_name = "2026/11/25/[$LATEST]abc"

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


# --- the local AWS, one server per module, an empty account per test ------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    """A local AWS (tests/localaws.py) for the module; modules that need another kind define their own."""
    from tests import localaws

    local = localaws.start()
    yield local
    local.stop()


@pytest.fixture
def local(server: Any) -> Any:
    """The server with an empty account: every test starts from a first deploy."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{server.url}/moto-api/reset", method="POST"), timeout=30).close()
    return server
