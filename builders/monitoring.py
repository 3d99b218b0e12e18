"""The monitoring stack: one alarm topic, the alarms that matter, the composite that pages, a dashboard, saved queries.

Everything here is made from builders/alarms.py's one list of kinds, once per
thing a kind watches: the alarms (with the params' thresholds) and the
dashboard's graphs (with the alarms' thresholds drawn in) cannot drift apart.
Every alarm is named nlsql-<env>-<thing>-<kind>, says in its description what
it means and what to look at first, sends ALARM and OK to the topic, and
treats missing data as its kind says. The composite alarm nlsql-<env>-app-
unhealthy is ALARM when any alarm that means users are affected is: it is the
one that pages, and the one staging and prod deploys name as their rollback
trigger. It is the last stack: it watches what the others made, by the names
their outputs give (metric dimensions, log groups).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from troposphere import GetAtt, Output, Parameter, Ref, Select, Sub, Template, cloudwatch, events, logs, sns

from builders import alarms, alarmsettings, compute, database, network, storage
from builders import iam as policies
from builders.alarms import AlarmKind
from builders.app import SERVICES
from builders.config import EnvConfig
from builders.naming import az_letter, description, logical_id, name
from builders.scanners import NO_KEY_FOR_THE_ALARM_TOPIC, skip
from builders.tags import tags

MODULE = "monitoring"
OUT_TOPIC = "AlarmTopicArn"
OUT_APP_UNHEALTHY = "AppUnhealthyAlarmName"
OUT_DASHBOARD = "DashboardName"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Watched:
    """One thing a kind watches: its name in alarm names, and its metric dimensions."""

    thing: str
    dimensions: dict[str, Any]


def _inputs(cfg: EnvConfig) -> list[tuple[str, str, str]]:
    """(parameter, type, description): earlier stacks' outputs, wired by name by the root."""
    wired = [
        (compute.OUT_ALB_FULL_NAME, "String", "The ALB's metric dimension"),
        (compute.OUT_CLUSTER, "String", "The ECS cluster"),
        (database.OUT_CLUSTER_ID, "String", "The Aurora cluster"),
        (database.OUT_INSTANCE_IDS, "CommaDelimitedList", "The Aurora instances, writer first"),
        (database.OUT_SETUP_FUNCTION, "String", "The set-up SQL function"),
    ]
    for svc in SERVICES:
        wired += [
            (compute.OUT_SERVICE[svc.key], "String", f"The {svc.label} ECS service"),
            (compute.OUT_TARGET_GROUP[svc.key], "String", f"The {svc.label}'s target group dimension"),
            (compute.OUT_LOG_GROUP[svc.key], "String", f"The {svc.label}'s log group"),
        ]
    if _nat_count(cfg):
        wired.append((network.OUT_NAT_GATEWAY_IDS, "CommaDelimitedList", "The NAT gateways, in AZ order"))
    if cfg.compute.waf.enabled:
        wired += [
            (compute.OUT_WEB_ACL, "String", "The web ACL"),
            (compute.OUT_WAF_LOG_GROUP, "String", "The WAF's log group"),
        ]
    if cfg.storage.encryption == "KMS":
        wired.append((storage.OUT_KEY_ARN, "String", "The environment's KMS key (the topic is encrypted with it)"))
    return wired


def _nat_count(cfg: EnvConfig) -> int:
    return {"none": 0, "single": 1, "per_az": cfg.network.az_count}[cfg.network.nat_gateways]


