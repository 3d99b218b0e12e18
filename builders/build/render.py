"""Templates to bytes: YAML in a fixed, reviewable order with short-form intrinsics.

Written here rather than through troposphere's `to_yaml()` (cfn-flip) for two
reasons: cfn-flip sorts every key alphabetically, which puts `Outputs`
above `Resources` and `Properties` above `Type`, and it is the slowest step
of a build. Here the top level and each resource follow the order of the
CloudFormation docs, properties keep the order the builder wrote them in,
and PyYAML's C emitter does the writing when it is installed.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from troposphere import Template

try:
    _Base = yaml.CSafeDumper
except AttributeError:  # PyYAML built without libyaml
    _Base = yaml.SafeDumper  # type: ignore[misc]

TOP_ORDER = (
    "AWSTemplateFormatVersion",
    "Description",
    "Metadata",
    "Parameters",
    "Mappings",
    "Conditions",
    "Resources",
    "Outputs",
)
RESOURCE_ORDER = ("Type", "Condition", "DependsOn", "DeletionPolicy", "UpdateReplacePolicy", "Metadata", "Properties")

# Intrinsic functions written in their short form (!Ref, !GetAtt, !Sub, ...).
_SHORT = {
    "Ref": "!Ref",
    "Fn::Base64": "!Base64",
    "Fn::Cidr": "!Cidr",
    "Fn::FindInMap": "!FindInMap",
    "Fn::GetAZs": "!GetAZs",
    "Fn::ImportValue": "!ImportValue",
    "Fn::Join": "!Join",
    "Fn::Select": "!Select",
    "Fn::Split": "!Split",
    "Fn::Sub": "!Sub",
    "Fn::If": "!If",
    "Fn::Equals": "!Equals",
    "Fn::And": "!And",
    "Fn::Or": "!Or",
    "Fn::Not": "!Not",
    "Condition": "!Condition",
}


class _Tagged:
    """A value to be written with a YAML tag."""

    __slots__ = ("tag", "value")

    def __init__(self, tag: str, value: Any):
        self.tag = tag
        self.value = value


class _Dumper(_Base):  # type: ignore[misc, valid-type]
    pass


def _represent_tagged(dumper: yaml.SafeDumper, data: _Tagged) -> yaml.Node:
    if isinstance(data.value, list):
        return dumper.represent_sequence(data.tag, data.value)
    if isinstance(data.value, dict):
        return dumper.represent_mapping(data.tag, data.value)
    text = str(data.value)
    return dumper.represent_scalar(data.tag, text, style="'" if text == "" else None)


def _represent_dict(dumper: yaml.SafeDumper, data: dict[str, Any]) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items())  # keep insertion order


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    """Text of several lines (inline Lambda code, saved queries, the dashboard body) as a literal block, so a
    review diff shows the lines that changed, not one long escaped line. PyYAML falls back to a quoted style
    where a block cannot hold the text exactly (trailing spaces, control characters)."""
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(_Tagged, _represent_tagged)
_Dumper.add_representer(dict, _represent_dict)
_Dumper.add_representer(str, _represent_str)


def _short(value: Any) -> Any:
    """Turn long-form intrinsics into tagged values, recursively."""
    if isinstance(value, list):
        return [_short(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Fn::GetAtt" and isinstance(arg, list) and len(arg) == 2 and all(isinstance(a, str) for a in arg):
            return _Tagged("!GetAtt", f"{arg[0]}.{arg[1]}")
        if fn in _SHORT and not (fn == "Condition" and not isinstance(arg, str)):
            inner = _short(arg)
            if isinstance(inner, _Tagged) and not isinstance(inner.value, (list, dict)):
                # YAML allows one tag per node: `!GetAZs !Ref X` is not valid, so the outer stays long.
                return {fn: inner}
            return _Tagged(_SHORT[fn], inner)
    return {k: _short(v) for k, v in value.items()}


def _ordered(mapping: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    head = {k: mapping[k] for k in order if k in mapping}
    return head | {k: v for k, v in mapping.items() if k not in head}


def template_dict(t: Template) -> dict[str, Any]:
    """The template as a plain dict in canonical order, long-form intrinsics."""
    t.set_version("2010-09-09")
    doc = _ordered(t.to_dict(), TOP_ORDER)
    doc["Resources"] = {name: _ordered(res, RESOURCE_ORDER) for name, res in doc.get("Resources", {}).items()}
    return doc


def to_yaml(doc: dict[str, Any]) -> str:
    """A template_dict() as YAML text; the same template always gives the same text."""
    return yaml.dump(
        _short(doc),
        Dumper=_Dumper,
        default_flow_style=False,
        allow_unicode=True,
        sort_keys=False,
        width=10_000,
        indent=2,
    )


def to_json(value: Any) -> str:
    """Stable JSON with a trailing newline, for files that sit beside the templates."""
    return json.dumps(value, indent=2) + "\n"
