"""The network stack: VPC, three subnet tiers per AZ, NAT, endpoints, security groups, flow logs.

`build()` reads like the table of contents of the stack; each `_add_*` helper
adds one concern and returns what later helpers need. Per-AZ resources are
made in loops over the AZ index, so every AZ is built the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from troposphere import GetAtt, GetAZs, Join, Output, Ref, Select, Sub, Template, cloudformation, ec2

from builders import iam as policies
from builders import shared
from builders.app import SERVICES
from builders.config import EnvConfig
from builders.naming import az_letter, description, logical_id, name
from builders.scanners import skip
from builders.subnets import TIERS, Tier
from builders.tags import tags

MODULE = "network"

# Output names: the contract with the root stack, which passes them on.
OUT_VPC_ID = "VpcId"
OUT_VPC_CIDR = "VpcCidr"
OUT_SUBNET_IDS: dict[Tier, str] = {t: f"{t.capitalize()}SubnetIds" for t in TIERS}
OUT_PRIVATE_ROUTE_TABLE_IDS = "PrivateRouteTableIds"
OUT_FLOW_LOG_GROUP = "FlowLogGroupName"
OUT_NAT_GATEWAY_IDS = "NatGatewayIds"  # where there are any: the monitoring stack's alarms watch each

ANYWHERE = "0.0.0.0/0"
VPC_CIDR = "vpc"  # a peer meaning "the VPC's own CIDR"

# "Disallow all" egress, as AWS CDK writes it: an explicit egress rule that
# matches no packet, so CloudFormation does not add its default allow-all one.
NO_EGRESS = {"CidrIp": "255.255.255.255/32", "IpProtocol": "icmp", "FromPort": 252, "ToPort": 86}


@dataclass(frozen=True)
class Group:
    """A security group of the seed's table."""

    key: str
    label: str  # the seed's name, e.g. alb-sg
    purpose: str


@dataclass(frozen=True)
class Rule:
    """One row of the seed's security-group table: a TCP port to or from a peer (group key or CIDR)."""

    group: str
    direction: Literal["in", "out"]
    port: int
    peer: str
    why: str


GROUPS: tuple[Group, ...] = (
    Group("alb", "alb-sg", "Application Load Balancer"),
    Group("ecs", "ecs-tasks-sg", "ECS Fargate tasks"),
    Group("aurora", "aurora-sg", "Aurora PostgreSQL"),
    Group("endpoints", "vpc-endpoints-sg", "VPC interface endpoints"),
)

HTTP_WHY = "HTTP from the internet (redirected to HTTPS)"
HTTP_ONLY_WHY = "HTTP from the internet (no certificate: served on 80, not redirected)"

RULES: tuple[Rule, ...] = (
    Rule("alb", "in", 80, ANYWHERE, HTTP_WHY),
    Rule("alb", "in", 443, ANYWHERE, "HTTPS from the internet"),
    *(Rule("alb", "out", svc.port, "ecs", f"to the {svc.label} tasks") for svc in SERVICES),
    *(Rule("ecs", "in", svc.port, "alb", f"{svc.label} from the ALB") for svc in SERVICES),
    # Not in the seed's table: the UI calls the API inside the VPC, task to task through ECS Service Connect
    # (README, "Security groups"), never through the NAT and the public ALB.
    Rule("ecs", "in", 8000, "ecs", "NL-to-SQL API from the UI tasks (Service Connect)"),
    Rule("ecs", "out", 8000, "ecs", "to the NL-to-SQL API tasks (Service Connect)"),
    Rule("ecs", "out", 5432, "aurora", "to Aurora PostgreSQL"),
    Rule("ecs", "out", 443, ANYWHERE, "HTTPS to AWS APIs, Bedrock and image registries"),
    Rule("aurora", "in", 5432, "ecs", "PostgreSQL from the ECS tasks"),
    Rule("endpoints", "in", 443, VPC_CIDR, "HTTPS from inside the VPC"),
)

OUT_SECURITY_GROUP_IDS: dict[str, str] = {
    g.key: f"{logical_id(g.label.removesuffix('-sg'))}SecurityGroupId" for g in GROUPS
}


@dataclass(frozen=True)
class Subnets:
    """The subnets of one tier, one per AZ in AZ order."""

    tier: Tier
    subnets: tuple[ec2.Subnet, ...]


