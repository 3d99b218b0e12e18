"""Every IAM policy document of the project, written with awacs.

Policy documents live here, not in the builders, so a reviewer reads all of
the project's permissions in one file, and actions are names
(`logs.PutLogEvents`) that a typo cannot silently turn into a no-op. Builders
pass in the troposphere objects the policies are about; this module returns
awacs documents and never adds resources to a template.
"""

from __future__ import annotations

from types import ModuleType

from awacs import (
    bedrock,
    cloudformation,
    cloudwatch,
    ec2,
    ecr,
    iam,
    kms,
    logs,
    rds_data,
    rds_db,
    s3,
    secretsmanager,
    sns,
    ssm,
    sts,
)
from awacs.aws import (
    Action,
    Allow,
    ArnEquals,
    ArnLike,
    Bool,
    Condition,
    Deny,
    Policy,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
    StringLike,
)
from troposphere import AWS_ACCOUNT_ID, AWSHelperFn, GetAtt, Join, Ref, Sub
from troposphere.s3 import Bucket

from builders import dbnames
from builders.regions import profile_model

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


def ecs_tasks_trust() -> Policy:
    """ECS may give the role to tasks of this account and region only."""
    return service_trust("ecs-tasks.amazonaws.com", Sub("arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:*"))


def lambda_trust() -> Policy:
    """Lambda may give the role to functions of this account only."""
    return service_trust("lambda.amazonaws.com")


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


def access_log_bucket_policy(
    log_bucket: Bucket, source_bucket: Bucket, prefix: str, alb_prefix: str, elb_principal: Principal
) -> PolicyDocument:
    """TLS only; the S3 logging service may write the source bucket's logs under `prefix`, and Elastic Load
    Balancing this account's ALB logs under `alb_prefix`.

    A bucket policy for the logging service principal is what AWS recommends
    over the old log-delivery ACL, and works with ACLs disabled. ELB writes as
    the principal `elb_log_delivery` names for the region.
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
            Statement(
                Sid="AllowLoadBalancerAccessLogDelivery",
                Effect=Allow,
                Principal=elb_principal,
                Action=[s3.PutObject],
                # ELB writes <prefix>/AWSLogs/<account>/...: only this account's load balancers' logs.
                Resource=[Join("", [GetAtt(log_bucket, "Arn"), f"/{alb_prefix}/AWSLogs/", Ref(AWS_ACCOUNT_ID), "/*"])],
            ),
        ],
    )


def elb_log_delivery(elb_account: str | None) -> Principal:
    """Who delivers ALB access logs in a region: its Elastic Load Balancing account, or in regions opened
    since August 2022 (which have none) the log-delivery service principal."""
    if elb_account is None:
        return Principal("Service", ["logdelivery.elasticloadbalancing.amazonaws.com"])
    return Principal("AWS", [Sub(f"arn:${{AWS::Partition}}:iam::{elb_account}:root")])


# The services that publish to an environment's alarm topic (builders/monitoring.py).
TOPIC_PUBLISHERS = ("cloudwatch.amazonaws.com", "events.amazonaws.com")


def alarm_topic_policy(topic_arn: AWSHelperFn) -> PolicyDocument:
    """Who may publish to the alarm topic: CloudWatch alarms and EventBridge rules of this account, nobody else."""
    return PolicyDocument(
        Version=VERSION,
        Statement=[
            Statement(
                Sid="AlarmsAndEventsOfThisAccountPublish",
                Effect=Allow,
                Principal=Principal("Service", list(TOPIC_PUBLISHERS)),
                Action=[sns.Publish],
                Resource=[topic_arn],
                Condition=Condition(StringEquals("aws:SourceAccount", Ref("AWS::AccountId"))),
            )
        ],
    )


def environment_key_policy() -> PolicyDocument:
    """The environment key's policy: the account administers and grants use of the key through IAM.

    The first statement is AWS's default key policy. It delegates to IAM on
    purpose: the roles of the compute and database stacks get kms:Decrypt on
    this key in their own policies (only via S3 or Secrets Manager), so the
    key policy does not need to know about them. The second lets CloudWatch
    Logs encrypt this account's log groups with the key (the app's and the
    pgvector function's), which no IAM policy can grant to a service. The
    third denies grants except those an AWS service makes for a resource.
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
            ),
            Statement(
                Sid="CloudWatchLogsEncryptsThisAccountsLogGroups",
                Effect=Allow,
                Principal=Principal("Service", [Sub("logs.${AWS::Region}.amazonaws.com")]),
                Action=[
                    kms.Encrypt,
                    kms.Decrypt,
                    kms.ReEncryptFrom,
                    kms.ReEncryptTo,
                    kms.GenerateDataKey,
                    kms.GenerateDataKeyWithoutPlaintext,
                ],
                Resource=["*"],
                # CloudWatch Logs names the log group in the encryption context: log groups of this account only.
                # (A string-typed key, hence StringLike; kms:DescribeKey is left out, as it carries no context.)
                Condition=Condition(
                    StringLike(
                        "kms:EncryptionContext:aws:logs:arn",
                        Sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"),
                    )
                ),
            ),
            Statement(
                # The alarm topic is encrypted with this key: CloudWatch (alarms) and EventBridge (ECS deployment
                # failures) publish to it, and SNS asks the key on their behalf, with their own principal.
                Sid="AlarmsAndEventsPublishToTheEncryptedAlarmTopic",
                Effect=Allow,
                Principal=Principal("Service", list(TOPIC_PUBLISHERS)),
                Action=[kms.Decrypt, kms.GenerateDataKey],
                Resource=["*"],
                Condition=Condition(StringEquals("aws:SourceAccount", Ref("AWS::AccountId"))),
            ),
            Statement(
                # A grant hands the key's use to any principal, outside IAM: only AWS services may get one, for
                # a resource they hold (Aurora, S3, Secrets Manager do), so a role with kms:* cannot grant itself
                # or another account lasting access.
                Sid="GrantsOnlyForAwsResources",
                Effect=Deny,
                Principal=Principal("AWS", ["*"]),
                Action=[kms.CreateGrant],
                Resource=["*"],
                Condition=Condition(Bool("kms:GrantIsForAWSResource", "false")),
            ),
        ],
    )


# --- statements shared by the roles below -------------------------------------------------


