"""A monthly cost estimate per environment, read off the generated templates.

The counts (NAT gateways, endpoint ENIs, tasks, Aurora instances, keys,
secrets, log groups) come from the template dicts a build just rendered, not
from the params, so the estimate describes what would be deployed and cannot
drift from it. Prices, and the usage no template states (GB through the NAT,
log volume, data-lake size), live in data files: `prices.yaml` (us-east-1)
and one `prices-<region>.yaml` per other region priced; each environment is
priced with its own region's file, and an environment in a region without
one is priced at us-east-1's and says so. Every assumption is printed
beside the figures.

"min scale" is every scaling resource at its floor all month (Aurora at
MinCapacity, so 0 where it may pause; each ECS service at its autoscaling
minimum), "max scale" at its ceiling. Nothing else scales.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from rich.console import Console
from rich.table import Table

from builders.build.pipeline import Artifact
from builders.docs.readback import props
from builders.errors import BuildError
from builders.params import _StrictLoader

PRICES_FILE = "prices.yaml"
PRICES_PATH = f"{__package__.replace('.', '/')}/{PRICES_FILE}"  # as the README names it: follows a move
Usd = Annotated[float, Field(ge=0)]


class _Model(BaseModel):
    """Closed and strict: a misspelt or quoted price must be an error, never a silent $0."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class NatGateway(_Model):
    hour: Usd
    gb: Usd


class InterfaceEndpoint(_Model):
    az_hour: Usd
    gb: Usd


class PublicIpv4(_Model):
    hour: Usd


class Alb(_Model):
    hour: Usd
    lcu_hour: Usd


class Fargate(_Model):
    vcpu_hour: Usd
    gb_hour: Usd
    arm_vcpu_hour: Usd
    arm_gb_hour: Usd
    spot_discount: float = Field(..., ge=0, lt=1)


class Aurora(_Model):
    acu_hour: Usd
    storage_gb_month: Usd
    io_million: Usd


class S3(_Model):
    standard_gb_month: Usd
    intelligent_tiering_gb_month: Usd


class CloudWatch(_Model):
    logs_ingest_gb: Usd
    logs_storage_gb_month: Usd
    metric_month: Usd
    alarm_metric_month: Usd
    composite_alarm_month: Usd
    dashboard_month: Usd


class Kms(_Model):
    key_month: Usd


class SecretsManager(_Model):
    secret_month: Usd


class Waf(_Model):
    web_acl_month: Usd
    rule_month: Usd
    requests_million: Usd


class PriceList(_Model):
    nat_gateway: NatGateway
    interface_endpoint: InterfaceEndpoint
    public_ipv4: PublicIpv4
    alb: Alb
    fargate: Fargate
    aurora: Aurora
    s3: S3
    cloudwatch: CloudWatch
    kms: Kms
    secrets_manager: SecretsManager
    waf: Waf


def _assume(description: str) -> Any:
    return Field(..., ge=0, description=description)


class Assumptions(_Model):
    """Usage that no template states; the descriptions are printed with every estimate."""

    hours_per_month: int = Field(..., gt=0, le=744, description="hours in a month")
    nat_data_gb: float = _assume("GB/month processed by the NAT gateways")
    endpoint_data_gb: float = _assume("GB/month processed by the interface endpoints")
    alb_lcu: float = _assume("average LCUs per load balancer")
    data_lake_gb: float = _assume("GB in the data-lake bucket")
    access_log_gb: float = _assume("GB in each bucket that receives S3 access logs")
    aurora_storage_gb: float = _assume("GB of Aurora storage per cluster")
    aurora_io_million: float = _assume("million Aurora I/O requests/month per cluster")
    log_ingest_gb_per_group: float = _assume("GB/month ingested per log group")
    log_retention_days_unset: int = Field(..., gt=0, description="days a log group without retention is counted")
    container_insights_metrics_per_cluster: int = _assume("Container Insights metrics per cluster")
    container_insights_metrics_per_service: int = _assume("Container Insights metrics per service")
    waf_requests_million: float = _assume("million requests/month a web ACL inspects")


