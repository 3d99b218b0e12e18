"""What `python build.py` does, step by step, and how it reports.

Order matters for the promise that a failed build writes nothing: load and
validate every params file, render every template, lint all of them, check
the limits and the network flows, and only then write. Problems the user can fix are BuildErrors:
printed as a paragraph, no traceback, non-zero exit.

Speed: cfn-lint runs only for templates whose verdict is not in the lint
cache (builders.build.lintcache), in worker processes (builders.build.lint); a rebuild
whose inputs and files are as the last build left them prints that build's
summary without rendering (builders.build.buildstamp). Heavy modules (rich,
pydantic, troposphere) are imported inside the functions that need them, so
that path, and `--help`, pay for none of them.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from builders.build import buildstamp, limits, lint, output, transaction
from builders.build.transaction import Interrupted
from builders.docs import output as docs_output
from builders.errors import BuildError, ConfigError

# The commands that only ask AWS (or tell it to delete): no build, no lint, nothing written.
AWS_ONLY = frozenset({"status", "follow", "delete", "drift"})

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console

    from builders.build.lint import LintPool, Problem
    from builders.build.lintcache import LintCache
    from builders.build.pipeline import Artifact
    from builders.config import EnvConfig
    from builders.docs.generated import GeneratedFile


def on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM raises Interrupted, which unwinds like Ctrl-C: temp files removed, the write rolled back."""
    raise Interrupted


def run(
    envs: list[str],
    check: bool,
    params_dir: Path,
    out_dir: Path,
    quiet: bool,
    started: float,
    action: str | None = None,
    aws: Any = None,
    cost: bool = False,
    cache: bool = True,
    verbose: bool = False,
    diff_ref: str | None = None,
    summary_file: Path | None = None,
) -> int:
    """One command of build.py; its exit status. `cache=False` lints everything and neither reads nor writes stamps.

    `diff_ref` (with action "diff"): the git ref, "deployed", or None for the merge base with main;
    `summary_file`: where --summary appends the diff as Markdown.
    """
    from builders.build import lintcache

    lint_cache = lintcache.open_cache(enabled=cache)
    request = list(dict.fromkeys(envs))
    stamp_root = lintcache.cache_root() if cache and not (check or action or cost) else None
    inputs, stamp, sources = None, None, None
    if stamp_root is not None:
        try:
            sources = _read_params(params_dir, request)
            inputs = buildstamp.inputs_digest(sources, lint_cache.salt)
            stamp = buildstamp.load(stamp_root, params_dir, out_dir, request)
            if _unchanged(stamp, inputs, request, out_dir, quiet, started):
                return 0
        except (KeyboardInterrupt, Interrupted) as exc:
            print("interrupted; nothing was written", file=sys.stderr)
            return _interrupted_code(exc)
    expected = 0 if check or action in AWS_ONLY else _expected_lint(lint_cache, stamp, inputs)

    from rich.markup import escape  # here, not at the top: an unchanged rebuild prints without rich

    out = _console(quiet=quiet)
    err = _console(stderr=True)
    outcome = transaction.Outcome()  # what this build changed on disk, once its write is done
    try:
        if action in AWS_ONLY:
            from builders import params

            path = params.params_path(params_dir, envs[0])
            return _aws_command(action, params.load(path), aws, out, path)
        owned, docs_root = _preflight(envs, params_dir, out_dir)
        if check:
            artifacts, all_envs, configs = _render(envs, params_dir, sources)
            docs = _docs(docs_root, configs, artifacts, all_envs)
            return _check(out, err, out_dir, artifacts, all_envs, owned, docs)
        lint.check_config()  # here, not in a worker: a broken .cfnlintrc is named, not a dead worker
        with _Lint(lint_cache, err, expected) as linting:
            artifacts, all_envs, configs = _render(envs, params_dir, sources, linting.add)
            linting.check(artifacts, out_dir)
        linted = linting.linted
        _limits(artifacts)
        _flows(artifacts, configs)
        docs = _docs(docs_root, configs, artifacts, all_envs)
        todo = output.plan(out_dir, artifacts, all_envs, owned)
        changes = docs_output.doc_changes(*docs) if docs else []  # lays out stale diagrams before anything is written
        with transaction.locked(
            out_dir, lambda: err.print(f"waiting for another build writing {out_dir}...", markup=False)
        ):
            stale_temps = output.leftovers_of(out_dir) + (docs_output.doc_leftovers(docs[0]) if docs else [])
            written = transaction.apply(todo.changes + changes, outcome)
            written += _remove_leftovers(stale_temps)
        rows = _rows(artifacts)
        summary = _summary(out_dir, sorted({a.env or "bootstrap" for a in artifacts}), rows, linted, written, started)
        summary += _left_alone(out_dir, todo.foreign)
        if os.environ.get(output.BUILT_BY_PARENT):  # a child of a several-environment run: the parent showed the table
            summary = summary[next(i for i, line in enumerate(summary) if line.startswith("built ")) :]
        _print(summary + ([f"linted: {', '.join(linted)}"] if verbose and linted else []), quiet)
        if stamp_root is not None and inputs is not None:
            _stamp(stamp_root, inputs, request, params_dir, out_dir, artifacts, docs, rows)
        if cost:
            from builders.docs import cost as costing  # only when asked: --help and plain builds skip the import

            costing.show(out, artifacts)
        if action in {"stacksets", "stacksets-plan"}:
            from builders.deploy import stacksets

            return stacksets.run(list(configs.values()), artifacts, stacksets.options(action, aws, params_dir), out)
        if action in {"deploy", "plan"}:
            from builders import paramfiles
            from builders.deploy import run as deploying

            path = params_dir / f"{envs[0]}{paramfiles.SUFFIX}"
            return deploying.deploy(configs[envs[0]], artifacts, _options(configs[envs[0]], action, aws, path), out)
        if action == "diff":
            return _diff(configs, artifacts, out_dir, params_dir, diff_ref, summary_file, aws, out)
    except BuildError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        return 2 if action == "diff" else exc.exit_code  # --diff keeps 1 and 3 for what it found
    except (KeyboardInterrupt, Interrupted) as exc:
        err.print(_interrupted_message(action, outcome.paths if outcome.done else None, envs), markup=False)
        return _interrupted_code(exc)
    return 0


