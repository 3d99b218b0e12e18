"""The one tagging helper.

Every taggable resource carries the seed's tags in the template itself, not
only through stack tags (which a resource created outside a deploy of this
stack would miss). A fresh `Tags` is returned on every call because
troposphere's `Tags.__add__` mutates its left operand: a shared module-level
tag set would be changed behind every other resource's back.
"""

from __future__ import annotations

from typing import Literal

from troposphere import Tags

from builders.naming import PROJECT, Scope

Module = Literal["root", "network", "storage", "database", "compute", "monitoring", "bootstrap", "github", "stacksets"]
MANAGED_BY = "cloudformation"


def tag_dict(cfg: Scope, module: Module) -> dict[str, str]:
    """The four required tags as a plain mapping (also used for stack-level tags on deploy)."""
    return {"Project": PROJECT, "Environment": cfg.environment, "ManagedBy": MANAGED_BY, "Module": module}


def tags(cfg: Scope, module: Module, name: str | None = None) -> Tags:
    """A new Tags with the required four, plus a Name tag when the resource has a display name."""
    values = tag_dict(cfg, module)
    if name is not None:
        values["Name"] = name
    return Tags(values)
