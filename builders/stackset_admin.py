"""StackSets' administration role, in the administrator account (templates/stackset-admin.yaml).

Self-managed StackSets (README "StackSets"): CloudFormation in the administrator account assumes this role
and, through it, the execution role (builders/stackset_execution.py) in each target account. One per
account, not per region: a role name is global to the account, and StackSets looks the role up by its ARN
from whichever region the stack sets live in. Deployed by an administrator with the AWS CLI, once.
"""

from __future__ import annotations

from troposphere import GetAtt, Output, Sub, Template, iam

from builders import iam as policies
from builders.naming import ACCOUNT_WIDE, PROJECT, STACKSET_ADMIN_ROLE, STACKSET_EXECUTION_ROLE, description
from builders.tags import tags

FILENAME = "stackset-admin.yaml"
MODULE = "stacksets"
STACK_NAME = f"{PROJECT}-stackset-admin"


def build() -> Template:
    scope = ACCOUNT_WIDE
    t = Template(Description=description(scope, "StackSets administration role (self-managed permissions)"))
    # Only StackSets of this account, for this project's stack sets, may use it (confused deputy).
    source = Sub(f"arn:${{AWS::Partition}}:cloudformation:*:${{AWS::AccountId}}:stackset/{PROJECT}-*:*")
    role = t.add_resource(
        iam.Role(
            "AdministrationRole",
            RoleName=STACKSET_ADMIN_ROLE,
            Description="Assumed by CloudFormation StackSets only, to reach the execution role of each target account",
            AssumeRolePolicyDocument=policies.service_trust("cloudformation.amazonaws.com", source),
            Policies=[
                iam.Policy(
                    PolicyName="assume-the-execution-role",
                    PolicyDocument=policies.stackset_administration(STACKSET_EXECUTION_ROLE),
                )
            ],
            Tags=tags(scope, MODULE, STACKSET_ADMIN_ROLE),
        )
    )
    t.add_output(
        Output("AdministrationRoleArn", Description="StackSets' AdministrationRoleARN", Value=GetAtt(role, "Arn"))
    )
    return t
