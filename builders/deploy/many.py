"""Several environments in one command: `python build.py dev staging --deploy` (or --plan, --status, ...).

Each environment runs as its own `build.py <env> ...` child process, so it
is exactly the one-environment command a user could have typed (its own
account check, bootstrap, change set, guard, follow, exit status): nothing
here re-implements a deploy. What this adds is the scheduling and the
telling:
- environments in different (account, region) pairs run in parallel; those
  sharing one run one after another, because they share that account and
  region's bootstrap stack (two first deploys would race to create it) and
  its CloudFormation rate limits;
- every line a child prints is prefixed with its environment, and a summary
  table follows (environment, account, region, result, duration);
- one failing does not stop the others; the exit status is the worst
  child's (0 < 1 < 2 < 3 < 130), so CI fails if any did;
- Ctrl-C (or SIGTERM) stops all: each running child is sent the signal
  once, in its own process group so a terminal's Ctrl-C reaches it exactly
  once, through here; it unwinds as a single command does, and those not
  started are not started.
A deploy or plan first builds every environment named, once, here: a lint
or params failure of any stops all of them before anything is deployed, and
each child then finds its templates built and its lint verdicts cached.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from builders.build.output import BUILT_BY_PARENT
from builders.build.transaction import Interrupted
from builders.errors import BuildError, ConfigError

if TYPE_CHECKING:
    from rich.console import Console

# Options the parent does once for all, not passed on: the cost estimate follows the one build here.
PARENT_ONLY = frozenset({"cost"})
INTERRUPTED = 130
GRACE_SECONDS = 60  # after the signal, how long a child may take to unwind before it is killed


@dataclass
class Run:
    """One environment's child process and what became of it."""

    env: str
    account: str | None
    region: str
    argv: list[str]
    started: float | None = None
    ended: float | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    failed_to_start: bool = False

    @property
    def code(self) -> int | None:
        """Its exit status (a signal N as the shell's 128 + N), or None while it runs or if it never started.

        Read from the process itself, not set by the thread relaying its
        output: that thread may still be draining the pipe (a grandchild
        holding it open) when the summary is printed.
        """
        if self.failed_to_start:
            return 1
        code = self.process.poll() if self.process is not None else None
        if code is None:
            return None
        return 128 - code if code < 0 else code

    @property
    def result(self) -> str:
        if self.started is None:
            return "not started"
        if self.code is None:
            return "running"
        return {0: "ok", INTERRUPTED: "interrupted", Interrupted.exit_code: "interrupted"}.get(
            self.code, f"failed (exit {self.code})"
        )

    @property
    def seconds(self) -> float:
        if self.started is None:
            return 0.0
        return (self.ended or time.monotonic()) - self.started


def child_argv(parser: argparse.ArgumentParser, args: argparse.Namespace, env: str) -> list[str]:
    """`build.py <env>` with every option the user gave, rebuilt from the parsed values.

    Rebuilt rather than copied from sys.argv, so an option value that looks
    like an environment name (`--profile dev dev staging`) stays an option
    value, and a new option of build.py is passed on without a change here.
    """
    argv = [env]
    for action in parser._actions:  # noqa: SLF001 - argparse has no public list of its actions
        if not action.option_strings or action.dest == "help" or action.dest in PARENT_ONLY:
            continue
        value = getattr(args, action.dest, None)
        if value is None or value == action.default or value is False:
            continue
        flag = max(action.option_strings, key=len)  # the long form: --yes, not -y
        if isinstance(action, argparse._StoreTrueAction):  # noqa: SLF001
            argv.append(flag)
        elif isinstance(action, argparse._AppendAction):  # noqa: SLF001
            for item in value:
                argv += [flag, str(item)]
        elif action.nargs == "?" and value == action.const:
            argv.append(flag)
        else:
            argv.append(f"{flag}={value}")  # one word: a value starting with '-' stays the option's
    return argv


def check_request(action: str, args: argparse.Namespace, accounts: dict[str, str | None]) -> None:
    """Refuse what cannot be done well for several environments at once, before anything runs.

    A deploy of several needs --yes: their prompts would interleave on one
    terminal, and an answer could go to the wrong environment. One
    --role-arn cannot serve environments in different accounts: a service
    role belongs to one account.
    """
    envs = ", ".join(accounts)
    if action == "deploy" and not args.yes:
        raise ConfigError(
            f"--deploy of several environments ({envs}) needs --yes: each would ask before executing, and their "
            f"questions would interleave; review first with `python build.py {' '.join(accounts)} --plan`, then "
            "deploy with --yes (or deploy one environment at a time and answer each)"
        )
    owners = {a for a in accounts.values() if a}
    if args.role_arn and len(owners) > 1:
        where = ", ".join(f"{env} in {account}" for env, account in accounts.items())
        raise ConfigError(
            f"--role-arn {args.role_arn}: the environments are in {len(owners)} accounts ({where}), and a service "
            "role belongs to one; run each account's environments with its own --role-arn"
        )


def groups(runs: Iterable[Run]) -> list[list[Run]]:
    """Runs by (account, region), in the order first named: each group is run in sequence, groups in parallel."""
    by_key: dict[tuple[str | None, str], list[Run]] = {}
    for run in runs:
        by_key.setdefault((run.account, run.region), []).append(run)
    return list(by_key.values())


