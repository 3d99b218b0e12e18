"""The compute stack: routing and ports line up from the ALB to the containers, per environment."""

from __future__ import annotations

import json
from typing import Any

import pytest

from builders import params
from tests.conftest import ENVS, PARAMS, props, ref, resources, template

API_PORT, UI_PORT = 8000, 8501  # the app's ports, from the seed
HAS_CERTIFICATE = {"dev": False, "staging": True, "prod": True}  # dev has no domain, so no HTTPS


def _by_port(compute: dict[str, Any]) -> dict[int, str]:
    """Target group logical id by its port."""
    return {props(tg)["Port"]: k for k, tg in resources(compute, "AWS::ElasticLoadBalancingV2::TargetGroup").items()}


def _front_listener(compute: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    listeners = resources(compute, "AWS::ElasticLoadBalancingV2::Listener")
    (front,) = [(k, props(v)) for k, v in listeners.items() if props(v)["DefaultActions"][0]["Type"] == "forward"]
    return front


def _container(compute: dict[str, Any], service: dict[str, Any]) -> dict[str, Any]:
    task = compute["Resources"][ref(props(service)["TaskDefinition"])]
    (container,) = props(task)["ContainerDefinitions"]
    return container


@pytest.mark.parametrize("env", ENVS)
def test_api_paths_go_to_the_api_and_everything_else_to_the_ui(env: str) -> None:
    compute = template(env, "compute")
    ports = _by_port(compute)
    name, front = _front_listener(compute)
    assert ref(front["DefaultActions"][0]["TargetGroupArn"]) == ports[UI_PORT]
    (rule,) = resources(compute, "AWS::ElasticLoadBalancingV2::ListenerRule").values()
    assert ref(props(rule)["ListenerArn"]) == name
    (condition,) = props(rule)["Conditions"]
    assert condition["Field"] == "path-pattern" and "/api/*" in condition["PathPatternConfig"]["Values"]
    assert ref(props(rule)["Actions"][0]["TargetGroupArn"]) == ports[API_PORT]


@pytest.mark.parametrize("env", ENVS)
def test_target_group_container_and_security_group_ports_line_up(env: str) -> None:
    compute, network = template(env, "compute"), template(env, "network")
    groups = resources(compute, "AWS::ElasticLoadBalancingV2::TargetGroup")
    alb_out = {r["FromPort"] for r in props(network["Resources"]["AlbSecurityGroup"])["SecurityGroupEgress"]}
    ecs_in = {
        props(r)["FromPort"]
        for r in resources(network, "AWS::EC2::SecurityGroupIngress").values()
        if ref(props(r)["GroupId"]) == "EcsTasksSecurityGroup"
        and ref(props(r)["SourceSecurityGroupId"]) == "AlbSecurityGroup"
    }
    seen = set()
    for service in resources(compute, "AWS::ECS::Service").values():
        (lb,) = props(service)["LoadBalancers"]
        target_group = props(groups[ref(lb["TargetGroupArn"])])
        container = _container(compute, service)
        assert lb["ContainerName"] == container["Name"]
        assert lb["ContainerPort"] == target_group["Port"] == container["PortMappings"][0]["ContainerPort"]
        assert target_group["TargetType"] == "ip" and target_group["HealthCheckPath"].startswith("/")
        assert target_group["Port"] in alb_out and target_group["Port"] in ecs_in
        seen.add(target_group["Port"])
    assert seen == {API_PORT, UI_PORT} == alb_out == ecs_in


@pytest.mark.parametrize("env", ENVS)
def test_https_with_tls_1_2_or_later_and_http_redirects_where_there_is_a_certificate(env: str) -> None:
    compute = template(env, "compute")
    listeners = {
        props(v)["Port"]: props(v) for v in resources(compute, "AWS::ElasticLoadBalancingV2::Listener").values()
    }
    if HAS_CERTIFICATE[env]:
        assert set(listeners) == {80, 443}
        https = listeners[443]
        assert https["Protocol"] == "HTTPS" and https["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
        assert https["Certificates"] == [{"CertificateArn": {"Ref": "CertificateArn"}}]
        assert compute["Parameters"]["CertificateArn"]["Type"] == "AWS::SSM::Parameter::Value<String>"
        redirect = listeners[80]["DefaultActions"][0]
        assert redirect["Type"] == "redirect" and redirect["RedirectConfig"]["Protocol"] == "HTTPS"
        assert redirect["RedirectConfig"]["StatusCode"] == "HTTP_301"
    else:
        assert set(listeners) == {80} and listeners[80]["DefaultActions"][0]["Type"] == "forward"
        assert "CertificateArn" not in compute.get("Parameters", {})


@pytest.mark.parametrize("env", ENVS)
def test_alb_is_public_drops_invalid_headers_and_is_protected_in_prod(env: str) -> None:
    compute = template(env, "compute")
    (alb,) = resources(compute, "AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    p = props(alb)
    assert p["Scheme"] == "internet-facing" and p["Subnets"] == {"Ref": "PublicSubnetIds"}
    assert p["SecurityGroups"] == [{"Ref": "AlbSecurityGroupId"}]
    attributes = {a["Key"]: a["Value"] for a in p["LoadBalancerAttributes"]}
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attributes["deletion_protection.enabled"] == ("true" if env == "prod" else "false")


@pytest.mark.parametrize("env", ENVS)
def test_services_run_privately_roll_back_bad_deploys_and_scale_on_cpu(env: str) -> None:
    compute = template(env, "compute")
    cfg = params.load(PARAMS / f"{env}.yaml")
    scalable = resources(compute, "AWS::ApplicationAutoScaling::ScalableTarget")
    # service logical id -> (its scalable target's logical id, properties); ResourceId is service/<cluster>/<name>
    targets = {ref(props(t)["ResourceId"]["Fn::Join"][1][2]): (k, props(t)) for k, t in scalable.items()}
    policies = {
        ref(props(p)["ScalingTargetId"]): props(p)
        for p in resources(compute, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
    }
    for logical_id, service in resources(compute, "AWS::ECS::Service").items():
        p = props(service)
        vpc = p["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert vpc == {
            "AssignPublicIp": "DISABLED",
            "Subnets": {"Ref": "PrivateSubnetIds"},
            "SecurityGroups": [{"Ref": "EcsTasksSecurityGroupId"}],
        }
        assert p["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
        key = _container(compute, service)["Name"]
        size = getattr(cfg.compute, key)
        assert p["DesiredCount"] == size.desired_count
        target_id, target = targets[logical_id]
        assert (target["MinCapacity"], target["MaxCapacity"]) == (size.min_count, size.max_count)
        metric = policies[target_id]["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]
        assert metric["PredefinedMetricType"] == "ECSServiceAverageCPUUtilization"
        task = props(compute["Resources"][ref(p["TaskDefinition"])])
        assert (task["Cpu"], task["Memory"]) == (str(size.cpu), str(size.memory))
        assert task["RequiresCompatibilities"] == ["FARGATE"] and task["NetworkMode"] == "awsvpc"


@pytest.mark.parametrize("env", ENVS)
def test_containers_check_their_health_and_log_to_retained_groups(env: str) -> None:
    compute = template(env, "compute")
    cfg = params.load(PARAMS / f"{env}.yaml")
    for service in resources(compute, "AWS::ECS::Service").values():
        container = _container(compute, service)
        assert container["HealthCheck"]["Command"][0] == "CMD-SHELL"
        assert f"localhost:{container['PortMappings'][0]['ContainerPort']}" in container["HealthCheck"]["Command"][1]
        options = container["LogConfiguration"]["Options"]
        group = compute["Resources"][ref(options["awslogs-group"])]
        assert group["DeletionPolicy"] == "Retain" and props(group)["RetentionInDays"] == cfg.log_retention_days
        assert ":${ApiImageTag}" in container["Image"]["Fn::Sub"] or ":${UiImageTag}" in container["Image"]["Fn::Sub"]


@pytest.mark.parametrize("env", ENVS)
def test_the_api_gets_the_database_and_bucket_and_logs_in_with_iam_not_a_password(env: str) -> None:
    compute = template(env, "compute")
    containers = {
        _container(compute, s)["Name"]: _container(compute, s) for s in resources(compute, "AWS::ECS::Service").values()
    }
    api = containers["api"]
    environment = {e["Name"]: e["Value"] for e in api["Environment"]}
    assert environment["DB_HOST"] == {"Ref": "DatabaseEndpoint"}
    assert environment["DB_READER_HOST"] == {"Ref": "DatabaseReaderEndpoint"}, "read-only queries go to readers"
    root = template(env, "root")
    assert props(root["Resources"]["Compute"])["Parameters"]["DatabaseReaderEndpoint"] == {
        "Fn::GetAtt": ["Database", "Outputs.DatabaseReaderEndpoint"]}  # fmt: skip
    assert environment["DATA_LAKE_BUCKET"] == {"Ref": "DataLakeBucketName"}
    access = params.load(PARAMS / f"{env}.yaml").database.access
    assert (environment["DB_AUTH"], environment["DB_USER"], environment["DB_READONLY_USER"]) == (
        "iam", access.app_user, access.readonly_user)  # fmt: skip
    assert environment["DB_SSLMODE"] == "verify-full", "an IAM token is a password for 15 minutes: check the server"
    # The master user's secret reaches no task: not injected, not even a parameter of the stack the tasks are in.
    assert all(not c.get("Secrets") for c in containers.values())
    assert "DatabaseSecretArn" not in compute["Parameters"]
    assert "secretsmanager" not in json.dumps(compute["Resources"]).lower()
    assert not any("PASSWORD" in e["Name"] for c in containers.values() for e in c["Environment"])


@pytest.mark.parametrize("env", ENVS)
def test_cluster_capacity_and_insights_follow_the_environment(env: str) -> None:
    cluster = props(next(iter(resources(template(env, "compute"), "AWS::ECS::Cluster").values())))
    cfg = params.load(PARAMS / f"{env}.yaml")
    insights = {s["Name"]: s["Value"] for s in cluster["ClusterSettings"]}["containerInsights"]
    assert insights == ("enabled" if env == "prod" else "disabled")
    assert ("FARGATE_SPOT" in cluster["CapacityProviders"]) == cfg.compute.fargate_spot
    assert "FARGATE" in cluster["CapacityProviders"]


@pytest.mark.parametrize("env", ENVS)
def test_compute_outputs(env: str) -> None:
    outputs = template(env, "compute")["Outputs"]
    assert {"AppUrl", "LoadBalancerDnsName", "EcsClusterName", "ApiServiceName", "UiServiceName"} <= set(outputs)
    scheme = "https" if HAS_CERTIFICATE[env] else "http"
    assert outputs["AppUrl"]["Value"] == {"Fn::Sub": f"{scheme}://${{LoadBalancer.DNSName}}"}


@pytest.mark.parametrize("env", ENVS)
def test_containers_run_hardened_and_write_only_to_their_scratch_volume(env: str) -> None:
    compute = template(env, "compute")
    uid = params.load(PARAMS / f"{env}.yaml").compute.run_as_uid
    assert uid != 0
    definitions = resources(compute, "AWS::ECS::TaskDefinition")
    assert len(definitions) == 2
    for definition in definitions.values():
        (container,) = props(definition)["ContainerDefinitions"]
        assert container["User"] == f"{uid}:{uid}", "never root"
        assert container["ReadonlyRootFilesystem"] is True
        assert container["LinuxParameters"] == {"Capabilities": {"Drop": ["ALL"]}, "InitProcessEnabled": True}
        assert "Privileged" not in container
        volumes = {v["Name"] for v in props(definition)["Volumes"]}
        writable = {m["ContainerPath"] for m in container["MountPoints"] if m["SourceVolume"] in volumes}
        assert writable == {"/tmp"}, "the one writable path is a task volume"
        env_vars = {e["Name"]: e["Value"] for e in container["Environment"]}
        assert env_vars["HOME"] == "/tmp", "home (Streamlit's ~/.streamlit) is writable"
        assert env_vars["PYTHONDONTWRITEBYTECODE"] == "1"
        probe = container["HealthCheck"]["Command"][1]
        assert probe.startswith("python -c") and "open(" not in probe.replace("urlopen(", ""), (
            "the probe writes nothing"
        )


@pytest.mark.parametrize("env", ENVS)
def test_the_ui_reaches_the_api_inside_the_vpc_through_service_connect(env: str) -> None:
    """Streamlit calls the API from the server, so the call must not depend on the ALB's certificate or leave
    through the NAT: the UI's API_URL is the API's Service Connect alias, on the API's own port."""
    compute, network = template(env, "compute"), template(env, "network")
    (namespace_id,) = resources(compute, "AWS::ServiceDiscovery::HttpNamespace")
    namespace = props(compute["Resources"][namespace_id])["Name"]
    cluster = props(next(iter(resources(compute, "AWS::ECS::Cluster").values())))
    assert ref(cluster["ServiceConnectDefaults"]["Namespace"]) == namespace_id
    services = resources(compute, "AWS::ECS::Service")
    api, ui = services["ApiService"], services["UiService"]
    served = props(api)["ServiceConnectConfiguration"]
    assert served["Enabled"] is True and ref(served["Namespace"]) == namespace_id
    (entry,) = served["Services"]
    (alias,) = entry["ClientAliases"]
    assert alias["Port"] == 8000
    api_ports = {m["Name"]: m["ContainerPort"] for m in _container(compute, api)["PortMappings"]}
    assert api_ports[entry["PortName"]] == 8000, "the alias serves the API container's port"
    client = props(ui)["ServiceConnectConfiguration"]
    assert client["Enabled"] is True and ref(client["Namespace"]) == namespace_id and "Services" not in client
    ui_env = {e["Name"]: e["Value"] for e in _container(compute, ui)["Environment"]}
    assert ui_env["API_URL"] == f"http://{alias['DnsName']}:8000/api"
    assert alias["DnsName"].endswith(namespace) and "elb.amazonaws.com" not in ui_env["API_URL"]
    # Both services run in ecs-tasks-sg, which lets 8000 out to itself and in from itself.
    groups = {ref(g) for s in services.values()
              for g in props(s)["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"]}  # fmt: skip
    assert groups == {"EcsTasksSecurityGroupId"}
    ingress = [props(r) for r in resources(network, "AWS::EC2::SecurityGroupIngress").values()]
    egress = [props(r) for r in resources(network, "AWS::EC2::SecurityGroupEgress").values()]
    assert any(ref(r["GroupId"]) == ref(r["SourceSecurityGroupId"]) == "EcsTasksSecurityGroup" and r["FromPort"] == 8000
               for r in ingress)  # fmt: skip
    assert any(ref(r["GroupId"]) == ref(r["DestinationSecurityGroupId"]) == "EcsTasksSecurityGroup"
               and r["FromPort"] == 8000 for r in egress)  # fmt: skip


def test_dev_says_port_80_is_served_where_there_is_no_certificate() -> None:
    for env in ENVS:
        has_certificate = params.load(PARAMS / f"{env}.yaml").compute.certificate is not None
        alb = props(template(env, "network")["Resources"]["AlbSecurityGroup"])
        (http,) = [r for r in alb["SecurityGroupIngress"] if r["FromPort"] == 80]
        assert ("redirected to HTTPS" in http["Description"]) is has_certificate, env


@pytest.mark.parametrize("env", ENVS)
def test_the_public_alb_is_behind_waf_where_params_say(env: str) -> None:
    settings = params.load(PARAMS / f"{env}.yaml").compute.waf
    compute = template(env, "compute")
    acls = resources(compute, "AWS::WAFv2::WebACL")
    assert bool(acls) is settings.enabled is (env in {"staging", "prod"})
    if not acls:
        return
    ((acl_id, acl),) = acls.items()
    acl = props(acl)
    assert acl["Scope"] == "REGIONAL" and acl["DefaultAction"] == {"Allow": {}}
    managed = [r["Statement"]["ManagedRuleGroupStatement"] for r in acl["Rules"] if "ManagedRuleGroupStatement" in
               r["Statement"]]  # fmt: skip
    assert {(m["VendorName"], m["Name"]) for m in managed} == {
        ("AWS", "AWSManagedRulesCommonRuleSet"), ("AWS", "AWSManagedRulesKnownBadInputsRuleSet")}  # fmt: skip
    (rate,) = [r for r in acl["Rules"] if "RateBasedStatement" in r["Statement"]]
    assert rate["Statement"]["RateBasedStatement"] == {"Limit": settings.rate_limit, "AggregateKeyType": "IP"}
    assert rate["Action"] == {"Block": {}}
    assert len({r["Priority"] for r in acl["Rules"]}) == len(acl["Rules"]), "priorities are unique"
    (association,) = resources(compute, "AWS::WAFv2::WebACLAssociation").values()
    (alb_id,) = resources(compute, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert ref(props(association)["ResourceArn"]) == alb_id and ref(props(association)["WebACLArn"]) == acl_id
    (logging,) = resources(compute, "AWS::WAFv2::LoggingConfiguration").values()
    group = props(compute["Resources"]["WafLogGroup"])
    assert group["LogGroupName"].startswith("aws-waf-logs-"), "WAF writes only to such a group"
    assert group["RetentionInDays"] == settings.log_retention_days
    assert compute["Resources"]["WafLogGroup"]["DeletionPolicy"] == "Retain"
    (destination,) = props(logging)["LogDestinationConfigs"]
    assert destination["Fn::Sub"][0].endswith(":log-group:${Group}") and ref(destination["Fn::Sub"][1]["Group"]) == (
        "WafLogGroup")  # fmt: skip


def _with_domain(env: str, certificate: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The compute and network templates of `env` with a domain in its params (and the given certificate)."""
    from builders import compute, network
    from builders.config import Domain

    cfg = params.load(PARAMS / f"{env}.yaml")
    domain = Domain(name="insights.example.com", hosted_zone_id="Z0123456789ABCDEFGHIJ")
    cfg = cfg.model_copy(update={"compute": cfg.compute.model_copy(update={"domain": domain,
                                                                           "certificate": certificate})})  # fmt: skip
    return compute.build(cfg).to_dict(), network.build(cfg).to_dict()


def test_a_domain_gets_a_dns_validated_certificate_an_alias_and_the_app_url() -> None:
    compute, network = _with_domain("dev", None)  # dev: no certificate of its own
    ((cert_id, cert),) = resources(compute, "AWS::CertificateManager::Certificate").items()
    assert props(cert)["DomainName"] == "insights.example.com" and props(cert)["ValidationMethod"] == "DNS"
    assert props(cert)["DomainValidationOptions"] == [
        {"DomainName": "insights.example.com", "HostedZoneId": "Z0123456789ABCDEFGHIJ"}]  # fmt: skip
    (https,) = [props(r) for r in resources(compute, "AWS::ElasticLoadBalancingV2::Listener").values()
                if props(r)["Port"] == 443]  # fmt: skip
    assert ref(https["Certificates"][0]["CertificateArn"]) == cert_id
    (record,) = resources(compute, "AWS::Route53::RecordSet").values()
    (alb_id,) = resources(compute, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert props(record)["Name"] == "insights.example.com" and props(record)["Type"] == "A"
    assert props(record)["AliasTarget"]["DNSName"] == {"Fn::GetAtt": [alb_id, "DNSName"]}
    assert props(record)["AliasTarget"]["HostedZoneId"] == {"Fn::GetAtt": [alb_id, "CanonicalHostedZoneID"]}
    assert compute["Outputs"]["AppUrl"]["Value"] == "https://insights.example.com"
    alb = props(network["Resources"]["AlbSecurityGroup"])
    assert any("redirected to HTTPS" in r["Description"] for r in alb["SecurityGroupIngress"] if r["FromPort"] == 80)


def test_a_domain_with_a_named_certificate_uses_that_one() -> None:
    compute, _ = _with_domain("prod", "/nlsql/prod/certificate-arn")
    assert not resources(compute, "AWS::CertificateManager::Certificate")
    (https,) = [props(r) for r in resources(compute, "AWS::ElasticLoadBalancingV2::Listener").values()
                if props(r)["Port"] == 443]  # fmt: skip
    assert ref(https["Certificates"][0]["CertificateArn"]) == "CertificateArn"
    assert compute["Outputs"]["AppUrl"]["Value"] == "https://insights.example.com"


def test_without_a_domain_the_app_url_is_the_alb_s_name() -> None:
    for env in ENVS:
        compute = template(env, "compute")
        assert not resources(compute, "AWS::Route53::RecordSet")
        tls = params.load(PARAMS / f"{env}.yaml").compute.tls
        assert compute["Outputs"]["AppUrl"]["Value"] == {
            "Fn::Sub": f"{'https' if tls else 'http'}://${{LoadBalancer.DNSName}}"
        }
