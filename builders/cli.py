"""What `python build.py` does, step by step, and how it reports.

Order matters for the promise that a failed build writes nothing: load and
validate every params file, render every template, lint all of them, check
the limits, and only then write. Problems the user can fix are BuildErrors:
printed as a paragraph, no traceback, non-zero exit.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from builders import limits, output, params, pipeline
from builders.config import EnvConfig
from builders.errors import BuildError, ConfigError
from builders.lint import lint
from builders.pipeline import Artifact

if TYPE_CHECKING:
    from builders.generated import GeneratedFile


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
) -> int:
    out = Console(highlight=False, quiet=quiet)
    err = Console(stderr=True, highlight=False)
    try:
        if action in {"status", "follow", "delete"}:
            return _aws_command(action, params.load(params.params_path(params_dir, envs[0])), aws, out)
        artifacts, all_envs, configs = _render(envs, params_dir)
        if check:
            return _check(out, err, out_dir, artifacts, all_envs, _docs(out_dir, configs, artifacts, all_envs))
        _lint(artifacts, out_dir, err)
        _limits(artifacts)
        docs = _docs(out_dir, configs, artifacts, all_envs)
        changes = output.doc_changes(*docs) if docs else []  # lays out stale diagrams before anything is written
        touched = output.write(out_dir, artifacts, all_envs) + output.apply_doc_changes(changes)
        _summary(out, out_dir, artifacts, touched, time.perf_counter() - started)
        if cost:
            from builders import cost as costing  # only when asked: --help and plain builds skip the import

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


def _render(envs: list[str], params_dir: Path) -> tuple[list[Artifact], bool, dict[str, EnvConfig]]:
    """Every requested environment's files; all params errors at once, in one ConfigError."""
    known = params.environments(params_dir)
    all_envs = not envs
    if all_envs and not known:
        raise ConfigError(f"{params_dir}: no params files; add one <env>.yaml per environment (see README.md)")
    messages, artifacts, configs = [], [], {}
    for env in dict.fromkeys(envs or known):
        try:
            cfg = params.load(params.params_path(params_dir, env))
        except ConfigError as exc:
            messages.append(str(exc))
            continue
        configs[env] = cfg
        artifacts += pipeline.render(cfg)
    if messages:
        raise ConfigError("\n".join(messages))
    regions = sorted({a.region for a in artifacts})
    return pipeline.render_shared(regions[0]) + artifacts, all_envs, configs


def _docs(
    out_dir: Path, configs: dict[str, EnvConfig], artifacts: list[Artifact], all_envs: bool
) -> tuple[Path, list[GeneratedFile]] | None:
    """README.md's generated sections and docs/<env>.svg, or None when this build does not own them.

    They show every environment side by side, so a build of some
    environments (or into an output folder with no README.md beside it)
    leaves them alone; `python build.py` and `--check` of all do them.
    """
    root = output.docs_root(out_dir)
    if not all_envs or root is None:
        return None
    from builders import generated

    return root, generated.files(configs, artifacts, output.read_readme(root))


def _check(
    out: Console,
    err: Console,
    out_dir: Path,
    artifacts: list[Artifact],
    all_envs: bool,
    docs: tuple[Path, list[GeneratedFile]] | None = None,
) -> int:
    problems = output.stale(out_dir, artifacts, all_envs) + (output.stale_docs(*docs) if docs else [])
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


def _lint(artifacts: list[Artifact], out_dir: Path, err: Console) -> None:
    findings = []
    templates = [a for a in artifacts if a.usage is not None]
    with err.status("linting templates with cfn-lint...") as status:
        for i, artifact in enumerate(templates, 1):
            status.update(f"cfn-lint {artifact.relpath} ({i}/{len(templates)})")
            # Each environment's region decides which resource types and values are valid.
            findings += lint(artifact.text, output.shown(out_dir / artifact.relpath), artifact.region)
    if findings:
        lines = "\n".join(f"  {f}" for f in findings)
        raise BuildError(f"cfn-lint found {len(findings)} problem(s); nothing was written:\n{lines}")


def _limits(artifacts: list[Artifact]) -> None:
    problems = [v for a in artifacts if a.usage for v in a.usage.violations()]
    if problems:
        raise BuildError("over a CloudFormation limit; nothing was written:\n" + "\n".join(f"  {p}" for p in problems))


def _pct(value: int, limit: int) -> str:
    return f"{value:,} ({value / limit:.0%})"


def _summary(out: Console, out_dir: Path, artifacts: list[Artifact], touched: list[str], seconds: float) -> None:
    table = Table(title=f"templates under {output.shown(out_dir)}", title_justify="left", box=None, pad_edge=False)
    table.add_column("stack")
    for column in ("resources", "of 500", "outputs", "bytes", "of 1 MB", "of 51,200"):
        table.add_column(column, justify="right")
    for artifact in artifacts:
        use = artifact.usage
        if use is None:
            continue
        table.add_row(
            use.path,
            str(use.resources),
            f"{use.resources / limits.MAX_RESOURCES:.0%}",
            str(use.outputs),
            f"{use.size:,}",
            f"{use.size / limits.MAX_BODY_S3:.1%}",
            f"{use.size / limits.MAX_BODY_INLINE:.0%}",
        )
    out.print(table)
    envs = sorted({a.env or "bootstrap" for a in artifacts})
    changed = f"{len(touched)} file(s) written" if touched else "nothing changed"
    out.print(f"built {', '.join(envs)} in {seconds:.1f}s, lint clean, within limits; {changed}")
    for path in touched:
        out.print(f"  {path}", soft_wrap=True)
