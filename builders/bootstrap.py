"""The account-wide bootstrap stack: the deploy artifacts bucket and the app's ECR repositories.

`build.py --deploy` creates it on the first deploy to an account and region
(stack nlsql-bootstrap) and reuses it after. The artifacts bucket holds the
child templates under content-hash keys; they are only read while a change
set is made, so old ones expire.

Images are built once and promoted through dev, staging and prod by tag, so
the repositories belong to the account and region, not to an environment
(AWS CDK's bootstrap stack keeps its asset repository the same way). Tags are
immutable, so a tag names exactly one image everywhere it is deployed. The
repositories are retained: deleting the stack must not delete the images a
running service pulls.

It also holds the permissions boundary (`nlsql-permissions-boundary-<region>`)
that every role of the app stacks carries and that the CloudFormation
execution role of templates/github-oidc.yaml may create roles only with. It
lives here because every deploy needs this stack, with or without GitHub
Actions; the execution role may not change it, so a change to the boundary
is deployed by an administrator (README "Permissions boundary").
"""

from __future__ import annotations

import json

from troposphere import GetAtt, Output, Ref, Template, ecr, iam, s3

from builders import iam as policies
from builders import shared
from builders.app import SERVICES
from builders.naming import ACCOUNT_WIDE, PROJECT, AccountWide, description, logical_id, repository
from builders.policies import protect
from builders.scanners import skip
from builders.tags import tags

FILENAME = "bootstrap.yaml"
MODULE = "bootstrap"
STACK_NAME = "nlsql-bootstrap"
OUT_ARTIFACTS_BUCKET = "ArtifactsBucketName"
OUT_BOUNDARY = "PermissionsBoundaryArn"
ARTIFACT_DAYS = 90  # templates are read only while a change set is made
PLAN_DAYS = 14  # a kept plan's change set is executed (or not) within a review

# Untagged layers go after a week; of tagged images the newest 200 stay, which
# keeps every image an environment could still roll back to.
UNTAGGED_DAYS = 7
TAGGED_KEPT = 200


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
    scope = ACCOUNT_WIDE
    t = Template(
        Description=description(
            scope, "account bootstrap: deploy artifacts bucket, ECR repositories, permissions boundary"
        )
    )
    _add_artifacts_bucket(t, scope)
    _add_permissions_boundary(t)
    for service in (svc.key for svc in SERVICES):
        repo = t.add_resource(
            skip(
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
                ),
                (
                    "CKV_AWS_136",
                    "Images hold the app's code, no data, encrypted at rest with AES256; encryption cannot change on "
                    "an existing repository, and replacing these named, retained ones would fail the stack",
                ),
            )
        )
        t.add_output(
            Output(output_name(service), Description=f"Push {service} images here", Value=GetAtt(repo, "RepositoryUri"))
        )
    return t


def _add_artifacts_bucket(t: Template, scope: AccountWide) -> None:
    bucket = t.add_resource(
        skip(
            shared.private_bucket(
                "ArtifactsBucket",
                scope,
                MODULE,
                "artifacts",
                None,
                LifecycleConfiguration=s3.LifecycleConfiguration(
                    Rules=[
                        s3.LifecycleRule(
                            Id="expire-old-artifacts",
                            Status="Enabled",
                            ExpirationInDays=ARTIFACT_DAYS,
                            NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=7),
                            AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(DaysAfterInitiation=1),
                        ),
                        # A plan's templates matter only while its change set is reviewed.
                        s3.LifecycleRule(
                            Id="expire-plans",
                            Status="Enabled",
                            Prefix=f"{policies.PLAN_AREA}/",
                            ExpirationInDays=PLAN_DAYS,
                        ),
                    ]
                ),
            ),
            (
                "CKV_AWS_18",
                "Holds only rendered templates, the same as committed to git; the deploy roles' writes are in "
                "CloudTrail, and the account has no log bucket before this stack",
            ),
        )
    )
    t.add_resource(
        s3.BucketPolicy(
            "ArtifactsBucketPolicy", Bucket=Ref(bucket), PolicyDocument=policies.tls_only_bucket_policy(bucket)
        )
    )
    t.add_output(Output(OUT_ARTIFACTS_BUCKET, Description="Where deploys upload templates", Value=Ref(bucket)))


def _add_permissions_boundary(t: Template) -> None:
    """The boundary every role of the app stacks carries: the most any of them may do (builders/iam.py)."""
    boundary = t.add_resource(
        iam.ManagedPolicy(
            "PermissionsBoundary",
            ManagedPolicyName=policies.boundary_name(PROJECT),
            Description="The most any role of the nlsql stacks may do; changed only by an administrator",
            PolicyDocument=policies.permissions_boundary(PROJECT),
        )
    )
    t.add_output(
        Output(OUT_BOUNDARY, Description="The permissions boundary of the app stacks' roles", Value=Ref(boundary))
    )
