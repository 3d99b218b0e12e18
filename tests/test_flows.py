"""The build's proof of the network flows: it holds on the real templates, and each rule or route broken on
purpose (in a copy of the rendered template dicts) fails it, naming the environment, the flow and the culprit."""

from __future__ import annotations

import copy
import dataclasses
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from builders import params
from builders.build import flows, pipeline
from builders.build.pipeline import Artifact
from builders.config import EnvConfig
from builders.docs import readme
from builders.errors import BuildError
from tests.conftest import ENVS, PARAMS, REPO, scratch_repo, tree_digest

Doc = dict[str, Any]


@cache
def _rendered() -> tuple[tuple[Artifact, ...], dict[str, EnvConfig]]:
    configs = {env: params.load(PARAMS / f"{env}.yaml") for env in ENVS}
    return tuple(a for cfg in configs.values() for a in pipeline.render(cfg)), configs


def _broken(env: str, module: str, edit: Callable[[Doc], None]) -> list[Artifact]:
    """Every environment's artifacts, with `edit` applied to a deep copy of one template's dict."""
    artifacts, _ = _rendered()
    out = []
    for a in artifacts:
        if a.env == env and a.filename == f"{module}.yaml":
            doc = copy.deepcopy(a.doc)
            edit(doc)
            a = dataclasses.replace(a, doc=doc)
        out.append(a)
    return out


def _failures(artifacts: list[Artifact]) -> list[flows.Verdict]:
    return [v for v in flows.prove(artifacts, _rendered()[1]) if not v.holds]


def _message(artifacts: list[Artifact]) -> str:
    with pytest.raises(BuildError) as caught:
        flows.check(flows.prove(artifacts, _rendered()[1]))
    return str(caught.value)


def _props(doc: Doc, logical_id: str) -> Doc:
    return doc["Resources"][logical_id]["Properties"]


# --- the real templates ------------------------------------------------------------------------------------------


def test_every_flow_holds_in_every_environment() -> None:
    artifacts, configs = _rendered()
    verdicts = flows.prove(artifacts, configs)
    flows.check(verdicts)  # raises on any flow that does not hold
    assert {v.env for v in verdicts} == set(ENVS)
    for env in ENVS:
        mine = {v.flow: v for v in verdicts if v.env == env}
        required = [v for v in mine.values() if v.required]
        forbidden = [v for v in mine.values() if not v.required]
        assert all(v.possible for v in required) and not any(v.possible for v in forbidden)
        for flow in (
            "internet → ALB",
            "ALB → Streamlit UI",
            "ALB → NL-to-SQL API",
            "Streamlit UI → NL-to-SQL API (Service Connect)",
            "NL-to-SQL API → Aurora writer (DB_HOST)",
            "NL-to-SQL API → Aurora reader (DB_READER_HOST)",
            "tasks (API) → Bedrock",
            "pgvector custom resource → RDS Data API",
        ):
            assert mine[flow].required, (env, flow)
        for flow in ("internet → Aurora", "Aurora → anywhere", "database subnets → internet (routing)"):
            assert not mine[flow].required, (env, flow)


def test_the_port_served_to_the_internet_follows_tls() -> None:
    """Dev has no certificate: the app is served on 80 there; staging and prod on 443."""
    artifacts, configs = _rendered()
    entry = {v.env: v.port for v in flows.prove(artifacts, configs) if v.flow == "internet → ALB"}
    assert entry == {env: "443/tcp" if configs[env].compute.tls else "80/tcp" for env in ENVS}
    assert entry["dev"] == "80/tcp" and entry["prod"] == "443/tcp"


def test_paths_follow_each_environment_s_endpoints_and_nat_gateways() -> None:
    """Dev has no endpoints (everything through its one NAT); staging and prod reach ECR and Logs
    through interface endpoints and S3 through the gateway endpoint; Bedrock has no endpoint anywhere."""
    artifacts, configs = _rendered()
    path = {(v.env, v.flow): v.path for v in flows.prove(artifacts, configs)}
    assert path["dev", "tasks (API, UI) → ECR API (image manifests)"] == "via NAT gateway NatGatewayA"
    assert path["dev", "tasks (API, UI) → S3 (image layers, the data lake)"] == "via NAT gateway NatGatewayA"
    for env in ("staging", "prod"):
        assert path[env, "tasks (API, UI) → ECR registry (image pulls)"] == "via interface endpoint EcrDkrEndpoint"
        assert path[env, "tasks (API, UI) → S3 (image layers, the data lake)"] == (
            "via S3 gateway endpoint S3GatewayEndpoint"
        )
    assert path["prod", "tasks (API) → Bedrock"] == "via NAT gateways NatGatewayA, NatGatewayB, NatGatewayC"
    assert path["staging", "tasks (API) → Bedrock"] == "via NAT gateway NatGatewayA"
    assert path["dev", "internet → ALB"].startswith("via internet gateway InternetGateway")