def show_roles(params_dir: Path, env: str, roles: list[str]) -> int:
    """`build.py ENV --role NAME`: the GitHub role ARNs of ENV's account, for a workflow's $GITHUB_OUTPUT."""
    from builders.deploy import roles as github_roles

    return github_roles.show(params_dir, env, roles)


def run_several(parser: Any, args: Any, action: str, script: Path, started: float) -> int:
    """One action on several environments (builders.deploy.many): a build of all of them first, then one child
    process per environment, in parallel across accounts and regions."""
    from builders.deploy.many import run_many

    def build(envs: list[str]) -> int:
        return run(envs=envs, check=False, params_dir=args.params_dir, out_dir=args.out, quiet=args.quiet,
                   started=started, cost=args.cost, cache=not args.no_cache, verbose=args.verbose)  # fmt: skip

    return run_many(parser, args, action, script, build, (_console(quiet=args.quiet), _console(stderr=True)))


def _console(stderr: bool = False, quiet: bool = False) -> Console:
    """A rich console that prints values exactly: no highlighting, no emoji codes (`:secret:` stays text).

    When the stream is not a terminal, nothing is wrapped or cut at 80
    columns: a log or a pipe gets each line whole, as it would be copied.
    """
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 10_000
    return Console(stderr=stderr, highlight=False, emoji=False, quiet=quiet, width=width, soft_wrap=width is not None)


def _interrupted_code(exc: BaseException) -> int:
    return Interrupted.exit_code if isinstance(exc, Interrupted) else 130


