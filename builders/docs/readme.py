"""The README's generated sections: Markdown made from the templates, spliced in between markers.

A hand-kept table of environment differences or security-group rules goes
stale the first time a params file or a builder changes, and nobody notices;
these tables are made by the build from what it generated, so `python
build.py --check` (and a test) catches a README that no longer says what the
templates do. Each section is one entry of `SECTIONS` (marker name ->
function from `Sources` to Markdown), so a new generated section is one line
there plus its two markers in README.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from builders import alarms
from builders.app import SERVICES
from builders.build.pipeline import Artifact
from builders.config import EnvConfig
from builders.docs.paths import README, svg_path
from builders.docs.readback import Doc, Stacks, az_index, by_env, props, ref, resources, service_suffix
from builders.errors import BuildError
from builders.naming import az_letter, logical_id

# Column order: the promotion path of an image; other environments follow, alphabetically.
PROMOTION = ("dev", "staging", "prod")
STACK_ORDER = ("network", "storage", "database", "compute", "root")


@dataclass(frozen=True)
class Sources:
    """Everything a generated section may read: every environment's config and rendered files."""

    configs: dict[str, EnvConfig]
    artifacts: tuple[Artifact, ...]
    stacks: dict[str, Stacks] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stacks", by_env(self.artifacts))

    @property
    def envs(self) -> list[str]:
        """The environments in column order: dev, staging, prod, then any other, alphabetically."""
        rank = {env: i for i, env in enumerate(PROMOTION)}
        return sorted(self.configs, key=lambda env: (rank.get(env, len(PROMOTION)), env))


def marker(name: str) -> tuple[str, str]:
    """The opening and closing comment that fence one generated section in README.md."""
    return f"<!-- generated:{name} -->", f"<!-- /generated:{name} -->"


def splice(readme: str, sections: dict[str, str], where: str = README) -> str:
    """`readme` with the text between each section's markers replaced; everything else byte for byte.

    A missing, repeated or misordered marker is a BuildError rather than a
    silent skip: the section would otherwise never be checked again.
    """
    text = readme
    for name, body in sections.items():
        start, end = marker(name)
        if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
            raise BuildError(
                f"{where}: needs exactly one `{start}` followed by one `{end}` where the generated {name} "
                "section goes; nothing was written"
            )
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}\n\n{body.strip()}\n\n{end}{tail}"
    return text


def render(sources: Sources) -> dict[str, str]:
    """Every registered section's Markdown, by marker name."""
    return {name: section(sources) for name, section in SECTIONS.items()}


# --- Markdown helpers -------------------------------------------------------------------------------------------


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def _number(value: float) -> str:
    return f"{value:g}"


def _azs(indexes: Iterable[int | None]) -> str:
    return ", ".join(az_letter(i) for i in indexes if i is not None)


def _only(envs: list[str], everywhere: list[str]) -> str:
    """'' when a row holds in every environment, else which ones it holds in."""
    return "" if envs == everywhere else f" ({', '.join(envs)} only)"


# --- architecture -----------------------------------------------------------------------------------------------


def architecture(sources: Sources) -> str:
    """One diagram per environment, drawn from its templates by builders.docs.diagram."""

    lines = []
    for env in sources.envs:
        lines += [f"**{env}**", "", f"![{env} architecture]({svg_path(env)})", ""]
    return "\n".join(lines)


# --- environments -----------------------------------------------------------------------------------------------

Cell = Callable[[Stacks, EnvConfig], str]


def _one(doc: Doc, type_: str, logical: str | None = None) -> Doc:
    found = resources(doc, type_)
    return props(found[logical] if logical else next(iter(found.values())))


def _vpc_cidr(s: Stacks, _: EnvConfig) -> str:
    return _one(s["network"], "AWS::EC2::VPC")["CidrBlock"]


def _az_count(s: Stacks, _: EnvConfig) -> str:
    azs = sorted({sub.az for sub in s.subnets()})
    return f"{len(azs)} ({_azs(azs)})"


