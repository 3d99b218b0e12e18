"""Subnet CIDR planning: one deterministic layout per VPC CIDR.

Deriving subnets from the VPC CIDR (the way terraform-aws-vpc's examples use
`cidrsubnet(vpc_cidr, newbits, k)`) means a params file states one CIDR and
the rest follows, identically on every build. The layout keeps room for
`MAX_AZS` in every tier, so adding an AZ later never moves an existing subnet
(moving one would replace it, and everything in it).

For a /16 VPC:

| tier     | size | AZ a          | AZ b          | ... up to 6 AZs |
|----------|------|---------------|---------------|-----------------|
| private  | /20  | 10.x.0.0/20   | 10.x.16.0/20  | ... 10.x.80.0   |
| public   | /24  | 10.x.96.0/24  | 10.x.97.0/24  | ... 10.x.101.0  |
| database | /24  | 10.x.112.0/24 | 10.x.113.0/24 | ... 10.x.117.0  |

Private subnets are the large ones because every Fargate task takes an IP
there; public subnets hold only load balancer nodes and NAT gateways.
"""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Literal

Tier = Literal["public", "private", "database"]
TIERS: tuple[Tier, ...] = ("public", "private", "database")

# (newbits, first index) per tier, as in cidrsubnet(vpc, newbits, first + az).
_LAYOUT: dict[Tier, tuple[int, int]] = {
    "private": (4, 0),
    "public": (8, 96),
    "database": (8, 112),
}

# An ALB needs a /27 or larger in each of its subnets; AWS's smallest subnet is /28.
MAX_PUBLIC_PREFIX = 27
MAX_SUBNET_PREFIX = 28
# The smallest VPC the derived layout fits: public subnets of /(p+8) must stay /27.
MAX_DERIVABLE_VPC_PREFIX = MAX_PUBLIC_PREFIX - 8


def cidrsubnet(vpc: IPv4Network, newbits: int, index: int) -> IPv4Network:
    """Terraform's cidrsubnet(): the index-th subnet of `newbits` more bits."""
    prefix = vpc.prefixlen + newbits
    size = 1 << (32 - prefix)
    return IPv4Network((int(vpc.network_address) + index * size, prefix))


def derive(vpc: IPv4Network, tier: Tier, az_count: int) -> tuple[IPv4Network, ...]:
    """The derived subnets of one tier, one per AZ, in AZ order."""
    newbits, first = _LAYOUT[tier]
    return tuple(cidrsubnet(vpc, newbits, first + k) for k in range(az_count))
