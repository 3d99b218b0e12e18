"""The monitoring stack, read from the committed templates: alarm coverage per environment, thresholds from params,
the dashboard and the alarms from one list, the composite that pages."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from builders import alarms, alarmsettings, monitoring, params
from builders.build import pipeline
from builders.errors import ConfigError
from tests.conftest import ENVS, PARAMS, props, resources, template


def _alarms(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {props(a)["AlarmName"]: props(a) for a in resources(doc, "AWS::CloudWatch::Alarm").values()}


def _names(doc: dict[str, Any], type_: str) -> list[str]:
    return list(resources(doc, type_))


@pytest.mark.parametrize("env", ENVS)
def test_every_service_target_group_instance_and_nat_gateway_has_its_alarms(env: str) -> None:
    """The table of what must be watched, from the other stacks' templates (not from the monitoring builder)."""
    cfg = params.load(PARAMS / f"{env}.yaml")
    made = _alarms(template(env, "monitoring"))
    services = [props(s)["ServiceName"] if "ServiceName" in props(s) else k.removesuffix("Service").lower()
                for k, s in resources(template(env, "compute"), "AWS::ECS::Service").items()]  # fmt: skip
    services = [s.rsplit("-", 1)[-1] for s in services]
    instances = _names(template(env, "database"), "AWS::RDS::DBInstance")
    nats = _names(template(env, "network"), "AWS::EC2::NatGateway")
    expected = {
        "alb": ["target-5xx-rate", "elb-5xx", "latency-p95", "latency-p99", "rejected-connections"],
        **{svc: ["unhealthy-hosts", "5xx-rate", "tasks-below-desired", "cpu-high", "memory-high"] for svc in services},
        **{
            ("aurora-writer" if i == "DatabaseWriter" else f"aurora-{i.removeprefix('Database').lower()}"): [
                "cpu-high",
                "acu-near-max",
                "freeable-memory-low",
                "connections-high",
                "deadlocks",
                "disk-queue",
                *(["replica-lag"] if i != "DatabaseWriter" else []),
            ]
            for i in instances
        },  # fmt: skip
        **{f"nat-{n.removeprefix('NatGateway').lower()}": ["port-allocation-errors", "packets-dropped"] for n in nats},
        "setup-sql": ["errors", "throttles"],
        **({"waf": ["blocked-requests"]} if cfg.compute.waf.enabled else {}),
    }
    wanted = {f"nlsql-{env}-{thing}-{key}" for thing, keys in expected.items() for key in keys}
    if cfg.monitoring.alarms_by_default:
        assert set(made) == wanted, sorted(set(made) ^ wanted)
    else:  # dev: exactly the kinds its params enable, each on everything it watches
        enabled = {k for k, v in cfg.monitoring.alarms.items() if v.enabled}
        assert set(made) == {n for n in wanted if n.split("-", 3)[-1] in enabled or
                             any(n.endswith("-" + k) for k in enabled)}  # fmt: skip
        assert made and len(made) < len(wanted) / 4, "dev keeps only a few"
    for alarm in made.values():
        assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "AlarmTopic"}], "ALARM and OK are told"
        assert alarm["TreatMissingData"] in {"breaching", "notBreaching", "ignore", "missing"}
        assert "Look first at" in alarm["AlarmDescription"], "what it means, and what to look at first"


@pytest.mark.parametrize("env", ENVS)
def test_the_composite_pages_on_exactly_the_alarms_that_mean_users_are_affected(env: str) -> None:
    doc = template(env, "monitoring")
    (composite,) = resources(doc, "AWS::CloudWatch::CompositeAlarm").values()
    named = set(props(composite)["AlarmRule"].replace('ALARM("', "").replace('")', "").split(" OR "))
    users = {k.key for k in alarms.KINDS if k.users_affected}
    made = _alarms(doc)
    assert named == {n for n in made if any(n.endswith("-" + key) for key in users)}
    assert props(composite)["AlarmName"] == f"nlsql-{env}-app-unhealthy"
    assert doc["Outputs"]["AppUnhealthyAlarmName"]["Value"] == {"Ref": "AppUnhealthyAlarm"}


