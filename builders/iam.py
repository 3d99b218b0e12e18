"""Every IAM policy document of the project, written with awacs.

Policy documents live here, not in the builders, so a reviewer reads all of
the project's permissions in one file, and actions are names
(`logs.PutLogEvents`) that a typo cannot silently turn into a no-op. Builders
pass in the troposphere objects the policies are about; this module returns
awacs documents and never adds resources to a template.
"""

from __future__ import annotations

from awacs import kms, logs, s3, sts
from awacs.aws import (
    Allow,
    ArnLike,
    Bool,
    Condition,
    Deny,
    Policy,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
)
from troposphere import AWS_ACCOUNT_ID, GetAtt, Join, Ref, Sub
from troposphere.s3 import Bucket

VERSION = "2012-10-17"


def _source_account() -> StringEquals:
    """Confused-deputy guard: the calling service acts for this account only."""
    return StringEquals("aws:SourceAccount", Ref(AWS_ACCOUNT_ID))


def service_trust(service: str, source_arn: Sub | None = None) -> Policy:
    """A role trust policy for one AWS service principal, limited to this account (and source ARN)."""
    conditions = [_source_account()]
    if source_arn is not None:
        conditions.append(ArnLike("aws:SourceArn", source_arn))
    return Policy(
        Version=VERSION,
        Statement=[
            Statement(
                Effect=Allow,
                Principal=Principal("Service", [service]),
                Action=[sts.AssumeRole],
                Condition=Condition(conditions),
            )
        ],
    )


def flow_logs_trust() -> Policy:
    """VPC Flow Logs may assume the delivery role, only for flow logs of this account and region."""
    return service_trust(
        "vpc-flow-logs.amazonaws.com",
        Sub("arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:vpc-flow-log/*"),
    )


def flow_logs_delivery(log_group_arn: GetAtt) -> PolicyDocument:
    """Write flow-log records into one log group (its Arn attribute already ends in ':*')."""
    return PolicyDocument(
        Version=VERSION,
        Statement=[
            Statement(
                Sid="DeliverToTheFlowLogGroup",
                Effect=Allow,
                Action=[logs.CreateLogStream, logs.PutLogEvents, logs.DescribeLogStreams],
                Resource=[log_group_arn],
            )
        ],
    )


def _bucket_and_objects(bucket: Bucket) -> list[GetAtt | Join]:
    return [GetAtt(bucket, "Arn"), Join("", [GetAtt(bucket, "Arn"), "/*"])]


def deny_insecure_transport(bucket: Bucket) -> Statement:
    """Refuse every request to the bucket that does not use TLS."""
    return Statement(
        Sid="DenyInsecureTransport",
        Effect=Deny,
        Principal=Principal("*"),
        Action=[s3.Action("*")],
        Resource=_bucket_and_objects(bucket),
        Condition=Condition(Bool("aws:SecureTransport", "false")),
    )


def tls_only_bucket_policy(bucket: Bucket) -> PolicyDocument:
    """The data lake's policy: TLS only. Access itself is granted to roles, never by the bucket."""
    return PolicyDocument(Version=VERSION, Statement=[deny_insecure_transport(bucket)])


def access_log_bucket_policy(log_bucket: Bucket, source_bucket: Bucket, prefix: str) -> PolicyDocument:
    """TLS only, and the S3 logging service may write the source bucket's logs under `prefix`.

    A bucket policy for the logging service principal is what AWS recommends
    over the old log-delivery ACL, and works with ACLs disabled.
    """
    return PolicyDocument(
        Version=VERSION,
        Statement=[
            deny_insecure_transport(log_bucket),
            Statement(
                Sid="AllowServerAccessLogDelivery",
                Effect=Allow,
                Principal=Principal("Service", ["logging.s3.amazonaws.com"]),
                Action=[s3.PutObject],
                Resource=[Join("", [GetAtt(log_bucket, "Arn"), f"/{prefix}*"])],
                Condition=Condition([ArnLike("aws:SourceArn", GetAtt(source_bucket, "Arn")), _source_account()]),
            ),
        ],
    )


def data_lake_key_policy() -> PolicyDocument:
    """The data-lake key's policy: the account administers and grants use of the key through IAM.

    This is AWS's default key policy. It delegates to IAM on purpose: the
    task roles of the compute stack get kms:Decrypt on this key in their own
    policies, so the key policy does not need to know about them.
    `Resource: *` in a key policy means "this key".
    """
    return PolicyDocument(
        Version=VERSION,
        Statement=[
            Statement(
                Sid="EnableIamPoliciesOfThisAccount",
                Effect=Allow,
                Principal=Principal("AWS", [Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")]),
                Action=[kms.Action("*")],
                Resource=["*"],
            )
        ],
    )