def watched(cfg: EnvConfig, per: str) -> list[Watched]:
    """The things of one kind of `per` in this environment, with their dimensions."""
    alb = {"LoadBalancer": Ref(compute.OUT_ALB_FULL_NAME)}
    instances = Ref(database.OUT_INSTANCE_IDS)
    readers = range(1, 1 + cfg.database.readers)
    things = {
        "alb": [Watched("alb", alb)],
        "target_group": [
            Watched(s.key, {"TargetGroup": Ref(compute.OUT_TARGET_GROUP[s.key]), **alb}) for s in SERVICES
        ],
        "service": [
            Watched(s.key, {"ClusterName": Ref(compute.OUT_CLUSTER), "ServiceName": Ref(compute.OUT_SERVICE[s.key])})
            for s in SERVICES
        ],
        "instance": [Watched("aurora-writer", {"DBInstanceIdentifier": Select(0, instances)})]
        + [Watched(f"aurora-reader{i}", {"DBInstanceIdentifier": Select(i, instances)}) for i in readers],
        "reader": [Watched(f"aurora-reader{i}", {"DBInstanceIdentifier": Select(i, instances)}) for i in readers],
        "cluster": [Watched("aurora", {"DBClusterIdentifier": Ref(database.OUT_CLUSTER_ID)})],
        "nat": [
            Watched(f"nat-{az_letter(i)}", {"NatGatewayId": Select(i, Ref(network.OUT_NAT_GATEWAY_IDS))})
            for i in range(_nat_count(cfg))
        ],
        "function": [Watched("setup-sql", {"FunctionName": Ref(database.OUT_SETUP_FUNCTION)})],
        "waf": [Watched("waf", {"WebACL": Ref(compute.OUT_WEB_ACL), "Rule": "ALL", "Region": Ref("AWS::Region")})]
        if cfg.compute.waf.enabled
        else [],
    }
    return things[per]


def _adapted(cfg: EnvConfig, kind: AlarmKind, thing: Watched) -> AlarmKind | None:
    """The kind as this environment can watch it, or None where it cannot."""
    if kind.key == "tasks-below-desired" and not cfg.compute.container_insights:
        # Without Container Insights ECS publishes no task counts: fewer healthy targets than the service's
        # minimum is the nearest signal (the ALB's view of the same failure).
        minimum = getattr(cfg.compute, thing.thing).min_count
        if minimum < 1:
            return None
        return dataclasses.replace(
            kind,
            metrics=(alarms.Metric(alarms.ELB, "HealthyHostCount", "Minimum"),),
            expression=None,
            threshold=minimum,
            comparison="LessThanThreshold",
            meaning=kind.meaning.replace(
                "fewer tasks than it wants", f"fewer healthy tasks than its minimum ({minimum}) behind the ALB"
            ),  # fmt: skip
        )
    if kind.key == "connections-high" and "connections-high" not in cfg.monitoring.alarms:
        access = cfg.database.access
        return dataclasses.replace(kind, threshold=int(0.8 * (access.app_connection_limit +
                                                              access.readonly_connection_limit)))  # fmt: skip
    return kind


def _dimensions_for(kind: AlarmKind, thing: Watched, cfg: EnvConfig) -> dict[str, Any]:
    """A target-group metric watched for a service (the fallback above) needs the target group's dimensions."""
    if kind.per == "service" and kind.metrics[0].namespace == alarms.ELB:
        return {
            "TargetGroup": Ref(compute.OUT_TARGET_GROUP[thing.thing]),
            "LoadBalancer": Ref(compute.OUT_ALB_FULL_NAME),
        }
    return thing.dimensions


@dataclass(frozen=True)
class Planned:
    """One kind on one thing in this environment: its graph always, its alarm when enabled."""

    kind: AlarmKind
    thing: Watched
    dimensions: dict[str, Any]
    alarmed: bool
    alarm_name: str


def plan(cfg: EnvConfig) -> list[Planned]:
    """Every graph and alarm of the environment, in the catalogue's order."""
    made = []
    for base in (*alarms.KINDS, *alarms.GRAPHS):
        enabled, kind = alarmsettings.settings(cfg, base)
        for thing in watched(cfg, kind.per):
            adapted = _adapted(cfg, kind, thing)
            if adapted is None:
                continue
            made.append(
                Planned(
                    adapted,
                    thing,
                    _dimensions_for(adapted, thing, cfg),
                    enabled and adapted.alarm,
                    name(cfg, thing.thing, adapted.key),
                )
            )
    return made


def alarm_names(cfg: EnvConfig) -> list[str]:
    """Every alarm the environment gets, the composite last (README's environment table, rollback checks)."""
    return [p.alarm_name for p in plan(cfg) if p.alarmed] + [name(cfg, alarms.APP_UNHEALTHY)]


