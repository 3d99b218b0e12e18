"""The compute stack: ECS Fargate services for the API and the UI, behind one internet-facing ALB.

`build()` reads as a table of contents. Both services are made by the same
loop over `builders.app.SERVICES`, so the API and the UI differ only where
the table or the params file says they do.
"""

from __future__ import annotations

from troposphere import (
    AWS_REGION,
    GetAtt,
    Join,
    Output,
    Parameter,
    Ref,
    Sub,
    Template,
    ecs,
    iam,
    logs,
    route53,
)
from troposphere import (
    applicationautoscaling as aas,
)
from troposphere import certificatemanager as acm
from troposphere import elasticloadbalancingv2 as elb
from troposphere import servicediscovery as cloudmap
from troposphere import wafv2 as waf

from builders import alarmsettings, database, network, shared, storage
from builders import iam as policies
from builders.app import API, SERVICES, AppService
from builders.config import EnvConfig, Service
from builders.naming import description, logical_id, name, repository
from builders.scanners import NO_ENVIRONMENT_KEY, skip
from builders.tags import tags

MODULE = "compute"

OUT_URL = "AppUrl"
OUT_ALB_DNS = "LoadBalancerDnsName"
OUT_CLUSTER = "EcsClusterName"
OUT_SERVICE = {svc.key: f"{logical_id(svc.key)}ServiceName" for svc in SERVICES}
# What the monitoring stack's alarms, dashboard and saved queries name (metrics' dimensions, log groups).
OUT_ALB_FULL_NAME = "LoadBalancerFullName"
OUT_TARGET_GROUP = {svc.key: f"{logical_id(svc.key)}TargetGroupFullName" for svc in SERVICES}
OUT_LOG_GROUP = {svc.key: f"{logical_id(svc.key)}LogGroupName" for svc in SERVICES}
OUT_WEB_ACL = "WebAclName"
OUT_WAF_LOG_GROUP = "WafLogGroupName"

CERTIFICATE = "CertificateArn"
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"  # TLS 1.3 and 1.2 only
IMAGE_TAG = {svc.key: f"{logical_id(svc.key)}ImageTag" for svc in SERVICES}
SCRATCH, SCRATCH_VOLUME = "/tmp", "scratch"  # noqa: S108 - the containers' one writable path, a task volume


def parameter_values(cfg: EnvConfig) -> dict[str, str]:
    """This stack's deploy-time values, which the root takes as its own parameters (parameters.json)."""
    values = {IMAGE_TAG[svc.key]: _service(cfg, svc).image_tag for svc in SERVICES}
    if cfg.compute.certificate:
        values[CERTIFICATE] = cfg.compute.certificate
    return values


def _service(cfg: EnvConfig, svc: AppService) -> Service:
    return getattr(cfg.compute, svc.key)


def build(cfg: EnvConfig) -> Template:
    """The compute stack of one environment."""
    t = Template(Description=description(cfg, "compute: ECS Fargate API and UI behind an ALB"))
    p = _add_parameters(t, cfg)
    namespace = _add_namespace(t, cfg)
    cluster = _add_cluster(t, cfg, namespace)
    log_groups = {svc.key: t.add_resource(_log_group(cfg, p, svc)) for svc in SERVICES}
    execution_role = _add_execution_role(t, cfg, p, log_groups)
    alb, listener, url = _add_load_balancer(t, cfg, p)
    acl = _add_web_acl(t, cfg, p, alb)
    target_groups = {svc.key: _add_target_group(t, cfg, p, svc) for svc in SERVICES}
    rules = _add_routing(t, cfg, listener, target_groups)
    services = {}
    for svc in SERVICES:
        task_role = _add_task_role(t, cfg, p, svc)
        task = _add_task_definition(t, cfg, p, svc, execution_role, task_role, log_groups[svc.key])
        services[svc.key] = _add_service(
            t, cfg, p, svc, cluster, task, target_groups[svc.key], [listener, *rules], namespace, log_groups[svc.key]
        )
        _add_autoscaling(t, cfg, svc, cluster, services[svc.key])
    _add_outputs(t, cluster, alb, url, services)
    _add_monitoring_outputs(t, alb, target_groups, log_groups, acl)
    return t


