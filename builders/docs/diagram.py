"""Architecture diagrams: one environment's templates in, a Graphviz drawing (DOT, then SVG) out.

A hand-drawn diagram shows the design someone had in mind; this one is
drawn from the generated templates (subnets from the network stack's
outputs, NAT gateways from the routes, ports from the listeners, target
groups and the database cluster), so it cannot show a NAT per AZ that the
template does not make.

The DOT is built with the `graphviz` package (a pure-Python writer) and laid
out by `graphviz-pure` (a self-contained port of Graphviz, pinned in
setup.cfg), which writes the same bytes on every platform; no system
Graphviz is needed. Each SVG carries a stamp comment with the digest of its
DOT source, the graphviz-pure version and the digest of the rest of the
file, so `--check` can tell a current SVG from a stale or hand-edited one
without running a layout.
"""

from __future__ import annotations

import hashlib
import html
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from builders import database, storage
from builders.app import SERVICES
from builders.docs.readback import Doc, Stacks, Subnet, az_index, props, ref, resources, service_suffix
from builders.errors import BuildError
from builders.naming import az_letter, logical_id

if TYPE_CHECKING:
    import graphviz

RENDERER = "graphviz-pure"
STAMP = "nlsql-infra diagram"
_STAMP_RE = re.compile(rf"<!-- {STAMP}: dot sha256=(\w+), {RENDERER} (\S+), svg sha256=(\w+) -->\n")
FONT = "Helvetica"  # graphviz-pure measures it with Arimo's metrics; browsers draw Helvetica or Arial

TIER_COLOURS = {"public": "#e3f2e1", "private": "#e1ecf7", "database": "#f3e5f5"}
STACK_COLOURS = {"network": "#fafafa", "storage": "#fff8e1", "database": "#fbeff5", "compute": "#fff1e6"}
FLOW = {"color": "#1f4e79", "fontcolor": "#1f4e79", "penwidth": "1.6"}
PLACEMENT = {"style": "dotted", "arrowhead": "none", "color": "#9e9e9e"}


def _label(title: str, *lines: str) -> str:
    """An HTML-like label: the title in bold, detail lines smaller below it."""
    rows = [f"<b>{html.escape(title)}</b>"] + [f'<font point-size="9">{html.escape(x)}</font>' for x in lines if x]
    return "<" + "<br/>".join(rows) + ">"


@dataclass(frozen=True)
class _Drawing:
    """The parts of one environment the diagram shows, read from its templates."""

    stacks: Stacks

    @property
    def net(self) -> Doc:
        return self.stacks["network"]

    @property
    def compute(self) -> Doc:
        return self.stacks["compute"]

    def subnets(self) -> list[Subnet]:
        return self.stacks.subnets()

    def nat_of(self) -> dict[str, str]:
        """Private subnet -> the NAT gateway its route table sends 0.0.0.0/0 to."""
        nat_by_table: dict[str, str] = {}
        for route in resources(self.net, "AWS::EC2::Route").values():
            table, nat = ref(props(route)["RouteTableId"]), ref(props(route).get("NatGatewayId"))
            if table and nat:
                nat_by_table[table] = nat
        found: dict[str, str] = {}
        for association in resources(self.net, "AWS::EC2::SubnetRouteTableAssociation").values():
            subnet, table = ref(props(association)["SubnetId"]), ref(props(association)["RouteTableId"])
            if subnet and table in nat_by_table:
                found[subnet] = nat_by_table[table]
        return found