def _threshold(cfg: Any, name: str) -> float:
    (doc,) = [a.doc for a in pipeline.render(cfg) if a.relpath.endswith("/monitoring.yaml")]
    return _alarms(doc)[name]["Threshold"]


def test_thresholds_and_periods_come_from_params(tmp_path: Path) -> None:
    text = (PARAMS / "prod.yaml").read_text()
    overrides = (
        "  alarms:\n    latency-p99: {threshold: 20, period_seconds: 300, evaluation_periods: 3, datapoints: 2}\n"
        "    aurora.cpu-high: {enabled: false}\n"
    )
    edited = text.replace("monitoring:\n", "monitoring:\n" + overrides, 1)
    (tmp_path / "prod.yaml").write_text(edited)
    cfg = params.load(tmp_path / "prod.yaml")
    (doc,) = [a.doc for a in pipeline.render(cfg) if a.relpath.endswith("/monitoring.yaml")]
    p99 = _alarms(doc)["nlsql-prod-alb-latency-p99"]
    assert (p99["Threshold"], p99["Period"], p99["EvaluationPeriods"], p99["DatapointsToAlarm"]) == (20, 300, 3, 2)
    assert not any(n.startswith("nlsql-prod-aurora-") and n.endswith("-cpu-high") for n in _alarms(doc))
    assert "nlsql-prod-api-cpu-high" in _alarms(doc), "aurora.cpu-high is Aurora's, not the services'"
    default = _alarms(template("prod", "monitoring"))["nlsql-prod-alb-latency-p99"]
    assert default["Threshold"] != 20