def write_logs(log_group_arns: list[AWSHelperFn]) -> Statement:
    """Write to the given log groups only (a LogGroup's Arn attribute already ends in ':*')."""
    return Statement(
        Sid="WriteOwnLogs", Effect=Allow, Action=[logs.CreateLogStream, logs.PutLogEvents], Resource=log_group_arns
    )


def read_secret(secret_arn: AWSHelperFn) -> Statement:
    return Statement(
        Sid="ReadTheDatabaseSecret", Effect=Allow, Action=[secretsmanager.GetSecretValue], Resource=[secret_arn]
    )


def decrypt_via(key_arn: AWSHelperFn, service: str, sid: str) -> Statement:
    """kms:Decrypt with the environment's key, and only when `service` asks on the caller's behalf."""
    return Statement(
        Sid=sid,
        Effect=Allow,
        Action=[kms.Decrypt],
        Resource=[key_arn],
        Condition=Condition(StringEquals("kms:ViaService", Sub(f"{service}.${{AWS::Region}}.amazonaws.com"))),
    )


def _document(*statements: Statement | None) -> PolicyDocument:
    return PolicyDocument(Version=VERSION, Statement=[s for s in statements if s is not None])


# --- the roles' policies ---------------------------------------------------------------------


def repository_arn(repository: str) -> Sub:
    return Sub(f"arn:${{AWS::Partition}}:ecr:${{AWS::Region}}:${{AWS::AccountId}}:repository/{repository}")


def task_execution(repositories: list[str], log_group_arns: list[AWSHelperFn]) -> PolicyDocument:
    """What ECS needs to start the app's tasks: pull their images and ship their logs. No secret: the API logs in
    to the database with IAM tokens (its task role), so the master secret is never injected into a task."""
    return _document(
        Statement(
            Sid="PullTheAppImages",
            Effect=Allow,
            Action=[ecr.BatchCheckLayerAvailability, ecr.GetDownloadUrlForLayer, ecr.BatchGetImage],
            Resource=[repository_arn(r) for r in repositories],
        ),
        Statement(
            Sid="LogInToEcr",
            Effect=Allow,
            Action=[ecr.GetAuthorizationToken],
            # ecr:GetAuthorizationToken does not support resource-level permissions: "*" is the only valid resource.
            Resource=["*"],
        ),
        write_logs(log_group_arns),
    )


def db_user_arn(cluster_resource_id: AWSHelperFn, user: str) -> Sub:
    """A database user as IAM database authentication names it: by the cluster's resource id, not its name."""
    return Sub(
        f"arn:${{AWS::Partition}}:rds-db:${{AWS::Region}}:${{AWS::AccountId}}:dbuser:${{ClusterResourceId}}/{user}",
        ClusterResourceId=cluster_resource_id,
    )


def api_task(
    bucket_arn: AWSHelperFn,
    key_arn: AWSHelperFn | None,
    models: tuple[str, ...],
    cluster_resource_id: AWSHelperFn,
    db_users: tuple[str, ...],
) -> PolicyDocument:
    """What the API's code may do: read the data lake, invoke the named Bedrock models, and log in to the database
    as exactly its two roles (IAM tokens: a token lasts 15 minutes and no password rotates under the task)."""
    return _document(
        Statement(
            Sid="LogInToTheDatabaseAsTheAppsRoles",
            Effect=Allow,
            Action=[rds_db.connect],
            Resource=[db_user_arn(cluster_resource_id, user) for user in db_users],
        ),
        Statement(Sid="ListTheDataLake", Effect=Allow, Action=[s3.ListBucket], Resource=[bucket_arn]),
        Statement(Sid="ReadTheDataLake", Effect=Allow, Action=[s3.GetObject], Resource=[Join("", [bucket_arn, "/*"])]),
        decrypt_via(key_arn, "s3", "DecryptTheDataLake") if key_arn is not None else None,
        *_invoke(models),
    )


INVOKE = [bedrock.InvokeModel, bedrock.InvokeModelWithResponseStream]


def _invoke(models: tuple[str, ...]) -> list[Statement]:
    """Invoking the named models: a foundation model directly in this region; through an inference profile, the
    profile (in this account and region) and its model in whichever region the profile routes the call to, but
    only when the call comes through that profile (bedrock:InferenceProfileArn), as Bedrock's documentation asks."""
    direct = [m for m in models if profile_model(m) is None]
    profiles = [m for m in models if profile_model(m) is not None]
    statements = []
    if direct:
        statements.append(Statement(
            Sid="InvokeTheNamedModels", Effect=Allow, Action=INVOKE,
            Resource=[Sub(f"arn:${{AWS::Partition}}:bedrock:${{AWS::Region}}::foundation-model/{m}") for m in direct],
        ))  # fmt: skip
    if profiles:
        arns = [Sub(f"arn:${{AWS::Partition}}:bedrock:${{AWS::Region}}:${{AWS::AccountId}}:inference-profile/{m}")
                for m in profiles]  # fmt: skip
        statements.append(Statement(Sid="InvokeTheNamedInferenceProfiles", Effect=Allow, Action=INVOKE, Resource=arns))
        statements.append(Statement(
            Sid="InvokeTheirModelsOnlyThroughThem", Effect=Allow, Action=INVOKE,
            Resource=[Sub(f"arn:${{AWS::Partition}}:bedrock:*::foundation-model/{profile_model(m)}") for m in profiles],
            Condition=Condition(ArnEquals("bedrock:InferenceProfileArn", arns)),
        ))  # fmt: skip
    return statements


def default_security_group_function(group_arn: AWSHelperFn, log_group_arn: AWSHelperFn) -> PolicyDocument:
    """The function that empties the VPC's default security group: read it, revoke its rules, write its log."""
    return _document(
        Statement(
            Sid="RevokeTheDefaultGroupsRules",
            Effect=Allow,
            Action=[ec2.RevokeSecurityGroupIngress, ec2.RevokeSecurityGroupEgress],
            Resource=[group_arn],
        ),
        # ec2:DescribeSecurityGroups supports no resource-level permissions: "*" is the only valid resource.
        Statement(Sid="ReadTheDefaultGroup", Effect=Allow, Action=[ec2.DescribeSecurityGroups], Resource=["*"]),
        write_logs([log_group_arn]),
    )


