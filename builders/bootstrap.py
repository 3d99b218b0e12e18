"""The account-wide bootstrap stack: the app's ECR repositories.

Images are built once and promoted through dev, staging and prod by tag, so
the repositories belong to the account and region, not to an environment
(AWS CDK's bootstrap stack keeps its asset repository the same way). Tags are
immutable, so a tag names exactly one image everywhere it is deployed. The
repositories are retained: deleting the stack must not delete the images a
running service pulls.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from troposphere import GetAtt, Output, Template, ecr

from builders.app import SERVICES
from builders.naming import description, logical_id, repository
from builders.policies import protect
from builders.tags import tags

FILENAME = "bootstrap.yaml"
MODULE = "bootstrap"

# Untagged layers go after a week; of tagged images the newest 200 stay, which
# keeps every image an environment could still roll back to.
UNTAGGED_DAYS = 7
TAGGED_KEPT = 200


@dataclass(frozen=True)
class _Account:
    """The scope of account-wide names and tags."""

    environment: str = "shared"


def _lifecycle_policy() -> str:
    rules = [
        {
            "rulePriority": 1,
            "description": f"expire untagged images after {UNTAGGED_DAYS} days",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": UNTAGGED_DAYS,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "description": f"keep the newest {TAGGED_KEPT} images",
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": TAGGED_KEPT},
            "action": {"type": "expire"},
        },
    ]
    return json.dumps({"rules": rules}, sort_keys=True)


def output_name(service: str) -> str:
    return f"{logical_id(service)}RepositoryUri"


def build() -> Template:
    """The bootstrap template: one ECR repository per app image."""
    scope = _Account()
    t = Template(Description=description(scope, "account bootstrap: ECR repositories of the app's images"))
    for service in (svc.key for svc in SERVICES):
        repo = t.add_resource(
            protect(
                ecr.Repository(
                    logical_id(service, "repository"),
                    RepositoryName=repository(service),
                    ImageTagMutability="IMMUTABLE",
                    ImageScanningConfiguration=ecr.ImageScanningConfiguration(ScanOnPush=True),
                    EncryptionConfiguration=ecr.EncryptionConfiguration(EncryptionType="AES256"),
                    LifecyclePolicy=ecr.LifecyclePolicy(LifecyclePolicyText=_lifecycle_policy()),
                    Tags=tags(scope, MODULE, repository(service)),
                )
            )
        )
        t.add_output(
            Output(output_name(service), Description=f"Push {service} images here", Value=GetAtt(repo, "RepositoryUri"))
        )
    return t
