"""Drift of an environment: its root stack and every nested stack, at any depth, in one report.

CloudFormation detects drift one stack at a time, and in a parent's detection a nested stack (its
AWS::CloudFormation::Stack resource) is NOT_CHECKED: AWS does not recurse, so a log group changed by hand in
nlsql-prod/Network goes unseen from the root. Here the root and its nested stacks are found, a detection is
started on each at once (they run side by side in AWS), waited for with a bounded back-off and an overall
timeout, and the drifted resources of all of them are read into one DriftReport.

The report is data (frozen dataclasses), rendered apart: render() for the terminal and markdown() for a CI
job summary or a view that shows it beside a change set. Its exit status: 0 in sync, 1 drifted, 2 unknown
(a stack missing, a detection that failed or timed out, AWS refused), since "could not tell" must never
pass for "in sync".
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from builders.deploy import summary as summaries
from builders.errors import BuildError

if TYPE_CHECKING:
    from rich.console import Console

    from builders.config import EnvConfig
    from builders.deploy.run import Options

TIMEOUT = 15 * 60.0  # seconds for all detections together; a big stack takes a few minutes
POLL_FIRST, POLL_MAX = 1.0, 10.0  # back-off between looks at the detections: from 1 s, times 1.5, at most 10 s
HEARTBEAT = 20.0  # seconds: in CI a line at least this often, as while following a deploy
VALUE_WIDTH = 80  # characters of an expected or actual value shown; the rest is cut with "…"
DRIFTED_STATUSES = ["MODIFIED", "DELETED"]
KNOWN = {"IN_SYNC", "DRIFTED"}  # a stack status that is an answer; anything else means "could not tell"
NOT_CHECKED = {"NOT_CHECKED", "UNSUPPORTED", "UNKNOWN"}  # resource statuses that say nothing about drift


class DriftUnknown(BuildError):
    """Drift could not be told (no stack, AWS refused): exit 2, never the 1 that means "drifted"."""

    exit_code = 2


# --- the report --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PropertyDrift:
    """One property of a MODIFIED resource, as CloudFormation compared it."""

    path: str  # a JSON pointer into the resource's properties: /RetentionInDays, /Tags/0/Value
    expected: str  # what the template says (JSON text, "null" when the template has none)
    actual: str  # what the service holds now (JSON text, "null" when it has none)
    difference: str  # ADD | REMOVE | NOT_EQUAL


@dataclass(frozen=True)
class ResourceDrift:
    """A resource that is not as its template says, in the stack (root or nested, by path) that owns it."""

    stack: str  # nlsql-prod/Network, as changeset.Change.stack
    logical_id: str
    resource_type: str
    status: str  # MODIFIED | DELETED
    physical_id: str = ""
    properties: tuple[PropertyDrift, ...] = ()


@dataclass(frozen=True)
class StackDrift:
    """One stack's detection: its answer, or why there is none."""

    stack: str  # its path
    stack_id: str
    status: str  # IN_SYNC | DRIFTED | FAILED (the detection failed or was refused) | UNKNOWN (no answer in time)
    reason: str = ""  # CloudFormation's DetectionStatusReason, AWS's refusal, or the timeout
    drifted: int = 0  # DriftedStackResourceCount
    checked: int = 0  # resources CloudFormation compared with their templates
    not_checked: int = 0  # resources it did not (nested stacks, types without drift detection)


@dataclass(frozen=True)
class DriftReport:
    """The drift of one environment, every stack of it."""

    root: str
    region: str
    stacks: tuple[StackDrift, ...]
    resources: tuple[ResourceDrift, ...]

    @property
    def unknown(self) -> list[StackDrift]:
        return [s for s in self.stacks if s.status not in KNOWN]

    @property
    def drifted(self) -> bool:
        return bool(self.resources) or any(s.status == "DRIFTED" for s in self.stacks)

    @property
    def exit_code(self) -> int:
        return 2 if self.unknown else 1 if self.drifted else 0

    @property
    def verdict(self) -> str:
        """One line: what the report says about the environment as a whole."""
        stacks = len(self.stacks)
        if self.unknown:
            failed = ", ".join(s.stack for s in self.unknown)
            seen = f"; {len(self.resources)} drifted resource(s) found where it could tell" if self.resources else ""
            return f"{self.root}: drift UNKNOWN: no answer for {failed} (of {stacks} stacks){seen}"
        if self.drifted:
            where = len({r.stack for r in self.resources} | {s.stack for s in self.stacks if s.status == "DRIFTED"})
            return (
                f"{self.root}: DRIFTED: {len(self.resources)} resource(s) in {where} of {stacks} stacks differ from "
                "their templates"
            )
        checked = sum(s.checked for s in self.stacks)
        return f"{self.root}: in sync: {stacks} stacks, {checked} resource(s) checked, none drifted"