def _interrupted_message(action: str | None, written: list[str] | None, envs: list[str]) -> str:
    """What an interruption left behind, truthfully: nothing, or a complete write (listed)."""
    if action == "drift":
        return (
            "interrupted; the drift detections already started go on in AWS (they change nothing); run "
            f"`python build.py {' '.join(envs)} --drift` again for a report"
        )
    if action in AWS_ONLY:
        return "interrupted"
    if written is None:
        return "interrupted; nothing was written" + (" and nothing was deployed" if action else "")
    if action == "diff":
        return f"interrupted during --diff; the build had written its files in full first ({len(written)} changed)"
    if action in {"stacksets", "stacksets-plan"}:
        return (
            f"interrupted during --stacksets; the build had written its files in full first ({len(written)} "
            "changed); see the stack sets with `python build.py --stacksets --plan`"
        )
    if action:
        return (
            f"interrupted during --{action}; the build had written its files in full first "
            f"({len(written)} changed); see the stack's state with `python build.py {' '.join(envs)} --status`"
        )
    if not written:
        return "interrupted (the build had finished: nothing needed writing)"
    listed = "\n".join(f"  {path}" for path in written)
    return f"interrupted after the build had written all of its {len(written)} changed file(s), complete:\n{listed}"


def _read_params(params_dir: Path, request: list[str]) -> dict[str, bytes | None]:
    """Each environment's params file as this build reads it (None: unreadable, so the build will fail on it).

    The same bytes are hashed for the build record and then parsed, so the
    record describes exactly what was rendered.
    """
    from builders import paramfiles

    sources: dict[str, bytes | None] = {}
    for env in request or paramfiles.environments(params_dir):
        try:
            path = params_dir / f"{env}{paramfiles.SUFFIX}"
            sources[env] = paramfiles.read(path) if paramfiles.is_env_name(env) else None
        except BuildError:
            sources[env] = None
    return sources


def _preflight(envs: list[str], params_dir: Path, out_dir: Path) -> tuple[set[str] | None, Path | None]:
    """Refuse an output folder the build must not write (before rendering); the files it owns there.

    Also says where README.md and docs/ are when this build makes them
    (all environments, with a README.md beside the output folder).
    """
    from builders import paramfiles
    from builders.build import ownership, pipeline

    layout = ownership.Layout(pipeline.SHARED_FILES, pipeline.ENV_FILES)
    owned = ownership.check_out_dir(out_dir, params_dir, layout)
    targets = [*layout.shared, ownership.MANIFEST]
    targets += [f"{env}/{name}" for env in (envs or paramfiles.environments(params_dir)) for name in layout.per_env]
    ownership.check_targets(out_dir, owned, targets)
    root = docs_output.docs_root(out_dir) if not envs else None
    if root is not None:
        docs_output.check_docs_folder(root)
    return owned, root


def _remove_leftovers(paths: list[Path]) -> list[str]:
    removed = []
    for path in paths:
        try:
            path.unlink()
            removed.append(f"{transaction.shown(path)} (left by an interrupted build: removed)")
        except OSError:
            pass
    return removed


def _left_alone(out_dir: Path, foreign: list[str]) -> list[str]:
    if not foreign:
        return []
    lines = [f"left alone: {len(foreign)} file(s) under {transaction.shown(out_dir)} that build.py did not write:"]
    return lines + [f"  {transaction.shown(out_dir / f)}" for f in foreign]


def _unchanged(
    stamp: buildstamp.Stamp | None, inputs: str, request: list[str], out_dir: Path, quiet: bool, started: float
) -> bool:
    """Print the last build's summary and say True when neither its inputs nor its files have changed since."""
    if stamp is None or stamp.inputs != inputs:
        return False
    with_docs = not request and docs_output.docs_root(out_dir) is not None
    if stamp.files != buildstamp.snapshot(out_dir, with_docs=with_docs):
        return False
    _print(_summary(out_dir, stamp.envs, stamp.rows, [], [], started, stamped=True), quiet)
    return True


