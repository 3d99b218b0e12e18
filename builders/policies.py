"""Protection of stateful resources against deletion and replacement.

One helper sets both policies together, so no stateful resource can end up
with DeletionPolicy but not UpdateReplacePolicy (a replacement would then
still destroy the old resource).
"""

from __future__ import annotations

from typing import Literal, TypeVar

from troposphere import AWSObject

R = TypeVar("R", bound=AWSObject)


def protect(resource: R, policy: Literal["Retain", "Snapshot"] = "Retain") -> R:
    """Keep the resource (or a final snapshot of it) when it is deleted or replaced."""
    resource.DeletionPolicy = policy
    resource.UpdateReplacePolicy = policy
    return resource