def build(cfg: EnvConfig) -> Template:
    """The network stack of one environment."""
    t = Template(Description=description(cfg, "network: VPC, subnets, NAT, endpoints, security groups, flow logs"))
    vpc = _add_vpc(t, cfg)
    attachment = _add_internet_gateway(t, cfg, vpc)
    tiers = {tier: _add_subnets(t, cfg, vpc, tier) for tier in TIERS}
    _add_public_routing(t, cfg, vpc, attachment, tiers["public"])
    nats = _add_nat_gateways(t, cfg, attachment, tiers["public"])
    private_tables = _add_private_routing(t, cfg, vpc, tiers["private"], nats)
    _add_database_routing(t, cfg, vpc, tiers["database"])
    groups = _add_security_groups(t, cfg, vpc)
    _add_endpoints(t, cfg, vpc, tiers["private"], private_tables, groups)
    _add_flow_logs(t, cfg, vpc)
    _restrict_default_security_group(t, cfg, vpc)
    _add_outputs(t, vpc, tiers, private_tables, groups)
    if nats:
        t.add_output(
            Output(
                OUT_NAT_GATEWAY_IDS,
                Description="The NAT gateways, comma-separated, in AZ order",
                Value=Join(",", [Ref(nat) for nat in nats]),
            )
        )
    return t


def _add_vpc(t: Template, cfg: EnvConfig) -> ec2.VPC:
    return t.add_resource(
        ec2.VPC(
            "Vpc",
            CidrBlock=cfg.network.vpc_cidr,
            EnableDnsSupport=True,
            EnableDnsHostnames=True,  # private DNS of interface endpoints needs both
            Tags=tags(cfg, MODULE, name(cfg, "vpc")),
        )
    )


def _add_internet_gateway(t: Template, cfg: EnvConfig, vpc: ec2.VPC) -> ec2.VPCGatewayAttachment:
    igw = t.add_resource(ec2.InternetGateway("InternetGateway", Tags=tags(cfg, MODULE, name(cfg, "igw"))))
    return t.add_resource(
        ec2.VPCGatewayAttachment("InternetGatewayAttachment", VpcId=Ref(vpc), InternetGatewayId=Ref(igw))
    )


def _add_subnets(t: Template, cfg: EnvConfig, vpc: ec2.VPC, tier: Tier) -> Subnets:
    made = []
    for i, cidr in enumerate(cfg.network.subnet_cidrs(tier)):
        made.append(
            t.add_resource(
                ec2.Subnet(
                    logical_id(tier, "subnet", az_letter(i)),
                    VpcId=Ref(vpc),
                    CidrBlock=str(cidr),
                    AvailabilityZone=Select(i, GetAZs("")),  # "" = this stack's region
                    MapPublicIpOnLaunch=False,  # nothing here gets a public IP by default, not even in public subnets
                    Tags=tags(cfg, MODULE, name(cfg, tier, az_letter(i))),
                )
            )
        )
    return Subnets(tier, tuple(made))


def _add_route_table(
    t: Template, cfg: EnvConfig, vpc: ec2.VPC, label: tuple[str, ...], members: tuple[ec2.Subnet, ...]
) -> ec2.RouteTable:
    """A route table, associated with `members`."""
    table = t.add_resource(
        ec2.RouteTable(
            logical_id(*label, "route", "table"), VpcId=Ref(vpc), Tags=tags(cfg, MODULE, name(cfg, *label, "rt"))
        )
    )
    for subnet in members:
        t.add_resource(
            ec2.SubnetRouteTableAssociation(
                f"{subnet.title}RouteTableAssociation", SubnetId=Ref(subnet), RouteTableId=Ref(table)
            )
        )
    return table


def _add_public_routing(
    t: Template, cfg: EnvConfig, vpc: ec2.VPC, attachment: ec2.VPCGatewayAttachment, public: Subnets
) -> None:
    table = _add_route_table(t, cfg, vpc, ("public",), public.subnets)
    t.add_resource(
        ec2.Route(
            "PublicDefaultRoute",
            RouteTableId=Ref(table),
            DestinationCidrBlock=ANYWHERE,
            GatewayId=attachment.InternetGatewayId,
            DependsOn=[attachment],
        )
    )