def test_the_proof_is_cheap() -> None:
    import time

    artifacts, configs = _rendered()
    started = time.perf_counter()
    flows.prove(artifacts, configs)
    assert time.perf_counter() - started < 0.5  # pure dict walking: milliseconds, with room for a busy machine


# --- broken on purpose ---------------------------------------------------------------------------------------------


def _drop_inline(group: str, key: str, port: int) -> Callable[[Doc], None]:
    def edit(doc: Doc) -> None:
        rules = _props(doc, group)[key]
        kept = [r for r in rules if r.get("FromPort") != port]
        assert len(kept) == len(rules) - 1
        _props(doc, group)[key] = kept

    return edit


@pytest.mark.parametrize("env", ENVS)
def test_without_the_tasks_egress_to_aurora_the_api_cannot_reach_it(env: str) -> None:
    broken = _failures(_broken(env, "network", _drop_inline("EcsTasksSecurityGroup", "SecurityGroupEgress", 5432)))
    assert {(v.env, v.flow) for v in broken} == {
        (env, "NL-to-SQL API → Aurora writer (DB_HOST)"),
        (env, "NL-to-SQL API → Aurora reader (DB_READER_HOST)"),
    }
    for v in broken:
        assert "no egress rule of ecs-tasks-sg (EcsTasksSecurityGroup) allows 5432/tcp to Aurora" in v.reason


def test_the_message_names_the_environment_the_flow_and_the_rule() -> None:
    message = _message(_broken("prod", "network", _drop_inline("EcsTasksSecurityGroup", "SecurityGroupEgress", 5432)))
    assert message.startswith("2 network flow(s) do not hold; nothing was written:\n")
    assert (
        "  prod: NL-to-SQL API → Aurora writer (DB_HOST) (5432/tcp) must be possible but is not: "
        "no egress rule of ecs-tasks-sg (EcsTasksSecurityGroup) allows 5432/tcp to Aurora"
    ) in message


@pytest.mark.parametrize("env", ENVS)
def test_a_default_route_in_the_database_route_table_is_named(env: str) -> None:
    def edit(doc: Doc) -> None:
        doc["Resources"]["DatabaseDefaultRoute"] = {
            "Type": "AWS::EC2::Route",
            "Properties": {
                "RouteTableId": {"Ref": "DatabaseRouteTable"},
                "DestinationCidrBlock": "0.0.0.0/0",
                "NatGatewayId": {"Ref": "NatGatewayA"},
            },
        }

    (v,) = _failures(_broken(env, "network", edit))
    assert (v.env, v.flow, v.required, v.possible) == (env, "database subnets → internet (routing)", False, True)
    assert "DatabaseDefaultRoute in DatabaseRouteTable sends 0.0.0.0/0 out of the VPC" in v.reason


def test_an_aurora_ingress_from_anywhere_is_named_inline() -> None:
    def edit(doc: Doc) -> None:
        _props(doc, "AuroraSecurityGroup")["SecurityGroupIngress"] = [
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "CidrIp": "0.0.0.0/0"}
        ]

    broken = {v.flow: v for v in _failures(_broken("staging", "network", edit))}
    assert set(broken) == {"internet → Aurora", "any other address in the VPC → Aurora"}
    assert "AuroraSecurityGroup.SecurityGroupIngress[0] (5432/tcp from 0.0.0.0/0)" in broken["internet → Aurora"].reason


def test_an_aurora_ingress_from_anywhere_is_named_standalone() -> None:
    def edit(doc: Doc) -> None:
        doc["Resources"]["AuroraFromAnywhere"] = {
            "Type": "AWS::EC2::SecurityGroupIngress",
            "Properties": {
                "GroupId": {"Fn::GetAtt": ["AuroraSecurityGroup", "GroupId"]},
                "IpProtocol": "-1",
                "CidrIp": "0.0.0.0/0",
            },
        }

    message = _message(_broken("dev", "network", edit))
    assert "dev: internet → Aurora (any) must be impossible but is possible: allowed by AuroraFromAnywhere" in message


