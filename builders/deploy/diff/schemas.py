"""Which properties of a resource type cannot change in place, from the registry schemas cfn-lint ships.

The schemas are the ones CloudFormation itself publishes (createOnlyProperties),
per region, so the prediction uses the same list AWS does, for the region the
environment deploys to. A type without a schema (Custom::*, a type cfn-lint
does not know) has none: its property changes are updates, as they are for
a custom resource.
"""

from __future__ import annotations

import functools

Segments = tuple[str, ...]  # a path under Properties: ("VpcConfig", "SubnetIds"); "*" is any list index


@functools.cache
def create_only(resource_type: str, region: str) -> frozenset[Segments]:
    """The type's create-only property paths, split into segments (empty for a type with no schema)."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    try:
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(region, resource_type).schema
    except Exception:  # noqa: BLE001 - cfn-lint raises its own errors for an unknown type or region
        return frozenset()
    prefix = "/properties/"
    paths = schema.get("createOnlyProperties") or []
    return frozenset(tuple(p.removeprefix(prefix).split("/")) for p in paths if p.startswith(prefix))


def touches_create_only(path: tuple[str | int, ...], paths: frozenset[Segments]) -> bool:
    """Whether a changed leaf at `path` (under Properties) changes a create-only property.

    It does when it lies inside one (VpcConfig.SubnetIds[1] inside
    VpcConfig/SubnetIds) or contains one (a whole VpcConfig added or removed
    changes its SubnetIds).
    """
    return any(_related(path, wanted) for wanted in paths)


def _related(path: tuple[str | int, ...], wanted: Segments) -> bool:
    for have, want in zip(path, wanted, strict=False):
        if want == "*" and isinstance(have, int):
            continue
        if str(have) != want:
            return False
    return True
