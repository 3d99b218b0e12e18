"""`build.py ENV... --diff [REF|deployed] [--summary FILE]`: compare what this build wrote with a git ref or with
the deployed stacks, print it, and say by the exit status whether a reviewer must look closely.

Exit status: 0 no changes, 1 changes, 3 a stateful resource would be removed
or (maybe) replaced: the guard's list, judged by builders.deploy.guard as a
deploy judges its change set (errors: 2, in builders.cli).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from builders.deploy import guard
from builders.deploy import summary as summaries
from builders.deploy.diff import environment, render
from builders.errors import BuildError

if TYPE_CHECKING:
    from rich.console import Console

    from builders.build.pipeline import Artifact
    from builders.config import EnvConfig

DEPLOYED = "deployed"  # `--diff deployed`: the stacks in AWS, not a git ref
NO_CHANGES, CHANGES, GUARDED = 0, 1, 3


def run(
    configs: dict[str, EnvConfig],
    artifacts: list[Artifact],
    out_dir: Path,
    ref: str | None,
    summary: Path | None,
    options: dict[str, Any],
    console: Console,
    drift: bool = False,
) -> int:
    """Diff each environment built (in the order asked); `options`: each one's deploy Options, for `deployed`
    and for `drift` (--diff --drift: each environment's drift too, and where the two meet: builders.deploy.review).
    """
    from builders.deploy.diff import deployed, gitref

    try:
        resolved = None if ref == DEPLOYED else gitref.resolve(out_dir, ref)
    except BuildError as exc:
        if ref not in configs:
            raise
        # `build.py --diff prod` reads prod as the REF: say how to write what was probably meant.
        raise BuildError(
            f"{exc}. {ref} is an environment: to diff it against the merge base with main, put the ENVs first: "
            f"`python build.py {ref} --diff`"
        ) from None
    diffs = []
    for env, cfg in configs.items():
        region = cfg.region  # whose resource schemas say what is create-only
        if resolved is None:
            region = options[env].target.region  # --region may name another
            old = deployed.environment(cfg, options[env])
            against = f"the deployed stacks ({region})"
        else:
            old = gitref.environment(resolved, env)
            against = resolved.label
        new = _built(artifacts, env, out_dir)
        diffs.append(environment.diff_environment(env, old, new, region, against))
    risky = guard.dangerous([c for d in diffs for c in environment.changes(d)])
    danger = [guard.describe_danger(c) for c in risky]
    for diff in diffs:
        render.show(console, diff)
    if danger:
        console.print(
            "[bold red]stateful resources at risk:[/] a deploy would refuse these without --allow-replacement"
        )
        for line in danger:
            console.print(f"  {line}", markup=False, highlight=False)
        if any(c.replacement == "Conditional" for c in risky):
            console.print(guard.CONDITIONAL_EXPLAINED, markup=False, highlight=False)
    markdown = render.markdown(diffs, danger)
    code = GUARDED if danger else NO_CHANGES if all(d.empty for d in diffs) else CHANGES
    if drift:
        code, more = _with_drift(configs, diffs, options, console, code)
        markdown += "\n" + more
    if summary is not None:
        summaries.append(summary, markdown)
    return code


def _with_drift(
    configs: dict[str, EnvConfig], diffs: list[Any], options: dict[str, Any], console: Console, code: int
) -> tuple[int, str]:
    """Each environment's drift report and its overlaps with the diff, printed; the combined exit status and the
    Markdown of both. An environment whose drift cannot be told is said so and counts as unknown (exit 2)."""
    from builders.deploy import drift, review

    reports, markdown = [], []
    for diff, (env, cfg) in zip(diffs, configs.items(), strict=True):
        try:
            report = drift.collect(cfg, options[env], console)
        except drift.DriftUnknown as exc:
            console.print(f"[bold red]drift unknown:[/] {exc}", soft_wrap=True, highlight=False)
            reports.append(None)
            markdown.append(drift.unknown_markdown(env, str(exc)))
            continue
        drift.render(console, report)
        found = review.overlaps(diff, report)
        review.render(console, env, found)
        reports.append(report)
        markdown += [drift.markdown(report), review.markdown(env, found)]
    return review.exit_code(code, reports), "\n".join(markdown)


def _built(artifacts: list[Artifact], env: str, out_dir: Path) -> environment.Snapshot:
    """This build's side, from the texts it wrote (parsed as the committed side is, so equal text is no change)."""
    from builders.deploy.diff.parse import snapshot

    files = {a.filename: a.text for a in artifacts if a.env == env}
    return snapshot(files.get, lambda name: str(out_dir / env / name), f"{env} was not built")
