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

# The Elastic Load Balancing account that delivers ALB access logs in each
# region opened before August 2022 (the ELB user guide's "Enable access logs"
# table); the bucket policy names it as the writer. Regions missing here are
# newer and use the log-delivery service principal instead.
ELB_LOG_ACCOUNTS: dict[str, str] = {
    "af-south-1": "098369216593",
    "ap-east-1": "754344448648",
    "ap-northeast-1": "582318560864",
    "ap-northeast-2": "600734575887",
    "ap-northeast-3": "383597477331",
    "ap-south-1": "718504428378",
    "ap-southeast-1": "114774131450",
    "ap-southeast-2": "783225319266",
    "ap-southeast-3": "589379963580",
    "ca-central-1": "985666609251",
    "eu-central-1": "054676820928",
    "eu-north-1": "897822967062",
    "eu-south-1": "635631232127",
    "eu-west-1": "156460612806",
    "eu-west-2": "652711504416",
    "eu-west-3": "009996457667",
    "me-south-1": "076674570225",
    "sa-east-1": "507241528517",
    "us-east-1": "127311923021",
    "us-east-2": "033677994240",
    "us-west-1": "027434742980",
    "us-west-2": "797873946194",
}

# Interface (PrivateLink) endpoint services this project knows, as the suffix of com.amazonaws.<region>.<suffix>:
# those AWS lists under "AWS services that integrate with AWS PrivateLink" that an app like this one may reach
# from private subnets (2026-11). Not every region offers every one; CloudFormation has the last word at deploy.
# A service missing here is refused with the closest names, rather than failing at deploy time; add it here.
INTERFACE_SERVICES: frozenset[str] = frozenset(
    """
    access-analyzer acm-pca airflow.api airflow.env application-autoscaling appmesh-envoy-management athena
    autoscaling backup batch bedrock bedrock-agent bedrock-agent-runtime bedrock-runtime cloudformation
    cloudtrail codeartifact.api codeartifact.repositories codebuild codecommit codepipeline config dms dynamodb
    ebs ec2 ec2messages ecr.api ecr.dkr ecs ecs-agent ecs-telemetry elasticache elasticfilesystem
    elasticloadbalancing elasticmapreduce email-smtp events execute-api glue guardduty-data
    kinesis-firehose kinesis-streams kms lambda logs monitoring rds rds-data redshift redshift-data
    sagemaker.api sagemaker.runtime secretsmanager servicecatalog sns sqs ssm ssm-contacts ssm-incidents
    ssmmessages states sts synthetics textract transfer xray
    """.split()
)


# Interface endpoint services (INTERFACE_SERVICES) that a region does not offer: those whose API has no endpoint
# in that region in AWS's endpoint data (botocore's endpoints.json, partition aws, as of 2026-12; ecr.api and
# ecr.dkr are the api.ecr service there, ecs-agent and ecs-telemetry ecs). A service AWS's data does not list
# per region (bedrock-runtime, ssmmessages, ec2messages, ...) is not refused here; CloudFormation has the last
# word at deploy. The build refuses a params file asking for one of these, at network.vpc_endpoints, instead of
# a deploy failing half-way with "The Vpc Endpoint Service ... does not exist".
_NOT_OFFERED: dict[str, str] = {
    "af-south-1": "codeartifact.api codeartifact.repositories rds-data ssm-contacts ssm-incidents textract",
    "ap-east-1": "bedrock codeartifact.api codeartifact.repositories email-smtp rds-data ssm-contacts ssm-incidents "
    "textract",
    "ap-northeast-2": "codeartifact.api codeartifact.repositories",
    "ap-northeast-3": "codeartifact.api codeartifact.repositories rds-data ssm-contacts ssm-incidents textract",
    "ap-south-2": "appmesh-envoy-management codeartifact.api codeartifact.repositories rds-data ssm-contacts "
    "ssm-incidents textract",
    "ap-southeast-3": "codeartifact.api codeartifact.repositories rds-data ssm-contacts ssm-incidents textract",
    "ap-southeast-4": "appmesh-envoy-management codeartifact.api codeartifact.repositories codecommit rds-data "
    "ssm-contacts ssm-incidents textract",
    "ca-central-1": "codeartifact.api codeartifact.repositories",
    "ca-west-1": "appmesh-envoy-management codeartifact.api codeartifact.repositories codebuild codecommit "
    "codepipeline rds-data ssm-contacts ssm-incidents textract",
    "eu-central-2": "codeartifact.api codeartifact.repositories codecommit rds-data ssm-contacts ssm-incidents",
    "eu-north-1": "rds-data textract",
    "eu-south-1": "rds-data ssm-contacts ssm-incidents textract",
    "eu-south-2": "codeartifact.api codeartifact.repositories codecommit rds-data ssm-contacts ssm-incidents",
    "il-central-1": "codeartifact.api codeartifact.repositories rds-data ssm-contacts ssm-incidents textract",
    "me-central-1": "appmesh-envoy-management codeartifact.api codeartifact.repositories rds-data ssm-contacts "
    "ssm-incidents textract",
    "me-south-1": "codeartifact.api codeartifact.repositories rds-data ssm-contacts ssm-incidents textract",
    "sa-east-1": "codeartifact.api codeartifact.repositories rds-data textract",
    "us-west-1": "codeartifact.api codeartifact.repositories",
}
NOT_OFFERED: dict[str, frozenset[str]] = {region: frozenset(names.split()) for region, names in _NOT_OFFERED.items()}


def offers(region: str, service: str) -> bool:
    """Whether the region has the interface endpoint service, as far as AWS's endpoint data says (True if unknown)."""
    return service not in NOT_OFFERED.get(region, frozenset())


# The geography prefixes of Bedrock's system-defined (cross-region) inference-profile ids, as in
# us.anthropic.claude-3-5-sonnet-20241022-v2:0; an id without one is a foundation model's.
INFERENCE_PROFILE_GEOGRAPHIES = ("us", "us-gov", "eu", "apac", "global", "jp", "au", "ca")


def profile_model(model_id: str) -> str | None:
    """The foundation model an inference-profile id routes to, or None for a foundation-model id."""
    geography, _, rest = model_id.partition(".")
    return rest if geography in INFERENCE_PROFILE_GEOGRAPHIES and "." in rest else None


# Where each geography's system-defined inference profiles can be called from: the source regions AWS lists for
# them (Bedrock user guide, "Supported Regions and models for inference profiles", 2026-11), as region-name
# prefixes. A profile is invoked in the caller's region, so us.anthropic... from eu-west-1 fails at the first
# request ("The provided model identifier is invalid"); the build refuses it at compute.bedrock_models instead.
# global. profiles are callable from every commercial region.
PROFILE_SOURCES: dict[str, tuple[str, ...]] = {
    "us": ("us-east-", "us-west-"),
    "us-gov": ("us-gov-",),
    "eu": ("eu-",),
    "apac": ("ap-",),
    "jp": ("ap-northeast-1", "ap-northeast-3"),
    "au": ("ap-southeast-2", "ap-southeast-4"),
    "ca": ("ca-",),
    "global": ("",),
}


def profile_callable_from(model_id: str, region: str) -> bool:
    """Whether an inference-profile id can be invoked in the region (True for a foundation-model id)."""
    if profile_model(model_id) is None:
        return True
    return region.startswith(PROFILE_SOURCES[model_id.split(".", 1)[0]])


# Every region above is a commercial one, so ARNs made outside a template (build.py ENV --role, StackSets'
# parameter overrides) are in the `aws` partition; a region of another partition is refused by the params check.
PARTITION = "aws"
