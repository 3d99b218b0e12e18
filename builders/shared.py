"""Resource constructors that several stacks use the same way.

A role with one inline policy and a retained log group appear in the
network, database and compute stacks; making them here keeps their tags,
protection and naming identical everywhere.
"""

from __future__ import annotations

from awacs.aws import Policy, PolicyDocument
from troposphere import iam, logs

from builders.config import EnvConfig
from builders.naming import name
from builders.policies import protect
from builders.tags import Module, tags


def role(
    title: str,
    cfg: EnvConfig,
    module: Module,
    label: str,
    purpose: str,
    trust: Policy,
    policy: PolicyDocument | None = None,
) -> iam.Role:
    """An IAM role for one service principal, with at most one inline policy named after its label."""
    grants = {"Policies": [iam.Policy(PolicyName=label, PolicyDocument=policy)]} if policy is not None else {}
    return iam.Role(
        title,
        Description=f"{name(cfg, label)}: {purpose}",
        AssumeRolePolicyDocument=trust,
        Tags=tags(cfg, module, name(cfg, label)),
        **grants,
    )


def log_group(title: str, cfg: EnvConfig, module: Module, label: str, days: int) -> logs.LogGroup:
    """A retained log group with a generated name (a fixed name would block re-creating the stack)."""
    return protect(logs.LogGroup(title, RetentionInDays=days, Tags=tags(cfg, module, name(cfg, label))))
