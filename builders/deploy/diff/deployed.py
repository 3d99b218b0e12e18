"""The deployed side of `--diff deployed`: the templates CloudFormation holds for the environment's stacks.

Read as they were given (TemplateStage Original), the root's parameters as
the stack has them, and each nested stack by the root's logical id for it:
the deployed root's TemplateURLs point at S3 copies, which the diff ignores.
Everything goes through Aws(Target), so the account check (STS) comes first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from builders.deploy.diff.environment import STACK_TYPE, Snapshot
from builders.deploy.diff.parse import template

if TYPE_CHECKING:
    from builders.config import EnvConfig


def environment(cfg: EnvConfig, opts: Any) -> Snapshot:
    """The environment as deployed (root None when its stack does not exist or holds nothing)."""
    from builders.deploy import run
    from builders.deploy.aws import aws_errors, describe_error
    from builders.errors import BuildError

    try:
        _, cf, name, stack = run.deployed_stack(cfg, opts)
        where = f"{name} in {opts.target.region}"
        if stack is None:
            return Snapshot(None, note=f"{where} does not exist: every resource is an Add")
        if stack["StackStatus"] in run.UNFINISHED:
            return Snapshot(None, note=f"{where} is {stack['StackStatus']} and holds nothing: every resource is an Add")
        root = _template(cf, stack["StackId"], name)
        values = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters") or []}
        children = {
            r["LogicalResourceId"]: _template(cf, r["PhysicalResourceId"], f"{name}/{r['LogicalResourceId']}")
            for r in _resources(cf, name)
            if r.get("ResourceType") == STACK_TYPE and r.get("PhysicalResourceId")
        }
    except aws_errors() as exc:
        raise BuildError(f"--diff deployed: {describe_error(exc)}") from None
    return Snapshot(root, values, children)


def _template(cf: Any, stack: str, shown: str) -> dict[str, Any]:
    body = cf.get_template(StackName=stack, TemplateStage="Original")["TemplateBody"]
    if isinstance(body, dict):  # botocore parses a JSON body itself
        import json

        return json.loads(json.dumps(body))
    return template(body, f"the deployed template of {shown}")


def _resources(cf: Any, name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in cf.get_paginator("list_stack_resources").paginate(StackName=name):
        found += page.get("StackResourceSummaries", [])
    return found