class Prices(_Model):
    region: str
    date: str = Field(..., pattern=r"^\d{4}-\d{2}(-\d{2})?$")
    prices: PriceList
    assumptions: Assumptions

    @field_validator("date", mode="before")
    @classmethod
    def _iso(cls, value: Any) -> Any:
        # YAML reads 2026-11-01 as a date; it means the same as the string.
        return value.isoformat() if isinstance(value, dt.date) else value


def default_path() -> Path:
    """The price file shipped inside the package (package data), so an installed copy finds it too."""
    return Path(str(resources.files("builders.docs") / PRICES_FILE))


def regional_files(folder: Path | None = None) -> list[Path]:
    """The price files in `folder` (default: the package's): prices.yaml first, then prices-<region>.yaml by name."""
    base = folder / PRICES_FILE if folder else default_path()
    return [base, *sorted(base.parent.glob(f"{base.stem}-*{base.suffix}"))]


PriceBook = dict[str, Prices]  # region -> its prices; the first entry is the fallback for other regions


def load_book(path: Path | None = None, folder: Path | None = None) -> PriceBook:
    """The prices of each region that has a price file (just `path`'s when given), each checked against its name.

    A prices-<region>.yaml holds only `region`, `date` and `prices`: the
    assumptions (GB through the NAT, log volume, lake size) describe the
    app's usage, not the region, so they are written once, in prices.yaml.
    It must say `region: <region>`: a copied file whose region was not
    changed would otherwise price one region with another's list prices and
    print the wrong name on it.
    """
    if path is not None:
        prices = load_prices(path)
        return {prices.region: prices}
    files = regional_files(folder)
    base = load_prices(files[0])
    book: PriceBook = {base.region: base}
    for file in files[1:]:
        prices = load_prices(file, base)
        named = file.stem.removeprefix(f"{files[0].stem}-")
        if named != prices.region:
            raise BuildError(f"{file}: region is {prices.region!r}, but the file name says {named!r}; a "
                             "regional price file is prices-<region>.yaml with that region in it; no cost estimate "
                             "was made")  # fmt: skip
        if prices.region in book:
            raise BuildError(f"{file}: {prices.region} is already priced by {files[0]}; keep one price file per "
                             f"region; no cost estimate was made")  # fmt: skip
        book[prices.region] = prices
    return book


def load_prices(path: Path | None = None, base: Prices | None = None) -> Prices:
    """The price file, validated; any problem is one BuildError naming the file and the key.

    With `base`, the file is a regional one: it may not set assumptions, and takes base's.
    """
    path = path or default_path()
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506 - a SafeLoader
    except (OSError, UnicodeDecodeError) as exc:
        raise BuildError(f"{path}: cannot read the price file ({exc}); no cost estimate was made") from None
    except yaml.YAMLError as exc:
        raise BuildError(f"{path}: not valid YAML: {' '.join(str(exc).split())}; no cost estimate was made") from None
    if base is not None and isinstance(doc, dict):
        if "assumptions" in doc:
            raise BuildError(f"{path}: assumptions: not allowed in a regional price file; the usage assumptions are "
                             f"set once, in {PRICES_PATH}; no cost estimate was made")  # fmt: skip
        doc = {**doc, "assumptions": base.assumptions}
    try:
        return Prices.model_validate(doc)
    except ValidationError as exc:
        problems = [_problem(e) for e in exc.errors(include_url=False)]
        lines = "\n".join(f"  {p}" for p in problems)
        raise BuildError(
            f"{path}: {len(problems)} problem(s) in the price file; no cost estimate was made.\n{lines}"
        ) from None


def _problem(error: Any) -> str:
    key = ".".join(map(str, error["loc"])) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    if error["type"] == "missing":
        return f"{key}: missing; every price and assumption must be given"
    return f"{key}: {error['msg']} (got {error.get('input')!r})"


@dataclass(frozen=True)
class LineItem:
    """One row; `key` is stable for tests and tools, `name` is for people."""

    key: str
    name: str
    quantity: str
    unit_price: str
    monthly_min: float
    monthly_max: float