def _subnets(tier: str) -> Cell:
    def cell(s: Stacks, _: EnvConfig) -> str:
        return ", ".join(sub.cidr for sub in s.subnets() if sub.tier == tier)

    return cell


def _nat_gateways(s: Stacks, _: EnvConfig) -> str:
    net = s["network"]
    nats = resources(net, "AWS::EC2::NatGateway")
    if not nats:
        return "none (no internet egress)"
    azs = [az_index(props(net["Resources"][ref(props(n)["SubnetId"])])["AvailabilityZone"]) for n in nats.values()]
    subnet_count = len({sub.az for sub in s.subnets()})
    shape = "one per AZ" if len(nats) == subnet_count > 1 else f"in AZ {_azs(azs)}, shared"
    return f"{len(nats)} ({shape})"


def _endpoints(s: Stacks, _: EnvConfig) -> str:
    found = resources(s["network"], "AWS::EC2::VPCEndpoint").values()
    interface = [service_suffix(props(e)) for e in found if props(e)["VpcEndpointType"] == "Interface"]
    gateway = [service_suffix(props(e)).upper() for e in found if props(e)["VpcEndpointType"] == "Gateway"]
    parts = [", ".join(interface)] if interface else []
    parts += [f"{g} gateway" for g in gateway]
    return " + ".join(parts) or "none (AWS APIs through the NAT)"


def _flow_logs(s: Stacks, _: EnvConfig) -> str:
    net = s["network"]
    logs = resources(net, "AWS::EC2::FlowLog")
    if not logs:
        return "off"
    flow = next(iter(logs.values()))
    group = props(net["Resources"][ref(props(flow)["LogGroupName"])])
    return f"{props(flow)['TrafficType']} traffic, kept {_days(group['RetentionInDays'])}"


def _data_lake(s: Stacks) -> Doc:
    return _one(s["storage"], "AWS::S3::Bucket", "DataLakeBucket")


