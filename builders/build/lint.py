"""cfn-lint through its Python API, with the repository's .cfnlintrc, in this process or in worker processes.

The build lints every template before anything is written. It passes the
repository's `.cfnlintrc` explicitly, so the build, the cfn-lint CLI and the
pre-commit hook read the same settings wherever the build is run from.

cfn-lint is imported only when a lint runs, and by a build only in worker
processes (`LintPool`): it takes about a second to import and holds
~150 MB once its schemas are loaded, and neither the build process nor
commands such as `--check` or `--help` need that. Loading its rules takes
another half second, so each process keeps one Runner per region and lints
every template it is given with it, as the cfn-lint CLI does with several
files (same findings as a fresh Runner per template; tests/test_lintcache.py);
the rules do not depend on the region, so they are loaded once, in the fork
server the workers are forked from, before the build knows which region its
templates are for.
"""

from __future__ import annotations

import copy
import gc
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from builders.errors import BuildError, ConfigError

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

CONFIG_FILE = Path(__file__).resolve().parents[2] / ".cfnlintrc"

# A finding before it is placed in a file: (line, rule id, message). What workers return and the cache stores,
# since the same template text may be written to different paths (--out).
Problem = tuple[int, str, str]


@dataclass(frozen=True)
class Finding:
    """One cfn-lint match, located in the file it will be written to."""

    path: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule} {self.message}"


def lint(text: str, path: str, region: str) -> list[Finding]:
    """Every error and warning cfn-lint reports for one template (informational checks are off), in this process."""
    return [Finding(path, *problem) for problem in problems(text, region)]


def problems(text: str, region: str) -> list[Problem]:
    """cfn-lint's matches for one template, in cfn-lint's order, without a path."""
    from cfnlint.decode.decode import decode_str

    template, matches = decode_str(text)
    if not matches:
        matches = list(_runner(region).validate_template(template))
    return [(m.linenumber, m.rule.id, m.message) for m in matches]


@cache
def _rules_runner() -> Any:
    """A Runner holding cfn-lint's rules, loaded once per process (~0.5 s); the rules do not depend on the region."""
    from cfnlint.runner import Runner

    from builders.build import lintspeed

    lintspeed.apply()
    runner = Runner(_config("us-east-1"))
    lintspeed.apply_to_rules(runner.rules)
    return runner


@cache
def _runner(region: str) -> Any:
    """The Runner for one region: the loaded rules, with a config for that region (what a new Runner would have)."""
    config = _config(region)
    if config.override_spec or config.registry_schemas:  # set-up a Runner does per region: a Runner of its own
        from cfnlint.runner import Runner

        return Runner(config)
    runner = copy.copy(_rules_runner())
    runner.config = config
    return runner


JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "array": list, "object": dict, "string": str, "boolean": bool, "integer": int, "number": (int, float),
}  # fmt: skip


