"""Resource constructors that several stacks use the same way.

Roles with one inline policy, retained log groups and private buckets appear
in several stacks (and the bootstrap); making them here keeps their tags,
protection and naming identical everywhere. They return resources; the
caller adds them to its template.
"""

from __future__ import annotations

from importlib import resources

from awacs.aws import Policy, PolicyDocument
from troposphere import AWSHelperFn, GetAtt, Ref, awslambda, iam, kms, logs, s3

from builders import iam as policies
from builders.naming import PROJECT, Scope, global_name, name
from builders.policies import protect
from builders.scanners import skip
from builders.tags import Module, tags


def role(
    title: str,
    cfg: Scope,
    module: Module,
    label: str,
    purpose: str,
    trust: Policy,
    policy: PolicyDocument | None = None,
) -> iam.Role:
    """An IAM role for one service principal, with at most one inline policy named after its label.

    Every role carries the project's permissions boundary (the bootstrap stack's policy): the execution role
    may create a role only with it, and the role can then never do more than the boundary allows, whatever a
    template grants it.
    """
    grants = {"Policies": [iam.Policy(PolicyName=label, PolicyDocument=policy)]} if policy is not None else {}
    return iam.Role(
        title,
        Description=f"{name(cfg, label)}: {purpose}",
        AssumeRolePolicyDocument=trust,
        PermissionsBoundary=policies.boundary_arn(PROJECT),
        Tags=tags(cfg, module, name(cfg, label)),
        **grants,
    )


def log_group(
    title: str,
    cfg: Scope,
    module: Module,
    label: str,
    days: int,
    key: AWSHelperFn | None = None,
    fixed_name: str | None = None,
) -> logs.LogGroup:
    """A retained log group with a generated name (a fixed name would block re-creating the stack).

    With `key` (the environment's key ARN) CloudWatch Logs encrypts the group
    with it, so what the app logs is under the same key as its data; the key
    policy lets CloudWatch Logs use the key for this account's log groups.
    Without one the caller records why (checkov CKV_AWS_158). `fixed_name`
    only where a service insists on a name (WAF: aws-waf-logs-*).
    """
    extra = ({"KmsKeyId": key} if key is not None else {}) | ({"LogGroupName": fixed_name} if fixed_name else {})
    return protect(logs.LogGroup(title, RetentionInDays=days, **extra, Tags=tags(cfg, module, name(cfg, label))))


def encryption(key: kms.Key | None) -> s3.BucketEncryption:
    """SSE-S3, or SSE-KMS with the given key and the S3 bucket key."""
    if key is None:
        default = s3.ServerSideEncryptionByDefault(SSEAlgorithm="AES256")
        rule = s3.ServerSideEncryptionRule(ServerSideEncryptionByDefault=default)
    else:
        default = s3.ServerSideEncryptionByDefault(SSEAlgorithm="aws:kms", KMSMasterKeyID=GetAtt(key, "Arn"))
        # The bucket key cuts KMS requests (and their cost) by orders of magnitude on a
        # data lake read file by file.
        rule = s3.ServerSideEncryptionRule(ServerSideEncryptionByDefault=default, BucketKeyEnabled=True)
    return s3.BucketEncryption(ServerSideEncryptionConfiguration=[rule])


def private_bucket(
    title: str, cfg: Scope, module: Module, label: str, key: kms.Key | None, **properties: object
) -> s3.Bucket:
    """A retained, versioned bucket with every public access path closed and ACLs disabled.

    Every bucket of the project is made here, so none can miss one of these.
    Its fixed name ends in the account and region to be globally unique.
    """
    return protect(
        s3.Bucket(
            title,
            BucketName=global_name(cfg, label),
            BucketEncryption=encryption(key),
            PublicAccessBlockConfiguration=s3.PublicAccessBlockConfiguration(
                BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True, RestrictPublicBuckets=True
            ),
            # ACLs disabled: the bucket owner owns every object, access is by policy only.
            OwnershipControls=s3.OwnershipControls(
                Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]
            ),
            VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
            Tags=tags(cfg, module, name(cfg, label)),
            **properties,
        )
    )


def custom_resource_function(
    title: str,
    cfg: Scope,
    module: Module,
    label: str,
    purpose: str,
    role: iam.Role,
    log_group: logs.LogGroup,
    timeout: int,
) -> awslambda.Function:
    """The Lambda function behind one of our custom resources: its source is builders/functions/<label>.py,
    inlined (ZipFile), so the stacks deploy with nothing uploaded first."""
    source = resources.files("builders.functions").joinpath(f"{label.replace('-', '_')}.py").read_text("utf-8")
    return skip(
        awslambda.Function(
            title,
            Description=f"CloudFormation custom resource: {purpose}",
            Runtime="python3.12",
            Architectures=["arm64"],
            Handler="index.handler",
            Code=awslambda.Code(ZipFile=source),
            Role=GetAtt(role, "Arn"),
            Timeout=timeout,
            MemorySize=128,
            LoggingConfig=awslambda.LoggingConfig(LogGroup=Ref(log_group)),
            Tags=tags(cfg, module, name(cfg, label)),
        ),
        (
            "CKV_AWS_116",
            "CloudFormation is the only caller and gets every outcome in the custom-resource response; "
            "a lost invocation fails the stack operation after ServiceTimeout, so a queue would hold nothing",
        ),
        (
            "CKV_AWS_117",
            "It talks only to AWS APIs and CloudFormation's response URL, never into the VPC; "
            "inside it, it would need a security group the seed's table does not have",
        ),
        (
            "CKV_AWS_115",
            "Invoked once per stack operation; reserved concurrency is taken from the account's unreserved "
            "pool and fails to deploy in accounts at the minimum",
        ),
    )