def _add_monitoring_outputs(
    t: Template,
    alb: elb.LoadBalancer,
    target_groups: dict[str, elb.TargetGroup],
    log_groups: dict[str, logs.LogGroup],
    acl: waf.WebACL | None,
) -> None:
    """The names CloudWatch knows these by, for the monitoring stack."""
    t.add_output(Output(OUT_ALB_FULL_NAME, Description="The ALB's metric dimension (app/<name>/<id>)",
                        Value=GetAtt(alb, "LoadBalancerFullName")))  # fmt: skip
    for svc in SERVICES:
        t.add_output(Output(OUT_TARGET_GROUP[svc.key], Description=f"The {svc.label}'s target group dimension",
                            Value=GetAtt(target_groups[svc.key], "TargetGroupFullName")))  # fmt: skip
        t.add_output(Output(OUT_LOG_GROUP[svc.key], Description=f"The {svc.label}'s log group",
                            Value=Ref(log_groups[svc.key])))  # fmt: skip
    if acl is not None:
        t.add_output(Output(OUT_WEB_ACL, Description="The web ACL's name", Value=acl.properties["Name"]))
        t.add_output(Output(OUT_WAF_LOG_GROUP, Description="The WAF's log group", Value=Ref("WafLogGroup")))


def _add_parameters(t: Template, cfg: EnvConfig) -> dict[str, Parameter]:
    """Outputs of earlier stacks (wired by name), and the root's deploy-time values."""
    wired = [
        (network.OUT_VPC_ID, "String", "The VPC"),
        (network.OUT_SUBNET_IDS["public"], "CommaDelimitedList", "Public subnets, for the ALB"),
        (network.OUT_SUBNET_IDS["private"], "CommaDelimitedList", "Private subnets, for the tasks"),
        (network.OUT_SECURITY_GROUP_IDS["alb"], "String", "alb-sg"),
        (network.OUT_SECURITY_GROUP_IDS["ecs"], "String", "ecs-tasks-sg"),
        (storage.OUT_BUCKET_NAME, "String", "The data-lake bucket"),
        (storage.OUT_BUCKET_ARN, "String", "The data-lake bucket's ARN"),
        (database.OUT_ENDPOINT, "String", "The Aurora writer endpoint"),
        (database.OUT_READER_ENDPOINT, "String", "The Aurora reader endpoint, for read-only queries"),
        (database.OUT_PORT, "String", "The Aurora port"),
        (database.OUT_NAME, "String", "The app's database"),
        (database.OUT_CLUSTER_RESOURCE_ID, "String", "The Aurora cluster's resource id, for IAM database logins"),
    ]
    if cfg.storage.encryption == "KMS":
        wired.append((storage.OUT_KEY_ARN, "String", "The environment's KMS key"))
    if cfg.storage.access_logging.enabled:
        wired.append((storage.OUT_LOG_BUCKET_NAME, "String", "Where the ALB writes its access logs"))
    params = {title: Parameter(title, Type=type_, Description=text) for title, type_, text in wired}
    for svc in SERVICES:
        params[IMAGE_TAG[svc.key]] = Parameter(
            IMAGE_TAG[svc.key],
            Type="String",
            AllowedPattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$",
            Description=f"Tag of the {svc.label} image in the {repository(svc.key)} ECR repository",
        )
    certificate = cfg.compute.certificate
    if certificate:
        # An SSM parameter name keeps the account id out of git; CloudFormation resolves it on each deploy.
        kind = "AWS::SSM::Parameter::Value<String>" if certificate.startswith("/") else "String"
        params[CERTIFICATE] = Parameter(CERTIFICATE, Type=kind, Description="The ACM certificate of the HTTPS listener")
    for param in params.values():
        t.add_parameter(param)
    return params


def _log_group(cfg: EnvConfig, p: dict[str, Parameter], svc: AppService) -> logs.LogGroup:
    """A service's log group, under the environment's key when it has one: the app may log what it reads."""
    key = _key_arn(p)
    group = shared.log_group(logical_id(svc.key, "log", "group"), cfg, MODULE, svc.key, cfg.log_retention_days, key)
    return group if key is not None else skip(group, NO_ENVIRONMENT_KEY)


