"""The diff as data: what changes in each stack of an environment, resource by resource and property by property.

Plain frozen dataclasses with no behaviour beyond counting, so a renderer
(terminal, Markdown) or another command (--drift) reads them without
recomputing anything.
"""

from __future__ import annotations

from dataclasses import dataclass

WILL_REPLACE = "will replace"
MAY_REPLACE = "may replace"
IN_PLACE = "in place"
# The guard's (and CloudFormation's) words for the same verdicts: Change.replacement.
REPLACEMENT = {WILL_REPLACE: "True", MAY_REPLACE: "Conditional", IN_PLACE: "False"}


@dataclass(frozen=True)
class PropertyChange:
    """One changed leaf of a resource (or of a parameter, output or condition).

    `old`/`new` are compact JSON, None where the leaf is absent on that side. A
    leaf whose text is the same but that names something changing (`cause`: a
    parameter whose value changed, a resource being replaced) is listed too,
    because CloudFormation updates it all the same.
    """

    path: str  # Properties.VpcConfig.SubnetIds[1], DeletionPolicy, Type, Value ...
    old: str | None
    new: str | None
    create_only: bool = False  # the type's schema lists it (or a part of it) as createOnlyProperties
    static: bool = True  # the new value is known before the deploy (a literal, pseudo parameters, known values)
    cause: str = ""  # the parameter or resource this leaf changes through, when its own text did not change


@dataclass(frozen=True)
class ResourceChange:
    logical_id: str
    resource_type: str  # the new type (the old one for a Remove)
    action: str  # Add | Remove | Modify
    verdict: str = ""  # will replace | may replace | in place (Modify only)
    properties: tuple[PropertyChange, ...] = ()
    old_type: str = ""  # set when the type changed (a replacement)

    @property
    def replacement(self) -> str:
        """CloudFormation's word for the verdict (True | Conditional | False), "" when not a Modify."""
        return REPLACEMENT.get(self.verdict, "")


@dataclass(frozen=True)
class ItemChange:
    """A changed entry of a template's Parameters (definition or value), Outputs or Conditions."""

    section: str  # Parameters | Outputs | Conditions
    name: str
    action: str  # Add | Remove | Modify
    properties: tuple[PropertyChange, ...] = ()


@dataclass(frozen=True)
class StackDiff:
    """One stack's changes: the root (path nlsql-<env>) or a nested one (nlsql-<env>/<LogicalId>)."""

    path: str
    resources: tuple[ResourceChange, ...] = ()
    items: tuple[ItemChange, ...] = ()
    note: str = ""  # e.g. that the stack does not exist on the old side

    @property
    def empty(self) -> bool:
        return not self.resources and not self.items


@dataclass(frozen=True)
class EnvironmentDiff:
    """Every stack of one environment, root first, then the nested stacks in deploy order."""

    env: str
    against: str  # what the build is compared with, as the user should read it: "HEAD (1a2b3c4)", "deployed"
    stacks: tuple[StackDiff, ...] = ()
    note: str = ""

    @property
    def empty(self) -> bool:
        return all(s.empty for s in self.stacks)
