"""The proof that every network flow the app needs is possible and every flow the design forbids is not.

Security groups, routes, NAT gateways and endpoints are spread over three
nested stacks and joined only by the root's parameter wiring, so a rule
dropped in one builder or a route table left without its default route is
invisible until a task cannot pull its image or, worse, until something
reaches Aurora that should not. This module reads the rendered template
dicts (the artifacts cfn-lint gets), never the builders' Python tables, so
it proves what a deploy would create.

References are followed the way CloudFormation does: a `Ref` to a child's
parameter goes to the root's `Parameters` of that nested stack, a root
`GetAtt <Child>.Outputs.<Name>` to the child's output, and so on until a
resource or a literal; `GetAtt Vpc.CidrBlock` becomes the VPC's CIDR.

A required flow is possible only when the source's egress allows the port
to the destination, the destination's ingress allows it from the source,
and routing gets there (the local route inside the VPC; 0.0.0.0/0 through an
internet gateway, or through a NAT gateway in a subnet that has one; a
gateway endpoint's route). A forbidden flow must be closed by the security
groups alone: a route, a peering or a public IP can be added without anyone
reading the groups, so routing is not counted on there; that the database
subnets have no way out is its own forbidden flow, on their route table.

What the proof cannot read (an unresolvable peer, a prefix list) never
makes a required flow possible and always makes a forbidden one possible.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from builders.app import API, SERVICES, UI, AppService
from builders.build.pipeline import PARAMETERS_FILE
from builders.errors import BuildError
from builders.naming import logical_id

if TYPE_CHECKING:
    from builders.build.pipeline import Artifact
    from builders.config import EnvConfig

Network = ipaddress.IPv4Network
ANYWHERE = ipaddress.IPv4Network("0.0.0.0/0")
# The limited broadcast address: no VPC delivers to it, so a rule to it (AWS CDK's "no egress" rule) matches nothing.
NOWHERE = ipaddress.IPv4Network("255.255.255.255/32")
# Addresses that are not the internet's: a CIDR inside one of these reaches no public address.
PRIVATE = tuple(ipaddress.IPv4Network(c) for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"))
HTTPS = 443
POSTGRES = 5432
ALL_PORTS = (0, 65535)


# --- what the templates say, resolved ---------------------------------------------------------------------------

Doc = dict[str, Any]


def props(resource: Doc) -> Doc:
    return resource.get("Properties", {})


def _service_name(endpoint: Doc) -> str:
    """'ecr.api' from a VPC endpoint's ServiceName com.amazonaws.${AWS::Region}.ecr.api."""
    service = endpoint.get("ServiceName", "")
    text = service.get("Fn::Sub", "") if isinstance(service, dict) else str(service)
    return text.split("${AWS::Region}.", 1)[-1]


@dataclass(frozen=True)
class Stacks:
    """One environment's template dicts by stack (network, ..., root), and the root's parameter values."""

    docs: dict[str, Doc]
    parameters: dict[str, str]


def _environments(artifacts: Iterable[Artifact]) -> dict[str, Stacks]:
    """Each environment's Stacks, in the order the artifacts came in (the account-wide files have no env)."""
    docs: dict[str, dict[str, Doc]] = {}
    parameters: dict[str, dict[str, str]] = {}
    for a in artifacts:
        if not a.env:
            continue
        docs.setdefault(a.env, {})
        if a.doc is not None:
            docs[a.env][a.filename.removesuffix(".yaml")] = a.doc
        elif a.filename == PARAMETERS_FILE:
            parameters[a.env] = dict(v.split("=", 1) for v in json.loads(a.text))
    return {env: Stacks(d, parameters.get(env, {})) for env, d in docs.items()}


@dataclass(frozen=True)
class Res:
    """A resource of one of the environment's stacks (and the attribute a GetAtt asked for)."""

    module: str
    logical_id: str
    attribute: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return self.module, self.logical_id


Value = Res | str


