"""One stack's diff: two templates (long-form intrinsics, as parsed) in, rows of changes and verdicts out.

The verdict follows the rules CloudFormation applies when it makes a change
set, so that a reviewer reading a pull request sees what --plan would say:
a changed create-only property replaces the resource when its new value is
known before the deploy (Static), and may replace it when it is known only
during the deploy (Dynamic: a Ref or GetAtt of a resource or parameter).
A leaf whose text did not change but that names something that does (a
parameter whose value changed, a resource being replaced) changes too, and
each resource referring to a replaced one is changed in turn.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from builders.deploy.diff import model, schemas
from builders.deploy.diff.model import IN_PLACE, MAY_REPLACE, WILL_REPLACE, ItemChange, PropertyChange, ResourceChange

PSEUDO = frozenset(
    {"AWS::AccountId", "AWS::Region", "AWS::Partition", "AWS::URLSuffix", "AWS::StackName", "AWS::StackId",
     "AWS::NoValue", "AWS::NotificationARNs"}
)  # fmt: skip
SECTIONS = ("Parameters", "Outputs", "Conditions")
# A nested stack's TemplateURL says where its template was read from (a file here, an S3 copy once deployed); its
# template is compared in its own right, so the URL is no change.
IGNORED = {"AWS::CloudFormation::Stack": {"TemplateURL"}}


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()
Path = tuple[str | int, ...]


def diff_templates(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    region: str,
    *,
    path: str = "",
    causes: Mapping[str, bool] | None = None,
    values: tuple[Mapping[str, str], Mapping[str, str]] | None = None,
    note: str = "",
) -> model.StackDiff:
    """What changes from `old` to `new` ({} for a stack that does not exist on that side).

    `causes`: parameters whose value changes though their text may not (name -> whether the new value is known
    before the deploy); `values`: the old and new parameter values given to the stack (a root's
    parameters.json), shown and made causes where they differ. `region` picks the resource schemas.
    """
    found = dict(causes or {})
    old_values, new_values = values or ({}, {})
    found |= {k: True for k in dict.fromkeys([*old_values, *new_values]) if old_values.get(k) != new_values.get(k)}
    old_res, new_res = dict(old.get("Resources") or {}), dict(new.get("Resources") or {})
    while True:
        names = dict.fromkeys([*new_res, *old_res])
        rows = [r for n in names if (r := _resource(n, old_res.get(n), new_res.get(n), region, found)) is not None]
        # The replacement gets a new id, known only during the deploy: what refers to it changes (Dynamic).
        replaced = {r.logical_id for r in rows if r.verdict in {WILL_REPLACE, MAY_REPLACE}} - set(found)
        if not replaced:
            break
        found |= dict.fromkeys(replaced, False)
    items = [
        item
        for section in SECTIONS
        for item in _items(
            section,
            old.get(section) or {},
            new.get(section) or {},
            found,
            (old_values, new_values) if section == "Parameters" else None,
        )
    ]
    return model.StackDiff(path=path, resources=tuple(rows), items=tuple(items), note=note)


def references(value: Any) -> set[str]:
    """The parameters and resources a value names (Ref, GetAtt, Sub), pseudo parameters left out."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg[0] if isinstance(arg, list) else str(arg).split(".", 1)[0])
                found |= references(arg[1:] if isinstance(arg, list) else [])
            elif key == "Fn::Sub":
                text, names = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1] if len(arg) > 1 else {})
                found |= {n.split(".", 1)[0] for n in re.findall(r"\$\{([^}!][^}]*)\}", text)} - set(names)
                found |= references(names)
            else:
                found |= references(arg)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found - PSEUDO


def is_static(value: Any) -> bool:
    """Whether a value is known before the deploy: literals and pseudo parameters only (no Ref or GetAtt of a
    resource or parameter, no import, no {{resolve:...}} dynamic reference)."""
    return not references(value) and not _resolved_late(value)


def compact(value: Any) -> str | None:
    """A value as one line of JSON, None for an absent one."""
    if value is MISSING:
        return None
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _resolved_late(value: Any) -> bool:
    if isinstance(value, str):
        return "{{resolve:" in value
    if isinstance(value, dict):
        return "Fn::ImportValue" in value or any(_resolved_late(v) for v in value.values())
    if isinstance(value, list):
        return any(_resolved_late(v) for v in value)
    return False


