"""Following a stack operation to its end: events of the root and every nested stack, progress, the cause.

On a terminal a live progress line (resources done / total, elapsed) sits
under the event lines; in CI every event is a plain line and a heartbeat is
printed whenever nothing happened for HEARTBEAT seconds, so a log is never
silent long enough for a CI system to kill the job. When the operation
fails, the cause is the first resource that failed with a reason of its own,
in whichever nested stack, not the "Embedded stack ... was not successfully
created" that the root reports.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Console

HEARTBEAT = 20.0  # seconds; CI must never see more than ~30 s of silence
POLL = 3.0
# Failure reasons that only point at another failure.
ECHOES = (
    "Embedded stack",
    "Resource creation cancelled",
    "Resource update cancelled",
    "The following resource(s) failed",
)
DONE_STATUSES = ("_COMPLETE",)


def is_terminal(status: str) -> bool:
    return not status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS"


def succeeded(status: str, operation: str) -> bool:
    return status == f"{operation}_COMPLETE"


@dataclass
class Outcome:
    """How the operation ended, and the failures that caused it."""

    status: str
    failures: list[dict[str, Any]] = field(default_factory=list)
    # The reason of the stack's own (UPDATE_)ROLLBACK_IN_PROGRESS: it names the rollback trigger that set it off.
    rollback_reason: str = ""


@dataclass
class _Watch:
    stacks: dict[str, str] = field(default_factory=dict)  # stack id -> display path
    seen: set[str] = field(default_factory=set)
    done: set[tuple[str, str]] = field(default_factory=set)
    failed: list[dict[str, Any]] = field(default_factory=list)
    rollback_reason: str = ""


def _new_events(cf: Any, stack_id: str, since: datetime, seen: set[str]) -> list[dict[str, Any]]:
    """Events of one stack newer than `since` and not seen yet, oldest first."""
    fresh: list[dict[str, Any]] = []
    token = None
    while True:
        page = cf.describe_stack_events(StackName=stack_id, **({"NextToken": token} if token else {}))
        older = False
        for event in page.get("StackEvents", []):
            if event["EventId"] in seen or event["Timestamp"] < since:
                older = True
                break
            fresh.append(event)
        token = page.get("NextToken")
        if older or not token:
            return list(reversed(fresh))


def root_causes(failed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The failures with a reason of their own; the echoes only if there is nothing else."""
    own = [e for e in failed if not str(e.get("ResourceStatusReason", "")).startswith(ECHOES)]
    return own or failed


def follow(
    cf: Any,
    stack_id: str,
    *,
    since: datetime,
    total: int,
    console: Console,
    interactive: bool,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    poll: float = POLL,
    path: str | None = None,
    watching: list[str] | None = None,
    monitoring_minutes: int = 0,
    before_cleanup: int | None = None,
) -> Outcome:
    """Stream events until the stack reaches a terminal status (shown as `path`: a nested stack's place).

    `watching`: the rollback triggers' alarms. Once `before_cleanup` resources are done and the stack is still
    in progress, CloudFormation is in its monitoring period (the stack stays CREATE_ or UPDATE_IN_PROGRESS for up
    to `monitoring_minutes`); that is said once, and in every heartbeat, so a quiet wait is not taken for a hang.
    """
    watch = _Watch(stacks={stack_id: path or _name(stack_id)})
    announced = False
    started = last_output = clock()
    progress = None
    task = None
    if interactive:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        )
        progress.start()
        task = progress.add_task("deploying", total=max(total, 1))
    try:
        while True:
            status = cf.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]
            polled: set[str] = set()
            while pending := [sid for sid in watch.stacks if sid not in polled]:  # nested stacks appear as we read
                sid = pending[0]
                polled.add(sid)
                path = watch.stacks[sid]
                for event in _new_events(cf, sid, since, watch.seen):
                    watch.seen.add(event["EventId"])
                    _record(watch, sid, path, event)
                    if sid == stack_id and event.get("PhysicalResourceId") == sid:
                        _note_rollback(watch, event)
                    line = _line(path, event, clock() - started, own=event.get("PhysicalResourceId") == sid)
                    (progress.console if progress else console).print(
                        line, highlight=False, markup=False, soft_wrap=True
                    )
                    last_output = clock()
            if progress is not None and task is not None:
                # Without nested change sets the total is only a floor; it grows with what is seen.
                done = len(watch.done)
                progress.update(task, completed=done, total=max(total, done, 1), description=status)
            if is_terminal(status):
                return Outcome(status, root_causes(watch.failed), watch.rollback_reason)
            monitoring = _monitoring(status, watching, len(watch.done), total if before_cleanup is None
                                     else before_cleanup)  # fmt: skip
            if monitoring and not announced:
                announced = True
                (progress.console if progress else console).print(
                    f"[{_clock(clock() - started)}] all resources done; CloudFormation is watching "
                    f"{', '.join(watching or [])} for up to {monitoring_minutes} minutes before it completes "
                    "(an alarm rolls the deploy back)",
                    highlight=False,
                    markup=False,
                )
                last_output = clock()
            if progress is not None and task is not None and monitoring:
                progress.update(task, description=f"{status}: watching {', '.join(watching or [])}")
            if not interactive and clock() - last_output >= HEARTBEAT:
                tail = f"; watching {', '.join(watching or [])}" if monitoring else ""
                console.print(
                    f"[{_clock(clock() - started)}] still {status}: {len(watch.done)}/{total} resources done{tail}",
                    highlight=False,
                    markup=False,
                )
                last_output = clock()
            sleep(poll)
    finally:
        if progress is not None:
            progress.stop()


def _monitoring(status: str, watching: list[str] | None, done: int, needed: int) -> bool:
    """Whether the stack is in the triggers' monitoring period: every resource done, the operation not over."""
    going = status in {"CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS"}
    return bool(watching) and going and needed > 0 and done >= needed


def _note_rollback(watch: _Watch, event: dict[str, Any]) -> None:
    """Keep the first reason the stack gives for rolling back (its own ROLLBACK_IN_PROGRESS event)."""
    if str(event.get("ResourceStatus", "")).endswith("ROLLBACK_IN_PROGRESS") and not watch.rollback_reason:
        watch.rollback_reason = str(event.get("ResourceStatusReason") or "")


def _record(watch: _Watch, stack_id: str, path: str, event: dict[str, Any]) -> None:
    status = event.get("ResourceStatus", "")
    physical = event.get("PhysicalResourceId", "")
    if (
        event.get("ResourceType") == "AWS::CloudFormation::Stack"
        and physical.startswith("arn:")
        and physical != stack_id
    ):
        watch.stacks.setdefault(physical, f"{path}/{event['LogicalResourceId']}")
    if event.get("ResourceType") != "AWS::CloudFormation::Stack" and status.endswith(DONE_STATUSES):
        watch.done.add((stack_id, event["LogicalResourceId"]))
    if status.endswith("_FAILED"):
        watch.failed.append({**event, "StackPath": path})


def _name(stack_id: str) -> str:
    """The stack name inside an ARN (arn:...:stack/<name>/<uuid>), or the name itself."""
    return stack_id.split("/")[1] if stack_id.startswith("arn:") else stack_id


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


def _line(path: str, event: dict[str, Any], elapsed: float, own: bool) -> str:
    """One event; a stack's events about itself are shown under the stack's path alone."""
    reason = event.get("ResourceStatusReason")
    tail = f"  {reason}" if reason else ""
    where = path if own else f"{path}/{event['LogicalResourceId']}"
    return f"[{_clock(elapsed)}] {where} {event.get('ResourceType', '')} {event.get('ResourceStatus', '')}{tail}"