def _add_nat_gateways(
    t: Template, cfg: EnvConfig, attachment: ec2.VPCGatewayAttachment, public: Subnets
) -> list[ec2.NatGateway]:
    """No NAT, one in the first AZ, or one per AZ, each in its AZ's public subnet."""
    count = {"none": 0, "single": 1, "per_az": cfg.network.az_count}[cfg.network.nat_gateways]
    nats = []
    for i in range(count):
        az = az_letter(i)
        eip = t.add_resource(
            ec2.EIP(
                logical_id("nat", "eip", az),
                Domain="vpc",
                DependsOn=[attachment],
                Tags=tags(cfg, MODULE, name(cfg, "nat", az)),
            )
        )
        nats.append(
            t.add_resource(
                ec2.NatGateway(
                    logical_id("nat", "gateway", az),
                    AllocationId=GetAtt(eip, "AllocationId"),
                    SubnetId=Ref(public.subnets[i]),
                    Tags=tags(cfg, MODULE, name(cfg, "nat", az)),
                )
            )
        )
    return nats


def _add_private_routing(
    t: Template, cfg: EnvConfig, vpc: ec2.VPC, private: Subnets, nats: list[ec2.NatGateway]
) -> list[ec2.RouteTable]:
    """One route table per AZ, so each AZ egresses through its own NAT when there is one per AZ."""
    tables = []
    for i, subnet in enumerate(private.subnets):
        table = _add_route_table(t, cfg, vpc, ("private", az_letter(i)), (subnet,))
        if nats:
            nat = nats[i] if len(nats) > 1 else nats[0]
            t.add_resource(
                ec2.Route(
                    logical_id("private", az_letter(i), "default", "route"),
                    RouteTableId=Ref(table),
                    DestinationCidrBlock=ANYWHERE,
                    NatGatewayId=Ref(nat),
                )
            )
        tables.append(table)
    return tables


def _add_database_routing(t: Template, cfg: EnvConfig, vpc: ec2.VPC, database: Subnets) -> None:
    """Database subnets share one table with only the VPC's local route: no way out to the internet."""
    _add_route_table(t, cfg, vpc, ("database",), database.subnets)


def _add_security_groups(t: Template, cfg: EnvConfig, vpc: ec2.VPC) -> dict[str, ec2.SecurityGroup]:
    """The seed's security groups, rule for rule.

    Egress rules are inline (an inline egress list replaces CloudFormation's
    default allow-all; a group with none gets NO_EGRESS). Ingress from a CIDR
    is inline too; ingress from another group is a separate resource, which
    breaks the cycle alb -> ecs -> aurora that inline references would form.
    """
    wanted = [g for g in GROUPS if g.key != "endpoints" or cfg.network.vpc_endpoints.enabled]
    table = rules(cfg)
    made: dict[str, ec2.SecurityGroup] = {}
    # Made in reverse table order so each inline egress refers to a group that exists.
    for group in reversed(wanted):
        own = [r for r in table if r.group == group.key]
        # A rule to the group itself cannot be inline (the group would refer to itself): it is a separate resource.
        egress = [_rule(r, vpc, made) for r in own if r.direction == "out" and r.peer != group.key]
        made[group.key] = ec2.SecurityGroup(
            logical_id(group.label.removesuffix("-sg"), "security", "group"),
            GroupDescription=f"{group.label}: {group.purpose}",
            VpcId=Ref(vpc),
            SecurityGroupIngress=[_rule(r, vpc, made) for r in own if r.direction == "in" and _is_cidr(r.peer)],
            SecurityGroupEgress=egress or [ec2.SecurityGroupRule(Description="No outbound traffic", **NO_EGRESS)],
            Tags=tags(cfg, MODULE, name(cfg, group.label)),
        )
    skip(
        made["alb"],
        (
            "CKV_AWS_260",
            "The public ALB must accept port 80 from anywhere (seed table); with a certificate it only redirects",
        ),
    )
    for group in wanted:
        t.add_resource(made[group.key])
    for rule in table:
        if rule.direction == "in" and not _is_cidr(rule.peer) and rule.group in made:
            t.add_resource(
                ec2.SecurityGroupIngress(
                    logical_id(rule.group, "from", rule.peer, rule.port),
                    GroupId=GetAtt(made[rule.group], "GroupId"),
                    **_rule_properties(rule, vpc, made),
                )
            )
        elif rule.direction == "out" and rule.peer == rule.group and rule.group in made:
            # Safe standalone: the group has inline egress too, so CloudFormation's allow-all is already gone.
            t.add_resource(
                ec2.SecurityGroupEgress(
                    logical_id(rule.group, "to", rule.peer, rule.port),
                    GroupId=GetAtt(made[rule.group], "GroupId"),
                    **_rule_properties(rule, vpc, made),
                )
            )
    return made