def pgvector_function(
    cluster_arn: AWSHelperFn, secret_arn: AWSHelperFn, key_arn: AWSHelperFn | None, log_group_arn: AWSHelperFn
) -> PolicyDocument:
    """The pgvector custom resource: one SQL statement through the Data API, as the master user."""
    return _document(
        Statement(
            Sid="RunSqlThroughTheDataApi", Effect=Allow, Action=[rds_data.ExecuteStatement], Resource=[cluster_arn]
        ),
        read_secret(secret_arn),
        decrypt_via(key_arn, "secretsmanager", "DecryptTheDatabaseSecret") if key_arn is not None else None,
        write_logs([log_group_arn]),
    )


def rds_monitoring_trust() -> Policy:
    """RDS Enhanced Monitoring may assume the role, for this account's instances only."""
    return service_trust("monitoring.rds.amazonaws.com")


def rds_enhanced_monitoring() -> PolicyDocument:
    """Enhanced Monitoring's OS metrics into the RDSOSMetrics log group of this account and region.

    AWS's managed AmazonRDSEnhancedMonitoringRole grants the same actions on
    every `RDS*` log group of every region; this is that, narrowed.
    """
    group = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:RDSOSMetrics"
    return _document(
        Statement(
            Sid="MakeTheMetricsLogGroup",
            Effect=Allow,
            Action=[logs.CreateLogGroup, logs.PutRetentionPolicy],
            Resource=[Sub(group)],
        ),
        Statement(
            Sid="WriteTheMetrics",
            Effect=Allow,
            Action=[logs.CreateLogStream, logs.PutLogEvents, logs.DescribeLogStreams, logs.GetLogEvents],
            Resource=[Sub(group + ":log-stream:*")],
        ),
    )


def stack_policy(protected_types: list[str]) -> Policy:
    """A CloudFormation stack policy: any update, but no Replace or Delete of the protected resource types.

    Set on the root and on every nested stack of a production environment; a
    change set that would replace one of them then fails instead of doing it.
    """
    return Policy(
        Statement=[
            Statement(Effect=Allow, Principal=Principal("*"), Action=[Action("Update", "*")], Resource=["*"]),
            Statement(
                Effect=Deny,
                Principal=Principal("*"),
                Action=[Action("Update", "Replace"), Action("Update", "Delete")],
                Resource=["*"],
                Condition=Condition(StringEquals("ResourceType", protected_types)),
            ),
        ]
    )


# --- GitHub Actions deploys (templates/github-oidc.yaml) --------------------------------------

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"


def github_trust(provider_arn: AWSHelperFn, subjects: list[AWSHelperFn]) -> Policy:
    """GitHub's OIDC tokens for this repository only, and only for exactly the given `sub` claims (events,
    environments)."""
    return Policy(
        Version=VERSION,
        Statement=[
            Statement(
                Effect=Allow,
                Principal=Principal("Federated", provider_arn),
                Action=[sts.AssumeRoleWithWebIdentity],
                # One operator, both keys: two StringEquals would be one JSON key, and the first would be lost.
                Condition=Condition(
                    StringEquals({f"{GITHUB_OIDC_HOST}:aud": "sts.amazonaws.com", f"{GITHUB_OIDC_HOST}:sub": subjects})
                ),
            )
        ],
    )


def _stack_arns(prefix: str) -> list[Sub]:
    return [Sub(f"arn:${{AWS::Partition}}:cloudformation:${{AWS::Region}}:${{AWS::AccountId}}:stack/{prefix}-*/*")]


def github_plan(prefix: str, artifacts_bucket: AWSHelperFn, execution_role_arn: AWSHelperFn) -> PolicyDocument:
    """A pull request's plan (and --drift): upload the templates, make, read and delete change sets of this
    project's stacks; detect their drift, reading what drift detection compares.

    It changes nothing deployed: it cannot execute a change set, and it cannot pass the execution role, so a
    plan's change set is made without --role-arn (CloudFormation then uses the role the stack already has; a
    planned CREATE is for review only). Its only writes are change sets and the uploaded templates
    (tests/test_boundary.py holds it to that with the IAM reference's access levels).
    """
    del execution_role_arn  # the plan never hands it to CloudFormation
    return _document(*_plan_statements(prefix, artifacts_bucket, (PLAN_AREA,)))


def github_deploy(prefix: str, artifacts_bucket: AWSHelperFn, execution_role_arn: AWSHelperFn) -> PolicyDocument:
    """A deploy: what a plan may do, and execute the change set; resources are made by the execution role."""
    return _document(
        *_plan_statements(prefix, artifacts_bucket, (DEPLOY_AREA, PLAN_AREA)),
        Statement(
            Sid="HandTheExecutionRoleToCloudFormation",
            Effect=Allow,
            Action=[iam.PassRole],
            Resource=[execution_role_arn],
            Condition=Condition(StringEquals("iam:PassedToService", "cloudformation.amazonaws.com")),
        ),
        Statement(
            Sid="ExecuteAndProtect",
            Effect=Allow,
            Action=[
                cloudformation.ExecuteChangeSet,
                cloudformation.UpdateTerminationProtection,
                cloudformation.SetStackPolicy,
                cloudformation.ContinueUpdateRollback,
            ],
            Resource=_stack_arns(prefix),
        ),
    )