def rollback_problems(cfg: EnvConfig) -> list[tuple[str, str]]:
    """A rollback trigger must be an alarm this environment makes (CloudFormation fails a deploy for a missing
    one); params.load reports it at its key like every other rule."""
    made = alarm_names(cfg)
    missing = [a for a in cfg.monitoring.rollback.alarms if name(cfg, a) not in made]
    if not missing:
        return []
    short = ", ".join(n.removeprefix(name(cfg) + "-") for n in made)
    return [("monitoring.rollback.alarms", f"{', '.join(map(repr, missing))}: no such alarm in this environment "
             f"(params turn it off, or it does not exist); alarms here: {short}")]  # fmt: skip


def build(cfg: EnvConfig) -> Template:
    """The monitoring stack of one environment."""
    t = Template(Description=description(cfg, "monitoring: alarm topic, alarms, dashboard, saved queries"))
    for title, type_, text in _inputs(cfg):
        t.add_parameter(Parameter(title, Type=type_, Description=text))
    topic = _add_topic(t, cfg)
    planned = plan(cfg)
    made = {p.alarm_name: t.add_resource(_alarm(cfg, p, topic)) for p in planned if p.alarmed}
    composite = _add_composite(t, cfg, planned, made, topic)
    _add_deployment_failures(t, cfg, topic)
    if cfg.monitoring.dashboard:
        _add_dashboard(t, cfg, planned, [*made.values(), composite])
    _add_saved_queries(t, cfg)
    t.add_output(
        Output(OUT_TOPIC, Description="Where every alarm and ECS deployment failure is sent", Value=Ref(topic))
    )
    t.add_output(Output(OUT_APP_UNHEALTHY, Description="The alarm that pages, and the deploys' rollback trigger",
                        Value=Ref(composite)))  # fmt: skip
    if cfg.monitoring.dashboard:
        t.add_output(Output(OUT_DASHBOARD, Description="The environment's dashboard", Value=name(cfg)))
    return t


def _add_topic(t: Template, cfg: EnvConfig) -> sns.Topic:
    key = {"KmsMasterKeyId": Ref(storage.OUT_KEY_ARN)} if cfg.storage.encryption == "KMS" else {}
    topic = sns.Topic("AlarmTopic", TopicName=name(cfg, "alarms"), **key, Tags=tags(cfg, MODULE, name(cfg, "alarms")))
    topic = t.add_resource(topic if key else skip(topic, NO_KEY_FOR_THE_ALARM_TOPIC))
    t.add_resource(sns.TopicPolicy("AlarmTopicPolicy", Topics=[Ref(topic)],
                                   PolicyDocument=policies.alarm_topic_policy(Ref(topic))))  # fmt: skip
    endpoints = [("email", e) for e in cfg.monitoring.email] + [("https", u) for u in cfg.monitoring.https]
    for i, (protocol, endpoint) in enumerate(endpoints, 1):
        t.add_resource(
            sns.SubscriptionResource(
                logical_id("alarm", "subscription", i), TopicArn=Ref(topic), Protocol=protocol, Endpoint=endpoint
            )
        )
    return topic


def _description(kind: AlarmKind) -> str:
    return kind.meaning.format(
        threshold=f"{kind.threshold:g}", datapoints=kind.datapoints, evaluation_periods=kind.evaluation_periods
    )


def _threshold(kind: AlarmKind) -> float:
    return kind.threshold * MIB if kind.unit == "MiB" else kind.threshold


def _dims(dimensions: dict[str, Any]) -> list[cloudwatch.MetricDimension]:
    return [cloudwatch.MetricDimension(Name=k, Value=v) for k, v in dimensions.items()]