def rules(cfg: EnvConfig) -> tuple[Rule, ...]:
    """The table as this environment has it: without a certificate (dev) port 80 is served, not redirected."""
    if cfg.compute.tls:
        return RULES
    return tuple(replace(r, why=HTTP_ONLY_WHY) if r.why == HTTP_WHY else r for r in RULES)


def _is_cidr(peer: str) -> bool:
    return peer in (ANYWHERE, VPC_CIDR)


def _rule(rule: Rule, vpc: ec2.VPC, made: dict[str, ec2.SecurityGroup]) -> ec2.SecurityGroupRule:
    return ec2.SecurityGroupRule(**_rule_properties(rule, vpc, made))


def _rule_properties(rule: Rule, vpc: ec2.VPC, made: dict[str, ec2.SecurityGroup]) -> dict[str, object]:
    """The properties of one rule; a group peer becomes a GroupId, a CIDR peer a CidrIp."""
    props: dict[str, object] = {
        "IpProtocol": "tcp",
        "FromPort": rule.port,
        "ToPort": rule.port,
        "Description": rule.why,
    }
    if rule.peer == ANYWHERE:
        props["CidrIp"] = ANYWHERE
    elif rule.peer == VPC_CIDR:
        props["CidrIp"] = GetAtt(vpc, "CidrBlock")
    elif rule.direction == "out":
        props["DestinationSecurityGroupId"] = GetAtt(made[rule.peer], "GroupId")
    else:
        props["SourceSecurityGroupId"] = GetAtt(made[rule.peer], "GroupId")
    return props


def _add_endpoints(
    t: Template,
    cfg: EnvConfig,
    vpc: ec2.VPC,
    private: Subnets,
    private_tables: list[ec2.RouteTable],
    groups: dict[str, ec2.SecurityGroup],
) -> None:
    """Interface endpoints in every private subnet (private DNS on) and the S3 gateway endpoint."""
    endpoints = cfg.network.vpc_endpoints
    if not endpoints.enabled:
        return
    for service in endpoints.interface_services:
        t.add_resource(
            ec2.VPCEndpoint(
                logical_id(service, "endpoint"),
                VpcId=Ref(vpc),
                ServiceName=Sub(f"com.amazonaws.${{AWS::Region}}.{service}"),
                VpcEndpointType="Interface",
                PrivateDnsEnabled=True,
                SubnetIds=[Ref(s) for s in private.subnets],
                SecurityGroupIds=[GetAtt(groups["endpoints"], "GroupId")],
                Tags=tags(cfg, MODULE, name(cfg, service.replace(".", "-"), "endpoint")),
            )
        )
    if endpoints.s3_gateway:
        t.add_resource(
            ec2.VPCEndpoint(
                "S3GatewayEndpoint",
                VpcId=Ref(vpc),
                ServiceName=Sub("com.amazonaws.${AWS::Region}.s3"),
                VpcEndpointType="Gateway",
                RouteTableIds=[Ref(table) for table in private_tables],
                Tags=tags(cfg, MODULE, name(cfg, "s3", "endpoint")),
            )
        )


class RestrictDefaultSecurityGroup(cloudformation.CustomResource):
    """Custom::RestrictDefaultSecurityGroup: the VPC's default security group, with no rules."""

    resource_type = "Custom::RestrictDefaultSecurityGroup"
    props = {**cloudformation.CustomResource.props, "GroupId": (object, True)}


