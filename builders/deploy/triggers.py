"""Rollback triggers: the alarms CloudFormation watches during a deploy and for a while after its last resource.

params' monitoring.rollback names them (without the nlsql-<env>- prefix). An
alarm that does not exist cannot be a trigger: CloudFormation fails the whole
operation for a missing one, and the first deploy is the one that creates the
monitoring stack that makes them. So only the alarms DescribeAlarms finds are
passed, and the deploy says plainly which are watched and which are not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from builders.config import EnvConfig
from builders.deploy.aws import Aws, aws_errors, describe_error
from builders.naming import name as physical_name

# CloudWatch's kinds of alarm as DescribeAlarms names them -> the trigger Type CloudFormation takes for each.
TYPES = {"MetricAlarms": "AWS::CloudWatch::Alarm", "CompositeAlarms": "AWS::CloudWatch::CompositeAlarm"}
ALARM_ARN = re.compile(r"arn:[\w-]+:cloudwatch:[\w-]*:\d*:alarm:([^\s,\]\)\"']+)")
# The alarms a composite's rule needs in ALARM: ALARM("name"), ALARM(name) or ALARM(arn:...:alarm:name).
RULE_MEMBER = re.compile(r'(?<![A-Z_])ALARM\(\s*"?([^"()\s]+)"?\s*\)')


@dataclass(frozen=True)
class Triggers:
    """What params ask to watch, and what of it exists to be watched."""

    wanted: tuple[str, ...]  # full alarm names, nlsql-<env>-<name>
    minutes: int
    found: dict[str, tuple[str, str]]  # full name -> (ARN, trigger Type), for the alarms that exist
    unreadable: str = ""  # why the alarms could not be looked up (then none is watched)

    def configuration(self) -> dict[str, Any]:
        """CreateChangeSet's RollbackConfiguration: the alarms that exist, or an empty list when none does.

        Never left out: CloudFormation keeps a stack's triggers for every later update that names none, so a
        deploy after an alarm was deleted (or taken out of params) would be watched by it, or fail for it."""
        triggers = [{"Arn": arn, "Type": kind} for arn, kind in (self.found[n] for n in self.wanted if n in self.found)]
        return {"RollbackTriggers": triggers, "MonitoringTimeInMinutes": self.minutes if triggers else 0}


NONE: dict[str, Any] = {"RollbackTriggers": [], "MonitoringTimeInMinutes": 0}  # clears what a stack had


def wanted_names(cfg: EnvConfig) -> tuple[str, ...]:
    """The full names of the environment's rollback alarms (none for an environment without triggers)."""
    return tuple(physical_name(cfg, alarm) for alarm in cfg.monitoring.rollback.alarms)


def look_up(aws: Aws, cfg: EnvConfig) -> Triggers | None:
    """The environment's triggers as they stand in the account (None when params name none).

    The ARN is made from the account STS answers and the partition of its ARN (aws, aws-cn, aws-us-gov), in the
    environment's region; an alarm DescribeAlarms does not list is left out, since it would fail the deploy.
    """
    wanted = wanted_names(cfg)
    if not wanted:
        return None
    minutes = cfg.monitoring.rollback.monitoring_minutes
    try:
        identity = getattr(aws, "identity", None) or aws.client("sts").get_caller_identity()  # asked once
        partition = identity["Arn"].split(":")[1]
        pages = (
            aws.client("cloudwatch")
            .get_paginator("describe_alarms")
            .paginate(AlarmNames=list(wanted), AlarmTypes=["MetricAlarm", "CompositeAlarm"])
        )
        found: dict[str, tuple[str, str]] = {}
        for page in pages:
            for key, kind in TYPES.items():
                for alarm in page.get(key, []):
                    if alarm["AlarmName"] in wanted:
                        arn = alarm.get("AlarmArn") or (
                            f"arn:{partition}:cloudwatch:{aws.target.region}:{identity['Account']}:alarm:"
                            f"{alarm['AlarmName']}"
                        )
                        found[alarm["AlarmName"]] = (arn, kind)
    except aws_errors() as exc:  # no cloudwatch:DescribeAlarms, say: the deploy goes on, unwatched, and says so
        return Triggers(wanted, minutes, {}, unreadable=describe_error(exc))
    return Triggers(wanted, minutes, found)


