"""What `build.py --stacksets` would do, worked out before anything is changed: the preview and the guard.

For each stack set: whether it exists, whether its template (DescribeStackSet's TemplateBody) differs from
the one just built, and for each stack instance (account, region) whether it is created, updated or left
alone (ListStackInstances, DescribeStackInstance for its parameter overrides). The guard compares the two
templates' stateful resources with their types' create-only properties (the registry schemas cfn-lint
ships), since a stack set update has no change set to read replacements from; what it finds is refused
exactly as a stack deploy's would be (builders/deploy/guard.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from builders.deploy.changeset import Change
from builders.deploy.guard import dangerous

Pair = tuple[str, str]  # (account, region)


@dataclass(frozen=True)
class Wanted:
    """A stack set as this repository builds it: its template, stack-set parameters, and each instance's
    parameter overrides by (account, region)."""

    name: str
    template_file: str
    text: str
    parameters: dict[str, str]
    instances: dict[Pair, dict[str, str]]


@dataclass(frozen=True)
class Row:
    """One stack instance in the preview: what happens to it, and why."""

    account: str
    region: str
    action: str  # create | update | unchanged | left alone
    why: str
    overrides: dict[str, str] = field(default_factory=dict, compare=False)
    # UpdateStackInstances is needed: its overrides change, or its last operation failed and no UpdateStackSet
    # (which runs every instance again) is coming.
    instance_update: bool = False


@dataclass(frozen=True)
class Plan:
    """One stack set's preview: what exists, what changes, what the guard found."""

    wanted: Wanted
    exists: bool
    template_differs: bool
    rows: tuple[Row, ...]
    danger: tuple[Change, ...]
    current_parameters: tuple[str, ...] = ()  # the parameter keys the existing stack set has

    def rows_doing(self, action: str) -> list[Row]:
        return [r for r in self.rows if r.action == action]

    @property
    def changes(self) -> bool:
        return not self.exists or self.template_differs or any(r.action != "unchanged" for r in self.rows)


def plan(cf: Any, wanted: Wanted, region: str) -> Plan:
    """Ask the administrator account's CloudFormation what exists, and set it beside what is wanted."""
    from builders.deploy.aws import aws_errors, error_code

    try:
        current = cf.describe_stack_set(StackSetName=wanted.name)["StackSet"]
    except aws_errors() as exc:
        if error_code(exc) not in {"StackSetNotFoundException", "StackSetNotFound"}:
            raise
        rows = tuple(Row(a, r, "create", "new stack set", o) for (a, r), o in sorted(wanted.instances.items()))
        return Plan(wanted, False, True, rows, ())
    differs = current.get("TemplateBody") != wanted.text
    existing = {(s["Account"], s["Region"]): s for s in _instances(cf, wanted.name)}
    rows = []
    for pair in sorted(set(existing) | set(wanted.instances)):
        rows.append(_row(cf, wanted, pair, existing.get(pair), differs))
    danger = replacements(wanted.name, current.get("TemplateBody") or "", wanted.text, region) if differs else []
    keys = tuple(p["ParameterKey"] for p in current.get("Parameters") or [])
    return Plan(wanted, True, differs, tuple(rows), tuple(danger), keys)


def _instances(cf: Any, name: str) -> Iterable[dict[str, Any]]:
    for page in cf.get_paginator("list_stack_instances").paginate(StackSetName=name):
        yield from page["Summaries"]


def _row(cf: Any, wanted: Wanted, pair: Pair, summary: dict[str, Any] | None, differs: bool) -> Row:
    account, region = pair
    want = wanted.instances.get(pair)
    if summary is None:
        return Row(account, region, "create", "new instance", want or {})
    if want is None:  # this command never removes an instance; a stack set has one template, so it is updated too
        why = "not named here; a stack set has one template" if differs else "not named here"
        return Row(account, region, "update" if differs else "left alone", why)
    detail = (summary.get("StackInstanceStatus") or {}).get("DetailedStatus", "")
    instance = cf.describe_stack_instance(StackSetName=wanted.name, StackInstanceAccount=account,
                                          StackInstanceRegion=region)["StackInstance"]  # fmt: skip
    overrides = {p["ParameterKey"]: p.get("ParameterValue", "") for p in instance.get("ParameterOverrides") or []}
    reasons = [f"{k}: {overrides.get(k, '(stack set value)')!r} -> {v!r}" for k, v in want.items()
               if overrides.get(k) != v]  # fmt: skip
    again = detail in {"FAILED", "CANCELLED", "INOPERABLE"} or summary.get("Status") == "INOPERABLE"
    instance_update = bool(reasons) or (again and not differs)
    if again:
        reasons.insert(0, f"its last operation ended {detail or summary.get('Status')}")
    if differs:
        reasons.insert(0, "template differs")
    if reasons:
        return Row(account, region, "update", "; ".join(reasons), want, instance_update)
    return Row(account, region, "unchanged", "template and parameters as built", want)


# --- the guard ----------------------------------------------------------------------------------------------


def replacements(name: str, before: str, after: str, region: str) -> list[Change]:
    """The stateful resources that updating the stack set from `before` to `after` removes or (maybe) replaces.

    Judged by the same diff as `--diff` (create-only properties from the registry schemas, a changed type, a
    removal) and the same guard as a deploy, so a stack set and a stack are held to one rule.
    """
    from cfnlint.decode.decode import decode_str

    from builders.deploy.diff.environment import changes
    from builders.deploy.diff.model import EnvironmentDiff
    from builders.deploy.diff.templates import diff_templates

    old, new = (decode_str(text)[0] or {} for text in (before, after))
    stack = diff_templates(old, new, region, path=name)
    return dangerous(changes(EnvironmentDiff(env=name, against="the stack set", stacks=(stack,))))


# --- the preview --------------------------------------------------------------------------------------------

_STYLE = {"create": "green", "update": "yellow", "unchanged": "white", "left alone": "white"}


def show(console: Console, plans: list[Plan], admin: str, region: str) -> None:
    """A table per stack set, as --plan's per stack, then one line that adds them up."""
    for p in plans:
        state = (
            "does not exist yet: created"
            if not p.exists
            else f"template differs from templates/{p.wanted.template_file}: updated"
            if p.template_differs
            else f"template as templates/{p.wanted.template_file}"
        )
        table = Table(title=f"{p.wanted.name} (account {admin}, {region}): {state}", title_justify="left", box=None,
                      pad_edge=False)  # fmt: skip
        for column in ("action", "account", "region", "why"):
            table.add_column(column, overflow="fold")
        for row in p.rows:
            table.add_row(Text(row.action, style=_STYLE[row.action]), Text(row.account), Text(row.region),
                          Text(row.why))  # fmt: skip
        console.print(table)
        for change in p.danger:
            from builders.deploy.guard import describe_danger

            console.print(Text(f"  stateful: {describe_danger(change)}", style="red"))
    counts = {a: sum(len(p.rows_doing(a)) for p in plans) for a in ("create", "update", "unchanged", "left alone")}
    console.print(
        f"{len(plans)} stack set(s): {counts['create']} instance(s) to create, {counts['update']} to update, "
        f"{counts['unchanged']} unchanged, {counts['left alone']} left alone (never removed by this command)",
        highlight=False,
    )