def _expected_lint(cache: LintCache, stamp: buildstamp.Stamp | None, inputs: str | None) -> int:
    """How many lint workers to get ready before rendering, when it is all but certain that cfn-lint will run.

    Getting ready first (the fork server loading cfn-lint, or spawned
    workers where there is none) lets cfn-lint's second of start-up overlap
    the imports and rendering instead of following them. Certain enough: a cache
    with no verdicts at all (a fresh clone, a cleared or disabled cache)
    means every template is linted, so one worker per core; inputs that
    differ from the last build's (params or code edited) nearly always
    change a template, so one worker (more start as templates need them).
    Anything else (no stamp for this output folder but verdicts cached, or
    only an output file or README.md edited) starts none, so a build whose
    verdicts are all cached never imports cfn-lint.
    """
    if cache.is_empty():
        return lint.cores()
    return 1 if stamp is not None and stamp.inputs != inputs else 0


def _stamp(
    root: Path,
    inputs: str,
    request: list[str],
    params_dir: Path,
    out_dir: Path,
    artifacts: list[Artifact],
    docs: tuple[Path, list[GeneratedFile]] | None,
    rows: list[buildstamp.Row],
) -> None:
    """Record this build for the next one, unless a file it owns is not what it wrote (edited meanwhile)."""
    from builders.docs.generated import Page

    files = buildstamp.snapshot(out_dir, with_docs=docs is not None)
    expected = {f"{out_dir.resolve().name}/{a.relpath}": a.text for a in artifacts}
    expected |= {f.relpath: f.text for f in (docs[1] if docs else []) if isinstance(f, Page)}
    for path, text in expected.items():
        if files.get(path) != hashlib.sha256(text.encode("utf-8")).hexdigest():
            return
    envs = sorted({a.env or "bootstrap" for a in artifacts})
    buildstamp.save(root, params_dir, out_dir, request, buildstamp.Stamp(inputs, files, envs, rows))


def _options(cfg: EnvConfig, action: str, aws: Any, params_file: Path) -> Any:
    from builders.deploy.aws import Target
    from builders.deploy.run import Options, interactive

    if aws.region and aws.region != cfg.region:
        raise ConfigError(
            f"--region {aws.region}: {params_file} says region: {cfg.region}; an environment lives in the region its "
            f"params name (its AZs, endpoints and prices are that region's), so --region may only repeat it; "
            f'drop --region, or add an environment for {aws.region} (README "Adding an environment")'
        )
    target = Target(region=cfg.region, profile=aws.profile, endpoint_url=aws.endpoint_url,
                    account_id=cfg.account_id, assume_role=cfg.deploy_role, source=str(params_file))  # fmt: skip
    return Options(
        target=target,
        change_set_name=aws.change_set_name,
        plan_only=action == "plan",
        yes=aws.yes,
        allow_replacement=aws.allow_replacement,
        recreate_failed=aws.recreate_failed,
        role_arn=aws.role_arn,
        retain=tuple(aws.retain or ()),
        interactive=interactive(),
    )


def _diff(
    configs: dict[str, EnvConfig],
    artifacts: list[Artifact],
    out_dir: Path,
    params_dir: Path,
    ref: str | None,
    summary: Path | None,
    aws: Any,
    out: Console,
) -> int:
    from builders import paramfiles
    from builders.deploy.diff import command

    options = {}
    if ref == command.DEPLOYED or aws.drift:  # only then: a diff against a git ref needs no AWS (nor boto3)
        options = {
            env: _options(cfg, "diff", aws, params_dir / f"{env}{paramfiles.SUFFIX}") for env, cfg in configs.items()
        }
    return command.run(configs, artifacts, out_dir, ref, summary, options, out, drift=aws.drift)


def _aws_command(action: str, cfg: EnvConfig, aws: Any, out: Console, params_file: Path) -> int:
    from builders.deploy import run as deploying
    from builders.deploy import teardown

    if action == "drift":
        from builders.deploy import drift

        return drift.command(cfg, _options(cfg, action, aws, params_file), out, summary_file=aws.summary)
    command = {"status": deploying.status, "follow": deploying.resume, "delete": teardown.delete}[action]
    return command(cfg, _options(cfg, action, aws, params_file), out)