def _restrict_default_security_group(t: Template, cfg: EnvConfig, vpc: ec2.VPC) -> None:
    """Empty the VPC's default security group (it allows all traffic among its members and all egress), as
    CDK's restrictDefaultSecurityGroup does: a small custom resource revokes its rules."""
    group = GetAtt(vpc, "DefaultSecurityGroup")
    log_group = shared.log_group("DefaultSecurityGroupLogGroup", cfg, MODULE, "default-sg", cfg.log_retention_days)
    t.add_resource(skip(log_group, (
        "CKV_AWS_158",
        "Records only which rules were revoked; the environment's KMS key is made by the storage stack, which "
        "deploys after this one",
    )))  # fmt: skip
    role = t.add_resource(
        shared.role(
            "DefaultSecurityGroupRole",
            cfg,
            MODULE,
            "default-sg",
            "empties the VPC's default security group",
            policies.lambda_trust(),
            policies.default_security_group_function(
                Sub(
                    "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:security-group/${Group}", Group=group
                ),  # fmt: skip
                GetAtt(log_group, "Arn"),
            ),
        )
    )
    function = t.add_resource(
        shared.custom_resource_function(
            "DefaultSecurityGroupFunction", cfg, MODULE, "default-sg", "empty the VPC's default security group",
            role, log_group, 60,
        )
    )  # fmt: skip
    t.add_resource(
        RestrictDefaultSecurityGroup(
            "RestrictDefaultSecurityGroup", ServiceToken=GetAtt(function, "Arn"), ServiceTimeout=300, GroupId=group
        )
    )


def _add_flow_logs(t: Template, cfg: EnvConfig, vpc: ec2.VPC) -> None:
    flow = cfg.network.flow_logs
    if not flow.enabled:
        return
    group = shared.log_group("FlowLogGroup", cfg, MODULE, "flow-logs", flow.retention_days)
    t.add_resource(
        skip(
            group,
            (
                "CKV_AWS_158",
                "Flow records (addresses and ports, no payload) are encrypted at rest by CloudWatch Logs; the "
                "environment's KMS key is made by the storage stack, which deploys after this one",
            ),
        )
    )
    role = t.add_resource(
        shared.role(
            "FlowLogRole",
            cfg,
            MODULE,
            "flow-logs",
            "lets VPC Flow Logs write this VPC's records to its log group",
            policies.flow_logs_trust(),
            policies.flow_logs_delivery(GetAtt(group, "Arn")),
        )
    )
    t.add_resource(
        ec2.FlowLog(
            "VpcFlowLog",
            ResourceId=Ref(vpc),
            ResourceType="VPC",
            TrafficType=flow.traffic_type,
            LogDestinationType="cloud-watch-logs",
            LogGroupName=Ref(group),
            DeliverLogsPermissionArn=GetAtt(role, "Arn"),
            Tags=tags(cfg, MODULE, name(cfg, "flow-logs")),
        )
    )
    t.add_output(
        Output(OUT_FLOW_LOG_GROUP, Description="The CloudWatch log group of the VPC flow logs", Value=Ref(group))
    )


def _add_outputs(
    t: Template,
    vpc: ec2.VPC,
    tiers: dict[Tier, Subnets],
    private_tables: list[ec2.RouteTable],
    groups: dict[str, ec2.SecurityGroup],
) -> None:
    t.add_output(Output(OUT_VPC_ID, Description="The VPC", Value=Ref(vpc)))
    t.add_output(Output(OUT_VPC_CIDR, Description="The VPC's IPv4 CIDR", Value=GetAtt(vpc, "CidrBlock")))
    for tier, subnets in tiers.items():
        t.add_output(
            Output(
                OUT_SUBNET_IDS[tier],
                Description=f"The {tier} subnets, comma-separated, in AZ order",
                Value=Join(",", [Ref(s) for s in subnets.subnets]),
            )
        )
    t.add_output(
        Output(
            OUT_PRIVATE_ROUTE_TABLE_IDS,
            Description="The private route tables, comma-separated, in AZ order",
            Value=Join(",", [Ref(table) for table in private_tables]),
        )
    )
    for group in GROUPS:
        if group.key in groups:
            t.add_output(
                Output(
                    OUT_SECURITY_GROUP_IDS[group.key],
                    Description=f"{group.label}: {group.purpose}",
                    Value=GetAtt(groups[group.key], "GroupId"),
                )
            )
