"""The change set as a person reads it: one table per stack, nested stacks included, and a summary."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table

from builders.deploy.changeset import Change, ChangeSet
from builders.deploy.guard import STATEFUL_TYPES

_STYLE = {"Add": "green", "Modify": "yellow", "Remove": "red", "Import": "cyan", "Dynamic": "magenta"}


def summary(changes: tuple[Change, ...] | list[Change]) -> str:
    """One line: how many resources are added, modified (and how many of those replaced), removed."""
    counts = Counter(c.action for c in changes if c.resource_type != "AWS::CloudFormation::Stack")
    replaced = sum(1 for c in changes if c.replacement == "True")
    conditional = sum(1 for c in changes if c.replacement == "Conditional")
    modified = f"{counts['Modify']} to modify ({replaced} replaced, {conditional} conditionally)"
    return f"{counts['Add']} to add, {modified}, {counts['Remove']} to remove"


def show(console: Console, change_set: ChangeSet) -> None:
    stacks: dict[str, list[Change]] = {}
    for change in change_set.changes:
        stacks.setdefault(change.stack, []).append(change)
    for stack, changes in stacks.items():
        table = Table(title=f"{stack}: {len(changes)} change(s)", title_justify="left", box=None, pad_edge=False)
        for column in ("action", "logical id", "type", "replacement"):
            table.add_column(column)
        for c in changes:
            flag = (
                " (stateful)" if c.resource_type in STATEFUL_TYPES and c.replacement in {"True", "Conditional"} else ""
            )
            table.add_row(
                f"[{_STYLE.get(c.action, 'white')}]{c.action}[/]",
                c.logical_id,
                c.resource_type,
                f"{c.replacement}{flag}",
            )
        console.print(table)
    console.print(f"[bold]{change_set.stack_name}[/]: {summary(change_set.changes)}")