def _render(
    envs: list[str],
    params_dir: Path,
    sources: dict[str, bytes | None] | None = None,
    rendered: Callable[[list[Artifact]], None] | None = None,
) -> tuple[list[Artifact], bool, dict[str, EnvConfig]]:
    """Every requested environment's files; all params errors at once, in one ConfigError.

    Every params file is loaded before any is rendered, so a params error
    stops the build before lint workers start. `rendered` is given each
    environment's files as soon as they exist, so that cfn-lint can start on
    them while the next environment renders.
    """
    from builders import params
    from builders.build import pipeline

    known = params.environments(params_dir)
    all_envs = not envs
    if all_envs and not known:
        raise ConfigError(f"{params_dir}: no params files; add one <env>.yaml per environment (see README.md)")
    configs = params.load_all(params_dir, envs or known, sources)  # the bytes the build record hashed, if read
    artifacts = []
    for cfg in configs.values():
        made = pipeline.render(cfg)
        if rendered is not None:
            rendered(made)
        artifacts += made
    regions = sorted({a.region for a in artifacts})
    shared = pipeline.render_shared(regions[0])
    if rendered is not None:
        rendered(shared)
    return shared + artifacts, all_envs, configs


def _docs(
    root: Path | None, configs: dict[str, EnvConfig], artifacts: list[Artifact], all_envs: bool
) -> tuple[Path, list[GeneratedFile]] | None:
    """README.md's generated sections and docs/<env>.svg, or None when this build does not own them.

    They show every environment side by side, so a build of some
    environments (or into an output folder with no README.md beside it)
    leaves them alone; `python build.py` and `--check` of all do them.
    """
    if not all_envs or root is None:
        return None
    from builders.docs import generated

    return root, generated.files(configs, artifacts, docs_output.read_readme(root))


def _check(
    out: Console,
    err: Console,
    out_dir: Path,
    artifacts: list[Artifact],
    all_envs: bool,
    owned: set[str] | None,
    docs: tuple[Path, list[GeneratedFile]] | None = None,
) -> int:
    todo = output.plan(out_dir, artifacts, all_envs, owned)
    problems = output.stale(out_dir, todo) + (docs_output.stale_docs(*docs) if docs else [])
    envs = "" if all_envs else " " + " ".join(sorted({a.env for a in artifacts if a.env}))
    for line in _left_alone(out_dir, todo.foreign):
        err.print(line, markup=False)
    if problems:
        err.print(
            f"[bold red]stale:[/] {len(problems)} file(s) differ from a fresh build; "
            f"run `python build.py{envs}` and commit:"
        )
        for line in problems:
            err.print(f"  {line}", markup=False)
        return 1
    also = f" and {len(docs[1])} generated docs" if docs else ""
    where = transaction.shown(out_dir)
    out.print(f"fresh: {len(artifacts)} files under {where}{also} match a fresh build", markup=False)
    return 0


