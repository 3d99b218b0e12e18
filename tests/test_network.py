"""Routing guarantees of the network stack, on the generated templates."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ENVS, props, ref, resources, template


def _routes(network: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Route table logical id -> its routes."""
    tables: dict[str, list[dict[str, Any]]] = {k: [] for k in resources(network, "AWS::EC2::RouteTable")}
    for route in resources(network, "AWS::EC2::Route").values():
        tables[ref(props(route)["RouteTableId"])].append(props(route))
    return tables


def _table_of(network: dict[str, Any]) -> dict[str, str]:
    """Subnet logical id -> its route table."""
    return {
        ref(props(a)["SubnetId"]): ref(props(a)["RouteTableId"])
        for a in resources(network, "AWS::EC2::SubnetRouteTableAssociation").values()
    }


def _az(network: dict[str, Any], subnet: str) -> int:
    return props(network["Resources"][subnet])["AvailabilityZone"]["Fn::Select"][0]


def _subnets(network: dict[str, Any], tier: str) -> list[str]:
    return sorted(k for k in resources(network, "AWS::EC2::Subnet") if k.startswith(tier.capitalize()))


@pytest.mark.parametrize("env", ENVS)
def test_every_subnet_has_exactly_one_route_table(env: str) -> None:
    network = template(env, "network")
    associations = [
        ref(props(a)["SubnetId"]) for a in resources(network, "AWS::EC2::SubnetRouteTableAssociation").values()
    ]
    assert sorted(associations) == sorted(resources(network, "AWS::EC2::Subnet"))


@pytest.mark.parametrize("env", ENVS)
def test_database_subnets_have_no_route_out_of_the_vpc(env: str) -> None:
    network = template(env, "network")
    tables, routes = _table_of(network), _routes(network)
    for subnet in _subnets(network, "database"):
        assert routes[tables[subnet]] == [], f"{subnet} routes somewhere beyond the VPC"
    gateway = [
        props(e)
        for e in resources(network, "AWS::EC2::VPCEndpoint").values()
        if props(e)["VpcEndpointType"] == "Gateway"
    ]
    for endpoint in gateway:
        assert not {ref(t) for t in endpoint["RouteTableIds"]} & {tables[s] for s in _subnets(network, "database")}


@pytest.mark.parametrize("env", ENVS)
def test_public_subnets_route_to_the_internet_gateway(env: str) -> None:
    network = template(env, "network")
    tables, routes = _table_of(network), _routes(network)
    for subnet in _subnets(network, "public"):
        (route,) = routes[tables[subnet]]
        assert route["DestinationCidrBlock"] == "0.0.0.0/0" and "GatewayId" in route
        assert props(network["Resources"][subnet])["MapPublicIpOnLaunch"] is False


@pytest.mark.parametrize("env", ENVS)
def test_private_subnets_egress_through_a_nat_in_their_own_az_when_there_is_one_per_az(env: str) -> None:
    network = template(env, "network")
    tables, routes = _table_of(network), _routes(network)
    nats = resources(network, "AWS::EC2::NatGateway")
    nat_az = {k: _az(network, ref(props(v)["SubnetId"])) for k, v in nats.items()}
    private = _subnets(network, "private")
    assert len({tables[s] for s in private}) == len(private), "each private subnet has its own route table"
    used = set()
    for subnet in private:
        (route,) = routes[tables[subnet]]
        nat = ref(route["NatGatewayId"])
        used.add(nat)
        if len(nats) > 1:
            assert nat_az[nat] == _az(network, subnet)
    assert used == set(nats)
    for nat in nats.values():  # NAT gateways live in public subnets
        assert ref(props(nat)["SubnetId"]).startswith("Public")


@pytest.mark.parametrize("env", ENVS)
def test_interface_endpoints_serve_the_private_subnets_with_private_dns(env: str) -> None:
    network = template(env, "network")
    private = set(_subnets(network, "private"))
    tables = _table_of(network)
    for endpoint in resources(network, "AWS::EC2::VPCEndpoint").values():
        p = props(endpoint)
        if p["VpcEndpointType"] == "Interface":
            assert p["PrivateDnsEnabled"] is True
            assert {ref(s) for s in p["SubnetIds"]} == private
            assert [ref(g) for g in p["SecurityGroupIds"]] == ["VpcEndpointsSecurityGroup"]
        else:
            assert p["ServiceName"] == {"Fn::Sub": "com.amazonaws.${AWS::Region}.s3"}
            assert {ref(t) for t in p["RouteTableIds"]} == {tables[s] for s in private}


@pytest.mark.parametrize("env", ENVS)
def test_flow_logs_cover_the_vpc_through_a_role_only_vpc_flow_logs_can_assume(env: str) -> None:
    network = template(env, "network")
    (flow_log,) = resources(network, "AWS::EC2::FlowLog").values()
    assert props(flow_log)["ResourceType"] == "VPC" and ref(props(flow_log)["ResourceId"]) == "Vpc"
    role = network["Resources"][ref(props(flow_log)["DeliverLogsPermissionArn"])]
    (trust,) = props(role)["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": ["vpc-flow-logs.amazonaws.com"]}
    assert "aws:SourceAccount" in trust["Condition"]["StringEquals"]
    (policy,) = props(role)["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Resource"] == [{"Fn::GetAtt": ["FlowLogGroup", "Arn"]}]
    assert "*" not in statement["Action"]


@pytest.mark.parametrize("env", ENVS)
def test_outputs_give_later_stacks_what_they_need(env: str) -> None:
    outputs = template(env, "network")["Outputs"]
    needed = {"VpcId", "PublicSubnetIds", "PrivateSubnetIds", "DatabaseSubnetIds", "AlbSecurityGroupId",
              "EcsTasksSecurityGroupId", "AuroraSecurityGroupId"}  # fmt: skip
    assert needed <= set(outputs)
    assert all(o.get("Description") for o in outputs.values())
    assert not any("Export" in o for o in outputs.values()), "stacks are wired through the root, never by exports"