def check_config(path: Path = CONFIG_FILE) -> None:
    """Refuse a .cfnlintrc that cfn-lint could not read, naming the file, the line or key, and what is allowed.

    Checked here, in the build's own process, because cfn-lint reads it in
    each worker, where a broken file kills the worker and the build could
    only say that a worker stopped. The keys and their types come from
    cfn-lint's own schema for the file (read as data, without importing
    cfn-lint); cfn-lint checks the rest in the workers as before.
    """
    import yaml

    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return  # no config file: cfn-lint's defaults, as for the CLI
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read as UTF-8 text ({exc}); cfn-lint reads its settings") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: {where}not valid YAML ({problem}); cfn-lint reads its settings from it") from None
    if doc is None:
        return
    allowed = _config_schema().get("properties") or {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: must be a mapping of cfn-lint settings (e.g. ignore_checks: [W3002])")
    for key, value in doc.items() if allowed else ():  # no schema found: cfn-lint checks the keys itself
        if key not in allowed:
            raise ConfigError(f"{path}: {key!r} is not a cfn-lint setting; allowed: {', '.join(sorted(allowed))}")
        kind = allowed[key].get("type")
        expected = JSON_TYPES.get(kind, object)
        items = JSON_TYPES.get(allowed[key].get("items", {}).get("type"), object)
        bad_type = not isinstance(value, expected) or (kind != "boolean" and isinstance(value, bool))
        if bad_type or (isinstance(value, list) and not all(isinstance(v, items) for v in value)):
            item = allowed[key].get("items", {}).get("type")
            raise ConfigError(f"{path}: {key} must be {'a list of ' + item + 's' if item else 'a ' + str(kind)}")


def _config_schema() -> dict[str, Any]:
    """cfn-lint's JSON schema of .cfnlintrc, from its package data; empty (check YAML only) if it is not there."""
    import json
    from importlib.util import find_spec

    spec = find_spec("cfnlint")
    if spec is None or not spec.submodule_search_locations:
        return {}
    schema = Path(next(iter(spec.submodule_search_locations))) / "data" / "CfnLintCli" / "config" / "schema.json"
    try:
        loaded = json.loads(schema.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _config(region: str) -> Any:
    from cfnlint.config import ConfigMixIn

    return ConfigMixIn(["--config-file", str(CONFIG_FILE)], regions=[region])


def cores() -> int:
    """The cores this process may run on (fewer than os.cpu_count() under taskset or a CPU-pinned container)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def workers_for(jobs: int) -> int:
    """One worker per usable core, and no more than there are templates to lint."""
    return max(1, min(cores(), jobs))


def warm() -> None:
    """Get a process ready to lint: cfn-lint imported and its rules loaded (about a second).

    Runs once in the fork server, whose forked workers inherit the result,
    or in each spawned worker where there is no fork server. Ctrl-C in a
    terminal reaches the whole process group: the build process handles it
    and stops the workers, so they ignore it rather than each print a
    traceback. The collector is off while cfn-lint imports and loads its
    rules (a quarter of a second less, nothing collectable is made), and
    what they built is frozen out of later collections (so forked workers
    do not copy those pages to scan them either).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.disable()
    try:
        _rules_runner()
    finally:
        gc.enable()
        gc.freeze()


def _ready() -> None:
    """A task that does nothing: submitting it starts a spawned worker, which gets ready (warm) meanwhile."""


SERVER_MODULE = "builders.build.lintserver"  # imported by the fork server: see builders/build/lintserver.py


def _forkserver() -> bool:
    import multiprocessing

    return "forkserver" in multiprocessing.get_all_start_methods()


class LintPool:
    """cfn-lint in worker processes; templates are held until `results`, verdicts come in submission order.

    Where the platform has one (Linux, macOS), a fork server imports
    cfn-lint and loads its rules once, and each worker is forked from it
    ready to lint: one second of start-up for the whole pool instead of one
    per worker, paid while the build renders. Workers are never forked from
    the build process itself, which would copy troposphere, pydantic, the
    rendered templates and a running status spinner's thread state into
    each. Elsewhere each worker is spawned and gets ready on its own.

    `start` gets ready ahead of the first template (the fork server starts,
    or spawned workers do); a submit with nothing started starts it too.
    Templates wait until the build has rendered them all, then go to up to
    one worker per core, longest first, so that the last one to finish is
    short. Use it as a context manager: leaving the block early (an error,
    Ctrl-C), or with nothing submitted, stops the workers (and the fork
    server this pool started) at once instead of after what each is doing.
    """

    def __init__(self, workers: int | None = None, method: str | None = None) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self._method = method or ("forkserver" if _forkserver() else "spawn")
        context = multiprocessing.get_context(self._method)
        if self._method == "forkserver":
            context.set_forkserver_preload([SERVER_MODULE])
        self._pool = ProcessPoolExecutor(
            max_workers=workers or cores(),
            mp_context=context,
            initializer=warm,  # a no-op in forked workers: the server loaded the rules
        )
        self._started = False
        self._server: int | None = None  # the fork server's pid, when this pool started it
        self._warming: list[Future[None]] = []  # spawned workers started ahead: done once ready
        self._held: list[tuple[str, str]] = []
        self._futures: list[Future[list[Problem]]] = []
        self._broken = False

    @property
    def workers(self) -> int:
        return self._pool._max_workers  # type: ignore[attr-defined, no-any-return]

    def start(self, count: int = 1) -> None:
        """Get ready to lint before there is a template: the fork server, or `count` spawned workers."""
        if self._started:
            return
        self._started = True
        try:
            if self._method == "forkserver":
                with _ctrl_c_held():  # a Ctrl-C meanwhile is raised after the pid is kept, so it is stopped
                    self._server = _start_server()
            else:
                self._warming = [f for f in (self._submit(_ready) for _ in range(min(count, self.workers))) if f]
        except BaseException:  # a Ctrl-C held back while starting arrives here: stop what did start
            self._stop()
            raise

    def submit(self, text: str, region: str) -> None:
        """Queue one template; it goes to a worker in `results`."""
        self.start()
        self._held.append((text, region))

    def _submit(self, task: Callable[..., Any], *args: Any) -> Future[Any] | None:
        """Submit a task; None when the pool is broken (a worker died): `results` says so.

        A submit may spawn a worker, which must not take Ctrl-C (see
        _ctrl_c_held); forked workers come from the fork server, started so.
        """
        from concurrent.futures.process import BrokenProcessPool

        try:
            if self._method == "spawn":
                with _ctrl_c_held():
                    return self._pool.submit(task, *args)
            return self._pool.submit(task, *args)
        except BrokenProcessPool:
            self._broken = True
            return None

    def results(self, progress: Callable[[int], None] | None = None) -> list[list[Problem]]:
        """Every submitted template's problems, in the order submitted; `progress(done)` after each one."""
        from concurrent.futures import FIRST_COMPLETED, as_completed, wait
        from concurrent.futures.process import BrokenProcessPool

        try:
            if self._warming:  # a spawned worker still starting would make the pool spawn one per template
                wait(self._warming, return_when=FIRST_COMPLETED)
            longest_first = sorted(range(len(self._held)), key=lambda i: -len(self._held[i][0]))
            futures = {i: self._submit(problems, *self._held[i]) for i in longest_first}
            self._futures = [f for f in futures.values() if f is not None]
            for done, _ in enumerate(as_completed(self._futures), 1):
                if progress is not None:
                    progress(done)
            if self._broken or len(self._futures) < len(self._held):
                raise BrokenProcessPool
            return [futures[i].result() for i in range(len(self._held))]  # type: ignore[union-attr]
        except BrokenProcessPool:
            raise BuildError(
                "a cfn-lint worker process stopped before it finished (out of memory, a setting in .cfnlintrc "
                "cfn-lint refused, or see its error above); nothing was written"
            ) from None

    def __enter__(self) -> LintPool:
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if error is not None or not self._futures:  # Ctrl-C, a failure, or workers started for nothing
            self._stop()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _stop(self) -> None:
        """Stop the workers and the fork server this pool started now, not after what each is doing."""
        _terminate(self._pool)
        if self._server is not None:
            _stop_server(self._server)
            self._server = None


def _start_server() -> int | None:
    """Start the fork server (if it is not running) and return at once; its pid, when this call started it.

    The server imports SERVER_MODULE (cfn-lint, rules) while the build
    renders; the first worker to start waits for that. Call it under
    _ctrl_c_held, so that neither it nor any worker forked from it takes
    Ctrl-C.
    """
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)  # its pid is not public: without it, nothing is stopped
    running = getattr(server, "_forkserver_pid", None)
    forkserver.ensure_running()
    pid = getattr(server, "_forkserver_pid", None)
    return pid if pid != running else None


@contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """Start child processes that never take Ctrl-C, without losing a Ctrl-C pressed meanwhile.

    Ctrl-C in a terminal reaches the whole process group; the build process
    stops its lint processes itself, so they must not each print a
    traceback. SIGINT is blocked in this thread while a child starts: the
    child keeps it blocked through fork and exec (Python there never sees
    it). A Ctrl-C meanwhile (pending, or taken by another thread) is only
    noted, and raised once the block is over, so the caller has recorded
    what it started by then. Where there is no signal mask (Windows),
    SIGINT is ignored meanwhile instead, which a spawned child inherits, and
    such a Ctrl-C is lost.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if not hasattr(signal, "pthread_sigmask"):
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
        return
    pressed: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # a pending Ctrl-C is noted here
        signal.signal(signal.SIGINT, previous)
    if pressed and callable(previous):
        previous(signal.SIGINT, None)  # what Ctrl-C would have done (KeyboardInterrupt), now it is safe


def _stop_server(pid: int) -> None:
    """Stop a fork server this build started, which may still be loading cfn-lint (it would exit after that).

    The next pool in this process starts a new one (ensure_running sees it gone).
    """
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        pass


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop workers now rather than after the template each is linting (ProcessPoolExecutor has no public way)."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()


def lint_many(jobs: Sequence[tuple[str, str]], progress: Callable[[int], None] | None = None) -> list[list[Problem]]:
    """cfn-lint's problems for each (text, region), in the order given, linted in parallel worker processes."""
    if not jobs:
        return []
    with LintPool(workers_for(len(jobs))) as pool:
        for job in jobs:
            pool.submit(*job)
        return pool.results(progress)