@dataclass(frozen=True)
class Estimate:
    env: str
    region: str
    items: tuple[LineItem, ...]
    prices: Prices

    @property
    def total_min(self) -> float:
        return sum(i.monthly_min for i in self.items)

    @property
    def total_max(self) -> float:
        return sum(i.monthly_max for i in self.items)

    def item(self, key: str) -> LineItem | None:
        return next((i for i in self.items if i.key == key), None)


Docs = dict[str, dict[str, Any]]  # one environment: template file name -> template dict


def estimate(artifacts: Iterable[Artifact], prices: Prices | PriceBook) -> list[Estimate]:
    """One estimate per environment in the artifacts, in their order; the account-wide files are not counted.

    Each environment is priced with its region's prices where the book has
    them, else with the book's first (us-east-1) and a note saying so.
    """
    book = {prices.region: prices} if isinstance(prices, Prices) else prices
    fallback = next(iter(book.values()))
    by_env: dict[str, tuple[str, Docs]] = {}
    for a in artifacts:
        if a.env and a.doc is not None:
            by_env.setdefault(a.env, (a.region, {}))[1][a.filename] = a.doc
    estimates = []
    for env, (region, docs) in by_env.items():
        priced = book.get(region, fallback)
        estimates.append(Estimate(env, region, tuple(_items(docs, priced)), priced))
    return estimates


def _line(
    key: str, name: str, quantity: str, price: float, unit: str, low: float, high: float | None = None
) -> LineItem:
    """A row priced as amount x price, at the low amount and (where it scales) the high one."""
    return LineItem(key, name, quantity, f"${price:g}/{unit}", low * price, (low if high is None else high) * price)


def _resources(docs: Docs, type_: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (stack, lid, res)
        for stack, doc in docs.items()
        for lid, res in doc.get("Resources", {}).items()
        if res.get("Type") == type_
    ]


