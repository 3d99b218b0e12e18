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
the rules do not depend on the region, so a worker loads them once and can
get ready before the build knows which region its templates are for.
"""

from __future__ import annotations

import copy
import gc
import os
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from builders.errors import BuildError

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

CONFIG_FILE = Path(__file__).resolve().parent.parent / ".cfnlintrc"

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

    return Runner(_config("us-east-1"))


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


def _warm_worker() -> None:
    """Get a new worker ready while the build renders: cfn-lint imported and its rules loaded.

    Ctrl-C in a terminal reaches the whole process group: the build process
    handles it and stops the workers, so they ignore it rather than each
    print a traceback. The collector is off while cfn-lint imports and loads
    its rules (a quarter of a second less, nothing collectable is made), and
    what they built is frozen out of later collections.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.disable()
    try:
        _rules_runner()
    finally:
        gc.enable()
        gc.freeze()


def _ready() -> None:
    """A task that does nothing: submitting it starts a worker, which gets ready (_warm_worker) before any template."""


class LintPool:
    """cfn-lint in worker processes, fed templates as the build renders them; verdicts in submission order.

    Workers are spawned, not forked: a fork would copy the build process
    (troposphere, pydantic, the rendered templates) into every worker's
    memory, and a running status spinner's thread state with it. Up to one
    worker per core runs, started on demand (a template with no idle worker
    for it starts one) or ahead of time with `start`; templates submitted
    while the workers started ahead are still getting ready wait for them
    instead of starting more (ProcessPoolExecutor would start one per
    template that finds no idle worker). Use it as a context manager:
    leaving the block early (an error, Ctrl-C), or with nothing submitted,
    stops the workers at once instead of after what each is doing.
    """

    def __init__(self, workers: int | None = None) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self._pool = ProcessPoolExecutor(
            max_workers=workers or cores(),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_warm_worker,
        )
        self._warming: list[Future[None]] = []  # one per worker started ahead: done once it is ready
        self._held: list[tuple[str, str]] = []  # templates waiting for a worker started ahead
        self._futures: list[Future[list[Problem]]] = []
        self._broken = False

    @property
    def workers(self) -> int:
        return self._pool._max_workers  # type: ignore[attr-defined, no-any-return]

    def start(self, count: int) -> None:
        """Start `count` workers now, before there is a template for them: cfn-lint takes a second to be ready."""
        self._warming += [f for f in (self._submit(_ready) for _ in range(min(count, self.workers))) if f]

    def submit(self, text: str, region: str) -> None:
        """Queue one template for a worker (see the class's note on workers started ahead)."""
        self._held.append((text, region))
        if not self._warming or any(f.done() for f in self._warming):
            self._release()

    def _release(self) -> None:
        for text, region in self._held:
            future = self._submit(problems, text, region)
            if future is not None:
                self._futures.append(future)
        self._held = []

    def _submit(self, task: Callable[..., Any], *args: Any) -> Future[Any] | None:
        """Submit with Ctrl-C ignored, so that a worker this starts ignores it from its first instruction on.

        A worker inherits an ignored SIGINT through exec, and Python then does
        not install its KeyboardInterrupt handler, so a Ctrl-C while a worker
        is still starting cannot make it print a traceback. None when the
        pool is broken (a worker died): `results` says so.
        """
        from concurrent.futures.process import BrokenProcessPool

        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            return self._pool.submit(task, *args)
        except BrokenProcessPool:
            self._broken = True
            return None
        finally:
            if main:
                signal.signal(signal.SIGINT, previous)

    def results(self, progress: Callable[[int], None] | None = None) -> list[list[Problem]]:
        """Every submitted template's problems, in the order submitted; `progress(done)` after each one."""
        from concurrent.futures import FIRST_COMPLETED, as_completed, wait
        from concurrent.futures.process import BrokenProcessPool

        try:
            if self._held:
                wait(self._warming, return_when=FIRST_COMPLETED)
                self._release()
            for done, _ in enumerate(as_completed(self._futures), 1):
                if progress is not None:
                    progress(done)
            if self._broken:
                raise BrokenProcessPool
            return [future.result() for future in self._futures]
        except BrokenProcessPool:
            raise BuildError(
                "a cfn-lint worker process stopped before it finished (out of memory, or see its error above); "
                "nothing was written"
            ) from None

    def __enter__(self) -> LintPool:
        return self

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if error is not None or not self._futures:  # Ctrl-C, a failure, or workers started for nothing
            _terminate(self._pool)
        self._pool.shutdown(wait=True, cancel_futures=True)


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop workers now rather than after the template each is linting (ProcessPoolExecutor has no public way)."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()


def lint_many(jobs: Sequence[tuple[str, str]], progress: Callable[[int], None] | None = None) -> list[list[Problem]]:
    """cfn-lint's problems for each (text, region), in the order given, linted in parallel worker processes.

    The longest templates go first, so that the last one to finish is short.
    """
    if not jobs:
        return []
    with LintPool(workers_for(len(jobs))) as pool:
        longest_first = sorted(range(len(jobs)), key=lambda i: -len(jobs[i][0]))
        for i in longest_first:
            pool.submit(*jobs[i])
        found = pool.results(progress)
    by_job = dict(zip(longest_first, found, strict=True))
    return [by_job[i] for i in range(len(jobs))]