# --- asking CloudFormation ---------------------------------------------------------------------------------


def command(cfg: EnvConfig, opts: Options, console: Console, summary_file: Path | None = None) -> int:
    """`build.py ENV --drift [--summary FILE]`: detect, print, append the Markdown; the exit status above."""
    if summary_file is not None:
        _check_writable(summary_file)
    try:
        report = collect(cfg, opts, console)
    except DriftUnknown as exc:
        _error_summary(summary_file, str(exc), cfg.environment)
        raise
    render(console, report)
    if summary_file is not None:
        append_summary(summary_file, markdown(report))
    return report.exit_code


def collect(cfg: EnvConfig, opts: Options, console: Console) -> DriftReport:
    """The environment's DriftReport (after the account check); DriftUnknown when there can be none."""
    from builders.deploy.aws import aws_errors, describe_error
    from builders.deploy.run import deployed_stack

    try:
        _, cf, name, stack = deployed_stack(cfg, opts)  # the account check comes first, before any other call
        if stack is None:
            raise BuildError(
                f"{name} is not deployed in {opts.target.region} (no stack of that name), so it has no drift to "
                f"detect; deploy it first with `python build.py {cfg.environment} --deploy`, or check --region"
            )
        return detect(cf, stack, opts.target.region, console, interactive=opts.interactive)
    except aws_errors() as exc:
        raise DriftUnknown(f"drift of {cfg.environment} is unknown: {describe_error(exc)}") from None
    except DriftUnknown:
        raise
    except BuildError as exc:
        raise DriftUnknown(str(exc)) from None


def detect(
    cf: Any,
    root: dict[str, Any],
    region: str,
    console: Console,
    *,
    interactive: bool = False,
    timeout: float = TIMEOUT,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> DriftReport:
    """Detect drift on the root stack (a DescribeStacks answer) and every nested stack, and read what drifted."""
    from builders.deploy.aws import aws_errors, describe_error

    stacks = stack_tree(cf, root["StackId"], root["StackName"])
    ended: dict[str, StackDrift] = {}
    detections: dict[str, str] = {}  # path -> detection id
    for path, stack_id in stacks.items():
        try:
            detections[path] = cf.detect_stack_drift(StackName=stack_id)["StackDriftDetectionId"]
        except aws_errors() as exc:  # a nested stack gone or busy: the others are still worth an answer
            ended[path] = StackDrift(path, stack_id, "FAILED", f"DetectStackDrift refused: {describe_error(exc)}")
    console.print(
        f"{root['StackName']}: detecting drift of {len(stacks)} stack(s), the root and every nested stack "
        "(CloudFormation reads each resource and compares it with its template)",
        highlight=False,
        markup=False,
    )
    answers = _wait(cf, detections, console, interactive, timeout, sleep, clock)
    resources: list[ResourceDrift] = []
    for path, stack_id in stacks.items():
        if path in ended:
            continue
        answer = answers.get(path)
        if answer is None:
            minutes = f"{timeout / 60:g} minute(s)"
            ended[path] = StackDrift(path, stack_id, "UNKNOWN", f"no answer within {minutes}; it may still end in AWS")
            continue
        drifts = resource_drifts(cf, stack_id, path)
        resources += drifts
        ended[path] = _stack_drift(cf, path, stack_id, answer)
    return DriftReport(
        root=root["StackName"],
        region=region,
        stacks=tuple(ended[path] for path in stacks),
        resources=tuple(resources),
    )


def stack_tree(cf: Any, root_id: str, root_name: str) -> dict[str, str]:
    """Path -> stack id of the root and every nested stack under it, at any depth, parents first."""
    found = {root_name: root_id}
    pending = [(root_name, root_id)]
    while pending:
        path, stack_id = pending.pop(0)
        for summary in _resources(cf, stack_id):
            if summary["ResourceType"] == "AWS::CloudFormation::Stack" and summary.get("PhysicalResourceId"):
                child = f"{path}/{summary['LogicalResourceId']}"
                found[child] = summary["PhysicalResourceId"]  # a nested stack's physical id is its ARN
                pending.append((child, summary["PhysicalResourceId"]))
    return found


def _resources(cf: Any, stack_id: str) -> list[dict[str, Any]]:
    return [s for page in cf.get_paginator("list_stack_resources").paginate(StackName=stack_id)
            for s in page["StackResourceSummaries"]]  # fmt: skip


def _wait(
    cf: Any,
    detections: dict[str, str],
    console: Console,
    interactive: bool,
    timeout: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> dict[str, dict[str, Any]]:
    """Each detection's final DescribeStackDriftDetectionStatus answer, by path; those still running at the
    timeout are left out (AWS goes on with them; they change nothing)."""
    answers: dict[str, dict[str, Any]] = {}
    started = last_output = clock()
    delay = POLL_FIRST
    progress, tasks = None, {}
    if interactive and detections:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.fields[state]}"),
                            TimeElapsedColumn(), console=console)  # fmt: skip
        progress.start()
        tasks = {path: progress.add_task(path, total=1, state="DETECTION_IN_PROGRESS") for path in detections}
    try:
        while True:
            for path, detection in detections.items():
                if path in answers:
                    continue
                answer = cf.describe_stack_drift_detection_status(StackDriftDetectionId=detection)
                if answer["DetectionStatus"] == "DETECTION_IN_PROGRESS":
                    continue
                answers[path] = answer
                line = f"{path}: {answer['DetectionStatus']} ({answer.get('StackDriftStatus', 'UNKNOWN')})"
                if progress is not None:
                    progress.update(tasks[path], completed=1, state=line.split(": ", 1)[1])
                else:
                    console.print(line, highlight=False, markup=False)
                    last_output = clock()
            if len(answers) == len(detections) or clock() - started >= timeout:
                return answers
            if progress is None and clock() - last_output >= HEARTBEAT:
                console.print(f"still detecting: {len(answers)} of {len(detections)} stack(s) done",
                              highlight=False, markup=False)  # fmt: skip
                last_output = clock()
            sleep(min(delay, max(timeout - (clock() - started), 0)))
            delay = min(delay * 1.5, POLL_MAX)
    finally:
        if progress is not None:
            progress.stop()