@pytest.mark.parametrize("env", ENVS)
def test_the_dashboard_graphs_every_alarm_s_metric_and_shows_every_alarm(env: str) -> None:
    doc = template(env, "monitoring")
    (dashboard,) = resources(doc, "AWS::CloudWatch::Dashboard").values()
    body, variables = props(dashboard)["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(body)["widgets"]
    graphed = [(m[0], m[1]) for w in widgets if w["type"] == "metric" for m in w["properties"]["metrics"]
               if isinstance(m[0], str)]  # fmt: skip
    for alarm in _alarms(doc).values():
        metrics = [(alarm["Namespace"], alarm["MetricName"])] if "MetricName" in alarm else [
            (q["MetricStat"]["Metric"]["Namespace"], q["MetricStat"]["Metric"]["MetricName"])
            for q in alarm["Metrics"] if "MetricStat" in q]  # fmt: skip
        assert set(metrics) <= set(graphed), alarm["AlarmName"]
    (status,) = [w for w in widgets if w["type"] == "alarm"]
    shown = {v.strip("${}").removesuffix(".Arn") for v in status["properties"]["alarms"]}
    assert shown == set(resources(doc, "AWS::CloudWatch::Alarm")) | {"AppUnhealthyAlarm"}
    for ref in set(re.findall(r"\$\{([^}]+)\}", body)):  # each must be something Fn::Sub can resolve
        known = ref in variables or ref in doc["Parameters"] or ref.startswith("AWS::")
        assert known or ref.split(".")[0] in doc["Resources"], ref
    annotated = {a["label"] for w in widgets for a in w["properties"].get("annotations", {}).get("horizontal", [])}
    assert annotated == set(_alarms(doc)), "each alarm's threshold is drawn on its graph"
    assert {"RequestCount", "BytesOutToDestination", "ReadLatency"} <= {n for _, n in graphed}


def test_the_topic_is_encrypted_where_there_is_a_key_and_the_saved_queries_exist() -> None:
    for env in ENVS:
        doc = template(env, "monitoring")
        (topic,) = resources(doc, "AWS::SNS::Topic").values()
        has_key = "KmsKeyArn" in doc["Parameters"]
        assert ("KmsMasterKeyId" in props(topic)) is has_key
        queries = {props(q)["Name"] for q in resources(doc, "AWS::Logs::QueryDefinition").values()}
        waf = params.load(PARAMS / f"{env}.yaml").compute.waf.enabled
        assert queries == {f"nlsql-{env}/{q}" for q, group, _ in monitoring.QUERIES if group != "waf" or waf}
        (rule,) = resources(doc, "AWS::Events::Rule").values()
        assert props(rule)["EventPattern"]["detail"] == {"eventName": ["SERVICE_DEPLOYMENT_FAILED"]}


def test_a_rollback_trigger_that_is_no_alarm_here_is_refused_at_its_key(tmp_path: Path) -> None:
    text = (PARAMS / "prod.yaml").read_text().replace("alarms: [app-unhealthy]", "alarms: [app-unhealty]")
    (tmp_path / "prod.yaml").write_text(text)
    with pytest.raises(ConfigError, match=r"monitoring\.rollback\.alarms: 'app-unhealty': no such alarm"):
        params.load(tmp_path / "prod.yaml")
    (tmp_path / "prod.yaml").write_text((PARAMS / "prod.yaml").read_text().replace(
        "monitoring:\n", "monitoring:\n  alarms:\n    latency-p100: {enabled: true}\n", 1))  # fmt: skip
    with pytest.raises(ConfigError, match=r"no alarm kind 'latency-p100' \(did you mean 'latency-p99'\?\)"):
        params.load(tmp_path / "prod.yaml")


@pytest.mark.parametrize("env", ENVS)
def test_the_cost_estimate_counts_the_alarms_the_composite_and_the_dashboard(env: str) -> None:
    from builders.docs import cost

    cfg = params.load(PARAMS / f"{env}.yaml")
    (estimate,) = cost.estimate(pipeline.render(cfg), cost.load_prices())
    doc = template(env, "monitoring")
    count = len(resources(doc, "AWS::CloudWatch::Alarm"))
    alarms_item = estimate.item("alarms")
    assert alarms_item is not None and alarms_item.quantity.startswith(f"{count} alarm")
    assert estimate.item("composite-alarms") is not None
    assert (estimate.item("dashboards") is not None) is cfg.monitoring.dashboard


def _services(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k.removesuffix("Service").lower(): props(s) for k, s in resources(doc, "AWS::ECS::Service").items()}


@pytest.mark.parametrize("env", ENVS)
def test_each_service_rolls_back_on_its_own_alarms_which_the_monitoring_stack_makes(env: str) -> None:
    """Read from both committed templates: ECS names its deployment alarms, the monitoring stack must make
    exactly those names (a name with no alarm would never fire), each watching that service's target group."""
    made = _alarms(template(env, "monitoring"))
    cfg = params.load(PARAMS / f"{env}.yaml")
    for svc, service in _services(template(env, "compute")).items():
        deployment = service["DeploymentConfiguration"]
        assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
        wanted = [f"nlsql-{env}-{svc}-{k.key}" for k in alarms.KINDS if k.deployment
                  and alarmsettings.settings(cfg, k)[0]]  # fmt: skip
        if not wanted:  # dev: its params turn these kinds off, so ECS is given no alarms at all
            assert "Alarms" not in deployment
            continue
        assert deployment["Alarms"] == {"AlarmNames": wanted, "Enable": True, "Rollback": True}
        for alarm_name in wanted:
            assert alarm_name in made, f"{alarm_name}: ECS watches an alarm nobody makes"
            dims = made[alarm_name].get("Dimensions") or [
                d
                for q in made[alarm_name]["Metrics"]
                if "MetricStat" in q
                for d in q["MetricStat"]["Metric"]["Dimensions"]
            ]
            assert {"Name": "TargetGroup", "Value": {"Ref": f"{svc.capitalize()}TargetGroupFullName"}} in dims


def test_a_deployment_alarm_params_turn_on_in_dev_is_given_to_ecs_and_made(tmp_path: Path) -> None:
    dev = (PARAMS / "dev.yaml").read_text()
    assert "    5xx-rate:" not in dev
    (tmp_path / "dev.yaml").write_text(dev.replace("  alarms:\n", "  alarms:\n    5xx-rate:\n      enabled: true\n", 1))
    cfg = params.load(tmp_path / "dev.yaml")
    docs = {a.relpath.rsplit("/", 1)[-1].removesuffix(".yaml"): a.doc for a in pipeline.render(cfg)}
    service = _services(docs["compute"])["api"]
    assert service["DeploymentConfiguration"]["Alarms"]["AlarmNames"] == ["nlsql-dev-api-5xx-rate"]
    assert "nlsql-dev-api-5xx-rate" in _alarms(docs["monitoring"])