class _Resolver:
    """Follows Refs and GetAtts across the nested stacks through the root's parameter wiring."""

    def __init__(self, stacks: Stacks) -> None:
        self.docs = stacks.docs
        self.root_values = stacks.parameters
        nested = {
            k: r for k, r in self.docs["root"].get("Resources", {}).items() if r["Type"] == "AWS::CloudFormation::Stack"
        }
        self.module_of = {lid: str(props(r)["TemplateURL"]).removesuffix(".yaml") for lid, r in nested.items()}
        self.stack_of = {module: lid for lid, module in self.module_of.items()}

    def resolve(self, module: str, value: Any) -> list[Value]:
        """Every resource or literal `value` stands for (a comma list gives several); [] when it cannot tell."""
        if isinstance(value, list):
            return [v for item in value for v in self.resolve(module, item)]
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return [str(value)]
        if not isinstance(value, dict):
            return []
        doc = self.docs[module]
        if "Ref" in value:
            name = value["Ref"]
            if name in doc.get("Resources", {}):
                return [Res(module, name)]
            if name in doc.get("Parameters", {}):
                return self._parameter(module, name)
            return [name]  # a pseudo parameter such as AWS::Region
        if "Fn::GetAtt" in value:
            att = value["Fn::GetAtt"]
            target, attribute = (att[0], att[1]) if isinstance(att, list) else att.split(".", 1)
            if module == "root" and target in self.module_of and attribute.startswith("Outputs."):
                child = self.module_of[target]
                output = self.docs[child].get("Outputs", {}).get(attribute.removeprefix("Outputs."))
                return self.resolve(child, output["Value"]) if output else []
            return [Res(module, target, attribute)]
        if "Fn::Join" in value:
            delimiter, items = value["Fn::Join"]
            return self.resolve(module, items) if delimiter == "," else []
        return []

    def _parameter(self, module: str, name: str) -> list[Value]:
        if module == "root":
            return [self.root_values[name]] if name in self.root_values else []
        wiring = props(self.docs["root"]["Resources"][self.stack_of[module]]).get("Parameters", {})
        return self.resolve("root", wiring[name]) if name in wiring else []

    def resource(self, res: Res) -> Doc:
        return self.docs[res.module]["Resources"][res.logical_id]

    def all(self, type_: str) -> list[tuple[Res, Doc]]:
        """Every resource of one type in every stack, in stack and template order."""
        return [
            (Res(module, lid), props(r))
            for module, doc in self.docs.items()
            for lid, r in doc.get("Resources", {}).items()
            if r["Type"] == type_
        ]

    def refs(self, module: str, value: Any, type_: str | None = None) -> list[Res]:
        """The resources `value` stands for (of `type_`, when given)."""
        found = [v for v in self.resolve(module, value) if isinstance(v, Res)]
        return [r for r in found if type_ is None or self.resource(r)["Type"] == type_]


@dataclass(frozen=True)
class Peer:
    """The other side of a security-group rule: a group, a CIDR, or something the proof cannot read."""

    group: tuple[str, str] | None = None
    cidr: Network | None = None
    unknown: str = ""


@dataclass(frozen=True)
class Rule:
    """One security-group rule, inline or standalone, as EC2 sees it."""

    name: str  # where it is written: a standalone resource's logical id, or Group.SecurityGroupIngress[i]
    group: tuple[str, str]
    direction: Literal["in", "out"]
    protocol: str  # tcp, udp, icmp, or -1 for all
    ports: tuple[int, int]
    peer: Peer
    text: str  # "5432/tcp from 0.0.0.0/0", for messages


@dataclass(frozen=True)
class Span:
    """The packets of a flow: one TCP port for a required flow, everything for a forbidden one."""

    protocol: str  # tcp, or -1 for any
    ports: tuple[int, int]

    def meets(self, *rules: Rule | None) -> bool:
        """Whether some packet of this span is allowed by every one of `rules` (None: no rule to pass)."""
        protocols = {self.protocol, *(r.protocol for r in rules if r)} - {"-1"}
        low = max([self.ports[0], *(r.ports[0] for r in rules if r)])
        high = min([self.ports[1], *(r.ports[1] for r in rules if r)])
        return len(protocols) <= 1 and low <= high

    def __str__(self) -> str:
        return "any traffic" if self.protocol == "-1" else f"{self.ports[0]}/{self.protocol}"


ANY = Span("-1", ALL_PORTS)


def tcp(port: int) -> Span:
    return Span("tcp", (port, port))


@dataclass(frozen=True)
class Node:
    """One end of a flow: its security groups and its addresses (its subnets' CIDRs)."""

    label: str
    groups: tuple[tuple[str, str], ...]
    subnets: tuple[Res, ...] = ()
    cidrs: tuple[Network, ...] = ()
    public: bool = False  # the internet: any public address
    open: bool = False  # its own rules do not hold it back (the internet, an address in a group not named here)


@dataclass(frozen=True)
class Verdict:
    """One flow of one environment: whether it is possible, how, and whether that is what the design wants."""

    env: str
    flow: str
    port: str  # "8501/tcp", or "any" for a forbidden flow
    required: bool  # True: must be possible; False: must be impossible
    possible: bool
    path: str  # how it goes ("via NAT gateway NatGatewayA"), or for an impossible forbidden flow what stops it
    reason: str = ""  # for a flow that does not hold: the rule or route that breaks it, or that allows it

    @property
    def holds(self) -> bool:
        return self.possible == self.required


# --- the environment's network, read once -----------------------------------------------------------------------