def resource_drifts(cf: Any, stack_id: str, path: str) -> list[ResourceDrift]:
    """The stack's MODIFIED and DELETED resources from its last detection, every page."""
    found, token = [], None
    while True:
        page = cf.describe_stack_resource_drifts(StackName=stack_id, StackResourceDriftStatusFilters=DRIFTED_STATUSES,
                                                 **({"NextToken": token} if token else {}))  # fmt: skip
        for drift in page["StackResourceDrifts"]:
            properties = tuple(
                PropertyDrift(d["PropertyPath"], d["ExpectedValue"], d["ActualValue"], d["DifferenceType"])
                for d in drift.get("PropertyDifferences", [])
            )
            found.append(ResourceDrift(path, drift["LogicalResourceId"], drift["ResourceType"],
                                       drift["StackResourceDriftStatus"], drift.get("PhysicalResourceId", ""),
                                       properties))  # fmt: skip
        token = page.get("NextToken")
        if not token:
            return found


def _stack_drift(cf: Any, path: str, stack_id: str, answer: dict[str, Any]) -> StackDrift:
    """A finished detection; what was checked is each resource's DriftInformation, as the detection left it."""
    statuses = [s.get("DriftInformation", {}).get("StackResourceDriftStatus", "NOT_CHECKED")
                for s in _resources(cf, stack_id)]  # fmt: skip
    not_checked = sum(status in NOT_CHECKED for status in statuses)
    status = answer.get("StackDriftStatus", "UNKNOWN")
    if answer["DetectionStatus"] == "DETECTION_FAILED":
        status = "FAILED"
    return StackDrift(
        stack=path,
        stack_id=stack_id,
        status=status,
        reason=answer.get("DetectionStatusReason", "") if status not in KNOWN else "",
        drifted=int(answer.get("DriftedStackResourceCount", 0)),
        checked=len(statuses) - not_checked,
        not_checked=not_checked,
    )


# --- showing it --------------------------------------------------------------------------------------------


