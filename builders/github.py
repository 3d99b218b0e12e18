"""The account-wide stack GitHub Actions deploys through: OIDC provider, plan and deploy roles, execution role.

No access keys are stored anywhere: a workflow job gets short-lived
credentials by presenting GitHub's OIDC token, and the trust policies accept
only tokens of one repository (a parameter), for pull requests and jobs on main
(the plan role: plans, and the scheduled drift check, which runs on main) or
for a job running in one of its GitHub environments (the deploy role; the
environments' deployment-branch rules and required reviewers decide who may
deploy where, see README "GitHub Actions"). Neither role can create resources
itself: change sets run as the CloudFormation execution role, which only
CloudFormation can assume. That is the split AWS CDK's bootstrap makes
(deploy role and cfn-exec role).

Deployed once per account and region with the AWS CLI (README); an account
that already has GitHub's OIDC provider passes its ARN instead of creating a
second one, which IAM would refuse.

The permissions boundary. Every role the execution role creates must carry
the project's boundary (`iam:PermissionsBoundary` on each role write that
grants), so a template that asks a role for more than the app needs fails
to deploy instead of widening it. Decision: the boundary is a customer
managed policy with a fixed name, `nlsql-permissions-boundary-<region>`, in
the bootstrap stack (builders/bootstrap.py), not here:
- every deploy needs the bootstrap stack (by hand, with the AWS CLI, or
  through CI), and the app roles name the boundary's ARN; a role whose
  boundary does not exist cannot be created, so it must live where every
  deploy finds it, including deploys that never use this stack;
- the execution role may not create, change or delete it (nor remove a
  role's boundary, nor touch the roles of this stack): the boundary is what
  caps the execution role, so only an administrator changes it, by
  deploying the bootstrap stack with their own credentials, as with AWS
  CDK's bootstrap. A CI deploy can still update the rest of the bootstrap
  stack; one that changes the boundary fails and rolls back.
So the bootstrap stack is created by an administrator before the first CI
deploy (README "GitHub Actions"); the deploy role alone cannot make it.
"""

from __future__ import annotations

from troposphere import Equals, GetAtt, If, Output, Parameter, Ref, Sub, Template, iam

from builders import iam as policies
from builders.config import GITHUB_REPOSITORY_PATTERN
from builders.naming import ACCOUNT_WIDE, PROJECT, account_role, description
from builders.regions import PARTITION
from builders.tags import tags

FILENAME = "github-oidc.yaml"
MODULE = "github"
STACK_NAME = f"{PROJECT}-github-oidc"
ARTIFACTS_BUCKET = Sub(f"{PROJECT}-shared-artifacts-${{AWS::AccountId}}-${{AWS::Region}}")  # the bootstrap's bucket

# CloudFormation type namespace -> the IAM service prefixes CloudFormation needs to manage such resources.
# tests/test_github.py fails when a generated template uses a namespace missing here.
SERVICES: dict[str, tuple[str, ...]] = {
    "ApplicationAutoScaling": ("application-autoscaling", "cloudwatch"),  # target tracking makes alarms
    "EC2": ("ec2",),
    "ECR": ("ecr",),
    "ECS": ("ecs",),
    "ElasticLoadBalancingV2": ("elasticloadbalancing",),
    "KMS": ("kms",),
    "Lambda": ("lambda",),  # also the pgvector custom resource's invocation
    "Logs": ("logs",),
    "RDS": ("rds", "secretsmanager"),  # ManageMasterUserPassword makes the secret
    "S3": ("s3",),
    "ServiceDiscovery": ("servicediscovery",),  # the Service Connect namespace, and the services ECS puts in it
    "WAFv2": ("wafv2",),  # its logging puts a CloudWatch Logs resource policy in place (logs, above)
    "CertificateManager": ("acm",),  # the app's certificate, where params name a domain
    "Route53": ("route53",),  # the certificate's validation records and the alias to the ALB
    "CloudWatch": ("cloudwatch",),  # the alarms and the dashboard
    "SNS": ("sns",),  # the alarm topic
    "Events": ("events",),  # ECS deployment failures to the alarm topic
}
# The repository's GitHub environments that deploy (.github/workflows/deploy.yml): the deploy role trusts a job in
# exactly these, not in any environment someone adds to the repository.
GITHUB_ENVIRONMENTS = ("dev", "staging", "prod")
# The branch the scheduled drift check runs on (GitHub runs schedules on the default branch).
DRIFT_BRANCH = "main"
HANDLED_APART = {"IAM", "CloudFormation", "SSM"}  # roles by name, nested stacks by name, parameter types


# The labels of this stack's roles (names `<label>-nlsql-<region>`).
ROLE_LABELS = ("cfn-exec", "github-plan", "github-deploy")