def namespace_name(cfg: EnvConfig) -> str:
    """The Cloud Map namespace Service Connect names the services in (private to the cluster's tasks)."""
    return f"{name(cfg, 'app')}.internal"


def api_address(cfg: EnvConfig) -> str:
    """Where the UI calls the API: its Service Connect alias on port 8000, inside the VPC."""
    return f"http://{API.key}.{namespace_name(cfg)}:{API.port}{API.paths[0]}"


def _add_namespace(t: Template, cfg: EnvConfig) -> cloudmap.HttpNamespace:
    """Service Connect's namespace. HTTP, not DNS: nothing outside the cluster resolves the names; each task's
    Service Connect proxy does, and balances over the API's healthy tasks."""
    return t.add_resource(
        cloudmap.HttpNamespace(
            "ServiceConnectNamespace",
            Name=namespace_name(cfg),
            Description=f"{name(cfg, 'app')}: ECS Service Connect (the UI calls the API here)",
            Tags=tags(cfg, MODULE, namespace_name(cfg)),
        )
    )


def _add_cluster(t: Template, cfg: EnvConfig, namespace: cloudmap.HttpNamespace) -> ecs.Cluster:
    providers = ["FARGATE", "FARGATE_SPOT"] if cfg.compute.fargate_spot else ["FARGATE"]
    cluster = ecs.Cluster(
        "EcsCluster",
        ServiceConnectDefaults=ecs.ServiceConnectDefaults(Namespace=GetAtt(namespace, "Arn")),
        ClusterSettings=[
            ecs.ClusterSetting(
                Name="containerInsights", Value="enabled" if cfg.compute.container_insights else "disabled"
            )
        ],
        CapacityProviders=providers,
        DefaultCapacityProviderStrategy=_capacity_strategy(cfg),
        Tags=tags(cfg, MODULE, name(cfg, "cluster")),
    )
    if not cfg.compute.container_insights:
        skip(
            cluster,
            (
                "CKV_AWS_65",
                "Container Insights is off by this environment's params (compute.container_insights) to save its "
                "per-metric cost; prod has it on",
            ),
        )
    return t.add_resource(cluster)


def _capacity_strategy(cfg: EnvConfig) -> list[ecs.CapacityProviderStrategyItem]:
    """On-demand only, or the first task of a service on demand and the rest on Spot."""
    if not cfg.compute.fargate_spot:
        return [ecs.CapacityProviderStrategyItem(CapacityProvider="FARGATE", Base=0, Weight=1)]
    return [
        ecs.CapacityProviderStrategyItem(CapacityProvider="FARGATE", Base=1, Weight=0),
        ecs.CapacityProviderStrategyItem(CapacityProvider="FARGATE_SPOT", Base=0, Weight=1),
    ]


def _key_arn(p: dict[str, Parameter]) -> Ref | None:
    return Ref(p[storage.OUT_KEY_ARN]) if storage.OUT_KEY_ARN in p else None


def _add_execution_role(
    t: Template, cfg: EnvConfig, p: dict[str, Parameter], log_groups: dict[str, logs.LogGroup]
) -> iam.Role:
    return t.add_resource(
        shared.role(
            "TaskExecutionRole",
            cfg,
            MODULE,
            "task-execution",
            "lets ECS start the app's tasks",
            policies.ecs_tasks_trust(),
            policies.task_execution(
                [repository(svc.key) for svc in SERVICES], [GetAtt(group, "Arn") for group in log_groups.values()]
            ),
        )
    )


def _add_task_role(t: Template, cfg: EnvConfig, p: dict[str, Parameter], svc: AppService) -> iam.Role:
    """The API reads the data lake, calls Bedrock and logs in to the database; the UI only talks to the API, so its
    role grants nothing."""
    document = None
    if svc is API:
        access = cfg.database.access
        document = policies.api_task(
            Ref(p[storage.OUT_BUCKET_ARN]),
            _key_arn(p),
            cfg.compute.bedrock_models,
            Ref(p[database.OUT_CLUSTER_RESOURCE_ID]),
            (access.app_user, access.readonly_user),
        )
    return t.add_resource(
        shared.role(
            logical_id(svc.key, "task", "role"),
            cfg,
            MODULE,
            svc.key,
            f"what the {svc.label}'s code may do in AWS",
            policies.ecs_tasks_trust(),
            document,
        )
    )