class _Lint:
    """The build's lint step: each template's verdict from the cache, or from cfn-lint in worker processes.

    Templates are added as each environment renders; the first with no
    cached verdict gets cfn-lint (a second to start) ready while the rest
    renders, and the workers take them all once rendering is done. Nothing
    starts before such a template (unless _expected_lint bets on one), so a
    build whose verdicts are all cached never imports cfn-lint. A text that
    appears twice is linted once. Findings are reported in template order
    whichever worker finished first, so a failing build prints the same
    lines every time.
    """

    def __init__(self, cache: LintCache, err: Console, start: int = 0) -> None:
        self._cache = cache
        self._err = err
        self._verdicts: dict[str, list[Problem] | None] = {}  # None: a worker has it
        self._submitted: list[str] = []
        self._pool: LintPool | None = None
        self.linted: list[str] = []  # the templates cfn-lint ran on, by path under the output folder
        if start:  # before rendering: see _expected_lint
            self._pool = lint.LintPool()
            self._pool.start(start)

    def add(self, artifacts: list[Artifact]) -> None:
        for artifact in artifacts:
            if artifact.usage is None:
                continue
            # Each environment's region decides which resource types and values are valid.
            key = self._cache.key(artifact.text, artifact.region)
            if key in self._verdicts:
                continue
            self._verdicts[key] = self._cache.get(key)
            if self._verdicts[key] is None:
                if self._pool is None:
                    self._pool = lint.LintPool()
                self._pool.submit(artifact.text, artifact.region)
                self._submitted.append(key)
                self.linted.append(artifact.relpath)

    def check(self, artifacts: list[Artifact], out_dir: Path) -> None:
        """Wait for the workers, cache their verdicts, and fail the build (a BuildError) on any finding."""
        if self._pool is not None and self._submitted:
            count, workers = len(self._submitted), self._pool.workers
            with self._err.status(f"cfn-lint: {count} template(s), up to {workers} worker process(es)...") as status:
                fresh = self._pool.results(lambda done: status.update(f"cfn-lint: {done}/{count} template(s) linted"))
            for key, problems in zip(self._submitted, fresh, strict=True):
                self._verdicts[key] = problems
                self._cache.put(key, problems)
        findings = [
            lint.Finding(transaction.shown(out_dir / a.relpath), *problem)
            for a in artifacts
            if a.usage is not None
            for problem in self._verdicts[self._cache.key(a.text, a.region)] or []
        ]
        if findings:
            lines = "\n".join(f"  {f}" for f in findings)
            raise BuildError(f"cfn-lint found {len(findings)} problem(s); nothing was written:\n{lines}")

    def __enter__(self) -> _Lint:
        return self

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        if self._pool is not None:
            self._pool.__exit__(kind, error, trace)


def _limits(artifacts: list[Artifact]) -> None:
    problems = [v for a in artifacts if a.usage for v in a.usage.violations()]
    if problems:
        raise BuildError("over a CloudFormation limit; nothing was written:\n" + "\n".join(f"  {p}" for p in problems))


def _flows(artifacts: list[Artifact], configs: dict[str, EnvConfig]) -> None:
    """Fail the build when a flow the app needs is impossible or one the design forbids is possible."""
    from builders.build import flows

    flows.check(flows.prove(artifacts, configs))


def _rows(artifacts: list[Artifact]) -> list[buildstamp.Row]:
    return [
        buildstamp.Row(a.usage.path, a.usage.resources, a.usage.outputs, a.usage.size)
        for a in artifacts
        if a.usage is not None
    ]


def _table(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """A plain table: first column left-aligned, the others right-aligned, two spaces apart (no rich needed)."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [title]
    for cells in (header, *rows):
        first, *rest = cells
        line = "  ".join([first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))])
        lines.append(line.rstrip())
    return lines


def _summary(
    out_dir: Path,
    envs: list[str],
    rows: list[buildstamp.Row],
    linted: list[str],
    touched: list[str],
    started: float,
    stamped: bool = False,
) -> list[str]:
    """The table of each template's figures against CloudFormation's limits, and one line saying what happened."""
    header = ("stack", "resources", "of 500", "outputs", "bytes", "of 1 MB", "of 51,200")
    cells = [
        (
            row.path,
            str(row.resources),
            f"{row.resources / limits.MAX_RESOURCES:.0%}",
            str(row.outputs),
            f"{row.size:,}",
            f"{row.size / limits.MAX_BODY_S3:.1%}",
            f"{row.size / limits.MAX_BODY_INLINE:.0%}",
        )
        for row in rows
    ]
    lines = _table(f"templates under {transaction.shown(out_dir)}", header, cells)
    cached = len(rows) - len(linted)
    changed = f"{len(touched)} file(s) written" if touched else "nothing changed"
    if stamped:
        changed += " since the last build (its inputs and files are as it left them: nothing re-rendered)"
    seconds = time.perf_counter() - started
    lines.append(
        f"built {', '.join(envs)} in {seconds:.1f}s, lint clean ({len(linted)} linted, {cached} cached), "
        f"within limits, network flows proven; {changed}"
    )
    return lines + [f"  {path}" for path in touched]


def _print(lines: list[str], quiet: bool) -> None:
    if not quiet:
        print("\n".join(lines), flush=True)