class _World:
    """One environment's subnets, routes, gateways, endpoints and security groups, resolved across stacks."""

    def __init__(self, stacks: Stacks) -> None:
        self.r = r = _Resolver(stacks)
        self.subnet_cidr: dict[tuple[str, str], Network] = {}
        self.subnet_vpc: dict[tuple[str, str], tuple[str, str] | None] = {}
        for res, p in r.all("AWS::EC2::Subnet"):
            self.subnet_cidr[res.key] = ipaddress.IPv4Network(p["CidrBlock"])
            vpcs = r.refs(res.module, p.get("VpcId"))
            self.subnet_vpc[res.key] = vpcs[0].key if vpcs else None
        self.table_of: dict[tuple[str, str], Res] = {}
        for res, p in r.all("AWS::EC2::SubnetRouteTableAssociation"):
            for subnet in r.refs(res.module, p.get("SubnetId")):
                for table in r.refs(res.module, p.get("RouteTableId")):
                    self.table_of[subnet.key] = table
        self.routes: dict[tuple[str, str], list[tuple[Res, Doc]]] = {}
        for res, p in r.all("AWS::EC2::Route"):
            for table in r.refs(res.module, p.get("RouteTableId")):
                self.routes.setdefault(table.key, []).append((res, p))
        self.attached: set[tuple[tuple[str, str], tuple[str, str]]] = set()  # (internet gateway, VPC)
        for res, p in r.all("AWS::EC2::VPCGatewayAttachment"):
            for igw in r.refs(res.module, p.get("InternetGatewayId")):
                for vpc in r.refs(res.module, p.get("VpcId")):
                    self.attached.add((igw.key, vpc.key))
        self.endpoints = r.all("AWS::EC2::VPCEndpoint")
        self.groups = {res.key: p for res, p in r.all("AWS::EC2::SecurityGroup")}
        self.rules = self._rules()

    # security groups

    def label(self, group: tuple[str, str]) -> str:
        """'alb-sg (AlbSecurityGroup)': the seed's name from the group's description, and where it is written."""
        description = str(self.groups.get(group, {}).get("GroupDescription", ""))
        name = description.partition(":")[0].strip()
        return f"{name} ({group[1]})" if name else group[1]

    def _rules(self) -> list[Rule]:
        found = []
        for key, p in self.groups.items():
            for direction, prop in (("in", "SecurityGroupIngress"), ("out", "SecurityGroupEgress")):
                for i, rule in enumerate(p.get(prop) or []):
                    found.append(self._rule(f"{key[1]}.{prop}[{i}]", key, direction, key[0], rule))
            if not p.get("SecurityGroupEgress"):
                # Without inline egress CloudFormation gives the group an allow-all egress rule.
                default = {"IpProtocol": "-1", "CidrIp": str(ANYWHERE)}
                name = f"{key[1]} (no SecurityGroupEgress: CloudFormation's default allow-all egress)"
                found.append(self._rule(name, key, "out", key[0], default))
        for direction, type_ in (("in", "AWS::EC2::SecurityGroupIngress"), ("out", "AWS::EC2::SecurityGroupEgress")):
            for res, p in self.r.all(type_):
                for group in self.r.refs(res.module, p.get("GroupId")):
                    found.append(self._rule(res.logical_id, group.key, direction, res.module, p))
        return found

    def _rule(self, name: str, group: tuple[str, str], direction: Literal["in", "out"], module: str, p: Doc) -> Rule:
        protocol = {"6": "tcp", "17": "udp", "1": "icmp", "all": "-1"}.get(str(p.get("IpProtocol")).lower())
        protocol = protocol or str(p.get("IpProtocol")).lower()
        low, high = p.get("FromPort", -1), p.get("ToPort", -1)
        ports = ALL_PORTS if protocol in {"-1", "icmp"} or low in (-1, None) else (int(low), int(high))
        side = "Source" if direction == "in" else "Destination"
        peer = Peer(unknown="a peer the proof cannot read")
        if f"{side}SecurityGroupId" in p:
            groups = self.r.refs(module, p[f"{side}SecurityGroupId"])
            peer = Peer(group=groups[0].key) if len(groups) == 1 else peer
        elif "CidrIp" in p:
            cidr = self.cidr(module, p["CidrIp"])
            peer = Peer(cidr=cidr) if cidr is not None else peer
        elif f"{side}PrefixListId" in p:
            peer = Peer(unknown="a prefix list")
        elif "CidrIpv6" in p:
            peer = Peer(unknown=f"the IPv6 range {p['CidrIpv6']}")
        shown = self.label(peer.group) if peer.group else str(peer.cidr) if peer.cidr is not None else peer.unknown
        where = "from" if direction == "in" else "to"
        port_text = (
            "all ports" if ports == ALL_PORTS else f"{ports[0]}" if ports[0] == ports[1] else f"{ports[0]}-{ports[1]}"
        )
        text = f"{port_text}/{'all' if protocol == '-1' else protocol} {where} {shown}"
        return Rule(name, group, direction, protocol, ports, peer, text)

    def cidr(self, module: str, value: Any) -> Network | None:
        """A CIDR literal, or the VPC's own CIDR for `GetAtt Vpc.CidrBlock`."""
        for v in self.r.resolve(module, value):
            if isinstance(v, Res) and v.attribute == "CidrBlock":
                return self.cidr(v.module, props(self.r.resource(v)).get("CidrBlock"))
            if isinstance(v, str):
                try:
                    return ipaddress.IPv4Network(v)
                except ValueError:
                    return None
        return None

    # routing

    def vpc_cidrs(self) -> tuple[Network, ...]:
        return tuple(c for res, p in self.r.all("AWS::EC2::VPC") if (c := self.cidr(res.module, p.get("CidrBlock"))))

    def node(self, label: str, groups: Iterable[Res], subnets: Iterable[Res]) -> Node:
        subnets = tuple(s for s in subnets if s.key in self.subnet_cidr)
        return Node(label, tuple(g.key for g in groups), subnets, tuple(self.subnet_cidr[s.key] for s in subnets))

    def local(self, src: Node, dst: Node) -> tuple[str, str]:
        """('in the VPC (local route)', '') when both ends are in subnets of one VPC, else ('', why not)."""
        for node in (src, dst):
            if not node.subnets:
                return "", f"{node.label} is in no subnet the proof can read"
        vpcs = {self.subnet_vpc[s.key] for s in (*src.subnets, *dst.subnets)}
        if len(vpcs) != 1 or None in vpcs:
            return "", f"{src.label} and {dst.label} are not in subnets of one VPC"
        return "in the VPC (local route)", ""

    def to_internet(self, subnet: Res, public_ip: bool, nat: bool = True) -> tuple[str, str]:
        """How a subnet reaches the internet: ('via NAT gateway NatGatewayA', '') or ('', the missing route).

        `public_ip`: what sends from the subnet has a public address (an internet-facing ALB, a NAT gateway),
        so an internet gateway route is enough; `nat`: a NAT gateway route counts (not from a NAT's own subnet).
        """
        table = self.table_of.get(subnet.key)
        if table is None:
            return "", f"{subnet.logical_id} has no route table association (the VPC's main table: local route only)"
        default = [
            (res, p) for res, p in self.routes.get(table.key, []) if p.get("DestinationCidrBlock") == str(ANYWHERE)
        ]
        if not default:
            return "", f"no route to 0.0.0.0/0 in {table.logical_id} (the route table of {subnet.logical_id})"
        (res, p), route = default[0], default[0][0].logical_id
        vpc = self.subnet_vpc.get(subnet.key)
        for gateway in self.r.refs(res.module, p.get("NatGatewayId"), "AWS::EC2::NatGateway"):
            gp = props(self.r.resource(gateway))
            if not nat or gp.get("ConnectivityType") == "private" or "AllocationId" not in gp:
                what = "a NAT gateway with no public address" if nat else "a NAT gateway, not an internet gateway"
                return "", f"{route} in {table.logical_id} goes to {gateway.logical_id}, {what}"
            placed = self.r.refs(gateway.module, gp.get("SubnetId"))
            if not placed:
                return "", f"{gateway.logical_id} is in no subnet the proof can read"
            _, why = self.to_internet(placed[0], public_ip=True, nat=False)
            if why:
                return "", f"{gateway.logical_id} (the NAT gateway of {route}) cannot reach the internet: {why}"
            return f"via NAT gateway {gateway.logical_id}", ""
        for igw in self.r.refs(res.module, p.get("GatewayId"), "AWS::EC2::InternetGateway"):
            if (igw.key, vpc) not in self.attached:
                return "", f"{route} in {table.logical_id} goes to {igw.logical_id}, which is not attached to the VPC"
            if not public_ip:
                return (
                    "",
                    f"{route} in {table.logical_id} goes to an internet gateway, but what sends from "
                    f"{subnet.logical_id} has no public IP",
                )
            return f"via internet gateway {igw.logical_id}", ""
        return "", f"{route} in {table.logical_id} sends 0.0.0.0/0 to neither a NAT nor an internet gateway"

    # security groups, both sides

    def _matches(self, peer: Peer, node: Node, strict: bool) -> bool:
        """Whether a rule's peer takes in `node`: all of it when `strict` (a required flow), any of it when not."""
        if peer.unknown:
            return not strict
        if peer.group is not None:
            return peer.group in node.groups
        cidr = peer.cidr
        if cidr is None or cidr.subnet_of(NOWHERE):
            return False
        if node.public:
            return cidr.prefixlen == 0 if strict else not any(cidr.subnet_of(p) for p in PRIVATE)
        if not node.cidrs:
            return not strict
        if strict:
            return all(c.subnet_of(cidr) for c in node.cidrs)
        return any(c.overlaps(cidr) for c in node.cidrs)

    def _side(self, node: Node, other: Node, direction: str, span: Span, strict: bool) -> list[Rule] | None:
        """The rules of `node`'s groups that let `span` out to (or in from) `other`; None: nothing holds it back."""
        if node.open:
            return None
        return [
            r
            for r in self.rules
            if r.direction == direction
            and r.group in node.groups
            and span.meets(r)
            and self._matches(r.peer, other, strict)
        ]

    def security_groups(self, src: Node, dst: Node, span: Span, strict: bool) -> tuple[bool, str]:
        """(allowed, why): for an allowed flow the rules that allow it, else what is missing."""
        out = self._side(src, dst, "out", span, strict)
        inn = self._side(dst, src, "in", span, strict)
        if out == []:
            return False, f"no egress rule of {self.labels(src)} allows {span} to {dst.label}"
        if inn == []:
            return False, f"no ingress rule of {self.labels(dst)} allows {span} from {src.label}"
        for e in out or [None]:
            for i in inn or [None]:
                if span.meets(e, i):
                    allowing = [f"{r.name} ({r.text})" for r in (e, i) if r is not None]
                    return True, " and ".join(allowing) or "neither end has a security group"
        return (
            False,
            f"the egress rules of {self.labels(src)} and the ingress rules of {self.labels(dst)} share no port",
        )

    def labels(self, node: Node) -> str:
        return ", ".join(self.label(g) for g in node.groups) or node.label


