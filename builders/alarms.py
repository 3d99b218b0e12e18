"""The catalogue of what is watched: every alarm kind, with its metric and its defaults, in one list.

The monitoring stack makes the alarms and the dashboard from this list, so
the two cannot drift apart; params override a kind's threshold, periods or
whether it exists at all (`monitoring.alarms.<key>`). The defaults follow
AWS's recommended alarms for each service (CloudWatch "Best practice alarm
recommendations"), adjusted where this app differs (an NL-to-SQL request
waits for a language model, so latency thresholds are seconds, not
milliseconds).

Each kind is made once per thing it watches (`per`): the ALB, each target
group, each ECS service, each Aurora instance, each reader, the cluster,
each NAT gateway, the set-up SQL function, the web ACL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Per = Literal["alb", "target_group", "service", "instance", "reader", "cluster", "nat", "function", "waf"]
Comparison = Literal[
    "GreaterThanThreshold", "GreaterThanOrEqualToThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold"
]
Missing = Literal["breaching", "notBreaching", "ignore", "missing"]


@dataclass(frozen=True)
class Metric:
    """One CloudWatch metric of a kind (dimensions are filled in per thing watched)."""

    namespace: str
    name: str
    statistic: str  # Sum, Average, Maximum, Minimum, or an extended statistic such as p95
    id: str = "m"


@dataclass(frozen=True)
class AlarmKind:
    """What one alarm watches, what its state means and what to look at first, and its defaults."""

    key: str  # the alarm is named nlsql-<env>-<thing>-<key> (or nlsql-<env>-<key> for one of a kind)
    per: Per
    title: str
    meaning: str  # the alarm's description: what it means, what to look at first
    metrics: tuple[Metric, ...]
    threshold: float
    comparison: Comparison = "GreaterThanThreshold"
    period: int = 60
    evaluation_periods: int = 5
    datapoints: int = 5
    missing: Missing = "notBreaching"
    expression: str | None = None  # metric math over the metrics' ids; the alarm watches its result
    users_affected: bool = False  # part of the app-unhealthy composite alarm (the one that pages)
    unit: str = ""  # for the description and the dashboard's axis
    alarm: bool = True  # False: a metric the dashboard shows beside the alarms' (traffic, bytes, latency)
    # One of its service's ECS deployment alarms: a deployment that sets it off is rolled back by ECS itself,
    # whoever started it (a deploy, `aws ecs update-service`, a console click), not only by CloudFormation.
    deployment: bool = False


ELB = "AWS/ApplicationELB"
ECS = "AWS/ECS"
INSIGHTS = "ECS/ContainerInsights"
RDS = "AWS/RDS"
NAT = "AWS/NATGateway"
LAMBDA = "AWS/Lambda"
WAF = "AWS/WAFV2"

KINDS: tuple[AlarmKind, ...] = (
    # --- the ALB: what users see ---------------------------------------------------------------------------
    AlarmKind(
        "target-5xx-rate",
        "alb",
        "Target 5xx rate",
        "More than {threshold}% of requests got a 5xx from the app's tasks for {datapoints} of {evaluation_periods} "
        "minutes: the API or UI is failing. Look first at the services' logs (saved query 'api errors').",
        (Metric(ELB, "HTTPCode_Target_5XX_Count", "Sum", "errors"), Metric(ELB, "RequestCount", "Sum", "requests")),
        5,
        expression="IF(requests > 0, 100 * errors / requests, 0)",
        users_affected=True,
        unit="%",
    ),
    AlarmKind(
        "elb-5xx",
        "alb",
        "ALB 5xx",
        "The load balancer itself answered more than {threshold} 5xx a minute ({datapoints} of {evaluation_periods} "
        "minutes): no healthy target, or targets closing connections. Look first at the target groups' health.",
        (Metric(ELB, "HTTPCode_ELB_5XX_Count", "Sum"),),
        10,
        users_affected=True,
        unit="count",
    ),
    AlarmKind(
        "latency-p95",
        "alb",
        "Response time p95",
        "95% of requests took longer than {threshold} s for {datapoints} of {evaluation_periods} minutes. Look first "
        "at Bedrock latency and throttling, then Aurora (saved query 'slowest requests').",
        (Metric(ELB, "TargetResponseTime", "p95"),),
        15,
        unit="s",
    ),
    AlarmKind(
        "latency-p99",
        "alb",
        "Response time p99",
        "1% of requests took longer than {threshold} s for {datapoints} of {evaluation_periods} minutes: users wait "
        "close to the ALB's idle timeout. Look first at Bedrock, then at statement timeouts in Aurora.",
        (Metric(ELB, "TargetResponseTime", "p99"),),
        45,
        users_affected=True,
        unit="s",
    ),
    AlarmKind(
        "rejected-connections",
        "alb",
        "Rejected connections",
        "The ALB refused connections (it hit its connection limit) in {datapoints} of {evaluation_periods} minutes. "
        "Look first at the request rate: a traffic spike or a flood the WAF did not stop.",
        (Metric(ELB, "RejectedConnectionCount", "Sum"),),
        0,
        evaluation_periods=1,
        datapoints=1,
        unit="count",
    ),
    AlarmKind(
        "unhealthy-hosts",
        "target_group",
        "Unhealthy targets",
        "At least one of this service's tasks failed the ALB's health check for {datapoints} of {evaluation_periods} "
        "minutes. Look first at the service's events and the task's health-check path.",
        (Metric(ELB, "UnHealthyHostCount", "Maximum"),),
        0,
        users_affected=True,
        unit="count",
        deployment=True,
    ),
    AlarmKind(
        "5xx-rate",
        "target_group",
        "Service 5xx rate",
        "More than {threshold}% of this service's requests got a 5xx from its tasks for {datapoints} of "
        "{evaluation_periods} minutes. During an ECS deployment this rolls the service back to its previous task "
        "definition. Look first at the service's logs (saved query 'api errors' or 'ui errors').",
        (Metric(ELB, "HTTPCode_Target_5XX_Count", "Sum", "errors"), Metric(ELB, "RequestCount", "Sum", "requests")),
        5,
        evaluation_periods=3,
        datapoints=3,
        expression="IF(requests > 0, 100 * errors / requests, 0)",
        users_affected=True,
        unit="%",
        deployment=True,
    ),
    # --- ECS, per service ----------------------------------------------------------------------------------
    AlarmKind(
        "tasks-below-desired",
        "service",
        "Running tasks below desired",
        "The service has run fewer tasks than it wants for {datapoints} of {evaluation_periods} minutes: tasks crash "
        "or cannot start (image, secrets, capacity). Look first at the service's events and stopped tasks' reasons.",
        (
            Metric(INSIGHTS, "DesiredTaskCount", "Maximum", "desired"),
            Metric(INSIGHTS, "RunningTaskCount", "Minimum", "running"),
        ),  # fmt: skip
        0,
        expression="desired - running",
        missing="breaching",
        users_affected=True,
        unit="tasks",
    ),
    AlarmKind(
        "cpu-high",
        "service",
        "CPU high",
        "The service's tasks averaged more than {threshold}% CPU for {datapoints} of {evaluation_periods} periods of "
        "5 minutes, and autoscaling has not caught up (max_count?). Look first at the request rate.",
        (Metric(ECS, "CPUUtilization", "Average"),),
        80,
        period=300,
        evaluation_periods=3,
        datapoints=3,
        unit="%",
    ),
    AlarmKind(
        "memory-high",
        "service",
        "Memory high",
        "The service's tasks averaged more than {threshold}% of their memory for {datapoints} of "
        "{evaluation_periods} periods of 5 minutes: they will be killed at 100%. Look first at large query results.",
        (Metric(ECS, "MemoryUtilization", "Average"),),
        80,
        period=300,
        evaluation_periods=3,
        datapoints=3,
        unit="%",
    ),
    # --- Aurora --------------------------------------------------------------------------------------------
    AlarmKind(
        "cpu-high",
        "instance",
        "Aurora CPU high",
        "The instance averaged more than {threshold}% CPU for {datapoints} of {evaluation_periods} periods of 5 "
        "minutes. Look first at Performance Insights' top SQL (LLM-written queries without a usable index).",
        (Metric(RDS, "CPUUtilization", "Average"),),
        80,
        period=300,
        evaluation_periods=3,
        datapoints=3,
        unit="%",
    ),
    AlarmKind(
        "acu-near-max",
        "instance",
        "ACU near max",
        "The instance used more than {threshold}% of its maximum capacity for {datapoints} of {evaluation_periods} "
        "periods of 5 minutes: it cannot scale further. Look first at Performance Insights' top SQL, then raise "
        "database.max_capacity.",
        (Metric(RDS, "ACUUtilization", "Average"),),
        90,
        period=300,
        evaluation_periods=3,
        datapoints=3,
        unit="%",
    ),
    AlarmKind(
        "freeable-memory-low",
        "instance",
        "Freeable memory low",
        "The instance had less than {threshold} MiB of free memory for {datapoints} of {evaluation_periods} periods "
        "of 5 minutes. Look first at connections and work_mem-heavy queries.",
        (Metric(RDS, "FreeableMemory", "Minimum"),),
        256,
        comparison="LessThanThreshold",
        period=300,
        evaluation_periods=3,
        datapoints=3,
        unit="MiB",
    ),
    AlarmKind(
        "connections-high",
        "instance",
        "Connections near the limit",
        "The instance held more than {threshold} connections (80% of the app's two roles' connection limits) for "
        "{datapoints} of {evaluation_periods} minutes. Look first at the API's pool size and task count.",
        (Metric(RDS, "DatabaseConnections", "Maximum"),),
        56,
        unit="count",
    ),
    AlarmKind(
        "deadlocks",
        "instance",
        "Deadlocks",
        "PostgreSQL reported deadlocks in {datapoints} of {evaluation_periods} periods of 5 minutes. Look first at "
        "the PostgreSQL log for 'deadlock detected' (the statements are named there).",
        (Metric(RDS, "Deadlocks", "Sum"),),
        0,
        period=300,
        evaluation_periods=1,
        datapoints=1,
        unit="count",
    ),
    AlarmKind(
        "disk-queue",
        "instance",
        "Disk queue depth",
        "More than {threshold} I/Os waited for storage for {datapoints} of {evaluation_periods} periods of 5 "
        "minutes. Look first at Performance Insights' waits (IO:DataFileRead: scans of the analytics tables).",
        (Metric(RDS, "DiskQueueDepth", "Average"),),
        20,
        period=300,
        evaluation_periods=3,
        datapoints=3,
        unit="count",
    ),
    AlarmKind(
        "replica-lag",
        "reader",
        "Replica lag",
        "The reader was more than {threshold} ms behind the writer for {datapoints} of {evaluation_periods} minutes: "
        "read-only queries see old data. Look first at write load on the writer.",
        (Metric(RDS, "AuroraReplicaLag", "Maximum"),),
        1000,
        unit="ms",
    ),
    # --- NAT gateways --------------------------------------------------------------------------------------
    AlarmKind(
        "port-allocation-errors",
        "nat",
        "NAT port allocation errors",
        "The NAT gateway could not allocate a source port (too many connections to one destination) in "
        "{datapoints} of {evaluation_periods} minutes: calls to Bedrock or AWS APIs fail. Look first at connection "
        "reuse in the API.",
        (Metric(NAT, "ErrorPortAllocation", "Sum"),),
        0,
        evaluation_periods=1,
        datapoints=1,
        unit="count",
    ),
    AlarmKind(
        "packets-dropped",
        "nat",
        "NAT packets dropped",
        "The NAT gateway dropped more than {threshold} packets in {datapoints} of {evaluation_periods} periods of 5 "
        "minutes. Look first at the AWS Health Dashboard, then at the gateway's bandwidth.",
        (Metric(NAT, "PacketsDropCount", "Sum"),),
        100,
        period=300,
        evaluation_periods=1,
        datapoints=1,
        unit="count",
    ),
    # --- the set-up SQL function, and the WAF ---------------------------------------------------------------
    AlarmKind(
        "errors",
        "function",
        "Set-up SQL errors",
        "The database set-up function failed (a deploy's pgvector or roles step). Look first at its log group.",
        (Metric(LAMBDA, "Errors", "Sum"),),
        0,
        period=300,
        evaluation_periods=1,
        datapoints=1,
        unit="count",
    ),
    AlarmKind(
        "throttles",
        "function",
        "Set-up SQL throttles",
        "The database set-up function was throttled. Look first at the account's Lambda concurrency (used up).",
        (Metric(LAMBDA, "Throttles", "Sum"),),
        0,
        period=300,
        evaluation_periods=1,
        datapoints=1,
        unit="count",
    ),
    AlarmKind(
        "blocked-requests",
        "waf",
        "WAF blocked requests",
        "The WAF blocked more than {threshold} requests in {datapoints} of {evaluation_periods} periods of 5 "
        "minutes: an attack, or a rule blocking real users. Look first at the saved query 'waf blocks by rule'.",
        (Metric(WAF, "BlockedRequests", "Sum"),),
        1000,
        period=300,
        evaluation_periods=1,
        datapoints=1,
        unit="count",
    ),
)

# Graphed, not alarmed: what the dashboard needs beside the alarms' metrics to read them (traffic, bytes, latency).
GRAPHS: tuple[AlarmKind, ...] = (
    AlarmKind(
        "requests", "alb", "Requests", "", (Metric(ELB, "RequestCount", "Sum"),), 0, alarm=False, unit="count"
    ),  # fmt: skip
    AlarmKind(
        "bytes-out",
        "nat",
        "NAT bytes out",
        "",
        (Metric(NAT, "BytesOutToDestination", "Sum"),),
        0,
        alarm=False,
        unit="bytes",
    ),  # fmt: skip
    AlarmKind(
        "read-latency",
        "instance",
        "Aurora read latency",
        "",
        (Metric(RDS, "ReadLatency", "Average"),),
        0,
        alarm=False,
        unit="s",
    ),  # fmt: skip
    AlarmKind(
        "write-latency",
        "instance",
        "Aurora write latency",
        "",
        (Metric(RDS, "WriteLatency", "Average"),),
        0,
        alarm=False,
        unit="s",
    ),  # fmt: skip
)

# The composite alarm over the kinds with users_affected: the one that pages, and the deploys' rollback trigger.
APP_UNHEALTHY = "app-unhealthy"


def kind_keys() -> list[str]:
    """The keys params may name under monitoring.alarms: <per>.<key> where a key is used by several `per`s."""
    return sorted({qualified(k) for k in KINDS})


def qualified(kind: AlarmKind) -> str:
    """'aurora.cpu-high' / 'service.cpu-high': a kind's key, made unique by what it watches where needed."""
    clash = sum(1 for k in KINDS if k.key == kind.key) > 1
    return f"{_PREFIX[kind.per]}.{kind.key}" if clash else kind.key


_PREFIX: dict[str, str] = {
    "alb": "alb", "target_group": "alb", "service": "service", "instance": "aurora", "reader": "aurora",
    "cluster": "aurora", "nat": "nat", "function": "function", "waf": "waf",
}  # fmt: skip
