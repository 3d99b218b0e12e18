"""`--diff --drift`: what this checkout would change and what someone changed by hand, in one view.

Each is shown as on its own (the diff's tables, the drift report); what
this adds is where they meet: a resource the deploy would change that was
also changed, or deleted, behind CloudFormation's back. That is where a
deploy surprises: it overwrites a console fix without a word, or fails on
a resource that is gone. CloudFormation updates only the properties a
template change touches, so a manual change to another property survives
an in-place update, and none survives a replacement or a removal.
`--diff deployed --drift` is the whole picture of the next deploy; with a
git ref, the diff is against that ref, not against AWS.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from builders.deploy.diff.model import IN_PLACE, EnvironmentDiff, ResourceChange
from builders.deploy.drift import DriftReport, ResourceDrift, md_cell, md_header

if TYPE_CHECKING:
    from rich.console import Console


@dataclass(frozen=True)
class Overlap:
    """A resource both changed by this checkout and drifted, and what a deploy would do to the manual change."""

    stack: str
    logical_id: str
    resource_type: str
    deploy: str  # Modify (will replace) ... as the diff says it
    by_hand: str  # MODIFIED /RetentionInDays ... as the drift report says it
    outcome: str


def _top(path: str) -> str:
    """The top-level property a diff path (Properties.Tags[0].Value) or a drift pointer (/Tags/0/Value) is in."""
    path = path.removeprefix("Properties.").lstrip("/")
    return re.split(r"[./\[]", path, maxsplit=1)[0]


def _outcome(change: ResourceChange, drift: ResourceDrift) -> str:
    if drift.status == "DELETED":
        if change.action == "Remove":
            return "already deleted by hand; the deploy removes it from the stack"
        return ("deleted by hand, so the deploy's update of it fails (CloudFormation cannot update what is gone): "
                "recreate it by hand, or take it out of the stack first")  # fmt: skip
    if change.action == "Remove":
        return "the deploy deletes it, and the manual changes with it"
    if change.verdict != IN_PLACE:
        return f"the deploy {change.verdict} it: the new one is as the template says, without the manual changes"
    changed = {_top(p.path) for p in change.properties if p.path.startswith("Properties.")}
    drifted = {_top(p.path) for p in drift.properties}
    overwritten, kept = sorted(changed & drifted), sorted(drifted - changed)
    parts = []
    if overwritten:
        parts.append(f"the deploy sets {', '.join(overwritten)} from the template, overwriting the manual change")
    if kept:
        parts.append(f"the manual change to {', '.join(kept)} stays (the deploy does not touch it)")
    return "; ".join(parts) or "the deploy updates it in place"


def overlaps(diff: EnvironmentDiff, report: DriftReport) -> list[Overlap]:
    """The resources in both, in the diff's order (stacks in deploy order, resources as listed)."""
    drifted = {(r.stack, r.logical_id): r for r in report.resources}
    found = []
    for stack in diff.stacks:
        for change in stack.resources:
            drift = drifted.get((stack.path, change.logical_id))
            if drift is None or change.action == "Add":
                continue
            deploy = f"{change.action} ({change.verdict})" if change.verdict else change.action
            by_hand = " ".join([drift.status, *(p.path for p in drift.properties)])
            found.append(Overlap(stack.path, change.logical_id, change.resource_type, deploy, by_hand,
                                 _outcome(change, drift)))  # fmt: skip
    return found


COLUMNS = ("stack", "logical id", "type", "this checkout", "by hand", "so a deploy")


def render(console: Console, env: str, found: Iterable[Overlap]) -> None:
    from rich.table import Table
    from rich.text import Text

    found = list(found)
    if not found:
        console.print(f"nlsql-{env}: no resource is both changed by this checkout and drifted", highlight=False)
        return
    table = Table(title=f"nlsql-{env}: changed here and by hand", title_justify="left", box=None, pad_edge=False)
    for column in COLUMNS:
        table.add_column(column, overflow="fold")
    for o in found:
        table.add_row(*(Text(v) for v in (o.stack, o.logical_id, o.resource_type, o.deploy, o.by_hand, o.outcome)))
    console.print(table)


def markdown(env: str, found: Iterable[Overlap]) -> str:
    found = list(found)
    lines = [f"### nlsql-{env}: changed here and by hand", ""]
    if not found:
        return "\n".join([*lines, "No resource is both changed by this checkout and drifted.", ""])
    lines.append(md_header(COLUMNS))
    for o in found:
        cells = (o.stack, o.logical_id, o.resource_type, o.deploy, o.by_hand, o.outcome)
        lines.append("| " + " | ".join(md_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def exit_code(diff_code: int, reports: Iterable[DriftReport | None]) -> int:
    """2 if any drift is unknown (None: it could not be detected), else 3 for a guarded diff, else the larger of
    the diff's (0/1) and the drift's (0/1): CI can gate on one number for both."""
    codes = [2 if r is None else r.exit_code for r in reports]
    if 2 in codes:
        return 2
    return 3 if diff_code == 3 else max([diff_code, *codes])
