"""Reading the generated templates back: what the docs and diagrams are drawn from.

The README's tables and the architecture diagrams describe what a deploy
would create, so they read the rendered template dicts (long-form
intrinsics, as `Artifact.doc` holds them) instead of the params files: a
builder change that the params do not show (a new rule, a renamed output)
shows up in the docs too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from builders import network
from builders.build.pipeline import PARAMETERS_FILE, Artifact
from builders.subnets import TIERS, Tier

Doc = dict[str, Any]


def resources(doc: Doc, type_: str) -> dict[str, Doc]:
    """The resources of one type, by logical id, in template order."""
    return {k: v for k, v in doc.get("Resources", {}).items() if v["Type"] == type_}


def props(resource: Doc) -> Doc:
    return resource.get("Properties", {})


def ref(value: Any) -> str | None:
    """The logical id (or parameter) a Ref or GetAtt points at, or None for anything else."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            att = value["Fn::GetAtt"]
            return att[0] if isinstance(att, list) else att.split(".")[0]
    return None


def az_index(value: Any) -> int | None:
    """The AZ index of `!Select [i, !GetAZs ""]`, the only way the builders name an AZ."""
    if isinstance(value, dict) and "Fn::Select" in value:
        index, source = value["Fn::Select"]
        if isinstance(source, dict) and "Fn::GetAZs" in source:
            return int(index)
    return None


def service_suffix(endpoint: Doc) -> str:
    """'ecr.api' from a VPC endpoint's ServiceName com.amazonaws.${AWS::Region}.ecr.api."""
    service = endpoint["ServiceName"]
    text = service["Fn::Sub"] if isinstance(service, dict) else service
    return text.split("${AWS::Region}.", 1)[-1]


@dataclass(frozen=True)
class Subnet:
    logical_id: str
    tier: Tier
    az: int
    cidr: str


@dataclass(frozen=True)
class Stacks:
    """One environment's generated templates, by module (network, storage, database, compute, root)."""

    env: str
    region: str
    docs: dict[str, Doc]
    parameters: dict[str, str]  # the root's parameter values, from parameters.json

    def __getitem__(self, module: str) -> Doc:
        return self.docs[module]

    def subnets(self) -> list[Subnet]:
        """Every subnet, tier by tier in AZ order, as the network stack's subnet-id outputs list them."""
        net = self.docs["network"]
        found = []
        for tier in TIERS:
            output = net["Outputs"][network.OUT_SUBNET_IDS[tier]]["Value"]
            for item in output["Fn::Join"][1]:
                subnet_id = ref(item)
                assert subnet_id is not None, output
                p = props(net["Resources"][subnet_id])
                found.append(Subnet(subnet_id, tier, az_index(p["AvailabilityZone"]) or 0, p["CidrBlock"]))
        return found


def by_env(artifacts: Iterable[Artifact]) -> dict[str, Stacks]:
    """Each environment's Stacks, in the order the artifacts came in; account-wide files (no env) are left out."""
    grouped: dict[str, list[Artifact]] = {}
    for artifact in artifacts:
        if artifact.env:
            grouped.setdefault(artifact.env, []).append(artifact)
    stacks = {}
    for env, items in grouped.items():
        docs = {a.filename.removesuffix(".yaml"): a.doc for a in items if a.doc is not None}
        values = next((json.loads(a.text) for a in items if a.filename == PARAMETERS_FILE), [])
        parameters = dict(v.split("=", 1) for v in values)
        stacks[env] = Stacks(env, items[0].region, docs, parameters)
    return stacks