def test_an_aurora_ingress_from_the_alb_is_still_closed_by_the_alb_s_egress() -> None:
    """Both sides must allow a flow: a rule on one side only opens nothing."""

    def edit(doc: Doc) -> None:
        doc["Resources"]["AuroraFromAlb"] = {
            "Type": "AWS::EC2::SecurityGroupIngress",
            "Properties": {
                "GroupId": {"Fn::GetAtt": ["AuroraSecurityGroup", "GroupId"]},
                "IpProtocol": "tcp",
                "FromPort": 5432,
                "ToPort": 5432,
                "SourceSecurityGroupId": {"Fn::GetAtt": ["AlbSecurityGroup", "GroupId"]},
            },
        }

    assert _failures(_broken("prod", "network", edit)) == []

    def also_egress(doc: Doc) -> None:
        edit(doc)
        _props(doc, "AlbSecurityGroup")["SecurityGroupEgress"].append(
            {
                "IpProtocol": "tcp",
                "FromPort": 5432,
                "ToPort": 5432,
                "DestinationSecurityGroupId": {"Fn::GetAtt": ["AuroraSecurityGroup", "GroupId"]},
            }
        )

    (v,) = _failures(_broken("prod", "network", also_egress))
    assert v.flow == "alb-sg → Aurora"
    assert "AlbSecurityGroup.SecurityGroupEgress[2]" in v.reason and "AuroraFromAlb" in v.reason


@pytest.mark.parametrize(
    ("egress", "culprit"),
    [
        ([{"IpProtocol": "-1", "CidrIp": "0.0.0.0/0"}], "AuroraSecurityGroup.SecurityGroupEgress[0]"),
        ([], "AuroraSecurityGroup (no SecurityGroupEgress: CloudFormation's default allow-all egress)"),
    ],
    ids=["allow-all", "no-egress-list"],
)
def test_aurora_egress_is_named(egress: list[Doc], culprit: str) -> None:
    def edit(doc: Doc) -> None:
        _props(doc, "AuroraSecurityGroup")["SecurityGroupEgress"] = egress

    (v,) = _failures(_broken("prod", "network", edit))
    assert v.flow == "Aurora → anywhere" and culprit in v.reason


def test_without_its_nat_route_dev_s_tasks_reach_no_aws_api() -> None:
    def edit(doc: Doc) -> None:
        del doc["Resources"]["PrivateADefaultRoute"]

    broken = _failures(_broken("dev", "network", edit))
    assert {v.flow for v in broken} == {
        "tasks (API, UI) → ECR API (image manifests)",
        "tasks (API, UI) → ECR registry (image pulls)",
        "tasks (API, UI) → S3 (image layers, the data lake)",
        "tasks (API, UI) → CloudWatch Logs",
        "tasks (API) → Bedrock",
    }
    for v in broken:
        assert "no route to 0.0.0.0/0 in PrivateARouteTable (the route table of PrivateSubnetA)" in v.reason


def test_without_its_nat_route_staging_loses_only_bedrock() -> None:
    """Staging's endpoints still carry ECR, Logs and S3; Bedrock has only the NAT."""

    def edit(doc: Doc) -> None:
        del doc["Resources"]["PrivateBDefaultRoute"]

    (v,) = _failures(_broken("staging", "network", edit))
    assert v.flow == "tasks (API) → Bedrock"
    assert "no route to 0.0.0.0/0 in PrivateBRouteTable" in v.reason


def test_a_nat_gateway_whose_public_subnet_has_no_way_out_is_named() -> None:
    def edit(doc: Doc) -> None:
        del doc["Resources"]["PublicDefaultRoute"]

    broken = {v.flow: v for v in _failures(_broken("prod", "network", edit))}
    assert "no route to 0.0.0.0/0 in PublicRouteTable" in broken["internet → ALB"].reason
    assert "NatGatewayA (the NAT gateway of PrivateADefaultRoute) cannot reach the internet" in (
        broken["tasks (API) → Bedrock"].reason
    )