def _add_load_balancer(
    t: Template, cfg: EnvConfig, p: dict[str, Parameter]
) -> tuple[elb.LoadBalancer, elb.Listener, Sub | str]:
    """The ALB and its front listener: HTTPS (with HTTP redirecting to it), or plain HTTP without a certificate."""
    attributes: list[tuple[str, str | Ref]] = [
        ("deletion_protection.enabled", str(cfg.production).lower()),
        ("routing.http.drop_invalid_header_fields.enabled", "true"),
        ("idle_timeout.timeout_seconds", "120"),  # NL-to-SQL answers can take a while
    ]
    log_bucket = p.get(storage.OUT_LOG_BUCKET_NAME)
    if log_bucket is not None:
        attributes += [
            ("access_logs.s3.enabled", "true"),
            ("access_logs.s3.bucket", Ref(log_bucket)),
            ("access_logs.s3.prefix", storage.ALB_LOG_PREFIX),
        ]
    alb = elb.LoadBalancer(
        "LoadBalancer",
        Type="application",
        Scheme="internet-facing",
        IpAddressType="ipv4",
        Subnets=Ref(p[network.OUT_SUBNET_IDS["public"]]),
        SecurityGroups=[Ref(p[network.OUT_SECURITY_GROUP_IDS["alb"]])],
        LoadBalancerAttributes=[elb.LoadBalancerAttributes(Key=k, Value=v) for k, v in attributes],
        Tags=tags(cfg, MODULE, name(cfg, "alb")),
    )
    if log_bucket is None:
        skip(alb, ("CKV_AWS_91", "Access logging is off in this environment by its params (the seed: off in dev)"))
    t.add_resource(alb)
    certificate = _certificate(t, cfg, p)
    if certificate is None:
        listener = elb.Listener(
            "HttpListener",
            LoadBalancerArn=Ref(alb),
            Port=80,
            Protocol="HTTP",
            DefaultActions=[],
            Tags=tags(cfg, MODULE, name(cfg, "http")),
        )
        no_tls = "No certificate in this environment's params (the seed's dev): the ALB serves plain HTTP by design"
        skip(listener, ("CKV_AWS_2", no_tls), ("CKV_AWS_103", no_tls))
        return alb, t.add_resource(listener), Sub("http://${LoadBalancer.DNSName}")
    t.add_resource(
        elb.Listener(
            "HttpRedirectListener",
            LoadBalancerArn=Ref(alb),
            Port=80,
            Protocol="HTTP",
            DefaultActions=[
                elb.Action(
                    Type="redirect",
                    RedirectConfig=elb.RedirectConfig(Protocol="HTTPS", Port="443", StatusCode="HTTP_301"),
                )
            ],
            Tags=tags(cfg, MODULE, name(cfg, "http-redirect")),
        )
    )
    listener = elb.Listener(
        "HttpsListener",
        LoadBalancerArn=Ref(alb),
        Port=443,
        Protocol="HTTPS",
        SslPolicy=TLS_POLICY,
        Certificates=[elb.Certificate(CertificateArn=certificate)],
        DefaultActions=[],
        Tags=tags(cfg, MODULE, name(cfg, "https")),
    )
    domain = cfg.compute.domain
    if domain is None:
        return alb, t.add_resource(listener), Sub("https://${LoadBalancer.DNSName}")
    t.add_resource(
        route53.RecordSetType(
            "DnsRecord",
            HostedZoneId=domain.hosted_zone_id,
            Name=domain.name,
            Type="A",
            AliasTarget=route53.AliasTarget(
                DNSName=GetAtt(alb, "DNSName"),
                HostedZoneId=GetAtt(alb, "CanonicalHostedZoneID"),
                EvaluateTargetHealth=True,
            ),
        )
    )
    return alb, t.add_resource(listener), f"https://{domain.name}"