def _alarm(cfg: EnvConfig, p: Planned, topic: sns.Topic) -> cloudwatch.Alarm:
    kind = p.kind
    common: dict[str, Any] = {
        "AlarmName": p.alarm_name,
        "AlarmDescription": _description(kind),
        "ComparisonOperator": kind.comparison,
        "Threshold": _threshold(kind),
        "EvaluationPeriods": kind.evaluation_periods,
        "DatapointsToAlarm": kind.datapoints,
        "TreatMissingData": kind.missing,
        "AlarmActions": [Ref(topic)],
        "OKActions": [Ref(topic)],
        "Tags": tags(cfg, MODULE, p.alarm_name),
    }
    if kind.expression is None:
        (metric,) = kind.metrics
        stat = {"ExtendedStatistic": metric.statistic} if metric.statistic.startswith("p") else {
            "Statistic": metric.statistic}  # fmt: skip
        metric_props = {"Namespace": metric.namespace, "MetricName": metric.name, "Dimensions": _dims(p.dimensions)}
        return cloudwatch.Alarm(_alarm_id(p), **common, **metric_props, Period=kind.period, **stat)
    queries = [
        cloudwatch.MetricDataQuery(
            Id=m.id,
            MetricStat=cloudwatch.MetricStat(
                Metric=cloudwatch.Metric(Namespace=m.namespace, MetricName=m.name, Dimensions=_dims(p.dimensions)),
                Period=kind.period,
                Stat=m.statistic,
            ),
            ReturnData=False,
        )
        for m in kind.metrics
    ]
    queries.append(cloudwatch.MetricDataQuery(Id="e", Expression=kind.expression, Label=kind.title, ReturnData=True))
    return cloudwatch.Alarm(_alarm_id(p), **common, Metrics=queries)


def _alarm_id(p: Planned) -> str:
    return logical_id(p.thing.thing, p.kind.key, "alarm")


def _add_composite(
    t: Template, cfg: EnvConfig, planned: list[Planned], made: dict[str, cloudwatch.Alarm], topic: sns.Topic
) -> cloudwatch.CompositeAlarm:
    """ALARM when any alarm that means users are affected is; where none is enabled, never (FALSE)."""
    paging = [p.alarm_name for p in planned if p.alarmed and p.kind.users_affected]
    rule = " OR ".join(f'ALARM("{n}")' for n in paging) or "FALSE"
    return t.add_resource(
        cloudwatch.CompositeAlarm(
            "AppUnhealthyAlarm",
            AlarmName=name(cfg, alarms.APP_UNHEALTHY),
            AlarmDescription="Users are affected: "
            + (", ".join(paging) or "no such alarm is enabled here")
            + ". This is the alarm that pages, and deploys that set it off are rolled back. Look first at the "
            "member alarm in ALARM.",
            AlarmRule=rule,
            AlarmActions=[Ref(topic)],
            OKActions=[Ref(topic)],
            Tags=tags(cfg, MODULE, name(cfg, alarms.APP_UNHEALTHY)),
            DependsOn=[made[n].title for n in paging],
        )
    )


def _add_deployment_failures(t: Template, cfg: EnvConfig, topic: sns.Topic) -> None:
    """ECS tells EventBridge when a deployment fails (the circuit breaker rolled it back): to the topic too."""
    t.add_resource(
        events.Rule(
            "DeploymentFailedRule",
            Name=name(cfg, "ecs-deployment-failed"),
            Description="An ECS deployment of this environment failed and was rolled back by the circuit breaker",
            EventPattern={
                "source": ["aws.ecs"],
                "detail-type": ["ECS Deployment State Change"],
                "resources": [
                    {
                        "prefix": Sub(
                            f"arn:${{AWS::Partition}}:ecs:${{AWS::Region}}:${{AWS::AccountId}}:"
                            f"service/${{{compute.OUT_CLUSTER}}}/"
                        )
                    }
                ],  # fmt: skip
                "detail": {"eventName": ["SERVICE_DEPLOYMENT_FAILED"]},
            },
            Targets=[events.Target(Id="alarm-topic", Arn=Ref(topic))],
            Tags=tags(cfg, MODULE, name(cfg, "ecs-deployment-failed")),
        )
    )