def _elements(value: Any, stack: str, docs: Docs, what: str) -> list[Any]:
    """The elements a list property will hold, following a nested stack's parameter back to the output it is."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        return _elements(value["Fn::Join"][1], stack, docs, what)
    if isinstance(value, dict) and value.get("Ref") in docs[stack].get("Parameters", {}):
        for parent, _, res in _resources(docs, "AWS::CloudFormation::Stack"):
            passed = props(res).get("Parameters", {}).get(value["Ref"])
            if props(res).get("TemplateURL") == stack and passed is not None:
                return _elements(passed, parent, docs, what)
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target, attribute = value["Fn::GetAtt"]
        child = props(docs[stack]["Resources"][target]).get("TemplateURL")
        if attribute.startswith("Outputs.") and child in docs:
            return _elements(docs[child]["Outputs"][attribute.removeprefix("Outputs.")]["Value"], child, docs, what)
    raise BuildError(f"cost estimate: cannot count {what} in {stack} from {value!r}; no cost estimate was made")


def _mentions(value: Any, lid: str) -> bool:
    """Whether an expression refers to the resource (Ref or GetAtt) anywhere inside it."""
    if isinstance(value, dict):
        if value.get("Ref") == lid or (value.get("Fn::GetAtt") or [None])[0] == lid:
            return True
        return any(_mentions(v, lid) for v in value.values())
    return isinstance(value, list) and any(_mentions(v, lid) for v in value)


def _n(count: float, word: str) -> str:
    return f"{count:g} {word}" if count == 1 else f"{count:g} {word}{'es' if word.endswith('s') else 's'}"


def _items(docs: Docs, prices: Prices) -> list[LineItem]:
    p, a = prices.prices, prices.assumptions
    h = a.hours_per_month
    items: list[LineItem] = []

    nats = len(_resources(docs, "AWS::EC2::NatGateway"))
    if nats:
        items.append(
            _line("nat-hours", "NAT gateways", f"{_n(nats, 'gateway')} x {h} h", p.nat_gateway.hour, "h", nats * h)
        )
        items.append(
            _line("nat-data", "NAT data processing", f"{a.nat_data_gb:g} GB", p.nat_gateway.gb, "GB", a.nat_data_gb)
        )

    endpoints = [
        e for e in _resources(docs, "AWS::EC2::VPCEndpoint") if props(e[2]).get("VpcEndpointType") == "Interface"
    ]
    if endpoints:
        # One ENI, billed by the hour, in each subnet (AZ) an interface endpoint is placed in.
        enis = sum(len(_elements(props(r).get("SubnetIds"), s, docs, f"{lid}'s subnets")) for s, lid, r in endpoints)
        quantity = f"{_n(len(endpoints), 'endpoint')} in {enis} AZ-ENIs x {h} h"
        items.append(
            _line("endpoints", "VPC interface endpoints", quantity, p.interface_endpoint.az_hour, "AZ-h", enis * h)
        )
        gb = a.endpoint_data_gb
        items.append(
            _line("endpoint-data", "VPC endpoint data processing", f"{gb:g} GB", p.interface_endpoint.gb, "GB", gb)
        )

    albs = [
        (s, lid, r)
        for s, lid, r in _resources(docs, "AWS::ElasticLoadBalancingV2::LoadBalancer")
        if props(r).get("Type", "application") == "application"
    ]
    # Every public IPv4 address is billed: the NAT gateways' Elastic IPs, and one per subnet
    # (AZ) of an internet-facing load balancer.
    ips = len(_resources(docs, "AWS::EC2::EIP")) + sum(
        len(_elements(props(r).get("Subnets"), s, docs, f"{lid}'s subnets"))
        for s, lid, r in albs
        if props(r).get("Scheme", "internet-facing") == "internet-facing"
    )
    if ips:
        quantity = f"{_n(ips, 'address')} x {h} h"
        items.append(_line("public-ipv4", "Public IPv4 addresses", quantity, p.public_ipv4.hour, "h", ips * h))
    if albs:
        n = len(albs)
        items.append(_line("alb", "Application Load Balancer", f"{_n(n, 'ALB')} x {h} h", p.alb.hour, "h", n * h))
        lcus = n * a.alb_lcu
        items.append(_line("alb-lcu", "ALB capacity units", f"{lcus:g} LCU x {h} h", p.alb.lcu_hour, "LCU-h", lcus * h))

    items += _fargate(docs, prices) + _aurora(docs, prices) + _s3(docs, prices) + _logs(docs, prices)

    keys = len(_resources(docs, "AWS::KMS::Key"))
    if keys:
        items.append(_line("kms", "KMS customer managed keys", _n(keys, "key"), p.kms.key_month, "month", keys))
    # ManageMasterUserPassword makes (and bills) a secret that no template declares.
    secrets = len(_resources(docs, "AWS::SecretsManager::Secret")) + sum(
        1 for _, _, r in _resources(docs, "AWS::RDS::DBCluster") if props(r).get("ManageMasterUserPassword")
    )
    if secrets:
        price = p.secrets_manager.secret_month
        items.append(_line("secrets", "Secrets Manager secrets", _n(secrets, "secret"), price, "month", secrets))
    acls = _resources(docs, "AWS::WAFv2::WebACL")
    if acls:
        rules = sum(len(props(r).get("Rules", [])) for _, _, r in acls)
        n, million = len(acls), len(acls) * a.waf_requests_million
        items.append(_line("waf", "WAF web ACLs", _n(n, "web ACL"), p.waf.web_acl_month, "month", n))
        items.append(_line("waf-rules", "WAF rules", _n(rules, "rule"), p.waf.rule_month, "month", rules))
        items.append(_line("waf-requests", "WAF requests", f"{million:g} million", p.waf.requests_million,
                           "million", million))  # fmt: skip
    return items + _monitoring(docs, prices)


def _monitoring(docs: Docs, prices: Prices) -> list[LineItem]:
    """Alarms by the metrics they evaluate (metric math pays for each), composites, dashboards; SNS email is free
    at these volumes, so the topic costs nothing."""
    p = prices.prices.cloudwatch
    items = []
    alarms = _resources(docs, "AWS::CloudWatch::Alarm")
    metrics = sum(max(1, sum(1 for q in props(r).get("Metrics", []) if "MetricStat" in q)) for _, _, r in alarms)
    if alarms:
        items.append(_line("alarms", "CloudWatch alarms", f"{_n(len(alarms), 'alarm')} on {_n(metrics, 'metric')}",
                           p.alarm_metric_month, "month", metrics))  # fmt: skip
    composites = len(_resources(docs, "AWS::CloudWatch::CompositeAlarm"))
    if composites:
        items.append(_line("composite-alarms", "CloudWatch composite alarms", _n(composites, "alarm"),
                           p.composite_alarm_month, "month", composites))  # fmt: skip
    dashboards = len(_resources(docs, "AWS::CloudWatch::Dashboard"))
    if dashboards:
        items.append(_line("dashboards", "CloudWatch dashboards", _n(dashboards, "dashboard"), p.dashboard_month,
                           "month", dashboards))  # fmt: skip
    return items


def _split(tasks: int, strategy: list[dict[str, Any]]) -> float:
    """How many of `tasks` run on FARGATE_SPOT under a capacity provider strategy: bases first, then by weight."""
    left, spot = float(tasks), 0.0
    for s in strategy:
        base = min(float(s.get("Base", 0)), left)
        spot += base if s["CapacityProvider"] == "FARGATE_SPOT" else 0
        left -= base
    weights = {s["CapacityProvider"]: float(s.get("Weight", 0)) for s in strategy}
    total = sum(weights.values())
    return spot + (left * weights.get("FARGATE_SPOT", 0) / total if total else 0)


def _fargate(docs: Docs, prices: Prices) -> list[LineItem]:
    f, h = prices.prices.fargate, prices.assumptions.hours_per_month
    targets = _resources(docs, "AWS::ApplicationAutoScaling::ScalableTarget")
    clusters = {(s, lid): r for s, lid, r in _resources(docs, "AWS::ECS::Cluster")}
    items = []
    for stack, lid, svc in _resources(docs, "AWS::ECS::Service"):
        service = props(svc)
        task = props(docs[stack]["Resources"][service["TaskDefinition"]["Ref"]])
        vcpu, gb = int(task["Cpu"]) / 1024, int(task["Memory"]) / 1024
        arm = task.get("RuntimePlatform", {}).get("CpuArchitecture") == "ARM64"
        hourly = vcpu * (f.arm_vcpu_hour if arm else f.vcpu_hour) + gb * (f.arm_gb_hour if arm else f.gb_hour)
        low = high = int(service.get("DesiredCount", 1))
        for t_stack, _, target in targets:
            if t_stack == stack and _mentions(props(target).get("ResourceId"), lid):
                low, high = int(props(target)["MinCapacity"]), int(props(target)["MaxCapacity"])
        strategy = service.get("CapacityProviderStrategy")
        if strategy is None and "LaunchType" not in service:  # the cluster's default strategy applies
            strategy = props(clusters.get((stack, service.get("Cluster", {}).get("Ref")), {})).get(
                "DefaultCapacityProviderStrategy"
            )
        # A Spot task counts as (1 - discount) of an on-demand one.
        low_tasks, high_tasks = (n - _split(n, strategy or []) * f.spot_discount for n in (low, high))
        spot = _split(high, strategy or [])
        name = task.get("Family", lid)
        quantity = f"{low}-{high} tasks x {vcpu:g} vCPU, {gb:g} GB{' ARM64' if arm else ''}"
        quantity += f", up to {spot:g} on Spot" if spot else ""
        items.append(
            _line(f"fargate:{name}", f"Fargate {name}", quantity, hourly, "task-h", low_tasks * h, high_tasks * h)
        )
    return items


def _aurora(docs: Docs, prices: Prices) -> list[LineItem]:
    p, a = prices.prices.aurora, prices.assumptions
    h = a.hours_per_month
    items = []
    for stack, lid, cluster in _resources(docs, "AWS::RDS::DBCluster"):
        scaling = props(cluster).get("ServerlessV2ScalingConfiguration")
        members = sum(
            1
            for s, _, i in _resources(docs, "AWS::RDS::DBInstance")
            if s == stack
            and props(i).get("DBClusterIdentifier") == {"Ref": lid}
            and props(i).get("DBInstanceClass") == "db.serverless"
        )
        if scaling and members:
            low, high = float(scaling["MinCapacity"]), float(scaling["MaxCapacity"])
            quantity = f"{_n(members, 'instance')} x {low:g}-{high:g} ACU x {h} h"
            acu = (members * low * h, members * high * h)
            items.append(_line("aurora-acu", "Aurora Serverless v2 capacity", quantity, p.acu_hour, "ACU-h", *acu))
        gb, io = a.aurora_storage_gb, a.aurora_io_million
        items.append(_line("aurora-storage", "Aurora storage", f"{gb:g} GB", p.storage_gb_month, "GB-month", gb))
        items.append(_line("aurora-io", "Aurora I/O", f"{io:g} million requests", p.io_million, "million", io))
    return items


def _s3(docs: Docs, prices: Prices) -> list[LineItem]:
    """A bucket that receives another's access logs holds logs; any other bucket is counted as the data lake."""
    p, a = prices.prices.s3, prices.assumptions
    buckets = _resources(docs, "AWS::S3::Bucket")
    log_buckets = {
        (s, props(r)["LoggingConfiguration"].get("DestinationBucketName", {}).get("Ref"))
        for s, _, r in buckets
        if "LoggingConfiguration" in props(r)
    }
    items = []
    for stack, lid, bucket in buckets:
        tiering = any(
            t.get("StorageClass") == "INTELLIGENT_TIERING" and t.get("TransitionInDays", 0) == 0
            for rule in props(bucket).get("LifecycleConfiguration", {}).get("Rules", [])
            if rule.get("Status") == "Enabled"
            for t in rule.get("Transitions", [])
        )
        gb = a.access_log_gb if (stack, lid) in log_buckets else a.data_lake_gb
        price = p.intelligent_tiering_gb_month if tiering else p.standard_gb_month
        name = f"S3 {lid} ({'Intelligent-Tiering' if tiering else 'Standard'})"
        items.append(_line(f"s3:{lid}", name, f"{gb:g} GB", price, "GB-month", gb))
    return items