def dot_source(stacks: Stacks) -> str:
    """The DOT source of one environment's diagram (deterministic: same templates, same text)."""
    import graphviz

    d = _Drawing(stacks)
    env = stacks.env
    g = graphviz.Digraph(
        name=f"nlsql-{env}",
        graph_attr={
            "label": f"nlsql {env} ({stacks.region}), drawn from templates/{env}/*.yaml by build.py",
            "labelloc": "t",
            "fontname": FONT,
            "fontsize": "16",
            "rankdir": "TB",
            "newrank": "true",
            "nodesep": "0.3",
            "ranksep": "0.45",
            "style": "rounded",
            "bgcolor": "white",
        },
        node_attr={"fontname": FONT, "fontsize": "11", "shape": "box", "style": "rounded,filled", "fillcolor": "white"},
        edge_attr={"fontname": FONT, "fontsize": "10"},
    )
    g.node("Internet", _label("Internet"), shape="ellipse", fillcolor="#eeeeee")
    services = _compute(g, d)
    _network(g, d)
    writer = _database(g, d)
    bucket = _storage(g, d)

    alb = "LoadBalancer"
    ports = sorted({props(x)["Port"] for x in resources(d.compute, "AWS::ElasticLoadBalancingV2::Listener").values()})
    g.edge("Internet", alb, label=", ".join(map(str, ports)), **FLOW)
    for node, (port, env_vars) in services.items():
        g.edge(alb, node, label=str(port), **FLOW)
        if database.OUT_ENDPOINT in env_vars and writer:
            db_port = props(resources(stacks["database"], "AWS::RDS::DBCluster")[writer[0]])["Port"]
            g.edge(node, writer[1], label=str(db_port), **FLOW)
        if storage.OUT_BUCKET_NAME in env_vars:
            via = "S3 gateway endpoint" if _gateway_endpoints(d) else "NAT"
            g.edge(node, bucket, label=f"443 via {via}", **FLOW)
    return g.source


def _compute(g: graphviz.Digraph, d: _Drawing) -> dict[str, tuple[int, set[str]]]:
    """The ALB and the services; returns each service node's port and the parameters its containers read."""
    found: dict[str, tuple[int, set[str]]] = {}
    with g.subgraph(name="cluster_compute") as c:
        c.attr(label="compute stack", style="rounded,filled", fillcolor=STACK_COLOURS["compute"], fontname=FONT)
        listeners = [props(x) for x in resources(d.compute, "AWS::ElasticLoadBalancingV2::Listener").values()]
        front = ", ".join(f"{x['Protocol']} {x['Port']}" for x in listeners)
        alb_props = props(d.compute["Resources"]["LoadBalancer"])
        tier = _tier_of_parameter(alb_props.get("Subnets"))
        c.node("LoadBalancer", _label("Application Load Balancer", front, f"in the {tier} subnets"))
        cluster = props(next(iter(resources(d.compute, "AWS::ECS::Cluster").values())))
        providers = " + ".join(cluster.get("CapacityProviders", []))
        for svc in SERVICES:
            node = f"{logical_id(svc.key)}Service"
            service = props(d.compute["Resources"][node])
            task = props(d.compute["Resources"][f"{logical_id(svc.key)}TaskDefinition"])
            port = service["LoadBalancers"][0]["ContainerPort"]
            subnets = _tier_of_parameter(service["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"])
            c.node(
                node,
                _label(
                    f"ECS service: {svc.label}",
                    f"port {port}, {task['Cpu']} CPU / {task['Memory']} MiB, {service['DesiredCount']} task(s)",
                    f"{providers}, in the {subnets} subnets",
                ),
            )
            uses = {ref(e["Value"]) or "" for c_ in task["ContainerDefinitions"] for e in c_.get("Environment", [])}
            found[node] = (port, uses)
    return found


def _tier_of_parameter(value: object) -> str:
    """'public' for !Ref PublicSubnetIds: the compute stack names subnets by the network output it receives."""
    name = ref(value) or ""
    return name.removesuffix("SubnetIds").lower() or "?"


def _gateway_endpoints(d: _Drawing) -> list[str]:
    return [k for k, e in resources(d.net, "AWS::EC2::VPCEndpoint").items() if props(e)["VpcEndpointType"] == "Gateway"]


