"""Deleting an environment, and getting out of a delete that failed.

CloudFormation deletes what it can and stops at a resource it cannot delete
(a security group another group's rule still names, a bucket that is not
empty): the stack ends DELETE_FAILED and keeps the rest. There are two ways
out, and the failure report prints both as commands: remove the cause and
delete again (CloudFormation takes up where it stopped), or delete again
leaving those resources in AWS (`--retain`, CloudFormation's RetainResources,
which it accepts only for a stack in DELETE_FAILED and only for the stack's
own resources, so a resource of a nested stack is retained by deleting that
nested stack first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console

from builders.config import EnvConfig
from builders.deploy.follow import follow
from builders.deploy.run import Options, aws_guarded, confirm, deployed_stack, report_failure, service_role, stack_name
from builders.errors import BuildError


@dataclass(frozen=True)
class Stuck:
    """A resource whose delete failed: where it is and why."""

    path: str  # <root>/<Nested>/<LogicalId>, as the failure report prints it
    stack_id: str  # the stack that holds it (the root or a nested stack)
    stack_path: str
    logical_id: str
    resource_type: str
    physical_id: str
    reason: str


@aws_guarded
def delete(cfg: EnvConfig, opts: Options, console: Console) -> int:
    if cfg.production:
        name = stack_name(cfg.environment)
        raise BuildError(f"{name} is a production environment (production: true): build.py never deletes it")
    _, cf, name, stack = deployed_stack(cfg, opts)
    if stack is None:
        if opts.retain:
            raise BuildError(f"--retain: {name} is not deployed in {opts.target.region}, so nothing can be retained")
        console.print(f"{name}: not deployed, nothing to delete")
        return 0
    stuck: dict[str, Stuck] = {}
    if opts.retain:
        if stack["StackStatus"] != "DELETE_FAILED":
            raise BuildError(
                f"--retain is for a stack whose delete failed (DELETE_FAILED), and {name} is {stack['StackStatus']}: "
                f"delete it without --retain first (`python build.py {cfg.environment} --delete`)"
            )
        stuck = stuck_resources(cf, stack["StackId"], name)
        for wanted in opts.retain:
            if _full_path(wanted, name) not in stuck:
                allowed = ", ".join(sorted(stuck)) or "none"
                raise BuildError(
                    f"--retain {wanted}: not a resource of {name} whose delete failed. Those that failed: {allowed}"
                )
    kept = [stuck[_full_path(w, name)] for w in dict.fromkeys(opts.retain)]
    question = (
        f"delete {name}? Retained resources (buckets, the KMS key, log groups, a final Aurora snapshot) stay behind"
        + "".join(f"; {k.path} ({k.physical_id}) stays too" for k in kept)
    )
    if not confirm(question, opts):
        why = "not confirmed" if opts.interactive else "no terminal to ask on and no --yes"
        raise BuildError(f"{why}: {name} was not deleted")
    if stack["StackStatus"] == "DELETE_FAILED" and not kept:
        console.print(f"{name} is DELETE_FAILED: deleting again what is left")
    by_stack: dict[str, list[Stuck]] = {}
    for k in kept:
        by_stack.setdefault(k.stack_id, []).append(k)
    for stack_id, resources in by_stack.items():  # nested stacks first: the root can only retain its own
        if stack_id == stack["StackId"]:
            continue
        console.print(f"deleting {resources[0].stack_path} without {', '.join(r.logical_id for r in resources)}")
        if not _delete_one(cf, stack_id, resources[0].stack_path, [r.logical_id for r in resources], opts, console):
            return 1
    own = [r.logical_id for r in by_stack.get(stack["StackId"], [])]
    if not _delete_one(cf, stack["StackId"], name, own, opts, console):
        return 1
    console.print(f"{name}: deleted")
    for k in kept:
        console.print(f"  kept in AWS: {k.path} {k.resource_type} {k.physical_id}; delete it by hand when it can go")
    return 0


def _delete_one(cf: Any, stack_id: str, path: str, retain: list[str], opts: Options, console: Console) -> bool:
    since = _after_last_event(cf, stack_id)
    cf.delete_stack(StackName=stack_id, **({"RetainResources": retain} if retain else {}), **service_role(opts))
    outcome = follow(cf, stack_id, since=since, total=0, console=console, interactive=opts.interactive, path=path)
    if outcome.status == "DELETE_COMPLETE":
        return True
    report_failure(console, path, outcome)
    env = path.split("/")[0].removeprefix("nlsql-")
    for line in ways_out(env, [_stuck_from(event) for event in outcome.failures]):
        console.print(line, highlight=False, markup=False)
    return False


def _after_last_event(cf: Any, stack_id: str) -> datetime:
    """Where this delete's events start: after the stack's newest event (a delete retried seconds after the last
    one must not report that one's failures as its own), and no earlier than a few seconds ago (clock skew)."""
    events = cf.describe_stack_events(StackName=stack_id).get("StackEvents", [])
    floor = datetime.now(UTC) - timedelta(seconds=5)
    return max([floor] + [e["Timestamp"] + timedelta(microseconds=1) for e in events[:1]])


def _stuck_from(event: dict[str, Any]) -> Stuck:
    return Stuck(
        path=f"{event['StackPath']}/{event['LogicalResourceId']}",
        stack_id=event.get("StackId", ""),
        stack_path=event["StackPath"],
        logical_id=event["LogicalResourceId"],
        resource_type=event.get("ResourceType", ""),
        physical_id=event.get("PhysicalResourceId", ""),
        reason=str(event.get("ResourceStatusReason", "")),
    )


def ways_out(env: str, failed: list[Stuck]) -> list[str]:
    """The two ways out of a DELETE_FAILED, as commands, with a first step for the causes we know."""
    failed = [f for f in failed if f.resource_type != "AWS::CloudFormation::Stack"]
    if not failed:
        return []
    lines = ["The way out, either:"]
    lines.append(f"  1. remove what still holds them, then delete again: python build.py {env} --delete")
    for f in failed:
        group = re.search(r"resource (sg-[0-9a-f]+) has a dependent object", f.reason)
        if group:
            lines.append(
                f"     {f.path}: find the rules in other security groups that name {group[1]}: aws ec2 "
                f"describe-security-groups --filters Name=ip-permission.group-id,Values={group[1]}; and the "
                f"network interfaces that use it: aws ec2 describe-network-interfaces --filters "
                f"Name=group-id,Values={group[1]}"
            )
        elif "not empty" in f.reason and f.resource_type == "AWS::S3::Bucket":
            what = f"aws s3 ls s3://{f.physical_id} --recursive --summarize"
            lines.append(f"     {f.path}: look at what it holds ({what}), copy what must be kept, then empty it")
        elif "has dependencies" in f.reason:
            lines.append(f"     {f.path}: something made outside the stack is still in {f.physical_id}")
    retain = " ".join(f"--retain {f.path}" for f in failed)
    lines.append(
        f"  2. delete the rest and leave them in AWS (you delete them by hand later): "
        f"python build.py {env} --delete {retain}"
    )
    return lines


def _full_path(wanted: str, root: str) -> str:
    """`Network/AlbSecurityGroup` or `nlsql-dev/Network/AlbSecurityGroup`: the failure report's path."""
    wanted = wanted.strip("/")
    return wanted if wanted.split("/")[0] == root else f"{root}/{wanted}"


def stuck_resources(cf: Any, root_id: str, root: str) -> dict[str, Stuck]:
    """Every resource, in the root and its nested stacks, whose latest event is DELETE_FAILED."""
    found: dict[str, Stuck] = {}
    stacks = [(root_id, root)]
    while stacks:
        stack_id, path = stacks.pop(0)
        latest: dict[str, dict[str, Any]] = {}
        for page in cf.get_paginator("describe_stack_events").paginate(StackName=stack_id):
            for event in page["StackEvents"]:  # newest first
                latest.setdefault(event["LogicalResourceId"], event)
        for logical_id, event in latest.items():
            physical = event.get("PhysicalResourceId", "")
            if event.get("ResourceType") == "AWS::CloudFormation::Stack":
                if physical and physical != stack_id and event["ResourceStatus"] == "DELETE_FAILED":
                    stacks.append((physical, f"{path}/{logical_id}"))
            elif event["ResourceStatus"] == "DELETE_FAILED":
                stuck = _stuck_from({**event, "StackPath": path, "StackId": stack_id})
                found[stuck.path] = stuck
    return found