def _joined(paths: Iterable[str]) -> str:
    """'via NAT gateways NatGatewayA, NatGatewayB' from one path per subnet, in the order first seen."""
    kinds: dict[str, list[str]] = {}
    for path in dict.fromkeys(paths):
        kind, _, name = path.rpartition(" ")
        kinds.setdefault(kind, []).append(name)
    return ", ".join(f"{k}{'s' if len(n) > 1 else ''} {', '.join(n)}" if k else n[0] for k, n in kinds.items())


# --- the flows --------------------------------------------------------------------------------------------------

# The AWS APIs the tasks call, by VPC endpoint service name: (what for, which services call it). Not Secrets
# Manager: no task gets a secret (the API logs in to Aurora with IAM tokens, README "Database access").
AWS_SERVICES: tuple[tuple[str, str, tuple[AppService, ...]], ...] = (
    ("ecr.api", "ECR API (image manifests)", SERVICES),
    ("ecr.dkr", "ECR registry (image pulls)", SERVICES),
    ("s3", "S3 (image layers, the data lake)", SERVICES),
    ("logs", "CloudWatch Logs", SERVICES),
    ("bedrock-runtime", "Bedrock", (API,)),
)
# Custom resources whose functions call an AWS API: (resource type, what, endpoint service, API).
CUSTOM_RESOURCES: tuple[tuple[str, str, str, str], ...] = (
    ("Custom::PgVector", "pgvector custom resource", "rds-data", "RDS Data API"),
    ("Custom::DatabaseRoles", "database-roles custom resource", "rds-data", "RDS Data API"),
    ("Custom::RestrictDefaultSecurityGroup", "default-SG custom resource", "ec2", "EC2 API"),
)
# The API's environment variables that name Aurora's endpoints.
DATABASE_HOSTS = (("writer", "DB_HOST"), ("reader", "DB_READER_HOST"))


