"""Change sets: create (nested stacks included), wait, read every change recursively, delete.

A change set is the only way this project changes a stack, so what the
preview shows is exactly what executing will do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from builders.errors import BuildError

# What CloudFormation says when a change set would change nothing.
NO_CHANGE_REASONS = ("didn't contain changes", "No updates are to be performed")
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]


@dataclass(frozen=True)
class Change:
    """One resource change, in the stack (root or nested, by path) where it happens."""

    stack: str
    action: str  # Add | Modify | Remove | Import | Dynamic
    logical_id: str
    resource_type: str
    replacement: str = ""  # True | Conditional | False ("" when not a Modify)
    # The properties that cause a replacement: (property, RequiresRecreation, causing entity)
    causes: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class ChangeSet:
    """A described change set and all the changes under it, nested stacks included."""

    id: str
    name: str
    stack_name: str
    stack_id: str
    kind: str  # CREATE | UPDATE
    status: str
    reason: str
    changes: tuple[Change, ...] = field(default_factory=tuple)
    # Nested change sets under this one, at any depth: (stack path, change set id, status, reason).
    nested: tuple[tuple[str, str, str, str], ...] = field(default_factory=tuple)
    # Its RollbackConfiguration as CloudFormation keeps it (rollback triggers, monitoring minutes); {} for none.
    rollback: dict[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.status == "FAILED" and _no_change(self.reason)

    @property
    def nested_failures(self) -> list[tuple[str, str]]:
        """(stack path, reason) of each nested change set that failed for a reason other than 'no changes'."""
        failed = [(path, status, reason) for path, _, status, reason in self.nested if status == "FAILED"]
        return [(path, reason) for path, _, reason in failed if not _no_change(reason)]

    @property
    def nested_empty(self) -> list[str]:
        """The ids of nested change sets that FAILED only because their stack has no changes: clutter to delete."""
        return [cs_id for _, cs_id, status, reason in self.nested if status == "FAILED" and _no_change(reason)]


def _no_change(reason: str) -> bool:
    return any(r in reason for r in NO_CHANGE_REASONS)


def create(
    cf: Any,
    *,
    stack_name: str,
    name: str,
    kind: str,
    template: dict[str, str],
    parameters: dict[str, str],
    tags: dict[str, str],
    description: str,
    role_arn: str | None = None,
    rollback: dict[str, Any] | None = None,
) -> str:
    """Create the change set (TemplateBody or TemplateURL in `template`); returns its id.

    `rollback`: the RollbackConfiguration (triggers.Triggers.configuration) that executing it is watched by.
    """
    response = cf.create_change_set(
        StackName=stack_name,
        ChangeSetName=name,
        ChangeSetType=kind,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=CAPABILITIES,
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        IncludeNestedStacks=True,
        Description=description[:1024],
        **({"RoleARN": role_arn} if role_arn else {}),
        **({"RollbackConfiguration": rollback} if rollback else {}),
        **template,
    )
    return response["Id"]


class ChangeSetTimeout(BuildError):
    """A change set CloudFormation is still computing when we stop waiting: a clear error, not a traceback."""


def wait(
    cf: Any,
    change_set_id: str,
    *,
    timeout: float = 900,
    poll: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Until CloudFormation has finished computing the change set (or failed to)."""
    deadline = clock() + timeout
    while True:
        status = cf.describe_change_set(ChangeSetName=change_set_id)["Status"]
        if status not in {"CREATE_PENDING", "CREATE_IN_PROGRESS"}:
            return
        if clock() > deadline:
            raise ChangeSetTimeout(
                f"change set {change_set_id} is still {status} after {timeout:.0f}s; CloudFormation may still "
                f"finish it: look with `aws cloudformation describe-change-set --change-set-name {change_set_id}`, "
                "then deploy again (an unfinished one is replaced)"
            )
        sleep(poll)


def describe(cf: Any, change_set_id: str, stack_path: str | None = None, stack_name: str | None = None) -> ChangeSet:
    """The change set with every change, recursing into the nested change sets of nested stacks.

    `change_set_id` is an ARN, or a name together with `stack_name`.
    """
    pages = []
    token = None
    scope = {"StackName": stack_name} if stack_name else {}
    while True:
        page = cf.describe_change_set(ChangeSetName=change_set_id, **scope, **({"NextToken": token} if token else {}))
        pages.append(page)
        token = page.get("NextToken")
        if not token:
            break
    head = pages[0]
    path = stack_path or head["StackName"]
    changes: list[Change] = []
    nested_sets: list[tuple[str, str, str, str]] = []
    for page in pages:
        for item in page.get("Changes", []):
            rc = item.get("ResourceChange", {})
            changes.append(_change(path, rc))
            nested = rc.get("ChangeSetId")
            if rc.get("ResourceType") == "AWS::CloudFormation::Stack" and nested:
                child_path = f"{path}/{rc['LogicalResourceId']}"
                child = describe(cf, nested, child_path)
                changes += child.changes
                nested_sets += [(child_path, child.id, child.status, child.reason), *child.nested]
    return ChangeSet(
        id=head.get("ChangeSetId", change_set_id),
        name=head.get("ChangeSetName", ""),
        stack_name=head["StackName"],
        stack_id=head.get("StackId", ""),
        kind=head.get("ChangeSetType", ""),  # not in every response shape; the caller knows it anyway
        status=head["Status"],
        reason=head.get("StatusReason", ""),
        changes=tuple(changes),
        nested=tuple(nested_sets),
        rollback=dict(head.get("RollbackConfiguration") or {}),
    )


def _change(path: str, rc: dict[str, Any]) -> Change:
    causes = tuple(
        (
            d.get("Target", {}).get("Name") or d.get("Target", {}).get("Attribute", ""),
            d.get("Target", {}).get("RequiresRecreation", ""),
            d.get("CausingEntity") or d.get("ChangeSource", ""),
        )
        for d in rc.get("Details", [])
        if d.get("Target", {}).get("RequiresRecreation") in {"Always", "Conditionally"}
    )
    return Change(
        stack=path,
        action=rc.get("Action", ""),
        logical_id=rc.get("LogicalResourceId", ""),
        resource_type=rc.get("ResourceType", ""),
        replacement=rc.get("Replacement", "") if rc.get("Action") == "Modify" else "",
        causes=causes,
    )


def delete(cf: Any, change_set_id: str) -> None:
    cf.delete_change_set(ChangeSetName=change_set_id)


def validation_failures(cf: Any, change_set_id: str) -> list[str]:
    """What CloudFormation's pre-deployment validation recorded against the change set (DescribeEvents).

    Empty where the API is not there (an older endpoint, a local AWS without it) or says nothing: the
    change set's own reason is printed either way.
    """
    found: list[str] = []
    token = None
    try:
        while True:
            page = cf.describe_events(ChangeSetName=change_set_id, **({"NextToken": token} if token else {}))
            for event in page.get("OperationEvents", []):
                if event.get("ValidationStatus") == "FAILED" or event.get("EventType") == "VALIDATION_ERROR":
                    logical, at = event.get("LogicalResourceId", ""), event.get("ValidationPath", "")
                    where = logical + (at if not at or at.startswith("/") else f"/{at}")
                    what = event.get("ValidationStatusReason") or event.get("ResourceStatusReason") or ""
                    found.append(f"{event.get('ValidationName', 'validation')}: {where}: {what}".replace(": : ", ": "))
            token = page.get("NextToken")
            if not token:
                return found
    except Exception:  # noqa: BLE001 - best effort: botocore's ClientError, or an operation the endpoint lacks
        return found
