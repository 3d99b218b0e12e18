"""What `python build.py` does, step by step, and how it reports.

Order matters for the promise that a failed build writes nothing: load and
validate every params file, render every template, lint all of them, check
the limits, and only then write. Problems the user can fix are BuildErrors:
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
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from builders.build import buildstamp, limits, lint, output
from builders.docs import output as docs_output
from builders.errors import BuildError, ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console

    from builders.build.lint import LintPool, Problem
    from builders.build.lintcache import LintCache
    from builders.build.pipeline import Artifact
    from builders.config import EnvConfig
    from builders.docs.generated import GeneratedFile


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
) -> int:
    """One command of build.py; its exit status. `cache=False` lints everything and neither reads nor writes stamps."""
    from builders.build import lintcache

    lint_cache = lintcache.open_cache(enabled=cache)
    request = list(dict.fromkeys(envs))
    stamp_root = lintcache.cache_root() if cache and not (check or action or cost) else None
    inputs, stamp = None, None
    if stamp_root is not None:
        try:
            inputs = buildstamp.inputs_digest(params_dir, lint_cache.salt)
            stamp = buildstamp.load(stamp_root, params_dir, out_dir, request)
            if _unchanged(stamp, inputs, request, out_dir, quiet, started):
                return 0
        except KeyboardInterrupt:
            print("interrupted; nothing was written", file=sys.stderr)
            return 130
    expected = 0 if check or action in {"status", "follow", "delete"} else _expected_lint(lint_cache, stamp, inputs)

    from rich.console import Console  # here, not at the top: an unchanged rebuild prints without it

    out = Console(highlight=False, quiet=quiet)
    err = Console(stderr=True, highlight=False)
    try:
        if action in {"status", "follow", "delete"}:
            from builders import params

            return _aws_command(action, params.load(params.params_path(params_dir, envs[0])), aws, out)
        if check:
            artifacts, all_envs, configs = _render(envs, params_dir)
            return _check(out, err, out_dir, artifacts, all_envs, _docs(out_dir, configs, artifacts, all_envs))
        with _Lint(lint_cache, err, expected) as linting:
            artifacts, all_envs, configs = _render(envs, params_dir, linting.add)
            linting.check(artifacts, out_dir)
        linted = linting.linted
        _limits(artifacts)
        docs = _docs(out_dir, configs, artifacts, all_envs)
        changes = docs_output.doc_changes(*docs) if docs else []  # lays out stale diagrams before anything is written
        touched = output.write(out_dir, artifacts, all_envs) + docs_output.apply_doc_changes(changes)
        rows = _rows(artifacts)
        summary = _summary(out_dir, sorted({a.env or "bootstrap" for a in artifacts}), rows, linted, touched, started)
        _print(summary + ([f"linted: {', '.join(linted)}"] if verbose and linted else []), quiet)
        if stamp_root is not None and inputs is not None:
            _stamp(stamp_root, inputs, request, params_dir, out_dir, artifacts, docs, rows)
        if cost:
            from builders.docs import cost as costing  # only when asked: --help and plain builds skip the import

            costing.show(out, artifacts)
        if action in {"deploy", "plan"}:
            from builders.deploy import run as deploying

            return deploying.deploy(configs[envs[0]], artifacts, _options(configs[envs[0]], action, aws), out)
    except BuildError as exc:
        err.print(f"[bold red]error:[/] {exc}", soft_wrap=True, markup=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("interrupted" if action else "interrupted; nothing was written")
        return 130
    return 0


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


def _options(cfg: EnvConfig, action: str, aws: Any) -> Any:
    from builders.deploy.aws import Target
    from builders.deploy.run import Options, interactive

    return Options(
        target=Target(region=aws.region or cfg.region, profile=aws.profile, endpoint_url=aws.endpoint_url),
        change_set_name=aws.change_set_name,
        plan_only=action == "plan",
        yes=aws.yes,
        allow_replacement=aws.allow_replacement,
        recreate_failed=aws.recreate_failed,
        role_arn=aws.role_arn,
        interactive=interactive(),
    )


def _aws_command(action: str, cfg: EnvConfig, aws: Any, out: Console) -> int:
    from builders.deploy import run as deploying

    command = {"status": deploying.status, "follow": deploying.resume, "delete": deploying.delete}[action]
    return command(cfg, _options(cfg, action, aws), out)


def _render(
    envs: list[str], params_dir: Path, rendered: Callable[[list[Artifact]], None] | None = None
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
    messages, configs = [], {}
    for env in dict.fromkeys(envs or known):
        try:
            configs[env] = params.load(params.params_path(params_dir, env))
        except ConfigError as exc:
            messages.append(str(exc))
    if messages:
        raise ConfigError("\n".join(messages))
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
    out_dir: Path, configs: dict[str, EnvConfig], artifacts: list[Artifact], all_envs: bool
) -> tuple[Path, list[GeneratedFile]] | None:
    """README.md's generated sections and docs/<env>.svg, or None when this build does not own them.

    They show every environment side by side, so a build of some
    environments (or into an output folder with no README.md beside it)
    leaves them alone; `python build.py` and `--check` of all do them.
    """
    root = docs_output.docs_root(out_dir)
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
    docs: tuple[Path, list[GeneratedFile]] | None = None,
) -> int:
    problems = output.stale(out_dir, artifacts, all_envs) + (docs_output.stale_docs(*docs) if docs else [])
    if problems:
        err.print(
            f"[bold red]stale:[/] {len(problems)} file(s) differ from a fresh build; run `python build.py` and commit:"
        )
        for line in problems:
            err.print(f"  {line}", soft_wrap=True)
        return 1
    also = f" and {len(docs[1])} generated docs" if docs else ""
    out.print(f"fresh: {len(artifacts)} files under {out_dir}{also} match a fresh build")
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
            lint.Finding(output.shown(out_dir / a.relpath), *problem)
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
    lines = _table(f"templates under {output.shown(out_dir)}", header, cells)
    cached = len(rows) - len(linted)
    changed = f"{len(touched)} file(s) written" if touched else "nothing changed"
    if stamped:
        changed += " since the last build (its inputs and files are as it left them: nothing re-rendered)"
    seconds = time.perf_counter() - started
    lines.append(
        f"built {', '.join(envs)} in {seconds:.1f}s, lint clean ({len(linted)} linted, {cached} cached), "
        f"within limits; {changed}"
    )
    return lines + [f"  {path}" for path in touched]


def _print(lines: list[str], quiet: bool) -> None:
    if not quiet:
        print("\n".join(lines), flush=True)
