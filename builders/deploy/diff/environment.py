"""An environment's diff: the root and every nested stack, with what flows between them through parameters.

A nested stack's parameters come from its parent: a root parameter (whose
value parameters.json or the deployed stack gives) or an earlier stack's
output. So a change in one stack reaches the next: a value the parent passes
that changes makes the child's uses of it change, known before the deploy
when the value is (a literal, a root parameter) and only during it when it
is another stack's output. Stacks are diffed in deploy order (the root's
nested stacks are in builders/root.py LAYERS order) so each output's change
is known before the stacks that read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from builders.deploy.changeset import Change
from builders.deploy.diff.model import EnvironmentDiff, StackDiff
from builders.deploy.diff.templates import MISSING, diff_templates, references
from builders.naming import PROJECT

STACK_TYPE = "AWS::CloudFormation::Stack"


@dataclass(frozen=True)
class Snapshot:
    """An environment's templates at one point (a git commit, this build, the deployed stacks)."""

    root: dict[str, Any] | None  # None: the environment does not exist there
    values: dict[str, str] = field(default_factory=dict)  # the root's parameter values
    children: dict[str, dict[str, Any]] = field(default_factory=dict)  # nested stack logical id -> its template
    note: str = ""  # why root is None, as the user should read it


def stack_name(env: str) -> str:
    return f"{PROJECT}-{env}"


def nested_stacks(root: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The root's nested stack resources by logical id, in template order (the deploy order of LAYERS)."""
    return {k: v for k, v in (root.get("Resources") or {}).items() if v.get("Type") == STACK_TYPE}


def diff_environment(env: str, old: Snapshot, new: Snapshot, region: str, against: str) -> EnvironmentDiff:
    """The root's diff first, then each nested stack's (matched by logical id, not by TemplateURL)."""
    name = stack_name(env)
    old_root, new_root = old.root or {}, new.root or {}
    root = diff_templates(old_root, new_root, region, path=name, values=(old.values, new.values), note=old.note)
    root_causes = {k for k in dict.fromkeys([*old.values, *new.values]) if old.values.get(k) != new.values.get(k)}
    known = set(new_root.get("Parameters") or {})
    old_stacks, new_stacks = nested_stacks(old_root), nested_stacks(new_root)
    changed_outputs: set[tuple[str, str]] = set()
    children: list[StackDiff] = []
    for logical in dict.fromkeys([*new_stacks, *old_stacks]):
        causes = _inputs(old_stacks.get(logical), new_stacks.get(logical), root_causes, changed_outputs, known)
        note = ""
        if logical not in new_stacks:
            note = "the root no longer has this nested stack: every resource is a Remove"
        elif logical not in old.children and old.root is not None:
            note = "a new nested stack: every resource is an Add"
        child = diff_templates(old.children.get(logical) or {}, new.children.get(logical) or {}, region,
                               path=f"{name}/{logical}", causes=causes, note=note)  # fmt: skip
        changed_outputs |= {(logical, i.name) for i in child.items if i.section == "Outputs"}
        children.append(child)
    return EnvironmentDiff(env, against, (root, *children), note=old.note)


def _inputs(
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    root_causes: set[str],
    changed_outputs: set[tuple[str, str]],
    known: set[str],
) -> dict[str, bool]:
    """The child's parameters whose value changes, each with whether the new value is known before the deploy
    (a literal or a root parameter: True) or only during it (another stack's output: False)."""
    old_params = ((old or {}).get("Properties") or {}).get("Parameters") or {}
    new_params = ((new or {}).get("Properties") or {}).get("Parameters") or {}
    causes = {}
    for key, value in new_params.items():
        named = references(value)
        changed = old_params.get(key, MISSING) != value or bool(named & root_causes)
        if changed or any(o in changed_outputs for o in _outputs_read(value)):
            causes[key] = named <= known
    return causes


def _outputs_read(value: Any) -> list[tuple[str, str]]:
    """The (stack, output) pairs a value reads with GetAtt <Stack>.Outputs.<Name>."""
    if isinstance(value, dict):
        arg = value.get("Fn::GetAtt")
        if arg is not None:
            stack, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
            return [(stack, attribute.removeprefix("Outputs."))] if str(attribute).startswith("Outputs.") else []
        return [o for v in value.values() for o in _outputs_read(v)]
    if isinstance(value, list):
        return [o for v in value for o in _outputs_read(v)]
    return []


def changes(diff: EnvironmentDiff) -> list[Change]:
    """The diff as the deploy's Change rows, for guard.dangerous() and describe_danger() to judge and word.

    A create-only property makes a cause: "Always" when its new value is known, "Conditionally" when not
    (CloudFormation's RequiresRecreation words); a type change counts as a replacement of the old type.
    """
    found = []
    for stack in diff.stacks:
        for r in stack.resources:
            causes = tuple(
                (p.path.removeprefix("Properties."), "Always" if p.static else "Conditionally", p.cause)
                for p in r.properties
                if p.create_only
            )
            found.append(
                Change(stack.path, r.action, r.logical_id, r.old_type or r.resource_type, r.replacement, causes)
            )
    return found