def _network(g: graphviz.Digraph, d: _Drawing) -> None:
    """The VPC: a column per AZ with its three subnets (a row per tier) and its NAT gateway, then the endpoints."""
    vpc = props(next(iter(resources(d.net, "AWS::EC2::VPC").values())))
    subnets = d.subnets()
    azs = sorted({s.az for s in subnets})
    nats = resources(d.net, "AWS::EC2::NatGateway")
    nat_subnet = {k: ref(props(n)["SubnetId"]) for k, n in nats.items()}
    with g.subgraph(name="cluster_network") as n:
        n.attr(
            label=f"network stack: VPC {vpc['CidrBlock']}",
            style="rounded,filled",
            fillcolor=STACK_COLOURS["network"],
            fontname=FONT,
        )
        for az in azs:
            column = [s for s in subnets if s.az == az]
            with n.subgraph(name=f"cluster_az_{az_letter(az)}") as a:
                a.attr(label=f"AZ {az_letter(az)}", style="rounded,dashed", fillcolor="white", fontname=FONT)
                for s in column:
                    a.node(s.logical_id, _label(f"{s.tier} {az_letter(az)}", s.cidr), fillcolor=TIER_COLOURS[s.tier])
                for nat, subnet in nat_subnet.items():
                    if subnet in {s.logical_id for s in column}:
                        a.node(
                            nat, _label(f"NAT gateway {az_letter(az)}", "egress to the internet"), fillcolor="#fff59d"
                        )
                        a.edge(subnet, nat, **PLACEMENT)
                # Stack the tiers top to bottom in each AZ: public, private, database.
                for upper, lower in zip(column, column[1:], strict=False):
                    a.edge(upper.logical_id, lower.logical_id, style="invis", weight="10")
        endpoints = _endpoint_nodes(n, d)
        for tier in ("public", "private", "database"):
            # A row per tier across the AZs; each NAT gateway sits beside its public subnet.
            row = [s.logical_id for s in subnets if s.tier == tier] + (list(nats) if tier == "public" else [])
            with n.subgraph() as r:
                r.attr(rank="same")
                for node in row:
                    r.node(node)
        bottom = [s.logical_id for s in subnets if s.tier == "database"]
        for node in endpoints:
            n.edge(bottom[0], node, style="invis")
    for subnet, nat in sorted(d.nat_of().items()):
        g.edge(subnet, nat, label="0.0.0.0/0", style="dashed", color="#757575", fontcolor="#757575")


def _endpoint_nodes(n: graphviz.Digraph, d: _Drawing) -> list[str]:
    """The interface endpoints (one node for all) and each gateway endpoint; returns their nodes."""
    found = resources(d.net, "AWS::EC2::VPCEndpoint")
    interface = [service_suffix(props(e)) for e in found.values() if props(e)["VpcEndpointType"] == "Interface"]
    nodes = []
    if interface:
        n.node("InterfaceEndpoints", _label("VPC interface endpoints", ", ".join(interface), "in the private subnets"))
        nodes.append("InterfaceEndpoints")
    for gateway in _gateway_endpoints(d):
        service = service_suffix(props(found[gateway])).upper()
        n.node(gateway, _label(f"{service} gateway endpoint", "on the private route tables"))
        nodes.append(gateway)
    return nodes


def _database(g: graphviz.Digraph, d: _Drawing) -> tuple[str, str] | None:
    """Aurora's writer and readers, each tied to its AZ's database subnet; returns (cluster, writer)."""
    db = d.stacks["database"]
    clusters = resources(db, "AWS::RDS::DBCluster")
    if not clusters:
        return None
    cluster_id, cluster = next(iter(clusters.items()))
    c_props = props(cluster)
    scaling = c_props.get("ServerlessV2ScalingConfiguration", {})
    acu = f"{scaling['MinCapacity']:g}-{scaling['MaxCapacity']:g} ACU" if scaling else ""
    if scaling.get("SecondsUntilAutoPause"):
        acu += f", pauses after {scaling['SecondsUntilAutoPause'] // 60} idle min"
    by_az = {s.az: s.logical_id for s in d.subnets() if s.tier == "database"}
    instances = sorted(
        resources(db, "AWS::RDS::DBInstance").items(), key=lambda kv: props(kv[1]).get("PromotionTier", 0)
    )
    writer = instances[0][0]
    with g.subgraph(name="cluster_database") as c:
        c.attr(
            label="database stack",
            style="rounded,filled",
            fillcolor=STACK_COLOURS["database"],
            fontname=FONT,
        )
        for i, (node, instance) in enumerate(instances):
            p = props(instance)
            az = az_index(p.get("AvailabilityZone"))
            role = "writer" if i == 0 else "reader"
            c.node(
                node,
                _label(
                    f"Aurora PostgreSQL {c_props['EngineVersion']} {role}",
                    f"{p['DBInstanceClass']} {acu}, AZ {az_letter(az or 0)}",
                ),
            )
    for i, (node, instance) in enumerate(instances):
        az = az_index(props(instance).get("AvailabilityZone"))
        if az in by_az:
            g.edge(by_az[az], node, constraint="false", **PLACEMENT)
        if i:
            g.edge(writer, node, label="replica", style="dashed", color="#757575", fontcolor="#757575")
    return cluster_id, writer