def test_a_nat_gateway_whose_own_subnet_routes_to_a_nat_is_no_way_out() -> None:
    def edit(doc: Doc) -> None:
        _props(doc, "PublicDefaultRoute").pop("GatewayId")
        _props(doc, "PublicDefaultRoute")["NatGatewayId"] = {"Ref": "NatGatewayA"}

    broken = {v.flow: v for v in _failures(_broken("staging", "network", edit))}
    assert "PublicDefaultRoute in PublicRouteTable goes to NatGatewayA, a NAT gateway, not an internet gateway" in (
        broken["tasks (API) → Bedrock"].reason
    )
    assert "internet → ALB" in broken


@pytest.mark.parametrize("env", ENVS)
def test_without_the_alb_s_egress_to_the_ui_the_ui_is_unreachable(env: str) -> None:
    (v,) = _failures(_broken(env, "network", _drop_inline("AlbSecurityGroup", "SecurityGroupEgress", 8501)))
    assert v.flow == "ALB → Streamlit UI" and v.port == "8501/tcp"
    assert "no egress rule of alb-sg (AlbSecurityGroup) allows 8501/tcp to Streamlit UI tasks" in v.reason


def test_without_the_tasks_ingress_from_the_alb_the_ui_is_unreachable() -> None:
    def edit(doc: Doc) -> None:
        del doc["Resources"]["EcsFromAlb8501"]

    (v,) = _failures(_broken("prod", "network", edit))
    assert v.flow == "ALB → Streamlit UI"
    assert "no ingress rule of ecs-tasks-sg (EcsTasksSecurityGroup) allows 8501/tcp from the ALB" in v.reason


def test_without_the_api_listener_rule_the_alb_does_not_forward_to_the_api() -> None:
    def edit(doc: Doc) -> None:
        del doc["Resources"]["ApiListenerRule"]
        for service in ("ApiService", "UiService"):
            doc["Resources"][service]["DependsOn"].remove("ApiListenerRule")

    (v,) = _failures(_broken("staging", "compute", edit))
    assert v.flow == "ALB → NL-to-SQL API"
    assert "no listener of the ALB on 443 forwards to a target group that ApiService registers on 8000" in v.reason


def test_the_proof_follows_the_root_s_wiring() -> None:
    """Wire alb-sg into the compute stack's tasks parameter: only the root changes, and the tasks now sit in a
    group the internet may reach."""

    def edit(doc: Doc) -> None:
        wiring = _props(doc, "Compute")["Parameters"]
        wiring["EcsTasksSecurityGroupId"] = {"Fn::GetAtt": ["Network", "Outputs.AlbSecurityGroupId"]}

    broken = {v.flow: v for v in _failures(_broken("prod", "root", edit))}
    assert "internet → NL-to-SQL API tasks" in broken and "internet → Streamlit UI tasks" in broken
    assert "AlbSecurityGroup.SecurityGroupIngress[0] (80/tcp from 0.0.0.0/0)" in (
        broken["internet → Streamlit UI tasks"].reason
    )
    assert "NL-to-SQL API → Aurora writer (DB_HOST)" in broken  # aurora-sg lets only ecs-tasks-sg in


def test_an_api_without_db_host_has_no_writer_and_aurora_is_still_held_closed() -> None:
    def edit(doc: Doc) -> None:
        (container,) = _props(doc, "ApiTaskDefinition")["ContainerDefinitions"]
        container["Environment"] = [e for e in container["Environment"] if e["Name"] != "DB_HOST"]

    verdicts = flows.prove(_broken("prod", "compute", edit), _rendered()[1])
    (v,) = [v for v in verdicts if not v.holds]
    assert (v.env, v.flow, v.reason) == (
        "prod",
        "NL-to-SQL API → Aurora writer (DB_HOST)",
        "the API's containers have no DB_HOST",
    )
    assert {"internet → Aurora", "Aurora → anywhere"} <= {x.flow for x in verdicts if x.env == "prod"}


def test_an_interface_endpoint_that_lets_nothing_in_is_named() -> None:
    """With an endpoint (private DNS on), the API name resolves to it: its group must let the tasks in."""
    broken = _failures(
        _broken("staging", "network", _drop_inline("VpcEndpointsSecurityGroup", "SecurityGroupIngress", 443))
    )
    assert {x.flow for x in broken} == {
        "tasks (API, UI) → ECR API (image manifests)",
        "tasks (API, UI) → ECR registry (image pulls)",
        "tasks (API, UI) → CloudWatch Logs",
    }
    assert all(
        "no ingress rule of vpc-endpoints-sg (VpcEndpointsSecurityGroup) allows 443/tcp" in x.reason for x in broken
    )


