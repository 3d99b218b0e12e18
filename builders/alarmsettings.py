"""Which alarm kinds an environment makes, with its params' overrides: where the catalogue meets the params.

Apart from builders/alarms.py so that the catalogue needs no config (the
params model validates `monitoring.alarms` keys against it), and apart from
the monitoring stack so that compute can name its services' deployment
alarms without importing the stack that watches compute.
"""

from __future__ import annotations

import dataclasses

from builders.alarms import KINDS, AlarmKind, qualified
from builders.config import EnvConfig
from builders.naming import name


def settings(cfg: EnvConfig, kind: AlarmKind) -> tuple[bool, AlarmKind]:
    """Whether the kind is alarmed in this environment, and the kind with the params' overrides."""
    override = cfg.monitoring.alarms.get(qualified(kind))
    enabled = cfg.monitoring.alarms_by_default if override is None or override.enabled is None else override.enabled
    if override is None:
        return enabled, kind
    changes = {
        field: value
        for field, value in (
            ("threshold", override.threshold),
            ("period", override.period_seconds),
            ("evaluation_periods", override.evaluation_periods),
            ("datapoints", override.datapoints),
        )
        if value is not None
    }
    return enabled, dataclasses.replace(kind, **changes)


def deployment_alarms(cfg: EnvConfig, service: str) -> list[str]:
    """The names of one ECS service's deployment alarms in this environment (its target group's alarms that
    are enabled and marked `deployment`), which the monitoring stack makes under exactly these names.

    By name, not by Ref: the monitoring stack is made after compute (it watches what compute made), and ECS
    takes deployment alarms that do not exist yet (CDK's enableDeploymentAlarms relies on the same), watching
    them from the first deployment after they do."""
    return [name(cfg, service, kind.key) for kind in KINDS
            if kind.deployment and kind.per == "target_group" and settings(cfg, kind)[0]]  # fmt: skip