def role_name(label: str, region: str) -> str:
    """The one spelling of this stack's role names, for the template and for `build.py ENV --role` alike.

    Role names are global to the account while this stack is per region, hence the region; they do not
    start with the project's prefix, so the execution role (which manages `nlsql-*` roles) cannot touch them."""
    assert label in ROLE_LABELS, label
    return f"{account_role(label)}-{region}"


def provider_arn(account_id: str) -> str:
    """The ARN of an account's GitHub OIDC provider, known without asking IAM: one per account, named by its host.
    StackSets passes it as ExistingProviderArn to the account's other regions (builders/deploy/stacksets.py)."""
    return f"arn:{PARTITION}:iam::{account_id}:oidc-provider/{policies.GITHUB_OIDC_HOST}"


def _role_name(label: str) -> Sub:
    return Sub(role_name(label, "${AWS::Region}"))


def own_roles() -> list[Sub]:
    """This stack's roles in every region: the execution role is denied all of IAM on them, itself included;
    the StackSets execution role (builders/stackset_execution.py) manages exactly these."""
    return [
        Sub(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/{role_name(label, '*')}") for label in ROLE_LABELS
    ]


def build() -> Template:
    scope = ACCOUNT_WIDE
    t = Template(Description=description(scope, "GitHub Actions OIDC provider and deploy roles"))
    t.add_parameter(
        Parameter(
            "Repository",
            Type="String",
            AllowedPattern=GITHUB_REPOSITORY_PATTERN,
            Description="The GitHub repository allowed to deploy, as owner/name",
        )
    )
    existing = t.add_parameter(
        Parameter(
            "ExistingProviderArn",
            Type="String",
            Default="",
            Description="ARN of the account's GitHub OIDC provider if it already has one; empty: create it",
        )
    )
    t.add_condition("CreateProvider", Equals(Ref(existing), ""))
    provider = t.add_resource(
        iam.OIDCProvider(
            "GitHubProvider",
            Condition="CreateProvider",
            Url=f"https://{policies.GITHUB_OIDC_HOST}",
            ClientIdList=["sts.amazonaws.com"],
            Tags=tags(scope, MODULE, f"{PROJECT}-github"),
        )
    )
    provider_arn = If("CreateProvider", Ref(provider), Ref(existing))
    services = sorted({prefix for prefixes in SERVICES.values() for prefix in prefixes})
    execution = t.add_resource(
        iam.Role(
            "CloudFormationExecutionRole",
            RoleName=_role_name("cfn-exec"),
            Description="Assumed by CloudFormation only, to create, update and delete the project's resources",
            AssumeRolePolicyDocument=policies.service_trust("cloudformation.amazonaws.com"),
            Policies=[
                iam.Policy(
                    PolicyName="deploy-the-stacks",
                    PolicyDocument=policies.cloudformation_execution(PROJECT, services, own_roles()),
                )
            ],
            Tags=tags(scope, MODULE, f"{PROJECT}-cfn-execution"),
        )
    )
    subject = "repo:${Repository}:"
    roles = {
        # A scheduled or dispatched workflow's token says the branch it runs on: the drift check (drift.yml) runs on
        # main, whose code is what deploys anyway; the plan role only reads and proposes.
        "PlanRole": (
            "plan",
            [Sub(subject + "pull_request"), Sub(f"{subject}ref:refs/heads/{DRIFT_BRANCH}")],
            policies.github_plan,
            "Plan: change sets for review, and drift detection",
        ),
        "DeployRole": (
            "deploy",
            [Sub(f"{subject}environment:{env}") for env in GITHUB_ENVIRONMENTS],
            policies.github_deploy,
            "Deploy: execute change sets, from a job in one of the repository's deploy environments",
        ),
    }
    for title, (label, subjects, document, purpose) in roles.items():
        role = t.add_resource(
            iam.Role(
                title,
                RoleName=_role_name(f"github-{label}"),
                Description=purpose,
                MaxSessionDuration=3600,
                AssumeRolePolicyDocument=policies.github_trust(provider_arn, subjects),
                Policies=[
                    iam.Policy(
                        PolicyName=label,
                        PolicyDocument=document(PROJECT, ARTIFACTS_BUCKET, GetAtt(execution, "Arn")),
                    )
                ],
                Tags=tags(scope, MODULE, f"{PROJECT}-github-{label}"),
            )
        )
        t.add_output(Output(f"{title}Arn", Description=f"role-to-assume for {label} jobs", Value=GetAtt(role, "Arn")))
    t.add_output(
        Output(
            "ExecutionRoleArn", Description="build.py --role-arn: CloudFormation's role", Value=GetAtt(execution, "Arn")
        )
    )
    return t
