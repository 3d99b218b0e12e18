"""The change set as a person reads it: one table per stack, nested stacks included, and a summary."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table
from rich.text import Text

from builders.deploy.changeset import Change, ChangeSet
from builders.deploy.guard import STATEFUL_TYPES

_STYLE = {"Add": "green", "Modify": "yellow", "Remove": "red", "Import": "cyan", "Dynamic": "magenta"}


def summary(changes: tuple[Change, ...] | list[Change]) -> str:
    """One line that adds up to the tables above it: every row counted, nested stacks said apart."""
    counts = Counter(c.action for c in changes)
    replaced = sum(1 for c in changes if c.replacement == "True")
    conditional = sum(1 for c in changes if c.replacement == "Conditional")
    stacks = sum(1 for c in changes if c.resource_type == "AWS::CloudFormation::Stack")
    modified = f"{counts['Modify']} to modify ({replaced} replaced, {conditional} conditionally)"
    other = sum(n for action, n in counts.items() if action not in {"Add", "Modify", "Remove"})
    line = f"{len(changes)} change(s): {counts['Add']} to add, {modified}, {counts['Remove']} to remove"
    line += f", {other} other (import, dynamic)" if other else ""
    return line + (f"; {stacks} of them nested stack(s), whose own changes are listed under each" if stacks else "")


def show(console: Console, change_set: ChangeSet) -> None:
    stacks: dict[str, list[Change]] = {}
    for change in change_set.changes:
        stacks.setdefault(change.stack, []).append(change)
    for stack, changes in stacks.items():
        table = Table(title=f"{stack}: {len(changes)} change(s)", title_justify="left", box=None, pad_edge=False)
        for column in ("action", "logical id", "type", "replacement"):
            table.add_column(column, overflow="fold")  # wrapped on a narrow terminal, never cut with "…"
        for c in changes:
            flag = (
                " (stateful)" if c.resource_type in STATEFUL_TYPES and c.replacement in {"True", "Conditional"} else ""
            )
            table.add_row(
                Text(c.action, style=_STYLE.get(c.action, "white")),
                Text(c.logical_id),
                Text(c.resource_type),
                Text(f"{c.replacement}{flag}"),
            )
        console.print(table)
    console.print(Text(change_set.stack_name, style="bold") + Text(f": {summary(change_set.changes)}"))