def _storage(g: graphviz.Digraph, d: _Drawing) -> str:
    """The data lake, its key and its access-log bucket; returns the data lake's node."""
    st = d.stacks["storage"]
    bucket = props(st["Resources"]["DataLakeBucket"])
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    sse = rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
    with g.subgraph(name="cluster_storage") as c:
        c.attr(label="storage stack", style="rounded,filled", fillcolor=STACK_COLOURS["storage"], fontname=FONT)
        c.node("DataLakeBucket", _label("S3 data lake", "Parquet, versioned", f"encryption {sse}"), shape="cylinder")
        key = ref(rule["ServerSideEncryptionByDefault"].get("KMSMasterKeyID"))
        if key:
            c.node(key, _label("KMS key", "rotated yearly"), shape="note", fillcolor="#fffde7")
            with c.subgraph() as r:
                r.attr(rank="same")
                r.node(key)
                r.node("DataLakeBucket")
            g.edge(key, "DataLakeBucket", label="encrypts", style="dashed", color="#757575", fontcolor="#757575")
        log_bucket = ref(bucket.get("LoggingConfiguration", {}).get("DestinationBucketName"))
        if log_bucket:
            c.node(log_bucket, _label("S3 access-log bucket"), shape="cylinder")
            g.edge(
                "DataLakeBucket", log_bucket, label="access logs", style="dashed", color="#757575", fontcolor="#757575"
            )
    return "DataLakeBucket"


# --- rendering and the stamp ------------------------------------------------------------------------------------


def renderer() -> str:
    """The graphviz-pure executable: beside this Python (a venv's bin/), else on PATH."""
    here = Path(sys.executable).parent
    for name in (RENDERER, f"{RENDERER}.exe"):
        if (here / name).is_file():
            return str(here / name)
    found = shutil.which(RENDERER)
    if found is None:
        raise BuildError(f"{RENDERER} is not installed; `pip install -e .` installs it (see setup.cfg)")
    return found


def renderer_version() -> str:
    """The installed graphviz-pure's version, part of every stamp: another version may lay out differently."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(RENDERER)
    except PackageNotFoundError:
        return "unknown"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def render_svg(dot: str) -> str:
    """Lay out `dot` with graphviz-pure and return the stamped SVG. Any warning is an error: it means fallback fonts."""
    result = subprocess.run(
        [renderer(), "-Tsvg"], input=dot.encode("utf-8"), capture_output=True, timeout=120, check=False
    )
    if result.returncode != 0 or result.stderr.strip():
        raise BuildError(f"{RENDERER} failed on a diagram: {result.stderr.decode('utf-8', 'replace').strip()}")
    return stamp(result.stdout.decode("utf-8"), dot)


def _split(svg: str) -> tuple[str, str]:
    """(XML declaration line, the rest): the stamp goes between them, where a comment is allowed."""
    first, _, rest = svg.partition("\n")
    if not first.startswith("<?xml"):
        return "", svg
    return first + "\n", rest


def stamp(svg: str, dot: str) -> str:
    """`svg` with a comment recording what it was made from and a digest of itself."""
    head, body = _split(svg)
    note = f"{STAMP}: dot sha256={_sha(dot)}, {RENDERER} {renderer_version()}, svg sha256={_sha(body)}"
    return f"{head}<!-- {note} -->\n{body}"


def is_stamped(svg: str) -> bool:
    """Whether a file under docs/ is a diagram this build made (and so may remove when its environment goes)."""
    return _STAMP_RE.search(svg) is not None


def is_current(svg: str, dot: str) -> bool:
    """Whether a committed SVG is what `render_svg(dot)` would write, without laying anything out.

    True only when its stamp names this DOT and this graphviz-pure version,
    and the rest of the file still has the digest the stamp recorded (so a
    hand edit of the drawing counts as stale too).
    """
    head, rest = _split(svg)
    match = _STAMP_RE.match(rest)
    if match is None:
        return False
    dot_sha, version, body_sha = match.groups()
    body = rest[match.end() :]
    return dot_sha == _sha(dot) and version == renderer_version() and body_sha == _sha(body)
