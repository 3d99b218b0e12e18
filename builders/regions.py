"""Facts about AWS regions that the config checks need at build time.

The build runs offline, so it cannot ask EC2 how many Availability Zones a
region has. This table is the number of AZs a new account sees in each
commercial region (checked against the AWS regions page, 2026-11); an account
can see fewer in a few regions, so `aws ec2 describe-availability-zones` has
the last word. A region missing here is refused rather than guessed.
"""

from __future__ import annotations

AZS_PER_REGION: dict[str, int] = {
    "af-south-1": 3,
    "ap-east-1": 3,
    "ap-northeast-1": 3,
    "ap-northeast-2": 4,
    "ap-northeast-3": 3,
    "ap-south-1": 3,
    "ap-south-2": 3,
    "ap-southeast-1": 3,
    "ap-southeast-2": 3,
    "ap-southeast-3": 3,
    "ap-southeast-4": 3,
    "ca-central-1": 3,
    "ca-west-1": 3,
    "eu-central-1": 3,
    "eu-central-2": 3,
    "eu-north-1": 3,
    "eu-south-1": 3,
    "eu-south-2": 3,
    "eu-west-1": 3,
    "eu-west-2": 3,
    "eu-west-3": 3,
    "il-central-1": 3,
    "me-central-1": 3,
    "me-south-1": 3,
    "sa-east-1": 3,
    "us-east-1": 6,
    "us-east-2": 3,
    "us-west-1": 2,
    "us-west-2": 4,
}

# The most AZs any environment may span, whatever the region offers: the
# subnet plan reserves room for this many per tier.
MAX_AZS = 6