# What CloudFormation's drift detection reads, and with whose rights: "CloudFormation uses the permissions of the
# user to read resources", so `--drift` (README "Drift") of an environment's stacks needs, besides the drift
# actions, the reads of every resource it compares. These are the List and Read actions (the IAM reference's access
# levels) that the read handler of each resource type the environments' stacks use calls (its registry schema, as
# cfn-lint ships it), in the services the stacks use; tests/test_github.py holds the list to the handlers both ways.
# Decision: this list, not the AWS managed ReadOnlyAccess (it reads data too, s3:GetObject on every bucket, the data
# lake's included, and the plan role is every pull request's) nor SecurityAudit (it lacks some of these reads, and
# AWS changes it as it pleases).
DRIFT_READS: dict[str, tuple[str, ...]] = {
    "acm": ("DescribeCertificate", "ListTagsForCertificate"),
    "application-autoscaling": ("DescribeScalableTargets", "DescribeScalingPolicies", "DescribeScheduledActions",
                                "ListTagsForResource"),
    "cloudwatch": ("DescribeAlarms", "GetDashboard", "ListTagsForResource"),
    "ec2": ("DescribeAccountAttributes", "DescribeAddresses", "DescribeAvailabilityZones", "DescribeFlowLogs",
            "DescribeInternetGateways", "DescribeNatGateways", "DescribeNetworkAcls", "DescribeRouteTables",
            "DescribeSecurityGroupRules", "DescribeSecurityGroups", "DescribeSubnets",
            "DescribeVerifiedAccessInstanceWebAclAssociations", "DescribeVpcAttribute", "DescribeVpcEncryptionControls",
            "DescribeVpcEndpoints", "DescribeVpcs", "DescribeVpnGateways", "GetVerifiedAccessInstanceWebAcl"),
    "ecs": ("DescribeClusters", "DescribeServices", "DescribeTaskDefinition"),
    "elasticloadbalancing": ("DescribeCapacityReservation", "DescribeListenerAttributes", "DescribeListeners",
                             "DescribeLoadBalancerAttributes", "DescribeLoadBalancers", "DescribeRules",
                             "DescribeTags", "DescribeTargetGroupAttributes", "DescribeTargetGroups",
                             "DescribeTargetHealth", "GetLoadBalancerWebACL"),
    "events": ("DescribeRule", "ListTagsForResource", "ListTargetsByRule"),
    "kms": ("DescribeKey", "GetKeyPolicy", "GetKeyRotationStatus", "ListAliases", "ListResourceTags"),
    "lambda": ("GetFunction", "GetFunctionCodeSigningConfig", "GetFunctionRecursionConfig", "GetFunctionScalingConfig",
               "GetRuntimeManagementConfig"),
    "logs": ("DescribeIndexPolicies", "DescribeLogGroups", "DescribeQueryDefinitions", "DescribeResourcePolicies",
             "GetDataProtectionPolicy", "ListTagsForResource"),
    "rds": ("DescribeDBClusterParameterGroups", "DescribeDBClusterParameters", "DescribeDBClusters",
            "DescribeDBInstances", "DescribeDBSubnetGroups", "ListTagsForResource"),
    "route53": ("GetHostedZone", "ListHostedZones", "ListResourceRecordSets"),
    "servicediscovery": ("GetNamespace", "ListTagsForResource"),
    "sns": ("GetDataProtectionPolicy", "GetTopicAttributes", "ListSubscriptionsByTopic", "ListTagsForResource"),
    "wafv2": ("GetLoggingConfiguration", "GetWebACL", "GetWebACLForResource", "ListTagsForResource"),
    # Scoped below to the project's buckets and roles; the rest mostly have no resource-level permissions.
    "s3": ("GetAccelerateConfiguration", "GetAnalyticsConfiguration", "GetBucketAbac", "GetBucketCORS",
           "GetBucketLogging", "GetBucketMetadataTableConfiguration", "GetBucketNotification",
           "GetBucketObjectLockConfiguration", "GetBucketOwnershipControls", "GetBucketPolicy",
           "GetBucketPublicAccessBlock", "GetBucketTagging", "GetBucketVersioning", "GetBucketWebsite",
           "GetEncryptionConfiguration", "GetIntelligentTieringConfiguration", "GetInventoryConfiguration",
           "GetLifecycleConfiguration", "GetMetricsConfiguration", "GetReplicationConfiguration", "ListBucket",
           "ListTagsForResource"),
    "iam": ("GetRole", "GetRolePolicy", "ListAttachedRolePolicies", "ListRolePolicies"),
}  # fmt: skip


def awacs_module(service: str) -> ModuleType:
    """awacs's module of an IAM service prefix (`lambda` is a keyword: awacs names it `awslambda`)."""
    import importlib

    return importlib.import_module("awacs." + {"lambda": "awslambda"}.get(service, service.replace("-", "_")))