def _certificate(t: Template, cfg: EnvConfig, p: dict[str, Parameter]) -> Ref | None:
    """The HTTPS listener's certificate: the one params name, else one made for the domain (validated by DNS
    records CloudFormation writes into its hosted zone), else none (plain HTTP)."""
    if CERTIFICATE in p:
        return Ref(p[CERTIFICATE])
    domain = cfg.compute.domain
    if domain is None:
        return None
    made = acm.Certificate(
        "Certificate",
        DomainName=domain.name,
        ValidationMethod="DNS",
        DomainValidationOptions=[
            acm.DomainValidationOption(DomainName=domain.name, HostedZoneId=domain.hosted_zone_id)
        ],
        Tags=tags(cfg, MODULE, domain.name),
    )
    return Ref(t.add_resource(made))


def _add_target_group(t: Template, cfg: EnvConfig, p: dict[str, Parameter], svc: AppService) -> elb.TargetGroup:
    attributes = {"deregistration_delay.timeout_seconds": "30"}
    if svc is not API:
        # Streamlit keeps each session's state in one task: pin a browser to its task.
        attributes |= {"stickiness.enabled": "true", "stickiness.type": "lb_cookie"}
    return t.add_resource(
        elb.TargetGroup(
            logical_id(svc.key, "target", "group"),
            TargetType="ip",
            Protocol="HTTP",
            Port=svc.port,
            VpcId=Ref(p[network.OUT_VPC_ID]),
            HealthCheckProtocol="HTTP",
            HealthCheckPath=_service(cfg, svc).health_check_path,
            HealthCheckIntervalSeconds=15,
            HealthyThresholdCount=2,
            UnhealthyThresholdCount=3,
            Matcher=elb.Matcher(HttpCode="200"),
            TargetGroupAttributes=[elb.TargetGroupAttribute(Key=k, Value=v) for k, v in attributes.items()],
            Tags=tags(cfg, MODULE, name(cfg, svc.key)),
        )
    )


def _add_routing(
    t: Template, cfg: EnvConfig, listener: elb.Listener, target_groups: dict[str, elb.TargetGroup]
) -> list[elb.ListenerRule]:
    """Path rules send each service its paths; the service without paths is the listener's default."""
    rules = []
    for priority, svc in enumerate(SERVICES, start=1):
        if not svc.paths:
            listener.DefaultActions = [elb.Action(Type="forward", TargetGroupArn=Ref(target_groups[svc.key]))]
            continue
        forward = [elb.ListenerRuleAction(Type="forward", TargetGroupArn=Ref(target_groups[svc.key]))]
        rules.append(
            t.add_resource(
                elb.ListenerRule(
                    logical_id(svc.key, "listener", "rule"),
                    ListenerArn=Ref(listener),
                    Priority=priority * 10,
                    Conditions=[
                        elb.Condition(
                            Field="path-pattern", PathPatternConfig=elb.PathPatternConfig(Values=list(svc.paths))
                        )
                    ],
                    Actions=forward,
                    Tags=tags(cfg, MODULE, name(cfg, svc.key)),
                )
            )
        )
    return rules


