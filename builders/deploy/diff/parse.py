"""Template and parameters.json texts as the diff compares them, from wherever they were read."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from builders.deploy.diff.environment import Snapshot, nested_stacks
from builders.errors import BuildError


def template(text: str, where: str) -> dict[str, Any]:
    """A template (YAML or JSON) with short-form tags expanded, as plain dicts and lists, as CloudFormation reads it.

    Plain, because both sides of a diff must compare equal when their text means the same, whichever parser's
    node types they came through.
    """
    from cfnlint.decode.decode import decode_str

    doc, errors = decode_str(text)
    if errors or not isinstance(doc, dict):
        detail = f": {errors[0].message}" if errors else ""
        raise BuildError(f"{where} is not a CloudFormation template{detail}; --diff cannot compare it")
    return json.loads(json.dumps(doc))


def values(text: str, where: str) -> dict[str, str]:
    """parameters.json's "Key=Value" strings as a mapping."""
    try:
        items = json.loads(text)
        return dict(item.split("=", 1) for item in items)
    except (ValueError, TypeError, AttributeError):
        raise BuildError(
            f'{where} is not a list of "Key=Value" strings (parameters.json); --diff cannot read it'
        ) from None


def snapshot(read: Callable[[str], str | None], where: Callable[[str], str], missing: str) -> Snapshot:
    """An environment from its files (root.yaml, the templates its TemplateURLs name, parameters.json).

    `read(name)` gives a file's text or None when it is not there; `where(name)` names it in errors; a
    missing root.yaml is an environment that does not exist there (`missing` says so).
    """
    root_text = read("root.yaml")
    if root_text is None:
        return Snapshot(None, note=missing)
    root = template(root_text, where("root.yaml"))
    params_text = read("parameters.json")
    given = values(params_text, where("parameters.json")) if params_text is not None else {}
    children = {}
    for logical, stack in nested_stacks(root).items():
        url = (stack.get("Properties") or {}).get("TemplateURL")
        text = read(url) if isinstance(url, str) else None
        if text is not None:
            children[logical] = template(text, where(url))
    return Snapshot(root, given, children)