def watched_names(rollback: dict[str, Any]) -> list[str]:
    """The alarm names of a RollbackConfiguration's triggers (as DescribeChangeSet returns it)."""
    names = []
    for trigger in rollback.get("RollbackTriggers") or []:
        match = ALARM_ARN.fullmatch(trigger.get("Arn", ""))
        names.append(match.group(1) if match else trigger.get("Arn", ""))
    return names


def lines(wanted: tuple[str, ...], rollback: dict[str, Any], unreadable: str = "") -> list[str]:
    """What a person is told about the triggers of a change set: each alarm watched, or why it is not.

    Read from the change set's own RollbackConfiguration, so that a kept change set executed later is described
    as it is, not as a new one would be made."""
    watched = watched_names(rollback)
    minutes = rollback.get("MonitoringTimeInMinutes", 0)
    said = [
        f"watching {alarm} for {minutes} minutes after the last resource; a deploy that sets it off is rolled back"
        for alarm in watched
    ]
    for alarm in wanted:
        if alarm in watched:
            continue
        if unreadable:
            said.append(f"not watched: {alarm}: its state could not be read ({unreadable})")
        else:
            said.append(f"not watched: {alarm} does not exist yet (this deploy creates it; the next one is watched)")
    return said


def alarm_in(reason: str) -> str | None:
    """The alarm a rollback's status reason names (CloudFormation names the trigger by its ARN), if any."""
    match = ALARM_ARN.search(reason or "")
    return match.group(1) if match else None


def in_alarm(aws: Aws, names: list[str]) -> list[str]:
    """Those of `names` that are in ALARM now: the fallback when a rollback's reason names no alarm."""
    if not names:
        return []
    try:
        page = aws.client("cloudwatch").describe_alarms(
            AlarmNames=names, StateValue="ALARM", AlarmTypes=["MetricAlarm", "CompositeAlarm"]
        )
    except aws_errors():
        return []
    return [a["AlarmName"] for key in TYPES for a in page.get(key, []) if a.get("StateValue") == "ALARM"]


def members_in_alarm(aws: Aws, alarm: str) -> list[tuple[str, str]]:
    """What set a composite trigger off: its members in ALARM now, with CloudWatch's reason for each.

    [] for a metric alarm, a composite none of whose members is in ALARM any more, or when CloudWatch cannot be
    asked (the rollback is reported all the same)."""
    try:
        cw = aws.client("cloudwatch")
        found = cw.describe_alarms(AlarmNames=[alarm], AlarmTypes=["CompositeAlarm"]).get("CompositeAlarms", [])
        if not found:
            return []
        names = list(dict.fromkeys(m.rsplit(":alarm:", 1)[-1] for m in RULE_MEMBER.findall(found[0]["AlarmRule"])))
        members = []
        for start in range(0, len(names), 100):  # DescribeAlarms takes at most 100 names
            page = cw.describe_alarms(AlarmNames=names[start : start + 100], StateValue="ALARM",
                                      AlarmTypes=["MetricAlarm", "CompositeAlarm"])  # fmt: skip
            members += [(a["AlarmName"], a.get("StateReason", "")) for key in TYPES for a in page.get(key, [])]
    except aws_errors():
        return []
    return sorted(members)


def firing(aws: Aws, env: str) -> list[dict[str, Any]]:
    """The environment's alarms in ALARM (metric and composite), oldest first: what --status shows."""
    prefix = f"nlsql-{env}-"
    pages = (
        aws.client("cloudwatch")
        .get_paginator("describe_alarms")
        .paginate(AlarmNamePrefix=prefix, StateValue="ALARM", AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    )
    alarms = [a for page in pages for key in TYPES for a in page.get(key, [])]
    return sorted(alarms, key=lambda a: (str(a.get("StateUpdatedTimestamp", "")), a["AlarmName"]))