def _environment(cfg: EnvConfig, p: dict[str, Parameter], svc: AppService) -> list[ecs.Environment]:
    values: dict[str, object] = {
        "APP_ENV": cfg.environment,
        "AWS_REGION": Ref(AWS_REGION),
        "PORT": str(svc.port),
        # The root filesystem is read-only: home (Streamlit's ~/.streamlit, boto3's caches) is the scratch volume,
        # and Python does not try to write bytecode next to the code.
        "HOME": SCRATCH,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if svc is API:
        values |= {
            "DB_HOST": Ref(p[database.OUT_ENDPOINT]),
            # LLM-written SELECTs go to the readers (the writer too where there is no reader: Aurora's reader
            # endpoint then points at it), so they never compete with the app's own writes.
            "DB_READER_HOST": Ref(p[database.OUT_READER_ENDPOINT]),
            "DB_PORT": Ref(p[database.OUT_PORT]),
            "DB_NAME": Ref(p[database.OUT_NAME]),
            # IAM database authentication (README "Database access"): the app's own role for its reads and
            # writes, the read-only role for SQL a language model wrote; a token per new connection, over TLS
            # checked against the RDS CA bundle the image carries.
            "DB_AUTH": "iam",
            "DB_USER": cfg.database.access.app_user,
            "DB_READONLY_USER": cfg.database.access.readonly_user,
            "DB_SSLMODE": "verify-full",
            "DATA_LAKE_BUCKET": Ref(p[storage.OUT_BUCKET_NAME]),
            "BEDROCK_MODELS": ",".join(cfg.compute.bedrock_models),
        }
    else:
        # Server-side calls (Streamlit runs on the server) stay inside the VPC: Service Connect, not the ALB.
        values["API_URL"] = api_address(cfg)
    return [ecs.Environment(Name=k, Value=v) for k, v in values.items()]


def _add_task_definition(
    t: Template,
    cfg: EnvConfig,
    p: dict[str, Parameter],
    svc: AppService,
    execution_role: iam.Role,
    task_role: iam.Role,
    log_group: logs.LogGroup,
) -> ecs.TaskDefinition:
    size = _service(cfg, svc)
    probe = f"http://localhost:{svc.port}{size.health_check_path}"
    image = Sub(
        f"${{AWS::AccountId}}.dkr.ecr.${{AWS::Region}}.${{AWS::URLSuffix}}/{repository(svc.key)}:${{{IMAGE_TAG[svc.key]}}}"
    )
    container = ecs.ContainerDefinition(
        Name=svc.key,
        Image=image,
        Essential=True,
        PortMappings=[ecs.PortMapping(ContainerPort=svc.port, Protocol="tcp", Name=svc.key)],
        # The images are Python: probe with the interpreter, not with a curl the image may lack.
        HealthCheck=ecs.HealthCheck(
            Command=[
                "CMD-SHELL",
                f"python -c \"import urllib.request; urllib.request.urlopen('{probe}', timeout=4)\" || exit 1",
            ],
            Interval=30,
            Timeout=5,
            Retries=3,
            StartPeriod=60,
        ),
        # Hardened: a non-root user, nothing writable but the scratch volume, no Linux capabilities (so a setuid
        # binary gains nothing: Fargate has no no-new-privileges option), and an init process that reaps zombies
        # and forwards signals, so a stop is graceful.
        User=f"{cfg.compute.run_as_uid}:{cfg.compute.run_as_uid}",
        ReadonlyRootFilesystem=True,
        LinuxParameters=ecs.LinuxParameters(Capabilities=ecs.KernelCapabilities(Drop=["ALL"]), InitProcessEnabled=True),
        MountPoints=[ecs.MountPoint(SourceVolume=SCRATCH_VOLUME, ContainerPath=SCRATCH, ReadOnly=False)],
        Environment=_environment(cfg, p, svc),
        LogConfiguration=_awslogs(log_group, svc.key),
    )
    return t.add_resource(
        ecs.TaskDefinition(
            logical_id(svc.key, "task", "definition"),
            Family=name(cfg, svc.key),
            Cpu=str(size.cpu),
            Memory=str(size.memory),
            NetworkMode="awsvpc",
            RequiresCompatibilities=["FARGATE"],
            RuntimePlatform=ecs.RuntimePlatform(CpuArchitecture="X86_64", OperatingSystemFamily="LINUX"),
            ExecutionRoleArn=GetAtt(execution_role, "Arn"),
            TaskRoleArn=GetAtt(task_role, "Arn"),
            ContainerDefinitions=[container],
            Volumes=[ecs.Volume(Name=SCRATCH_VOLUME)],  # Fargate task storage, gone with the task
            Tags=tags(cfg, MODULE, name(cfg, svc.key)),
        )
    )


def _deployment_alarms(cfg: EnvConfig, svc: AppService) -> dict[str, ecs.DeploymentAlarms]:
    """The circuit breaker rolls back tasks that never get healthy; deployment alarms roll back tasks that are
    healthy but wrong (a new image answering 5xx), however the deployment was started. None where params turn
    the service's alarms off (dev)."""
    names = alarmsettings.deployment_alarms(cfg, svc.key)
    return {"Alarms": ecs.DeploymentAlarms(AlarmNames=names, Enable=True, Rollback=True)} if names else {}


def _add_service(
    t: Template,
    cfg: EnvConfig,
    p: dict[str, Parameter],
    svc: AppService,
    cluster: ecs.Cluster,
    task: ecs.TaskDefinition,
    target_group: elb.TargetGroup,
    routing: list[elb.Listener | elb.ListenerRule],
    namespace: cloudmap.HttpNamespace,
    log_group: logs.LogGroup,
) -> ecs.Service:
    return t.add_resource(
        ecs.Service(
            logical_id(svc.key, "service"),
            Cluster=Ref(cluster),
            TaskDefinition=Ref(task),
            DesiredCount=_service(cfg, svc).desired_count,
            CapacityProviderStrategy=_capacity_strategy(cfg),
            PlatformVersion="LATEST",
            NetworkConfiguration=ecs.NetworkConfiguration(
                AwsvpcConfiguration=ecs.AwsvpcConfiguration(
                    AssignPublicIp="DISABLED",
                    Subnets=Ref(p[network.OUT_SUBNET_IDS["private"]]),
                    SecurityGroups=[Ref(p[network.OUT_SECURITY_GROUP_IDS["ecs"]])],
                )
            ),
            LoadBalancers=[
                ecs.LoadBalancer(ContainerName=svc.key, ContainerPort=svc.port, TargetGroupArn=Ref(target_group))
            ],
            ServiceConnectConfiguration=_service_connect(cfg, svc, namespace, log_group),
            HealthCheckGracePeriodSeconds=60,
            DeploymentConfiguration=ecs.DeploymentConfiguration(
                DeploymentCircuitBreaker=ecs.DeploymentCircuitBreaker(Enable=True, Rollback=True),
                MaximumPercent=200,
                MinimumHealthyPercent=100,
                **_deployment_alarms(cfg, svc),
            ),
            PropagateTags="SERVICE",
            EnableECSManagedTags=True,
            Tags=tags(cfg, MODULE, name(cfg, svc.key)),
            # ECS refuses a target group that no listener or rule uses yet.
            DependsOn=[r.title for r in routing],
        )
    )


# The web ACL's rules: AWS managed rule groups first, then the per-IP rate limit (priority order).
MANAGED_RULE_GROUPS = ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet")


def _visibility(metric: str) -> waf.VisibilityConfig:
    return waf.VisibilityConfig(CloudWatchMetricsEnabled=True, MetricName=metric, SampledRequestsEnabled=True)


def _add_web_acl(t: Template, cfg: EnvConfig, p: dict[str, Parameter], alb: elb.LoadBalancer) -> waf.WebACL | None:
    """WAF on the public ALB: AWS's common and known-bad-inputs rule groups, and a per-IP rate limit, with the
    requests WAF blocked (and a sample of the others) logged to CloudWatch Logs."""
    settings = cfg.compute.waf
    if not settings.enabled:
        return None
    rules = [
        waf.WebACLRule(
            Name=group,
            Priority=priority,
            OverrideAction=waf.OverrideAction(**{"None": {}}),  # the group's own actions
            Statement=waf.Statement(
                ManagedRuleGroupStatement=waf.ManagedRuleGroupStatement(VendorName="AWS", Name=group)
            ),
            VisibilityConfig=_visibility(group),
        )
        for priority, group in enumerate(MANAGED_RULE_GROUPS)
    ]
    rules.append(
        waf.WebACLRule(
            Name="RateLimitPerIp",
            Priority=len(rules),
            Action=waf.RuleAction(Block=waf.BlockAction()),
            Statement=waf.Statement(
                RateBasedStatement=waf.RateBasedStatement(Limit=settings.rate_limit, AggregateKeyType="IP")
            ),
            VisibilityConfig=_visibility("RateLimitPerIp"),
        )
    )
    acl = t.add_resource(
        waf.WebACL(
            "WebAcl",
            Name=name(cfg, "alb"),
            Scope="REGIONAL",
            Description=f"{name(cfg, 'alb')}: managed rule groups and a per-IP rate limit",
            DefaultAction=waf.DefaultAction(Allow=waf.AllowAction()),
            Rules=rules,
            VisibilityConfig=_visibility(name(cfg, "alb")),
            Tags=tags(cfg, MODULE, name(cfg, "waf")),
        )
    )
    t.add_resource(waf.WebACLAssociation("WebAclAssociation", ResourceArn=Ref(alb), WebACLArn=GetAtt(acl, "Arn")))
    # WAF writes only to a log group whose name starts with aws-waf-logs-, so this one has a fixed name; it is
    # encrypted like the app's log groups (CloudWatch Logs does the encrypting, under the key policy's grant).
    key = _key_arn(p)
    group = shared.log_group("WafLogGroup", cfg, MODULE, "waf-logs", settings.log_retention_days, key,
                             fixed_name=f"aws-waf-logs-{name(cfg, 'alb')}")  # fmt: skip
    t.add_resource(group if key is not None else skip(group, NO_ENVIRONMENT_KEY))
    t.add_resource(
        waf.LoggingConfiguration(
            "WafLogging",
            ResourceArn=GetAtt(acl, "Arn"),
            LogDestinationConfigs=[
                Sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${Group}", Group=Ref(group))
            ],
        )
    )
    return acl


def _awslogs(log_group: logs.LogGroup, prefix: str) -> ecs.LogConfiguration:
    """Logs of a container (or of a service's Service Connect proxy) into the service's log group."""
    return ecs.LogConfiguration(
        LogDriver="awslogs",
        Options={"awslogs-group": Ref(log_group), "awslogs-region": Ref(AWS_REGION), "awslogs-stream-prefix": prefix},
    )


def _service_connect(
    cfg: EnvConfig, svc: AppService, namespace: cloudmap.HttpNamespace, log_group: logs.LogGroup
) -> ecs.ServiceConnectConfiguration:
    """The API serves its port under a Service Connect alias; the UI is a client only. The proxy's own log goes
    to the service's log group."""
    served = []
    if svc is API:
        alias = ecs.ServiceConnectClientAlias(Port=API.port, DnsName=f"{API.key}.{namespace_name(cfg)}")
        served = [ecs.ServiceConnectService(PortName=API.key, DiscoveryName=API.key, ClientAliases=[alias])]
    return ecs.ServiceConnectConfiguration(
        Enabled=True,
        Namespace=GetAtt(namespace, "Arn"),
        **({"Services": served} if served else {}),
        LogConfiguration=_awslogs(log_group, "service-connect"),
    )


def _add_autoscaling(t: Template, cfg: EnvConfig, svc: AppService, cluster: ecs.Cluster, service: ecs.Service) -> None:
    size = _service(cfg, svc)
    target = t.add_resource(
        aas.ScalableTarget(
            logical_id(svc.key, "scalable", "target"),
            ServiceNamespace="ecs",
            ScalableDimension="ecs:service:DesiredCount",
            ResourceId=Join("/", ["service", Ref(cluster), GetAtt(service, "Name")]),
            MinCapacity=size.min_count,
            MaxCapacity=size.max_count,
            Tags=tags(cfg, MODULE, name(cfg, svc.key)),
        )
    )
    t.add_resource(
        aas.ScalingPolicy(
            logical_id(svc.key, "cpu", "scaling"),
            PolicyName=name(cfg, svc.key, "cpu"),
            PolicyType="TargetTrackingScaling",
            ScalingTargetId=Ref(target),
            TargetTrackingScalingPolicyConfiguration=aas.TargetTrackingScalingPolicyConfiguration(
                PredefinedMetricSpecification=aas.PredefinedMetricSpecification(
                    PredefinedMetricType="ECSServiceAverageCPUUtilization"
                ),
                TargetValue=float(size.cpu_target_percent),
                ScaleInCooldown=120,
                ScaleOutCooldown=60,
            ),
        )
    )


def _add_outputs(
    t: Template, cluster: ecs.Cluster, alb: elb.LoadBalancer, url: Sub | str, services: dict[str, ecs.Service]
) -> None:
    t.add_output(
        Output(
            OUT_URL,
            Description="Where the app answers: https://<compute.domain>, else the ALB's name (plain HTTP "
            "where params name no certificate and no domain)",
            Value=url,
        )
    )
    t.add_output(
        Output(
            OUT_ALB_DNS, Description="The ALB's DNS name (point the app's domain here)", Value=GetAtt(alb, "DNSName")
        )
    )
    t.add_output(Output(OUT_CLUSTER, Description="The ECS cluster", Value=Ref(cluster)))
    for svc in SERVICES:
        t.add_output(
            Output(
                OUT_SERVICE[svc.key],
                Description=f"The {svc.label} ECS service",
                Value=GetAtt(services[svc.key], "Name"),
            )
        )