class _Body:
    """A dashboard body as Fn::Sub text: values CloudFormation knows only at deploy time become ${...}s.

    Each is named by what it is (${ApiTargetGroupFullName}, ${AppUnhealthyAlarm.Arn}, ${DatabaseInstanceIds0}),
    never by its position, so adding one graph changes that graph's lines in a review diff and nothing else."""

    def __init__(self) -> None:
        self.variables: dict[str, Any] = {}

    def value(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        data = value.to_dict()
        if set(data) == {"Ref"}:
            return "${" + data["Ref"] + "}"  # a parameter: Fn::Sub reads it by name
        if set(data) == {"Fn::GetAtt"}:
            return "${" + ".".join(data["Fn::GetAtt"]) + "}"
        if set(data) == {"Fn::Select"} and set(data["Fn::Select"][1]) == {"Ref"}:
            index, listed = data["Fn::Select"]
            var = f"{listed['Ref']}{index}"
        else:
            raise TypeError(f"no name for a dashboard value {data}")
        self.variables[var] = value
        return "${" + var + "}"


def _graphs(cfg: EnvConfig, planned: list[Planned], body: _Body) -> Iterator[dict[str, Any]]:
    for p in planned:
        kind = p.kind
        dims = [x for k, v in p.dimensions.items() for x in (k, body.value(v))]
        options: dict[str, Any] = {}
        if kind.expression is None:
            (m,) = kind.metrics
            series: list[Any] = [[m.namespace, m.name, *dims, {"stat": m.statistic}]]
        else:
            series = [[{"expression": kind.expression, "label": kind.title, "id": "e"}]]
            series += [[m.namespace, m.name, *dims, {"stat": m.statistic, "id": m.id, "visible": False}]
                       for m in kind.metrics]  # fmt: skip
        if p.alarmed:
            options["annotations"] = {"horizontal": [{"label": p.alarm_name, "value": _threshold(kind)}]}
        yield {
            "type": "metric",
            "width": 8,
            "height": 6,
            "properties": {
                "title": f"{p.thing.thing}: {kind.title}",
                "region": "${AWS::Region}",
                "period": kind.period,
                "view": "timeSeries",
                "metrics": series,
                **options,
            },
        }


def _add_dashboard(t: Template, cfg: EnvConfig, planned: list[Planned], made: list[Any]) -> None:
    body = _Body()
    widgets: list[dict[str, Any]] = [
        {
            "type": "alarm",
            "width": 24,
            "height": 4,
            "properties": {"title": "Alarms", "alarms": [body.value(GetAtt(a, "Arn")) for a in made]},
        },
        *_graphs(cfg, planned, body),
    ]
    # A line per widget: a review diff shows which graph changed, and the body stays compact.
    text = '{"widgets": [\n' + ",\n".join(json.dumps(w, separators=(",", ":")) for w in widgets) + "\n]}"
    t.add_resource(
        cloudwatch.Dashboard(
            "Dashboard",
            DashboardName=name(cfg),
            DashboardBody=Sub(text, **body.variables),
            Tags=tags(cfg, MODULE, name(cfg)),
        )
    )


ERRORS = (
    "fields @timestamp, @logStream, @message\n| filter @message like /(?i)(error|exception|traceback)/\n"
    "| sort @timestamp desc\n| limit 100"
)
# (name, whose log group, query): the usual questions, run over the last hour (or any range) in Logs Insights.
QUERIES: tuple[tuple[str, str, str], ...] = (
    ("api errors", "api", ERRORS),
    ("ui errors", "ui", ERRORS),
    ("slowest requests", "api", "fields @timestamp, path, status, duration_ms\n| filter ispresent(duration_ms)\n"
     "| sort duration_ms desc\n| limit 50"),
    ("sql statements that timed out", "aurora", "fields @timestamp, @message\n"
     "| filter @message like /canceling statement due to statement timeout/\n| sort @timestamp desc\n| limit 100"),
    ("waf blocks by rule", "waf", 'filter action = "BLOCK"\n| stats count(*) as blocks by terminatingRuleId\n'
     "| sort blocks desc"),
)  # fmt: skip


def _add_saved_queries(t: Template, cfg: EnvConfig) -> None:
    """Logs Insights queries for the usual questions, in a folder named after the environment."""
    groups: dict[str, Any] = {
        **{svc.key: Ref(compute.OUT_LOG_GROUP[svc.key]) for svc in SERVICES},
        "aurora": Sub(f"/aws/rds/cluster/${{{database.OUT_CLUSTER_ID}}}/postgresql"),
    }
    if cfg.compute.waf.enabled:
        groups["waf"] = Ref(compute.OUT_WAF_LOG_GROUP)
    for title, group, query in QUERIES:
        if group in groups:
            t.add_resource(
                logs.QueryDefinition(
                    logical_id(title, "query"),
                    Name=f"{name(cfg)}/{title}",
                    LogGroupNames=[groups[group]],
                    QueryString=query,
                )  # fmt: skip
            )
