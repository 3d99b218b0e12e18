"""StackSets' execution role, in each target account (templates/stackset-execution.yaml).

StackSets creates, updates and deletes the account-wide stacks (nlsql-bootstrap, nlsql-github-oidc) in a
target account as this role, so it holds what those stacks need and no more (builders/iam.py
stackset_execution). It trusts one principal: the administration role of the administrator account,
named by the AdministratorAccountId parameter, so no account id is written in the template. IAM checks a
role principal when the trust policy is written: the administration role must exist first.
"""

from __future__ import annotations

from troposphere import GetAtt, Output, Parameter, Ref, Template, iam

from builders import github
from builders import iam as policies
from builders.naming import ACCOUNT_WIDE, PROJECT, STACKSET_ADMIN_ROLE, STACKSET_EXECUTION_ROLE, description
from builders.tags import tags

FILENAME = "stackset-execution.yaml"
MODULE = "stacksets"
STACK_NAME = f"{PROJECT}-stackset-execution"
ADMIN_ACCOUNT_PARAMETER = "AdministratorAccountId"


def build() -> Template:
    scope = ACCOUNT_WIDE
    t = Template(Description=description(scope, "StackSets execution role (self-managed permissions)"))
    admin = t.add_parameter(
        Parameter(
            ADMIN_ACCOUNT_PARAMETER,
            Type="String",
            AllowedPattern=r"^\d{12}$",
            ConstraintDescription="12 digits: the account that runs `build.py --stacksets`",
            Description=f"The account whose {STACKSET_ADMIN_ROLE} role deploys the account-wide stacks here",
        )
    )
    role = t.add_resource(
        iam.Role(
            "ExecutionRole",
            RoleName=STACKSET_EXECUTION_ROLE,
            Description="Assumed by the StackSets administration role only, to deploy the account-wide stacks",
            AssumeRolePolicyDocument=policies.stackset_execution_trust(Ref(admin), STACKSET_ADMIN_ROLE),
            Policies=[
                iam.Policy(
                    PolicyName="deploy-the-account-wide-stacks",
                    PolicyDocument=policies.stackset_execution(PROJECT, github.own_roles(), policies.GITHUB_OIDC_HOST),
                )
            ],
            Tags=tags(scope, MODULE, STACKSET_EXECUTION_ROLE),
        )
    )
    t.add_output(Output("ExecutionRoleArn", Description="StackSets' execution role here", Value=GetAtt(role, "Arn")))
    return t