def _resource(
    name: str, old: dict[str, Any] | None, new: dict[str, Any] | None, region: str, causes: Mapping[str, bool]
) -> ResourceChange | None:
    if old is None or new is None:
        kind = (new or old or {}).get("Type", "")
        return ResourceChange(name, kind, "Add" if old is None else "Remove")
    kind, old_kind = new.get("Type", ""), old.get("Type", "")
    changes: list[PropertyChange] = []
    if kind != old_kind:
        changes.append(PropertyChange("Type", compact(old_kind), compact(kind), create_only=True))
    for key in dict.fromkeys([*old, *new]):
        if key not in {"Type", "Properties"} and old.get(key, MISSING) != new.get(key, MISSING):
            changes.append(PropertyChange(key, compact(old.get(key, MISSING)), compact(new.get(key, MISSING))))
    ignored = IGNORED.get(kind, set())
    old_props = {k: v for k, v in (old.get("Properties") or {}).items() if k not in ignored}
    new_props = {k: v for k, v in (new.get("Properties") or {}).items() if k not in ignored}
    create_only = schemas.create_only(kind, region)
    for at, before, after in _pairs(old_props, new_props, ()):
        change = _leaf(_dotted("Properties", at), before, after, causes)
        if change is not None:
            wanted = schemas.touches_create_only(at, create_only)
            changes.append(PropertyChange(change.path, change.old, change.new, wanted, change.static, change.cause))
    if not changes:
        return None
    if kind != old_kind or any(c.create_only and c.static for c in changes):
        verdict = WILL_REPLACE
    else:
        verdict = MAY_REPLACE if any(c.create_only for c in changes) else IN_PLACE
    return ResourceChange(name, kind, "Modify", verdict, tuple(changes), old_kind if kind != old_kind else "")


def _leaf(path: str, before: Any, after: Any, causes: Mapping[str, bool]) -> PropertyChange | None:
    """The change at one leaf: its text changed, or it names a cause; None when neither."""
    if before != after:
        return PropertyChange(path, compact(before), compact(after), static=after is MISSING or is_static(after))
    named = sorted(references(after) & set(causes))
    if not named:
        return None
    # A cause whose new value is known (a parameter value given) makes the change certain; otherwise it may be.
    static = any(causes[n] for n in named)
    return PropertyChange(path, compact(before), compact(after), static=static, cause=", ".join(named))


def _items(
    section: str,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    causes: Mapping[str, bool],
    values: tuple[Mapping[str, str], Mapping[str, str]] | None,
) -> Iterator[ItemChange]:
    old_values, new_values = values or ({}, {})
    for name in dict.fromkeys([*new, *old, *new_values, *old_values]):
        before, after = old.get(name, MISSING), new.get(name, MISSING)
        changes = [c for at, b, a in _pairs(before, after, ()) if (c := _leaf(_dotted("", at) or name, b, a, causes))]
        if before is MISSING or after is MISSING:
            changes = []  # the whole entry comes or goes: its value (below) is the one detail worth a line
        if old_values.get(name) != new_values.get(name):
            old_value, new_value = old_values.get(name, MISSING), new_values.get(name, MISSING)
            changes.append(PropertyChange("Value", compact(old_value), compact(new_value)))
        if before is MISSING and after is MISSING:
            continue  # a value for a parameter neither template has: nothing CloudFormation would take
        action = "Add" if before is MISSING else "Remove" if after is MISSING else "Modify"
        if action != "Modify" or changes:
            yield ItemChange(section, name, action, tuple(changes))


def _pairs(old: Any, new: Any, at: Path) -> Iterator[tuple[Path, Any, Any]]:
    """Every leaf of `new` and `old` side by side (equal ones too: they may name a cause); an intrinsic function
    is one leaf, so a changed Ref is one line, not a change inside it."""
    if _plain(old, dict) and _plain(new, dict):
        for key in dict.fromkeys([*old, *new]):
            yield from _pairs(old.get(key, MISSING), new.get(key, MISSING), (*at, key))
    elif isinstance(old, list) and isinstance(new, list):
        for i in range(max(len(old), len(new))):
            yield from _pairs(old[i] if i < len(old) else MISSING, new[i] if i < len(new) else MISSING, (*at, i))
    else:
        yield at, old, new


def _plain(value: Any, kind: type) -> bool:
    """A dict or list to look inside of; an intrinsic function ({"Ref": ...}, {"Fn::...": ...}) is not."""
    if not isinstance(value, kind):
        return False
    if isinstance(value, dict) and len(value) == 1:
        key = str(next(iter(value)))
        return key not in {"Ref", "Condition"} and not key.startswith("Fn::")
    return True


def _dotted(head: str, at: Path) -> str:
    text = head
    for part in at:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