def test_a_custom_resource_function_put_in_the_database_subnets_has_no_way_to_its_api() -> None:
    def edit(doc: Doc) -> None:
        _props(doc, "PgVectorFunction")["VpcConfig"] = {
            "SubnetIds": {"Ref": "DatabaseSubnetIds"},
            "SecurityGroupIds": [{"Ref": "AuroraSecurityGroupId"}],
        }

    broken = _failures(_broken("prod", "database", edit))  # both set-up SQL resources run on that function
    assert {v.flow for v in broken} == {
        "pgvector custom resource → RDS Data API",
        "database-roles custom resource → RDS Data API",
    }
    assert all("no route to 0.0.0.0/0 in DatabaseRouteTable (the route table of DatabaseSubnetA)" in v.reason
               for v in broken)  # fmt: skip


def test_no_nat_and_a_bedrock_endpoint_puts_bedrock_through_the_endpoint() -> None:
    """Without NAT gateways Bedrock is reached through its endpoint (the params loader insists on it)."""
    cfg = params.load(PARAMS / "prod.yaml")
    endpoints = cfg.network.vpc_endpoints.model_copy(
        update={"interface_services": (*cfg.network.vpc_endpoints.interface_services, "bedrock-runtime")}
    )
    net = cfg.network.model_copy(update={"nat_gateways": "none", "vpc_endpoints": endpoints})
    cfg = cfg.model_copy(update={"network": net})
    verdicts = {v.flow: v for v in flows.prove(pipeline.render(cfg), {"prod": cfg})}
    assert all(v.holds for v in verdicts.values()), [v for v in verdicts.values() if not v.holds]
    assert verdicts["tasks (API) → Bedrock"].path == "via interface endpoint BedrockRuntimeEndpoint"


# --- end to end, and the README ----------------------------------------------------------------------------------


def test_a_builder_that_drops_a_rule_fails_the_build_and_writes_nothing(tmp_path: Path) -> None:
    """A developer's slip, end to end: a copy of the project whose network builder lost the tasks' egress to
    Aurora. build.py exits 1 naming the flow and the group whose egress lacks it, and writes nothing."""
    import shutil

    repo = scratch_repo(tmp_path / "repo")
    shutil.copytree(REPO / "builders", repo / "builders", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "build.py", repo / "build.py")
    shutil.copy(REPO / ".cfnlintrc", repo / ".cfnlintrc")
    network = repo / "builders" / "network.py"
    rule = '    Rule("ecs", "out", 5432, "aurora", "to Aurora PostgreSQL"),\n'
    text = network.read_text()
    assert rule in text
    network.write_text(text.replace(rule, ""))
    before = tree_digest(repo / "templates")
    result = subprocess.run(
        [sys.executable, str(repo / "build.py"), "prod", "--params-dir", repo / "params", "--out", repo / "templates"],
        cwd=repo, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "network flow(s) do not hold; nothing was written:" in result.stderr
    lines = [line for line in result.stderr.splitlines() if "prod: NL-to-SQL API → Aurora writer (DB_HOST)" in line]
    assert lines and "must be possible but is not" in lines[0] and "egress" in lines[0], result.stderr
    shown = (REPO / "README.md").read_text().split("rule or route to blame", 1)[1].split("```", 2)[1]
    assert shown.strip() == result.stderr.strip(), "the README shows exactly what the build prints"
    assert tree_digest(repo / "templates") == before


def test_the_readme_flows_section_is_current() -> None:
    from builders.docs.generated import Page, files

    artifacts, configs = _rendered()
    text = (REPO / "README.md").read_text(encoding="utf-8")
    (page,) = [f for f in files(configs, artifacts, text) if isinstance(f, Page)]
    start, end = readme.marker("flows")
    assert page.text.split(start)[1].split(end)[0] == text.split(start)[1].split(end)[0]
    section = readme.flows(readme.Sources(configs, artifacts))
    for v in flows.prove(artifacts, configs):
        assert f"| {v.flow} |" in section


def test_the_params_rule_for_no_nat_gateways_names_the_endpoints_the_proof_needs() -> None:
    """The loader refuses nat_gateways: none without these endpoints (exit 2, at the key), before the proof
    would refuse the build (exit 1): both lists name the same AWS APIs."""
    from builders.config import NAT_FREE_ENDPOINTS

    assert {name for name, _, _ in flows.AWS_SERVICES} - {"s3"} == set(NAT_FREE_ENDPOINTS)