def _drift_statements(prefix: str) -> list[Statement]:
    """`--drift`: start and read detections of this project's stacks, and read what they compare (DRIFT_READS)."""

    def reads(*services: str) -> list[Action]:
        # awacs's own names, so a misspelt action fails the build instead of granting nothing
        return [getattr(awacs_module(service), name) for service in services for name in DRIFT_READS[service]]

    elsewhere = sorted(set(DRIFT_READS) - {"s3", "iam"})
    return [
        Statement(
            Sid="DetectDriftOfThisProjectsStacks",
            Effect=Allow,
            Action=[
                cloudformation.DetectStackDrift,
                cloudformation.DetectStackResourceDrift,
                cloudformation.DescribeStackResourceDrifts,
                cloudformation.ListStackResources,
            ],
            Resource=_stack_arns(prefix),
        ),
        # IAM offers no resource for it: a detection is named by its id alone.
        Statement(
            Sid="ReadDriftDetections",
            Effect=Allow,
            Action=[cloudformation.DescribeStackDriftDetectionStatus],
            Resource=["*"],
        ),
        Statement(
            Sid="ReadWhatDriftDetectionCompares",
            Effect=Allow,
            Action=reads(*elsewhere),
            Resource=["*"],
            Condition=Condition(StringEquals("aws:RequestedRegion", Ref("AWS::Region"))),
        ),
        Statement(
            Sid="ReadThisProjectsBucketsForDrift",
            Effect=Allow,
            Action=reads("s3"),
            Resource=[Sub(f"arn:${{AWS::Partition}}:s3:::{prefix}-*")],
        ),
        Statement(
            Sid="ReadThisProjectsRolesForDrift",
            Effect=Allow,
            Action=reads("iam"),
            Resource=[Sub(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/{prefix}-*")],
        ),
    ]


# The parts of the artifacts bucket deploys and plans upload templates to (builders/deploy/upload.py DEPLOYS and
# PLANS; tests/test_github.py holds the two together): apart, so a plan cannot plant what a deploy would reuse.
DEPLOY_AREA, PLAN_AREA = "templates", "plans"


def _plan_statements(prefix: str, artifacts_bucket: AWSHelperFn, areas: tuple[str, ...]) -> list[Statement]:
    """What a plan and a deploy both do; `areas` are the parts of the artifacts bucket the role writes to."""
    bucket_arn = Sub("arn:${AWS::Partition}:s3:::${Bucket}", Bucket=artifacts_bucket)
    objects_arn = [Sub(f"arn:${{AWS::Partition}}:s3:::${{Bucket}}/{area}/*", Bucket=artifacts_bucket) for area in areas]
    return [
        Statement(
            Sid="ChangeSetsOfThisProjectsStacks",
            Effect=Allow,
            Action=[
                cloudformation.CreateChangeSet,
                cloudformation.DescribeChangeSet,
                cloudformation.DeleteChangeSet,
                cloudformation.ListChangeSets,
                cloudformation.DescribeStacks,
                cloudformation.DescribeStackEvents,
                cloudformation.DescribeStackResources,
                cloudformation.GetTemplate,
            ],
            Resource=_stack_arns(prefix),
        ),
        Statement(
            # A bootstrap that StackSets made (build.py --stacksets) is the stack StackSet-nlsql-bootstrap-<id>,
            # found by listing; ListStacks has no resource-level permissions.
            Sid="FindTheBootstrapStackSetInstance",
            Effect=Allow,
            Action=[cloudformation.ListStacks],
            Resource=["*"],
        ),
        Statement(
            Sid="ReadTheBootstrapStackSetInstance",
            Effect=Allow,
            Action=[cloudformation.DescribeStacks, cloudformation.GetTemplate],
            Resource=[
                Sub(
                    f"arn:${{AWS::Partition}}:cloudformation:${{AWS::Region}}:${{AWS::AccountId}}:stack/"
                    f"StackSet-{prefix}-bootstrap-*/*"
                )
            ],
        ),
        Statement(Sid="ListTheArtifacts", Effect=Allow, Action=[s3.ListBucket], Resource=[bucket_arn]),
        Statement(
            # The rollback triggers a deploy names, and --status's alarms in ALARM.
            Sid="ReadThisProjectsAlarms",
            Effect=Allow,
            Action=[cloudwatch.DescribeAlarms],
            Resource=[Sub(f"arn:${{AWS::Partition}}:cloudwatch:${{AWS::Region}}:${{AWS::AccountId}}:alarm:{prefix}-*")],
        ),
        Statement(Sid="UploadTemplates", Effect=Allow, Action=[s3.GetObject, s3.PutObject], Resource=objects_arn),
        Statement(
            Sid="ReadTheParametersTheStacksName",
            Effect=Allow,
            Action=[ssm.GetParameters],
            Resource=[Sub(f"arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter/{prefix}/*")],
        ),
        *_drift_statements(prefix),
    ]


# --- the permissions boundary of every role the stacks make --------------------------------------


def boundary_name(prefix: str) -> Sub:
    """The boundary policy's name: fixed, so every template can name it, and with the region, because IAM names
    are global to the account while the bootstrap stack that holds it is one per region."""
    return Sub(f"{prefix}-permissions-boundary-${{AWS::Region}}")


_POLICY_ARN = "arn:${AWS::Partition}:iam::${AWS::AccountId}:policy/"


def boundary_arn(prefix: str) -> Sub:
    """The ARN the app stacks' roles carry as their PermissionsBoundary, and the execution role insists on."""
    return Sub(f"{_POLICY_ARN}{prefix}-permissions-boundary-${{AWS::Region}}")


def _any_boundary_arn(prefix: str) -> Sub:
    """The boundary of every region of the account: none of them may be changed by the execution role."""
    return Sub(f"{_POLICY_ARN}{prefix}-permissions-boundary-*")


def permissions_boundary(prefix: str) -> PolicyDocument:
    """The most any role of the app stacks may ever do: the union of what their policies grant, a little wider.

    A boundary grants nothing; it caps. A role that the execution role makes
    (and so a role that a changed template asks for) can do only what both its
    own policy and this allow. Every statement here is one the app's roles
    use (the task execution role, the API's task role, the pgvector and
    default-security-group functions, flow logs, Enhanced Monitoring), with
    the project's names in place of one environment's: tests/test_boundary.py
    fails when a role of a generated template asks for anything outside it,
    and when this holds an IAM, STS, Organizations or Account action. A role
    that needs more is a change to this document, which only an administrator
    deploys (README "Permissions boundary").
    """

    def arn(service: str, rest: str) -> Sub:
        return Sub(f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{rest}")

    log_groups = arn("logs", "log-group:*")
    return _document(
        Statement(
            Sid="PullTheAppImages",
            Effect=Allow,
            Action=[ecr.BatchCheckLayerAvailability, ecr.GetDownloadUrlForLayer, ecr.BatchGetImage],
            Resource=[repository_arn(f"{prefix}/*")],
        ),
        # ecr:GetAuthorizationToken and ec2:DescribeSecurityGroups take no resource: "*" is the only value.
        Statement(Sid="LogInToEcr", Effect=Allow, Action=[ecr.GetAuthorizationToken], Resource=["*"]),
        Statement(
            Sid="WriteLogs",
            Effect=Allow,
            Action=[logs.CreateLogStream, logs.PutLogEvents, logs.DescribeLogStreams, logs.GetLogEvents],
            Resource=[log_groups],
        ),
        Statement(
            Sid="MakeTheEnhancedMonitoringLogGroup",
            Effect=Allow,
            Action=[logs.CreateLogGroup, logs.PutRetentionPolicy],
            Resource=[arn("logs", "log-group:RDSOSMetrics")],
        ),
        Statement(
            Sid="ReadTheDatabaseSecrets",
            Effect=Allow,
            Action=[secretsmanager.GetSecretValue],
            Resource=[arn("secretsmanager", "secret:rds!*")],
        ),
        Statement(
            Sid="DecryptOnlyThroughS3AndSecretsManager",
            Effect=Allow,
            Action=[kms.Decrypt],
            Resource=[arn("kms", "key/*")],
            Condition=Condition(
                StringEquals(
                    "kms:ViaService",
                    [Sub("s3.${AWS::Region}.amazonaws.com"), Sub("secretsmanager.${AWS::Region}.amazonaws.com")],
                )
            ),
        ),  # fmt: skip
        Statement(
            Sid="ListTheProjectsBuckets",
            Effect=Allow,
            Action=[s3.ListBucket],
            Resource=[Sub(f"arn:${{AWS::Partition}}:s3:::{prefix}-*")],
        ),
        Statement(
            Sid="ReadTheProjectsObjects",
            Effect=Allow,
            Action=[s3.GetObject],
            Resource=[Sub(f"arn:${{AWS::Partition}}:s3:::{prefix}-*/*")],
        ),
        Statement(
            Sid="InvokeBedrockModels",
            Effect=Allow,
            Action=INVOKE,
            Resource=[
                Sub("arn:${AWS::Partition}:bedrock:*::foundation-model/*"),
                arn("bedrock", "inference-profile/*"),
            ],
        ),
        Statement(
            Sid="RunSqlThroughTheDataApi",
            Effect=Allow,
            Action=[rds_data.ExecuteStatement],
            Resource=[arn("rds", "cluster:*")],
        ),
        Statement(
            Sid="LogInToAuroraAsTheAppsDatabaseUsers",
            Effect=Allow,
            Action=[rds_db.connect],
            Resource=[arn("rds-db", f"dbuser:cluster-*/{dbnames.APP_USER_PREFIX}*")],
        ),
        Statement(
            Sid="EmptyTheDefaultSecurityGroup",
            Effect=Allow,
            Action=[ec2.RevokeSecurityGroupIngress, ec2.RevokeSecurityGroupEgress],
            Resource=[arn("ec2", "security-group/*")],
        ),
        Statement(Sid="ReadSecurityGroups", Effect=Allow, Action=[ec2.DescribeSecurityGroups], Resource=["*"]),
    )


# --- the CloudFormation execution role ------------------------------------------------------

# Services whose resources have names or tags of this project, so the execution role gets them only there.
SCOPED_SERVICES = ("kms", "secretsmanager", "s3")
# What CloudFormation does to a key (AWS::KMS::Key) and, with the deployer's rights, for the resources it encrypts.
KEY_ACTIONS = [
    kms.DescribeKey, kms.EnableKeyRotation, kms.DisableKeyRotation, kms.GetKeyRotationStatus, kms.GetKeyPolicy,
    kms.PutKeyPolicy, kms.ScheduleKeyDeletion, kms.CancelKeyDeletion, kms.EnableKey, kms.DisableKey,
    kms.UpdateKeyDescription, kms.TagResource, kms.UntagResource, kms.ListResourceTags, kms.CreateGrant,
    kms.ListGrants, kms.RetireGrant, kms.Decrypt, kms.Encrypt, kms.GenerateDataKey, kms.GenerateDataKeyWithoutPlaintext,
    kms.ReEncryptFrom, kms.ReEncryptTo,
]  # fmt: skip
# What RDS does with the deployer's rights for a managed master password (ManageMasterUserPassword).
RDS_SECRET_ACTIONS = [
    secretsmanager.CreateSecret, secretsmanager.DeleteSecret, secretsmanager.DescribeSecret,
    secretsmanager.RotateSecret, secretsmanager.UpdateSecret, secretsmanager.PutSecretValue,
    secretsmanager.TagResource, secretsmanager.UntagResource,
]  # fmt: skip
# What CloudFormation's AWS::S3::Bucket and AWS::S3::BucketPolicy handlers call on a bucket (their registry
# schemas' handler permissions, less the names that are API operations rather than IAM actions, S3 Tables and the
# replication role's PassRole): tests/test_boundary.py compares this with the schemas cfn-lint ships.
S3_BUCKET_ACTIONS = [
    s3.CreateBucket, s3.DeleteBucket, s3.ListBucket, s3.GetBucketAcl, s3.PutBucketAcl,
    s3.GetBucketPolicy, s3.PutBucketPolicy, s3.DeleteBucketPolicy,
    s3.GetBucketTagging, s3.PutBucketTagging, s3.TagResource, s3.UntagResource, s3.ListTagsForResource,
    s3.GetBucketAbac, s3.PutBucketAbac,
    s3.GetEncryptionConfiguration, s3.PutEncryptionConfiguration,
    s3.GetBucketPublicAccessBlock, s3.PutBucketPublicAccessBlock,
    s3.GetBucketOwnershipControls, s3.PutBucketOwnershipControls,
    s3.GetBucketVersioning, s3.PutBucketVersioning,
    s3.GetLifecycleConfiguration, s3.PutLifecycleConfiguration,
    s3.GetIntelligentTieringConfiguration, s3.PutIntelligentTieringConfiguration,
    s3.GetBucketLogging, s3.PutBucketLogging,
    s3.GetBucketNotification, s3.PutBucketNotification,
    s3.GetBucketCORS, s3.PutBucketCORS,
    s3.GetBucketWebsite, s3.PutBucketWebsite, s3.DeleteBucketWebsite,
    s3.GetAccelerateConfiguration, s3.PutAccelerateConfiguration,
    s3.GetAnalyticsConfiguration, s3.PutAnalyticsConfiguration,
    s3.GetInventoryConfiguration, s3.PutInventoryConfiguration,
    s3.GetMetricsConfiguration, s3.PutMetricsConfiguration,
    s3.GetReplicationConfiguration, s3.PutReplicationConfiguration,
    s3.GetBucketObjectLockConfiguration, s3.PutBucketObjectLockConfiguration,
    s3.GetBucketMetadataTableConfiguration, s3.CreateBucketMetadataTableConfiguration,
    s3.DeleteBucketMetadataTableConfiguration, s3.UpdateBucketMetadataAnnotationTableConfiguration,
    s3.UpdateBucketMetadataInventoryTableConfiguration, s3.UpdateBucketMetadataJournalTableConfiguration,
]  # fmt: skip
# On the buckets' objects: what the handlers list (s3:DeleteObject, s3:PutObjectAcl), and reading the templates
# of nested stacks, which CloudFormation fetches from the artifacts bucket as this role.
S3_OBJECT_ACTIONS = [s3.GetObject, s3.DeleteObject, s3.PutObjectAcl]
# The services this project's roles are for (trust policies), the only ones the execution role may pass them to.
ROLE_SERVICES = (
    "ecs-tasks.amazonaws.com",
    "lambda.amazonaws.com",
    "vpc-flow-logs.amazonaws.com",
    "monitoring.rds.amazonaws.com",
)
# Role writes that grant or take away what a role may do. IAM evaluates iam:PermissionsBoundary on exactly these
# (the service authorization reference), so each is allowed only when the role has, or gets, the boundary.
# (AttachRolePolicy and DetachRolePolicy take the key too, but no role of the stacks has a managed policy.)
BOUNDED_ROLE_WRITES = [iam.CreateRole, iam.PutRolePolicy, iam.DeleteRolePolicy, iam.PutRolePermissionsBoundary]
# Role writes IAM offers no boundary condition for; none changes what a role may do, which its boundary caps.
UNBOUNDED_ROLE_WRITES = [
    iam.DeleteRole, iam.UpdateRole, iam.UpdateRoleDescription, iam.UpdateAssumeRolePolicy, iam.TagRole, iam.UntagRole,
]  # fmt: skip
ROLE_READS = [iam.GetRole, iam.GetRolePolicy, iam.ListRolePolicies, iam.ListAttachedRolePolicies, iam.ListRoleTags]
# Every way to change a managed policy: the boundary is an administrator's to change (the bootstrap stack).
POLICY_WRITES = [
    iam.CreatePolicy, iam.CreatePolicyVersion, iam.DeletePolicyVersion, iam.SetDefaultPolicyVersion,
    iam.DeletePolicy, iam.TagPolicy, iam.UntagPolicy,
]  # fmt: skip


def cloudformation_execution(prefix: str, services: list[str], own_roles: list[AWSHelperFn]) -> PolicyDocument:
    """What CloudFormation may do while deploying this project's stacks, and nothing it does not deploy.

    CloudFormation creates, updates and deletes every resource type the
    stacks hold, so it gets the services those types belong to (the list is
    checked against the generated templates by a test, so it cannot grow
    silently), in the deploy's region only. KMS, Secrets Manager and S3 are
    narrower: keys by their Project tag, the secrets RDS manages, the
    project's buckets (`<prefix>-*`) with the actions their handlers call.

    IAM is where a deploy could widen itself, so: it manages only
    `<prefix>-*` roles, creates them and writes their policies only with the
    project's permissions boundary (`iam:PermissionsBoundary`), never removes
    a boundary, never changes the boundary policy (an administrator's
    deploy of the bootstrap stack), never touches `own_roles` (the GitHub
    roles and itself), and passes roles only to the services they are for.
    """
    role_arn = Sub(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/{prefix}-*")
    region = Condition(StringEquals("aws:RequestedRegion", Ref("AWS::Region")))
    return _document(
        Statement(
            Sid="ManageTheStacksResourceTypes",
            Effect=Allow,
            Action=[Action(service, "*") for service in services if service not in SCOPED_SERVICES],
            # The services' resources do not exist before CloudFormation creates them; the region bounds it.
            Resource=["*"],
            Condition=region,
        ),
        Statement(
            Sid="CreateKeysTaggedForThisProject",
            Effect=Allow,
            Action=[kms.CreateKey, kms.TagResource],
            Resource=["*"],  # a key has no ARN before it exists: the tag it is created with bounds it
            Condition=Condition(
                StringEquals({"aws:RequestTag/Project": prefix, "aws:RequestedRegion": Ref("AWS::Region")})
            ),
        ),
        Statement(
            Sid="ThisProjectsKeys",
            Effect=Allow,
            Action=KEY_ACTIONS,
            Resource=[Sub("arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*")],
            Condition=Condition(StringEquals("aws:ResourceTag/Project", prefix)),
        ),
        Statement(
            Sid="TheSecretsRdsManages",
            Effect=Allow,
            Action=RDS_SECRET_ACTIONS,
            Resource=[Sub("arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:rds!*")],
        ),
        Statement(
            Sid="ThisProjectsBuckets",
            Effect=Allow,
            Action=S3_BUCKET_ACTIONS,
            Resource=[Sub(f"arn:${{AWS::Partition}}:s3:::{prefix}-*")],
        ),
        Statement(
            Sid="ThisProjectsObjects",
            Effect=Allow,
            Action=S3_OBJECT_ACTIONS,
            Resource=[Sub(f"arn:${{AWS::Partition}}:s3:::{prefix}-*/*")],
        ),
        Statement(Sid="ReadThisProjectsRoles", Effect=Allow, Action=ROLE_READS, Resource=[role_arn]),
        Statement(
            Sid="GrantToThisProjectsRolesOnlyWithinTheBoundary",
            Effect=Allow,
            Action=BOUNDED_ROLE_WRITES,
            Resource=[role_arn],
            Condition=Condition(ArnEquals("iam:PermissionsBoundary", boundary_arn(prefix))),
        ),
        Statement(
            Sid="ChangeThisProjectsRolesWithoutGranting",
            Effect=Allow,
            Action=UNBOUNDED_ROLE_WRITES,
            Resource=[role_arn],
        ),
        Statement(
            Sid="PassThisProjectsRolesOnlyToTheirServices",
            Effect=Allow,
            Action=[iam.PassRole],
            Resource=[role_arn],
            Condition=Condition(StringEquals("iam:PassedToService", list(ROLE_SERVICES))),
        ),
        Statement(
            Sid="ServiceLinkedRolesOfTheServicesUsed",
            Effect=Allow,
            Action=[iam.CreateServiceLinkedRole],
            Resource=[Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/aws-service-role/*")],
        ),
        Statement(
            Sid="NeverRemoveABoundary",
            Effect=Deny,
            Action=[iam.DeleteRolePermissionsBoundary],
            Resource=[Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*")],
        ),
        Statement(
            Sid="NeverChangeTheBoundary", Effect=Deny, Action=POLICY_WRITES, Resource=[_any_boundary_arn(prefix)]
        ),
        Statement(Sid="NeverTouchTheDeployRoles", Effect=Deny, Action=[iam.Action("*")], Resource=own_roles),
        Statement(
            Sid="NestedStacksOfThisProject",
            Effect=Allow,
            Action=[
                cloudformation.CreateStack,
                cloudformation.UpdateStack,
                cloudformation.DeleteStack,
                cloudformation.DescribeStacks,
                cloudformation.DescribeStackEvents,
                cloudformation.GetTemplate,
                cloudformation.CreateChangeSet,
                cloudformation.DescribeChangeSet,
                cloudformation.ExecuteChangeSet,
                cloudformation.DeleteChangeSet,
                cloudformation.SetStackPolicy,
            ],
            Resource=_stack_arns(prefix),
        ),
        Statement(
            Sid="ResolveTheStacksSsmParameters",
            Effect=Allow,
            Action=[ssm.GetParameters],
            Resource=[Sub(f"arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter/{prefix}/*")],
        ),
    )


# --- the self-managed StackSets roles (templates/stackset-admin.yaml, stackset-execution.yaml) ----------------


def stackset_administration(execution_role: str) -> PolicyDocument:
    """StackSets' administration role: assume the execution role of that name in a target account, nothing else.

    The account is `*`: the targets are whichever accounts params name, and no account id goes into a
    template; what an account lets in is its own execution role's trust policy (stackset_execution_trust)."""
    return _document(
        Statement(
            Sid="AssumeTheExecutionRoleInTheTargetAccounts",
            Effect=Allow,
            Action=[sts.AssumeRole],
            Resource=[Sub(f"arn:${{AWS::Partition}}:iam::*:role/{execution_role}")],
        )
    )


def stackset_execution_trust(admin_account: AWSHelperFn, admin_role: str) -> Policy:
    """The execution role lets in one principal: the administration role of the administrator account.

    Not the account's root (AWS's sample does that), which would let any principal of the administrator
    account that may call sts:AssumeRole deploy the account-wide stacks here."""
    return Policy(
        Version=VERSION,
        Statement=[
            Statement(
                Effect=Allow,
                Principal=Principal(
                    "AWS", Sub(f"arn:${{AWS::Partition}}:iam::${{Admin}}:role/{admin_role}", Admin=admin_account)
                ),  # fmt: skip
                Action=[sts.AssumeRole],
            )
        ],
    )


# What CloudFormation's handlers call for the account-wide stacks' types (their registry schemas' handler
# permissions, tests/test_stacksets.py compares): the ECR repositories, the boundary policy, the OIDC provider,
# the GitHub stack's roles. S3 reuses the execution role's bucket lists above.
ECR_REPOSITORY_ACTIONS = [
    ecr.CreateRepository, ecr.DeleteRepository, ecr.DescribeRepositories, ecr.PutLifecyclePolicy,
    ecr.GetLifecyclePolicy, ecr.DeleteLifecyclePolicy, ecr.SetRepositoryPolicy, ecr.GetRepositoryPolicy,
    ecr.DeleteRepositoryPolicy, ecr.PutImageScanningConfiguration, ecr.PutImageTagMutability, ecr.TagResource,
    ecr.UntagResource, ecr.ListTagsForResource,
]  # fmt: skip
MANAGED_POLICY_ACTIONS = [
    iam.CreatePolicy, iam.DeletePolicy, iam.GetPolicy, iam.GetPolicyVersion, iam.ListPolicyVersions,
    iam.CreatePolicyVersion, iam.DeletePolicyVersion, iam.ListEntitiesForPolicy, iam.TagPolicy, iam.UntagPolicy,
]  # fmt: skip
OIDC_PROVIDER_ACTIONS = [
    iam.CreateOpenIDConnectProvider, iam.DeleteOpenIDConnectProvider, iam.GetOpenIDConnectProvider,
    iam.TagOpenIDConnectProvider, iam.UntagOpenIDConnectProvider, iam.ListOpenIDConnectProviderTags,
    iam.AddClientIDToOpenIDConnectProvider, iam.RemoveClientIDFromOpenIDConnectProvider,
    iam.UpdateOpenIDConnectProviderThumbprint,
]  # fmt: skip
GITHUB_ROLE_ACTIONS = [
    iam.CreateRole, iam.DeleteRole, iam.GetRole, iam.UpdateRole, iam.UpdateRoleDescription, iam.UpdateAssumeRolePolicy,
    iam.PutRolePolicy, iam.DeleteRolePolicy, iam.GetRolePolicy, iam.ListRolePolicies, iam.ListAttachedRolePolicies,
    iam.TagRole, iam.UntagRole, iam.ListRoleTags,
]  # fmt: skip
# What StackSets does in a target account as the execution role, besides the resources: the instance's stack
# (named StackSet-<stack set>-<id>) and the reads around it.
STACKSET_STACK_ACTIONS = [
    cloudformation.CreateStack, cloudformation.UpdateStack, cloudformation.DeleteStack, cloudformation.DescribeStacks,
    cloudformation.DescribeStackEvents, cloudformation.DescribeStackResources, cloudformation.GetTemplate,
    cloudformation.GetTemplateSummary, cloudformation.CreateChangeSet, cloudformation.DescribeChangeSet,
    cloudformation.ExecuteChangeSet, cloudformation.DeleteChangeSet, cloudformation.TagResource,
    cloudformation.UntagResource,
]  # fmt: skip


def stackset_execution(prefix: str, github_roles: list[AWSHelperFn], oidc_host: str) -> PolicyDocument:
    """StackSets' execution role: create, update and delete exactly what the account-wide stacks hold.

    Each statement is scoped to the names those stacks give (`<prefix>/*` repositories, `<prefix>-*`
    buckets, the boundary policy, GitHub's provider, the GitHub stack's roles, `StackSet-<prefix>-*`
    stacks) in any region of this account, since one role serves every region. It is an administrator's
    tool (it writes the boundary and roles without one), which is why only the administration role of the
    administrator account can assume it.
    """

    def arn(service: str, rest: str, region: str = "*") -> Sub:
        return Sub(f"arn:${{AWS::Partition}}:{service}:{region}:${{AWS::AccountId}}:{rest}")

    return _document(
        Statement(
            Sid="TheInstancesStacks",
            Effect=Allow,
            Action=STACKSET_STACK_ACTIONS,
            Resource=[arn("cloudformation", f"stack/StackSet-{prefix}-*/*")],
        ),
        Statement(
            Sid="TheEcrRepositories",
            Effect=Allow,
            Action=ECR_REPOSITORY_ACTIONS,
            Resource=[arn("ecr", f"repository/{prefix}/*")],
        ),
        Statement(
            Sid="TheArtifactsBuckets",
            Effect=Allow,
            Action=S3_BUCKET_ACTIONS,
            Resource=[Sub(f"arn:${{AWS::Partition}}:s3:::{prefix}-*")],
        ),
        Statement(
            Sid="TheArtifactsBucketsObjects",
            Effect=Allow,
            Action=S3_OBJECT_ACTIONS,
            Resource=[Sub(f"arn:${{AWS::Partition}}:s3:::{prefix}-*/*")],
        ),
        Statement(
            Sid="ThePermissionsBoundary",
            Effect=Allow,
            Action=MANAGED_POLICY_ACTIONS,
            Resource=[_any_boundary_arn(prefix)],
        ),
        Statement(
            Sid="GitHubsOidcProvider",
            Effect=Allow,
            Action=OIDC_PROVIDER_ACTIONS,
            Resource=[arn("iam", f"oidc-provider/{oidc_host}", region="")],
        ),
        Statement(Sid="TheGitHubStacksRoles", Effect=Allow, Action=GITHUB_ROLE_ACTIONS, Resource=github_roles),
    )