def _logs(docs: Docs, prices: Prices) -> list[LineItem]:
    """The templates' log groups, plus one per Aurora log export (RDS makes those, with no retention)."""
    cw, a = prices.prices.cloudwatch, prices.assumptions
    retentions = [
        int(props(r).get("RetentionInDays", a.log_retention_days_unset))
        for _, _, r in _resources(docs, "AWS::Logs::LogGroup")
    ] + [
        a.log_retention_days_unset
        for _, _, r in _resources(docs, "AWS::RDS::DBCluster")
        for _ in props(r).get("EnableCloudwatchLogsExports", [])
    ]
    items = []
    if retentions:
        gb = a.log_ingest_gb_per_group
        groups = f"{_n(len(retentions), 'log group')} x {gb:g} GB"
        items.append(
            _line("logs-ingest", "CloudWatch Logs ingestion", groups, cw.logs_ingest_gb, "GB", len(retentions) * gb)
        )
        # Steady state: each group holds its retention's worth of monthly volume.
        kept = sum(gb * days / 30 for days in retentions)
        quantity = f"{kept:.1f} GB kept (by retention)"
        items.append(
            _line("logs-storage", "CloudWatch Logs storage", quantity, cw.logs_storage_gb_month, "GB-month", kept)
        )
    services = _resources(docs, "AWS::ECS::Service")
    metrics = 0
    for stack, lid, cluster in _resources(docs, "AWS::ECS::Cluster"):
        settings = {s.get("Name"): s.get("Value") for s in props(cluster).get("ClusterSettings", [])}
        if settings.get("containerInsights") in {"enabled", "enhanced"}:
            members = sum(1 for s, _, svc in services if s == stack and _mentions(props(svc).get("Cluster"), lid))
            metrics += a.container_insights_metrics_per_cluster + members * a.container_insights_metrics_per_service
    if metrics:
        quantity = f"{metrics} metrics"
        items.append(
            _line(
                "container-insights", "Container Insights metrics", quantity, cw.metric_month, "metric-month", metrics
            )
        )
    return items