def _encryption(s: Stacks, _: EnvConfig) -> str:
    (rule,) = _data_lake(s)["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    default = rule["ServerSideEncryptionByDefault"]
    if default["SSEAlgorithm"] == "AES256":
        return "AES256 (S3-managed keys)"
    key = props(s["storage"]["Resources"][ref(default["KMSMasterKeyID"])])
    rotation = ", rotated yearly" if key.get("EnableKeyRotation") else ""
    bucket_key = ", S3 bucket key" if rule.get("BucketKeyEnabled") else ""
    return f"KMS customer managed key{rotation}{bucket_key}"


def _lifecycle_rules(s: Stacks) -> list[Doc]:
    return _data_lake(s).get("LifecycleConfiguration", {}).get("Rules", [])


def _tiering(s: Stacks, _: EnvConfig) -> str:
    moves = [
        t for r in _lifecycle_rules(s) for t in r.get("Transitions", []) if t["StorageClass"] == "INTELLIGENT_TIERING"
    ]
    if not moves:
        return "off"
    text = f"on from day {moves[0]['TransitionInDays']}"
    for config in _data_lake(s).get("IntelligentTieringConfigurations", []):
        days = "/".join(str(t["Days"]) for t in config["Tierings"])
        where = f"under `{config['Prefix']}`" if config.get("Prefix") else "whole bucket"
        text += f"; archive tiers {where} at {days} days"
    return text


def _access_logging(s: Stacks, _: EnvConfig) -> str:
    target = ref(_data_lake(s).get("LoggingConfiguration", {}).get("DestinationBucketName"))
    if target is None:
        return "off"
    rules = props(s["storage"]["Resources"][target])["LifecycleConfiguration"]["Rules"]
    kept = [r["ExpirationInDays"] for r in rules if "ExpirationInDays" in r]
    return f"on, kept {_days(kept[0])}" if kept else "on"


def _lifecycle_days(key: str, days: str) -> Cell:
    def cell(s: Stacks, _: EnvConfig) -> str:
        found = [r[key][days] for r in _lifecycle_rules(s) if key in r]
        return _days(found[0]) if found else "never"

    return cell


def _cluster(s: Stacks) -> Doc:
    return _one(s["database"], "AWS::RDS::DBCluster")


def _engine(s: Stacks, _: EnvConfig) -> str:
    c = _cluster(s)
    names = {"aurora-postgresql": "Aurora PostgreSQL"}
    return f"{names.get(c['Engine'], c['Engine'])} {c['EngineVersion']}"


def _capacity(s: Stacks, _: EnvConfig) -> str:
    scaling = _cluster(s)["ServerlessV2ScalingConfiguration"]
    return f"{_number(scaling['MinCapacity'])}–{_number(scaling['MaxCapacity'])}"


def _auto_pause(s: Stacks, _: EnvConfig) -> str:
    seconds = _cluster(s)["ServerlessV2ScalingConfiguration"].get("SecondsUntilAutoPause")
    return f"after {seconds // 60} idle min" if seconds else "never"


def _instances(s: Stacks) -> list[Doc]:
    return sorted(
        (props(i) for i in resources(s["database"], "AWS::RDS::DBInstance").values()),
        key=lambda p: p.get("PromotionTier", 0),
    )


def _writer_readers(s: Stacks, _: EnvConfig) -> str:
    writer, *readers = _instances(s)
    text = f"writer in AZ {_azs([az_index(writer.get('AvailabilityZone'))])}"
    if readers:
        where = _azs(az_index(r.get("AvailabilityZone")) for r in readers)
        text += f"; {len(readers)} {'reader' if len(readers) == 1 else 'readers'} in AZ {where}"
    else:
        text += "; no readers"
    return f"{text} ({writer['DBInstanceClass']})"


def _cluster_value(key: str) -> Cell:
    def cell(s: Stacks, _: EnvConfig) -> str:
        return str(_cluster(s)[key])

    return cell


def _backup_days(s: Stacks, _: EnvConfig) -> str:
    return _days(_cluster(s)["BackupRetentionPeriod"])


def _log_exports(s: Stacks, _: EnvConfig) -> str:
    return ", ".join(_cluster(s).get("EnableCloudwatchLogsExports", [])) or "none"


def _database_user(s: Stacks, _: EnvConfig) -> str:
    return f"`{_cluster(s)['DatabaseName']}` / `{_cluster(s)['MasterUsername']}`"


def _performance_insights(s: Stacks, _: EnvConfig) -> str:
    days = {p.get("PerformanceInsightsRetentionPeriod") for p in _instances(s) if p.get("EnablePerformanceInsights")}
    return ", ".join(_days(d) for d in sorted(days)) if days else "off"


def _on(value: bool) -> str:
    return "on" if value else "off"


def _alb_attribute(s: Stacks, key: str) -> str | None:
    alb = _one(s["compute"], "AWS::ElasticLoadBalancingV2::LoadBalancer")
    return next((a["Value"] for a in alb.get("LoadBalancerAttributes", []) if a["Key"] == key), None)


def _deletion_protection(s: Stacks, _: EnvConfig) -> str:
    aurora = bool(_cluster(s).get("DeletionProtection"))
    alb = _alb_attribute(s, "deletion_protection.enabled") == "true"
    return _on(aurora) if aurora == alb else f"Aurora {_on(aurora)}, ALB {_on(alb)}"


def _https(s: Stacks, _: EnvConfig) -> str:
    listeners = [props(x) for x in resources(s["compute"], "AWS::ElasticLoadBalancingV2::Listener").values()]
    https = [x for x in listeners if x["Protocol"] == "HTTPS"]
    if not https:
        return "no: HTTP on " + ", ".join(str(x["Port"]) for x in listeners)
    redirects = [x for x in listeners if any(a["Type"] == "redirect" for a in x.get("DefaultActions", []))]
    text = f"{https[0]['Port']}, {https[0]['SslPolicy']}"
    return text + "".join(f"; {x['Port']} redirects" for x in redirects)


def _certificate(s: Stacks, _: EnvConfig) -> str:
    value = s.parameters.get("CertificateArn")
    if not value:
        return "none"
    return f"SSM parameter `{value}`" if value.startswith("/") else f"`{value}`"


def _container_insights(s: Stacks, _: EnvConfig) -> str:
    settings = _one(s["compute"], "AWS::ECS::Cluster").get("ClusterSettings", [])
    return _on(any(x["Name"] == "containerInsights" and x["Value"] == "enabled" for x in settings))


def _spot(s: Stacks, _: EnvConfig) -> str:
    strategy = _one(s["compute"], "AWS::ECS::Cluster").get("DefaultCapacityProviderStrategy", [])
    spot = [x for x in strategy if x["CapacityProvider"] == "FARGATE_SPOT" and x.get("Weight")]
    if not spot:
        return "no (on-demand only)"
    base = sum(x.get("Base", 0) for x in strategy if x["CapacityProvider"] == "FARGATE")
    if not base:
        return "every task"
    return "beyond the first task of a service" if base == 1 else f"beyond the first {base} tasks of a service"


def _task(s: Stacks, svc: str) -> Doc:
    return _one(s["compute"], "AWS::ECS::TaskDefinition", f"{logical_id(svc)}TaskDefinition")


def _service_size(svc: str) -> Cell:
    def cell(s: Stacks, _: EnvConfig) -> str:
        task = _task(s, svc)
        return f"{task['Cpu']} CPU / {task['Memory']} MiB"

    return cell


def _service_count(svc: str) -> Cell:
    def cell(s: Stacks, _: EnvConfig) -> str:
        c = s["compute"]
        desired = _one(c, "AWS::ECS::Service", f"{logical_id(svc)}Service")["DesiredCount"]
        target = _one(c, "AWS::ApplicationAutoScaling::ScalableTarget", f"{logical_id(svc)}ScalableTarget")
        policy = _one(c, "AWS::ApplicationAutoScaling::ScalingPolicy", f"{logical_id(svc)}CpuScaling")
        goal = policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"]
        return f"{desired}; scales {target['MinCapacity']}–{target['MaxCapacity']} at {_number(goal)}% CPU"

    return cell


def _service_image(svc: str) -> Cell:
    def cell(s: Stacks, _: EnvConfig) -> str:
        return f"`{s.parameters.get(f'{logical_id(svc)}ImageTag', '?')}`"

    return cell


def _service_health(svc: str) -> Cell:
    def cell(s: Stacks, _: EnvConfig) -> str:
        group = _one(s["compute"], "AWS::ElasticLoadBalancingV2::TargetGroup", f"{logical_id(svc)}TargetGroup")
        return f"`{group['HealthCheckPath']}`"

    return cell


def _bedrock(s: Stacks, cfg: EnvConfig) -> str:
    return ", ".join(f"`{m}`" for m in cfg.compute.bedrock_models)


def _log_retention(s: Stacks, _: EnvConfig) -> str:
    groups = [g for k, g in resources(s["compute"], "AWS::Logs::LogGroup").items()]
    days = sorted({props(g)["RetentionInDays"] for g in groups})
    return ", ".join(_days(d) for d in days)


def _alarms(s: Stacks, cfg: EnvConfig) -> str:
    """The alarms by kind, with how many things each watches: what the monitoring stack makes."""
    made = [props(a)["AlarmName"].removeprefix(f"nlsql-{cfg.environment}-")
            for a in resources(s["monitoring"], "AWS::CloudWatch::Alarm").values()]  # fmt: skip
    kinds: dict[str, int] = {}
    for alarm in made:
        kind = next(k.key for k in alarms.KINDS if alarm.endswith("-" + k.key))
        kinds[kind] = kinds.get(kind, 0) + 1
    listed = ", ".join(f"{k} ×{n}" if n > 1 else k for k, n in kinds.items())
    return f"{len(made)}: {listed}"


def _paging(s: Stacks, _: EnvConfig) -> str:
    (composite,) = resources(s["monitoring"], "AWS::CloudWatch::CompositeAlarm").values()
    members = props(composite)["AlarmRule"].count("ALARM(")
    return f"{props(composite)['AlarmName']} (any of {members})"


def _dashboard(s: Stacks, _: EnvConfig) -> str:
    boards = resources(s["monitoring"], "AWS::CloudWatch::Dashboard")
    return ", ".join(props(b)["DashboardName"] for b in boards.values()) or "off"


def _told(s: Stacks, _: EnvConfig) -> str:
    subscriptions = [props(x)["Protocol"] for x in resources(s["monitoring"], "AWS::SNS::Subscription").values()]
    return ", ".join(f"{subscriptions.count(p)} {p}" for p in sorted(set(subscriptions))) or "none yet (params)"


def _rollback(_: Stacks, cfg: EnvConfig) -> str:
    rollback = cfg.monitoring.rollback
    if not rollback.alarms:
        return "none"
    return f"{', '.join(rollback.alarms)}, watched {rollback.monitoring_minutes} min"


def _region(_: Stacks, cfg: EnvConfig) -> str:
    return cfg.region


def _service_rows(svc_key: str, port: int, label: str) -> list[tuple[str, Cell]]:
    head = f"{label} ({port})"
    return [
        (f"{head}: task size", _service_size(svc_key)),
        (f"{head}: tasks at deploy; autoscaling", _service_count(svc_key)),
        (f"{head}: image tag", _service_image(svc_key)),
        (f"{head}: health check", _service_health(svc_key)),
    ]


# (group heading, [(feature, cell)]); a cell reads the environment's templates, or its config where they do not say.
ENVIRONMENT_ROWS: tuple[tuple[str, list[tuple[str, Cell]]], ...] = (
    ("Environment", [("Region", _region), ("Deletion protection (Aurora, ALB)", _deletion_protection)]),
    (
        "Network",
        [
            ("VPC CIDR", _vpc_cidr),
            ("Availability Zones", _az_count),
            ("Public subnets (ALB, NAT)", _subnets("public")),
            ("Private subnets (tasks, endpoints)", _subnets("private")),
            ("Database subnets (Aurora)", _subnets("database")),
            ("NAT gateways", _nat_gateways),
            ("VPC endpoints", _endpoints),
            ("Flow logs", _flow_logs),
        ],
    ),
    (
        "Storage",
        [
            ("S3 encryption", _encryption),
            ("S3 Intelligent-Tiering", _tiering),
            ("Access logging", _access_logging),
            ("Noncurrent versions kept", _lifecycle_days("NoncurrentVersionExpiration", "NoncurrentDays")),
            (
                "Incomplete uploads aborted after",
                _lifecycle_days("AbortIncompleteMultipartUpload", "DaysAfterInitiation"),
            ),
        ],
    ),
    (
        "Database",
        [
            ("Engine", _engine),
            ("Capacity (ACU, min–max)", _capacity),
            ("Auto-pause", _auto_pause),
            ("Instances", _writer_readers),
            ("Backup retention", _backup_days),
            ("Backup window (UTC)", _cluster_value("PreferredBackupWindow")),
            ("Maintenance window (UTC)", _cluster_value("PreferredMaintenanceWindow")),
            ("Performance Insights retention", _performance_insights),
            ("Log exports to CloudWatch", _log_exports),
            ("Database / master user", _database_user),
        ],
    ),
    (
        "Compute",
        [
            ("HTTPS", _https),
            ("Certificate", _certificate),
            ("Container Insights", _container_insights),
            ("Fargate Spot", _spot),
            *(row for svc in SERVICES for row in _service_rows(svc.key, svc.port, svc.label)),
            ("Bedrock models the API may invoke", _bedrock),
            ("App log retention", _log_retention),
        ],
    ),
    (
        "Monitoring",
        [
            ("Alarms", _alarms),
            ("The alarm that pages", _paging),
            ("Alarm topic subscriptions", _told),
            ("Dashboard", _dashboard),
            ("Deploy rollback triggers", _rollback),
        ],
    ),
)


def environments(sources: Sources) -> str:
    """Every knob of every environment, one column per params file."""
    envs = sources.envs
    rows: list[list[str]] = []
    for group, cells in ENVIRONMENT_ROWS:
        rows.append([f"**{group}**", *([""] * len(envs))])
        for feature, cell in cells:
            rows.append([feature, *(cell(sources.stacks[env], sources.configs[env]) for env in envs)])
    return _table(["Feature", *envs], rows)


# --- security groups --------------------------------------------------------------------------------------------


def _group_label(group: Doc) -> tuple[str, str]:
    """(name, purpose) from a GroupDescription such as 'alb-sg: Application Load Balancer'."""
    label, _, purpose = props(group)["GroupDescription"].partition(":")
    return label.strip(), purpose.strip()


def _rule_text(rule: Doc, direction: str, labels: dict[str, str]) -> str | None:
    """One rule as '443/tcp from 0.0.0.0/0 — why'; None for the no-match rule that only blocks the default egress."""
    if rule.get("CidrIp") == "255.255.255.255/32" and rule.get("IpProtocol") == "icmp":
        return None
    peer_key = "SourceSecurityGroupId" if direction == "in" else "DestinationSecurityGroupId"
    if peer_key in rule:
        peer = labels[ref(rule[peer_key]) or ""]
    elif ref(rule.get("CidrIp")) is not None:
        peer = "the VPC CIDR"
    else:
        peer = rule["CidrIp"]
    ports = str(rule["FromPort"]) if rule["FromPort"] == rule["ToPort"] else f"{rule['FromPort']}-{rule['ToPort']}"
    word = "from" if direction == "in" else "to"
    why = f" — {rule['Description']}" if rule.get("Description") else ""
    return f"{ports}/{rule['IpProtocol']} {word} {peer}{why}"


def security_group_rules(network_doc: Doc) -> list[tuple[str, str, list[str], list[str]]]:
    """(group, purpose, inbound, outbound) per security group of one network template, rule for rule.

    Inline rules and standalone SecurityGroupIngress/Egress resources are
    merged, which is how EC2 sees them.
    """
    groups = resources(network_doc, "AWS::EC2::SecurityGroup")
    labels = {gid: _group_label(g)[0] for gid, g in groups.items()}
    rules: dict[str, dict[str, list[str]]] = {gid: {"in": [], "out": []} for gid in groups}
    for gid, group in groups.items():
        for direction, key in (("in", "SecurityGroupIngress"), ("out", "SecurityGroupEgress")):
            rules[gid][direction] += [t for r in props(group).get(key, []) if (t := _rule_text(r, direction, labels))]
    for direction, type_ in (("in", "AWS::EC2::SecurityGroupIngress"), ("out", "AWS::EC2::SecurityGroupEgress")):
        for resource in resources(network_doc, type_).values():
            p = props(resource)
            text = _rule_text(p, direction, labels)
            if text:
                rules[ref(p["GroupId"]) or ""][direction].append(text)
    return [(labels[gid], _group_label(groups[gid])[1], rules[gid]["in"], rules[gid]["out"]) for gid in groups]


def security_groups(sources: Sources) -> str:
    """The security groups of the generated network templates, merged over environments where they agree."""
    envs = sources.envs
    seen: dict[tuple[str, str, str, str], list[str]] = {}
    for env in envs:
        for label, purpose, inbound, outbound in security_group_rules(sources.stacks[env]["network"]):
            row = (f"`{label}`", purpose, "<br>".join(inbound) or "none", "<br>".join(outbound) or "none")
            seen.setdefault(row, []).append(env)
    rows = [(g, p + _only(where, envs), i, o) for (g, p, i, o), where in seen.items()]
    return _table(["group", "purpose", "inbound", "outbound"], rows)


# --- network flows ---------------------------------------------------------------------------------------------


def flows(sources: Sources) -> str:
    """The build's proof of the network flows (builders/build/flows.py): a row per flow, a column per environment."""
    from builders.build import flows as proof

    envs = sources.envs
    cells: dict[tuple[str, bool], dict[str, tuple[str, str]]] = {}
    verdicts = proof.prove(sources.artifacts, sources.configs)
    for v in verdicts:
        text = f"possible, {v.path}" if v.possible else f"impossible: {v.reason or v.path}"
        cells.setdefault((v.flow, v.required), {})[v.env] = (v.port, text if v.holds else f"**DOES NOT HOLD**: {text}")
    # Rows in the order of the environment with the most flows (a group only some have sits where it would).
    longest = max(([(v.flow, v.required) for v in verdicts if v.env == env] for env in envs), key=len, default=[])
    rank = {flow: i for i, flow in enumerate(longest)}
    rows = []
    for (flow, required), found in sorted(cells.items(), key=lambda kv: rank.get(kv[0], len(rank))):
        ports: dict[str, list[str]] = {}
        for env in envs:
            if env in found:
                ports.setdefault(found[env][0], []).append(env)
        port = ", ".join(p if len(ports) == 1 else f"{p} ({', '.join(e)})" for p, e in ports.items())
        must = "required" if required else "forbidden"
        rows.append([flow, port, must, *(found[env][1] if env in found else "—" for env in envs)])
    return _table(["flow", "port", "must be", *envs], rows)


# --- outputs ----------------------------------------------------------------------------------------------------


def outputs(sources: Sources) -> str:
    """Each stack's Outputs with their descriptions, and the environments that have each."""
    envs = sources.envs
    seen: dict[tuple[str, str, str], list[str]] = {}
    order: dict[tuple[str, str, str], tuple[int, int, int]] = {}
    for rank, env in enumerate(envs):
        docs = sources.stacks[env].docs
        for stack, doc in docs.items():
            stack_rank = STACK_ORDER.index(stack) if stack in STACK_ORDER else len(STACK_ORDER)
            for i, (name, out) in enumerate(doc.get("Outputs", {}).items()):
                key = (stack, name, out.get("Description", ""))
                seen.setdefault(key, []).append(env)
                order.setdefault(key, (stack_rank, i, rank))
    rows = [
        (f"`{stack}`", f"`{name}`", why, "all" if where == envs else ", ".join(where))
        for (stack, name, why), where in sorted(seen.items(), key=lambda kv: order[kv[0]])
    ]
    for artifact in sources.artifacts:
        if artifact.env or artifact.doc is None:
            continue
        stack = artifact.filename.removesuffix(".yaml")
        for name, out in artifact.doc.get("Outputs", {}).items():
            rows.append((f"`{stack}`", f"`{name}`", out.get("Description", ""), "account-wide"))
    return _table(["stack", "output", "description", "environments"], rows)


# Marker name -> the function that makes that README section. Add a section here and put its markers in README.md.
def costs(sources: Sources) -> str:
    """The monthly estimate per environment (builders/docs/cost.py), from the same artifacts."""
    from builders.docs import cost

    estimates = {e.env: e for e in cost.estimate(sources.artifacts, cost.load_book())}
    return cost.markdown(estimates[env] for env in sources.envs)


SECTIONS: dict[str, Callable[[Sources], str]] = {
    "architecture": architecture,
    "environments": environments,
    "security-groups": security_groups,
    "flows": flows,
    "outputs": outputs,
    "costs": costs,
}
