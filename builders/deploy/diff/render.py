"""The diff as a reviewer reads it: rich tables in the terminal (the look of --plan), Markdown for a pull request.

Both read the same rows (model.py); neither decides anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from builders.deploy.diff.model import MAY_REPLACE, WILL_REPLACE, EnvironmentDiff, PropertyChange, ResourceChange
from builders.deploy.guard import STATEFUL_TYPES

if TYPE_CHECKING:
    from rich.console import Console

WIDTH = 80  # a value longer than this is cut: the table shows what changed, the template has the rest
_STYLE = {"Add": "green", "Modify": "yellow", "Remove": "red", WILL_REPLACE: "bold red", MAY_REPLACE: "yellow"}


def summary(diff: EnvironmentDiff) -> str:
    """One line that adds up to the tables above it."""
    rows = [r for s in diff.stacks for r in s.resources]
    if diff.empty:
        return f"{_name(diff)}: no changes against {diff.against}"
    count = {a: sum(1 for r in rows if r.action == a) for a in ("Add", "Modify", "Remove")}
    will = sum(1 for r in rows if r.verdict == WILL_REPLACE)
    may = sum(1 for r in rows if r.verdict == MAY_REPLACE)
    items = sum(len(s.items) for s in diff.stacks)
    stacks = sum(1 for s in diff.stacks if not s.empty)
    return (
        f"{_name(diff)}: {len(rows)} resource change(s) in {stacks} stack(s) against {diff.against}: {count['Add']} "
        f"to add, {count['Modify']} to modify ({will} will replace, {may} may replace), {count['Remove']} to remove; "
        f"{items} parameter, output or condition change(s)"
    )


def show(console: Console, diff: EnvironmentDiff) -> None:
    """One table of resources and one of parameters/outputs/conditions per stack that changes, then the summary."""
    from rich.table import Table
    from rich.text import Text

    if diff.empty:
        console.print(Text(summary(diff)))
        return
    console.print(Text(f"{_name(diff)}: this build against {diff.against}", style="bold"))
    if diff.note:
        console.print(Text(f"  {diff.note}"))
    for stack in diff.stacks:
        if stack.empty:
            continue
        title = f"{stack.path}: {len(stack.resources)} resource change(s)" + (f" ({stack.note})" if stack.note else "")
        if stack.resources:
            table = Table(title=title, title_justify="left", box=None, pad_edge=False)
            for column in ("action", "logical id", "type", "replacement", "property", "old", "new"):
                table.add_column(column, overflow="fold")  # wrapped on a narrow terminal, never cut with "…"
            for r in stack.resources:
                head = [Text(r.action, style=_STYLE.get(r.action, "")), Text(r.logical_id), Text(_type(r)),
                        Text(_verdict(r), style=_STYLE.get(r.verdict, ""))]  # fmt: skip
                lines = [(_property(p), *_values(p)) for p in r.properties] or [("", "", "")]
                for i, cells in enumerate(lines):
                    table.add_row(*(head if i == 0 else [Text("")] * 4), *(Text(c) for c in cells))
            console.print(table)
        if stack.items:
            table = Table(title=f"{stack.path}: {len(stack.items)} parameter, output or condition change(s)",
                          title_justify="left", box=None, pad_edge=False)  # fmt: skip
            for column in ("section", "name", "action", "property", "old", "new"):
                table.add_column(column, overflow="fold")
            for item in stack.items:
                head = [Text(item.section), Text(item.name), Text(item.action, style=_STYLE.get(item.action, ""))]
                lines = [(p.path, *_values(p)) for p in item.properties] or [("", "", "")]
                for i, cells in enumerate(lines):
                    table.add_row(*(head if i == 0 else [Text("")] * 3), *(Text(c) for c in cells))
            console.print(table)
    console.print(Text(summary(diff)))


def markdown(diffs: Iterable[EnvironmentDiff], danger: Iterable[str] = ()) -> str:
    """The diff as GitHub-flavoured Markdown ($GITHUB_STEP_SUMMARY): a heading per environment and stack, a table
    per stack (resource, type, action, replacement, properties), and the stateful resources at risk."""
    out: list[str] = []
    for diff in diffs:
        out += [f"## {_name(diff)}: this build against {_md(diff.against)}", ""]
        if diff.note:
            out += [f"> {_md(diff.note)}", ""]
        for stack in diff.stacks:
            if stack.empty:
                continue
            out += [f"### {stack.path}" + (f" ({_md(stack.note)})" if stack.note else ""), ""]
            if stack.resources:
                out += ["| resource | type | action | replacement | properties |", "|---|---|---|---|---|"]
                for r in stack.resources:
                    props = "<br>".join(_md_property(p) for p in r.properties)
                    out.append(f"| `{r.logical_id}` | {_type(r)} | {r.action} | {_verdict(r)} | {props} |")
                out.append("")
            if stack.items:
                out += ["| section | name | action | changes |", "|---|---|---|---|"]
                for item in stack.items:
                    props = "<br>".join(_md_property(p) for p in item.properties)
                    out.append(f"| {item.section} | `{item.name}` | {item.action} | {props} |")
                out.append("")
        out += [f"**{_md(summary(diff))}**", ""]
    lines = list(danger)
    if lines:
        out += ["### Stateful resources a deploy would refuse to touch without --allow-replacement", ""]
        out += [f"- {_md(line)}" for line in lines] + [""]
    return "\n".join(out)


def _name(diff: EnvironmentDiff) -> str:
    return f"nlsql-{diff.env}" if diff.stacks == () else diff.stacks[0].path


def _type(r: ResourceChange) -> str:
    return f"{r.old_type} -> {r.resource_type}" if r.old_type else r.resource_type


def _verdict(r: ResourceChange) -> str:
    stateful = (r.old_type or r.resource_type) in STATEFUL_TYPES
    risky = r.action == "Remove" or r.verdict in {WILL_REPLACE, MAY_REPLACE}
    return (
        r.verdict + (" (stateful)" if stateful and risky else "") if r.verdict or not risky else "(stateful)" * stateful
    )


def _property(p: PropertyChange) -> str:
    return p.path + (" (create-only)" if p.create_only else "")


def _values(p: PropertyChange) -> tuple[str, str]:
    """Old and new as cells: cut to WIDTH around where they first differ, so a long value shows its change."""
    if p.cause and p.old == p.new:
        return _cut(p.old), f"same text; {p.cause} changes"
    start = 0
    if p.old is not None and p.new is not None and max(len(p.old), len(p.new)) > WIDTH:
        first = next(
            (i for i, (a, b) in enumerate(zip(p.old, p.new, strict=False)) if a != b), min(len(p.old), len(p.new))
        )
        start = max(0, first - WIDTH // 4)
    return _cut(p.old, start), _cut(p.new, start)


def _cut(value: str | None, start: int = 0) -> str:
    if value is None:
        return "-"
    text = ("…" if start else "") + value[start:]
    return text if len(text) <= WIDTH else text[: WIDTH - 1] + "…"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _md_property(p: PropertyChange) -> str:
    def code(value: str) -> str:
        tick = "`"
        return "–" if value == "-" else tick + _md(value).replace(tick, "'") + tick

    old, new = _values(p)
    shown = _md(new) if p.cause and p.old == p.new else code(new)
    return f"`{_md(p.path)}`{' (create-only)' if p.create_only else ''}: {code(old)} → {shown}"