class Runner:
    """Runs the groups, relays the children's lines with their environment in front, and stops them on a signal."""

    def __init__(self, runs: list[Run], script: Path, out: IO[str]) -> None:
        self.runs = runs
        self._script = script
        self._out = out
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._width = max(len(r.env) for r in runs)
        self.write_error: OSError | None = None  # the first failed write to standard output, if any

    def run(self) -> None:
        threads = [threading.Thread(target=self._group, args=(g,), daemon=True) for g in groups(self.runs)]
        for thread in threads:
            thread.start()
        try:
            while any(t.is_alive() for t in threads):
                for thread in threads:
                    thread.join(timeout=0.2)
        except (KeyboardInterrupt, Interrupted) as exc:
            # Ctrl-C, or SIGTERM (build.py turns it into Interrupted): passed on as the same signal.
            self.stop(signal.SIGINT if isinstance(exc, KeyboardInterrupt) else signal.SIGTERM)
            for thread in threads:
                thread.join(timeout=GRACE_SECONDS + 5)
            raise

    def stop(self, signum: int) -> None:
        """No new child starts; each running one gets `signum` once, and is killed if it has not ended in time."""
        self._stopping.set()
        for run in self.runs:
            if run.process is not None and run.process.poll() is None:
                try:
                    os.killpg(run.process.pid, signum)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + GRACE_SECONDS
        for run in self.runs:
            if run.process is not None:
                try:
                    run.process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    os.killpg(run.process.pid, signal.SIGKILL)
                    run.process.wait()
                run.ended = run.ended or time.monotonic()

    def _group(self, runs: list[Run]) -> None:
        for run in runs:
            if self._stopping.is_set():
                return
            self._one(run)

    def _one(self, run: Run) -> None:
        env = {**os.environ, "COLUMNS": os.environ.get("COLUMNS", "200"), BUILT_BY_PARENT: "1"}
        run.started = time.monotonic()
        try:
            # Its own process group: a terminal's Ctrl-C reaches only this process, which passes it on once.
            run.process = subprocess.Popen(
                [sys.executable, str(self._script), *run.argv],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                process_group=0,
            )
        except OSError as exc:
            self._say(run.env, f"could not start: {exc}")
            run.failed_to_start, run.ended = True, time.monotonic()
            return
        assert run.process.stdout is not None
        for raw in run.process.stdout:
            self._say(run.env, raw.decode("utf-8", "replace").rstrip("\n"))
        run.process.wait()
        run.ended = time.monotonic()

    def _say(self, env: str, line: str) -> None:
        """Relay one line; once standard output fails (full, closed), keep draining the children's pipes, so
        they run to their end, and let run_many report the failure once, as a single command would."""
        with self._lock:
            if self.write_error is not None:
                return
            try:
                self._out.write(f"{env.ljust(self._width)} | {line}".rstrip() + "\n")
                self._out.flush()
            except OSError as exc:
                self.write_error = exc


def summary(runs: list[Run], action: str) -> Any:
    """The table printed at the end: one row per environment, in the order they were named."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"--{action} of {len(runs)} environments", title_justify="left", box=None, pad_edge=False)
    for column in ("env", "account", "region", "result", "seconds"):
        table.add_column(column, justify="right" if column == "seconds" else "left")
    for run in runs:
        table.add_row(*(Text(v) for v in (run.env, run.account or "-", run.region, run.result, f"{run.seconds:.1f}")))
    return table


def worst(runs: Iterable[Run]) -> int:
    """The exit status of the whole: the highest child status (an interrupted or unstarted one counts as 130)."""
    return max((INTERRUPTED if r.code is None else r.code) for r in runs)


def run_many(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    action: str,
    script: Path,
    build: Callable[[list[str]], int],
    consoles: tuple[Console, Console],
) -> int:
    """The whole command: check, build once (deploy, plan), run the children, print the summary; the exit status.

    `build` builds the environments named and returns its exit status; `consoles` are (stdout, stderr).
    """
    from builders import params

    out, err = consoles
    envs = list(dict.fromkeys(args.envs))
    try:
        configs = params.load_all(args.params_dir, envs)
        check_request(action, args, {e: c.account_id for e, c in configs.items()})
    except BuildError as exc:
        from rich.markup import escape

        err.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        return exc.exit_code
    if action in {"deploy", "plan"}:
        status = build(envs)  # one build of all of them; it reports its own failure
        if status:
            return status
    runs = [Run(e, c.account_id, c.region, child_argv(parser, args, e)) for e, c in configs.items()]
    runner = Runner(runs, script, sys.stdout)
    interrupted = 0
    try:
        runner.run()
    except KeyboardInterrupt:
        interrupted = INTERRUPTED
    except Interrupted:
        interrupted = Interrupted.exit_code
    if runner.write_error is not None:
        raise runner.write_error  # build.py says "cannot write to standard output" once, exit 1
    out.print()
    out.print(summary(runs, action))
    if interrupted:
        err.print("interrupted: each running environment was stopped as its own Ctrl-C would; those not started "
                  "were not started (see each with --status)", markup=False)  # fmt: skip
        return interrupted
    return worst(runs)