def table(est: Estimate) -> Table:
    """One environment's estimate as a rich table, ending in its total."""
    t = Table(title=f"monthly cost estimate: {est.env} ({est.region})", title_justify="left", box=None, pad_edge=False)
    for column in ("item", "quantity", "unit price"):
        t.add_column(column)
    t.add_column("min scale", justify="right")
    t.add_column("max scale", justify="right")
    for i in est.items:
        t.add_row(i.name, i.quantity, i.unit_price, _money(i.monthly_min), _money(i.monthly_max))
    t.add_section()
    t.add_row("total per month", "", "", _money(est.total_min), _money(est.total_max))
    return t


def _money(value: float) -> str:
    return f"${value:,.2f}"


def show(console: Console, artifacts: Iterable[Artifact], path: Path | None = None) -> list[Estimate]:
    """Print one table per environment, then the assumptions and the price list each was priced with."""
    book = load_book(path)
    estimates = estimate(artifacts, book)
    for est in estimates:
        console.print()
        console.print(table(est))
        if est.region != est.prices.region:
            console.print(
                f"  note: priced at {est.prices.region} list prices; {est.region} has no price file "
                f"(builders/docs/{PRICES_FILE.replace('.yaml', f'-{est.region}.yaml')}) and its prices differ",
                markup=False,
            )
    prices = estimates[0].prices if estimates else next(iter(book.values()))
    console.print()
    console.print(
        "min scale: Aurora at its minimum ACU (0 where it may pause), each service at its autoscaling minimum;\n"
        "max scale: Aurora at its maximum ACU, each service at its autoscaling maximum; the rest does not scale.\n"
        "assumptions:",
        markup=False,
    )
    for key, field in Assumptions.model_fields.items():
        console.print(f"  {key}: {getattr(prices.assumptions, key):g}  ({field.description})", markup=False)
    console.print(
        "not counted: data transfer out; S3, KMS and Secrets Manager requests; backups within the free allowance;\n"
        "Lambda; Bedrock tokens; the account-wide bootstrap stack (ECR, deploy artifacts bucket).\n"
        "prices: "
        + "; ".join(
            f"{p.region} on-demand list prices as of {p.date} ({path or _shipped_name(p.region)})"
            for p in dict.fromkeys(e.prices for e in estimates) or [prices]
        ),
        markup=False,
    )
    return estimates


def markdown(estimates: Iterable[Estimate], top: int = 3) -> str:
    """A compact Markdown table (env, totals at min and max scale, the largest line items) for a README."""
    estimates = list(estimates)
    rows = ["| env | $/month, min scale | $/month, max scale | largest items (min scale) |", "|---|---:|---:|---|"]
    for est in estimates:
        largest = sorted(est.items, key=lambda i: (-i.monthly_min, i.key))[:top]
        names = ", ".join(f"{i.name.replace('|', '/')} {_money(i.monthly_min)}" for i in largest)
        rows.append(f"| {est.env} | {_money(est.total_min)} | {_money(est.total_max)} | {names} |")
    if estimates:
        used = dict.fromkeys(e.prices for e in estimates)
        listed = ", ".join(f"{p.region} as of {p.date}" for p in used)
        rows += ["", f"On-demand list prices: {listed}; assumptions in `{PRICES_PATH}`."]
    return "\n".join(rows) + "\n"


def _shipped_name(region: str) -> str:
    """The package's price file of a region, as the README names it."""
    return PRICES_PATH if region == "us-east-1" else PRICES_PATH.replace(".yaml", f"-{region}.yaml")