class _Proof:
    """The verdicts of one environment."""

    def __init__(self, env: str, stacks: Stacks, https: bool) -> None:
        self.env = env
        self.w = w = _World(stacks)
        self.r = w.r
        self.entry = HTTPS if https else 80
        self.internet = Node("the internet", (), public=True, open=True)
        self.verdicts: list[Verdict] = []
        self.lb = next(iter(self.r.all("AWS::ElasticLoadBalancingV2::LoadBalancer")), None)
        self.services = {svc.key: self._service(svc) for svc in SERVICES}

    def _verdict(self, flow: str, span: Span, required: bool, possible: bool, path: str, reason: str = "") -> None:
        port = "any" if span.protocol == "-1" else str(span)
        self.verdicts.append(Verdict(self.env, flow, port, required, possible, path, reason))

    def impossible(self, flow: str, span: Span, why: str) -> None:
        """A required flow that fails before any security group is read: a part of it is missing."""
        self._verdict(flow, span, True, False, "impossible", why)

    def require(self, flow: str, src: Node, dst: Node, span: Span, path: str, why: str = "") -> None:
        """A flow that must be possible: `path` is how routing gets there, `why` what stops it before the groups."""
        if not why:
            allowed, why = self.w.security_groups(src, dst, span, strict=True)
            why = "" if allowed else why
        self._verdict(flow, span, True, not why, path if not why else "impossible", why)

    def forbid(self, flow: str, src: Node, dst: Node, span: Span = ANY) -> None:
        """A flow that must be impossible, judged on the security groups alone."""
        allowed, why = self.w.security_groups(src, dst, span, strict=False)
        if allowed:
            self._verdict(flow, span, False, True, "possible", f"allowed by {why}")
        else:
            self._verdict(flow, span, False, False, why)

    # the parts

    def _service(self, svc: AppService) -> tuple[Res, Doc, Node] | None:
        lid = f"{logical_id(svc.key)}Service"
        found = [(res, p) for res, p in self.r.all("AWS::ECS::Service") if res.logical_id == lid]
        if not found:
            return None
        res, p = found[0]
        vpc = p.get("NetworkConfiguration", {}).get("AwsvpcConfiguration", {})
        node = self.w.node(
            f"{svc.label} tasks",
            self.r.refs(res.module, vpc.get("SecurityGroups")),
            self.r.refs(res.module, vpc.get("Subnets")),
        )
        return res, p, node

    def _lb_node(self) -> Node | None:
        if self.lb is None:
            return None
        res, p = self.lb
        return self.w.node(
            "the ALB", self.r.refs(res.module, p.get("SecurityGroups")), self.r.refs(res.module, p.get("Subnets"))
        )

    def _listener(self) -> tuple[Res, Doc] | None:
        """The ALB's listener on the port the app is served on."""
        if self.lb is None:
            return None
        for res, p in self.r.all("AWS::ElasticLoadBalancingV2::Listener"):
            if self.lb[0] in self.r.refs(res.module, p.get("LoadBalancerArn")) and p.get("Port") == self.entry:
                return res, p
        return None

    def _forwarded(self, listener: tuple[Res, Doc]) -> set[tuple[str, str]]:
        """The target groups a listener forwards to, by its default actions and its rules."""
        res, p = listener
        actions = list(p.get("DefaultActions", []))
        for rule, rp in self.r.all("AWS::ElasticLoadBalancingV2::ListenerRule"):
            if res in self.r.refs(rule.module, rp.get("ListenerArn")):
                actions += rp.get("Actions", [])
        groups: set[tuple[str, str]] = set()
        for action in actions:
            if action.get("Type") != "forward":
                continue
            arns = [action.get("TargetGroupArn")]
            arns += [t.get("TargetGroupArn") for t in action.get("ForwardConfig", {}).get("TargetGroups", [])]
            groups |= {g.key for arn in arns if arn for g in self.r.refs(res.module, arn)}
        return groups

    def _aurora(self, api: tuple[Res, Doc, Node], variable: str) -> tuple[Res, Node] | str:
        """The cluster the API's `variable` names, and it as a flow's end; or why there is none."""
        res, p, _ = api
        tasks = self.r.refs(res.module, p.get("TaskDefinition"))
        containers = props(self.r.resource(tasks[0])).get("ContainerDefinitions", []) if tasks else []
        values = [e.get("Value") for c in containers for e in c.get("Environment", []) if e.get("Name") == variable]
        if not values:
            return f"the API's containers have no {variable}"
        for target in self.r.refs(res.module, values[0]):
            doc = self.r.resource(target)
            if doc["Type"] == "AWS::RDS::DBInstance":
                target = next(iter(self.r.refs(target.module, props(doc).get("DBClusterIdentifier"))), target)
                doc = self.r.resource(target)
            if doc["Type"] == "AWS::RDS::DBCluster":
                port = props(doc).get("Port", POSTGRES)
                if int(port) != POSTGRES:
                    return f"{target.logical_id} listens on {port}, not {POSTGRES}"
                return target, self._cluster(target)
        return f"the API's {variable} names no Aurora cluster of these stacks"

    def _cluster(self, cluster: Res) -> Node:
        """A DB cluster as a flow's end: its security groups, and the subnets of its subnet group."""
        p = props(self.r.resource(cluster))
        groups = self.r.refs(cluster.module, p.get("VpcSecurityGroupIds"))
        subnets = [
            s
            for g in self.r.refs(cluster.module, p.get("DBSubnetGroupName"), "AWS::RDS::DBSubnetGroup")
            for s in self.r.refs(g.module, props(self.r.resource(g)).get("SubnetIds"))
        ]
        return self.w.node("Aurora", groups, subnets)

    def _aws_api(self, src: Node, service: str, public_ip: bool) -> tuple[Node, str, str]:
        """Where a call to an AWS API goes from `src`: (destination, path, what stops it)."""
        for res, p in self.w.endpoints:
            if p.get("VpcEndpointType") == "Interface" and _service_name(p) == service and p.get("PrivateDnsEnabled"):
                dst = self.w.node(
                    f"the {service} endpoint",
                    self.r.refs(res.module, p.get("SecurityGroupIds")),
                    self.r.refs(res.module, p.get("SubnetIds")),
                )
                path, why = self.w.local(src, dst)
                return dst, f"via interface endpoint {res.logical_id}" if path else "", why
        paths = []
        for subnet in src.subnets:
            table = self.w.table_of.get(subnet.key)
            gateways = [
                res.logical_id
                for res, p in self.w.endpoints
                if p.get("VpcEndpointType") == "Gateway"
                and _service_name(p) == service
                and table is not None
                and table in self.r.refs(res.module, p.get("RouteTableIds"))
            ]
            path, why = (
                (f"via {service.upper()} gateway endpoint {gateways[0]}", "")
                if gateways
                else self.w.to_internet(subnet, public_ip)
            )
            if why:
                return self.internet, "", why
            paths.append(path)
        if not paths:
            return self.internet, "", f"{src.label} are in no subnet the proof can read"
        return self.internet, _joined(paths), ""

    # the verdicts

    def prove(self) -> list[Verdict]:
        self._front()
        self._private()
        self._aws_apis()
        self._custom_resources()
        self._forbidden()
        return self.verdicts

    def _front(self) -> None:
        """internet → ALB on the served port, and ALB → each service through a listener and its target group."""
        alb = self._lb_node() or Node("the ALB", ())
        listener = self._listener()
        flow = "internet → ALB"
        listening = "HTTPS" if self.entry == HTTPS else "plain HTTP: no certificate"
        if self.lb is None or listener is None:
            self.impossible(flow, tcp(self.entry), f"the ALB has no listener on {self.entry}")
        else:
            why = "" if self.lb[1].get("Scheme") == "internet-facing" else "the ALB is not internet-facing"
            paths = []
            for subnet in alb.subnets:
                path, reason = self.w.to_internet(subnet, public_ip=True)
                if not why and (reason or not path.startswith("via internet gateway")):
                    why = (
                        reason
                        or f"{subnet.logical_id} reaches the internet only through a NAT gateway: nothing comes in"
                    )
                paths.append(path)
            self.require(
                flow,
                self.internet,
                alb,
                tcp(self.entry),
                f"{_joined(paths)} ({listening})",
                why or ("" if alb.subnets else "the ALB is in no subnet"),
            )
        for svc in SERVICES:
            flow = f"ALB → {svc.label}"
            found = self.services[svc.key]
            if found is None:
                self.impossible(flow, tcp(svc.port), f"no ECS service {logical_id(svc.key)}Service")
                continue
            res, p, node = found
            registered = {
                g.key
                for lb in p.get("LoadBalancers", [])
                if lb.get("ContainerPort") == svc.port
                for g in self.r.refs(res.module, lb.get("TargetGroupArn"))
            }
            why = ""
            if listener is None or not registered & self._forwarded(listener):
                why = (
                    f"no listener of the ALB on {self.entry} forwards to a target group that {res.logical_id} "
                    f"registers on {svc.port}"
                )
            path, not_local = self.w.local(alb, node)
            self.require(flow, alb, node, tcp(svc.port), path, why or not_local)

    def _private(self) -> None:
        """UI → API over Service Connect, and the API → Aurora's writer and reader endpoints."""
        api, ui = self.services[API.key], self.services[UI.key]
        flow = f"{UI.label} → {API.label} (Service Connect)"
        if api is None or ui is None:
            self.impossible(flow, tcp(API.port), "the API or UI service is missing")
        else:
            why = self._service_connect(api, ui)
            path, not_local = self.w.local(ui[2], api[2])
            self.require(flow, ui[2], api[2], tcp(API.port), f"{path}, over Service Connect", why or not_local)
        for role, variable in DATABASE_HOSTS:
            flow = f"{API.label} → Aurora {role} ({variable})"
            target = self._aurora(api, variable) if api else "there is no API service"
            if api is None or isinstance(target, str):
                self.impossible(flow, tcp(POSTGRES), str(target))
                continue
            path, why = self.w.local(api[2], target[1])
            self.require(flow, api[2], target[1], tcp(POSTGRES), path, why)

    def _service_connect(self, api: tuple[Res, Doc, Node], ui: tuple[Res, Doc, Node]) -> str:
        """What keeps the UI from calling the API by its Service Connect name ('' when nothing does)."""
        (api_res, api_p, _), (ui_res, ui_p, _) = api, ui
        api_sc, ui_sc = api_p.get("ServiceConnectConfiguration", {}), ui_p.get("ServiceConnectConfiguration", {})
        ports = {a.get("Port") for s in api_sc.get("Services", []) for a in s.get("ClientAliases", [])}
        if not api_sc.get("Enabled") or API.port not in ports:
            return f"{api_res.logical_id} serves no Service Connect alias on {API.port}"
        if not ui_sc.get("Enabled"):
            return f"{ui_res.logical_id} has Service Connect off"
        namespaces = [self.r.resolve(r.module, sc.get("Namespace")) for r, sc in ((api_res, api_sc), (ui_res, ui_sc))]
        if namespaces[0] != namespaces[1]:
            return f"{api_res.logical_id} and {ui_res.logical_id} are in different Service Connect namespaces"
        return ""

    def _aws_apis(self) -> None:
        for service, what, callers in AWS_SERVICES:
            flow = f"tasks ({', '.join(c.key.upper() for c in callers)}) → {what}"
            verdicts = []
            for svc in callers:
                found = self.services[svc.key]
                if found is None:
                    verdicts.append(("", f"no ECS service {logical_id(svc.key)}Service"))
                    continue
                res, p, node = found
                public_ip = (
                    p.get("NetworkConfiguration", {}).get("AwsvpcConfiguration", {}).get("AssignPublicIp") == "ENABLED"
                )
                dst, path, why = self._aws_api(node, service, public_ip)
                if not why:
                    allowed, rules = self.w.security_groups(node, dst, tcp(HTTPS), strict=True)
                    why = "" if allowed else rules
                verdicts.append((path, f"{svc.label} tasks: {why}" if why else ""))
            failed = [why for _, why in verdicts if why]
            path = _joined(p for p, _ in verdicts if p)
            self._verdict(flow, tcp(HTTPS), True, not failed, path if not failed else "impossible", "; ".join(failed))

    def _custom_resources(self) -> None:
        """The custom resources' functions reach their AWS APIs: from Lambda's own network, or through the VPC."""
        for type_, what, service, api in CUSTOM_RESOURCES:
            flow = f"{what} → {api}"
            found = self.r.all(type_)
            if not found:
                self.impossible(flow, tcp(HTTPS), f"no {type_} resource")
                continue
            res, p = found[0]
            functions = self.r.refs(res.module, p.get("ServiceToken"), "AWS::Lambda::Function")
            if not functions:
                self.impossible(flow, tcp(HTTPS), f"{res.logical_id}'s ServiceToken is no function of these stacks")
                continue
            function = functions[0]
            vpc = props(self.r.resource(function)).get("VpcConfig")
            if not vpc:
                self._verdict(flow, tcp(HTTPS), True, True, f"outside the VPC ({function.logical_id} has no VpcConfig)")
                continue
            node = self.w.node(
                function.logical_id,
                self.r.refs(function.module, vpc.get("SecurityGroupIds")),
                self.r.refs(function.module, vpc.get("SubnetIds")),
            )
            dst, path, why = self._aws_api(node, service, public_ip=False)
            self.require(flow, node, dst, tcp(HTTPS), path, why)

    def _forbidden(self) -> None:
        tasks = {g for found in self.services.values() if found for g in found[2].groups}
        for svc in SERVICES:
            found = self.services[svc.key]
            if found is not None:
                self.forbid(f"internet → {svc.label} tasks", self.internet, found[2])
        for cluster, _ in self.r.all("AWS::RDS::DBCluster"):
            self._forbidden_for(self._cluster(cluster), tasks)

    def _forbidden_for(self, aurora: Node, tasks: set[tuple[str, str]]) -> None:
        """Nothing reaches Aurora but the tasks, Aurora reaches nothing, and its subnets have no way out."""
        vpc = self.w.vpc_cidrs()
        self.forbid("internet → Aurora", self.internet, aurora)
        for group in self.w.groups:
            if group not in tasks and group not in aurora.groups:
                name = self.w.label(group).split(" ")[0]
                self.forbid(f"{name} → Aurora", Node(self.w.label(group), (group,), cidrs=vpc), aurora)
        self.forbid(
            "any other address in the VPC → Aurora",
            Node("any other address in the VPC", (), cidrs=vpc, open=True),
            aurora,
        )
        anywhere = Node("anywhere", tuple(self.w.groups), cidrs=(ANYWHERE,), open=True)
        self.forbid("Aurora → anywhere", aurora, anywhere)
        self._database_subnets(aurora)

    def _database_subnets(self, aurora: Node) -> None:
        """The database subnets' route tables: no route to anywhere outside private address space."""
        flow = "database subnets → internet (routing)"
        tables = []
        for subnet in aurora.subnets:
            table = self.w.table_of.get(subnet.key)
            if table is None:
                continue  # the VPC's main route table: the local route only, nothing in these stacks adds to it
            tables.append(table.logical_id)
            for route, p in self.w.routes.get(table.key, []):
                cidr = p.get("DestinationCidrBlock") or p.get("DestinationIpv6CidrBlock")
                if cidr and (":" in cidr or not any(ipaddress.IPv4Network(cidr).subnet_of(n) for n in PRIVATE)):
                    why = f"{route.logical_id} in {table.logical_id} sends {cidr} out of the VPC"
                    self._verdict(flow, ANY, False, True, "possible", why)
                    return
        where = ", ".join(dict.fromkeys(tables)) or "the VPC's main route table"
        self._verdict(flow, ANY, False, False, f"no route out of the VPC in {where}")


def prove(artifacts: Iterable[Artifact], configs: Mapping[str, EnvConfig]) -> list[Verdict]:
    """Every flow of every environment in `artifacts`; an environment is served on 443 where its config has TLS."""
    verdicts = []
    for env, stacks in _environments(artifacts).items():
        config = configs.get(env)
        verdicts += _Proof(env, stacks, https=config.compute.tls if config else True).prove()
    return verdicts


def check(verdicts: Iterable[Verdict]) -> None:
    """A BuildError naming every flow that does not hold, the environment, and the rule or route to blame."""
    broken = [v for v in verdicts if not v.holds]
    if not broken:
        return
    lines = []
    for v in broken:
        wanted = "must be possible but is not" if v.required else "must be impossible but is possible"
        lines.append(f"  {v.env}: {v.flow} ({v.port}) {wanted}: {v.reason}")
    raise BuildError(f"{len(broken)} network flow(s) do not hold; nothing was written:\n" + "\n".join(lines))