def compact(value: str, width: int = VALUE_WIDTH) -> str:
    """A value on one line, JSON without spaces, cut to `width` characters: a policy document stays readable."""
    try:
        parsed = json.loads(value)
        text = json.dumps(parsed, separators=(",", ":")) if isinstance(parsed, dict | list) else value
    except ValueError:
        text = value
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def rows(report: DriftReport) -> list[tuple[str, ...]]:
    """The drifted-resources table: one row per differing property; a DELETED resource is one row of its own."""
    found = []
    for r in report.resources:
        resource = (r.stack, r.logical_id, r.resource_type, r.status)
        if not r.properties:
            found.append((*resource, "", "", "", "resource is gone" if r.status == "DELETED" else ""))
        for i, p in enumerate(r.properties):
            where = resource if i == 0 else ("",) * len(resource)  # the resource once, its properties under it
            found.append((*where, p.path, compact(p.expected), compact(p.actual), p.difference))
    return found


RESOURCE_COLUMNS = ("stack", "logical id", "type", "drift", "property", "expected", "actual", "difference")
STACK_COLUMNS = ("stack", "drift status", "drifted", "checked", "not checked")


def _stack_row(s: StackDrift) -> tuple[str, ...]:
    status = f"{s.status}: {s.reason}" if s.reason else s.status
    return (s.stack, status, str(s.drifted), str(s.checked), str(s.not_checked))


def render(console: Console, report: DriftReport) -> None:
    """The report on a terminal or in a log: drifted resources, then every stack, then the verdict."""
    from rich.table import Table
    from rich.text import Text

    if report.resources:
        table = Table(title=f"{report.root}: drifted resources", title_justify="left", box=None, pad_edge=False)
        for column in RESOURCE_COLUMNS:
            table.add_column(column, overflow="fold")
        for row in rows(report):
            table.add_row(*(Text(cell) for cell in row))  # Text: a value's "[...]" is not markup
        console.print(table)
    table = Table(title=f"{report.root}: drift per stack", title_justify="left", box=None, pad_edge=False)
    for i, column in enumerate(STACK_COLUMNS):
        table.add_column(column, overflow="fold", justify="right" if i >= 2 else "left")  # the counts
    for stack in report.stacks:
        table.add_row(*(Text(cell) for cell in _stack_row(stack)))
    console.print(table)
    console.print(report.verdict, highlight=False, markup=False)
    if report.unknown:
        console.print("a stack without an answer is reported as unknown, never as in sync (exit 2)",
                      highlight=False, markup=False)  # fmt: skip


def md_cell(text: str, code: bool = False) -> str:
    """A Markdown table cell: pipes escaped (GitHub splits cells on them even in code), one line."""
    text = " ".join(text.split()).replace("|", "\\|")
    if not code:
        return text.replace("<", "&lt;")
    if not text:
        return ""
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}" if fence == "``" else f"`{text}`"


def markdown(report: DriftReport) -> str:
    """The same report as Markdown (GitHub's flavour): for $GITHUB_STEP_SUMMARY, or beside a change set."""
    lines = [f"### {report.root}: drift ({report.region})", "", md_cell(report.verdict), ""]
    if report.resources:
        lines += [md_header(RESOURCE_COLUMNS)]
        for row in rows(report):
            stack, logical, kind, status, path, expected, actual, difference = row
            cells = [md_cell(stack), md_cell(logical), md_cell(kind), md_cell(status), md_cell(path, code=True),
                     md_cell(expected, code=True), md_cell(actual, code=True), md_cell(difference)]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += [md_header(STACK_COLUMNS, numeric=3)]
    lines += ["| " + " | ".join(md_cell(c) for c in _stack_row(s)) + " |" for s in report.stacks]
    return "\n".join(lines) + "\n"


def md_header(columns: tuple[str, ...], numeric: int = 0) -> str:
    """A table's header and alignment rows; the last `numeric` columns right-aligned."""
    align = ["---"] * (len(columns) - numeric) + ["---:"] * numeric
    return f"| {' | '.join(columns)} |\n| {' | '.join(align)} |"


# --- --summary FILE ----------------------------------------------------------------------------------------


def _check_writable(path: Path) -> None:
    summaries.check_writable(path, DriftUnknown)


def append_summary(path: Path, text: str) -> None:
    summaries.append(path, text, DriftUnknown)


def unknown_markdown(env: str, message: str) -> str:
    """The Markdown where a report could not be made: why, so a red job explains itself in its summary."""
    return f"### {env}: drift UNKNOWN\n\n{md_cell(message)}\n"


def _error_summary(path: Path | None, message: str, env: str) -> None:
    if path is not None:
        append_summary(path, unknown_markdown(env, message))
