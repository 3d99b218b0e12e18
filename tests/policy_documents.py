"""Every IAM policy document in the generated templates, with its intrinsics resolved to plausible ARNs.

Offline policy linters read JSON policies, not CloudFormation: `!Sub`,
`!GetAtt`, `!Ref` and `!Join` must become concrete strings first. The values
stand in for one account (123456789012) in us-east-1; what matters is that
each ARN has the shape its service documents, so the linter checks the
resource type an action is granted on. An intrinsic this resolver does not
know raises instead of guessing, so a new kind of reference cannot slip past
the linter as an unresolved dict.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cfnlint.decode.decode import decode_str

from builders.build.pipeline import SHARED_FILES
from tests.conftest import ENVS, TEMPLATES

ACCOUNT = "123456789012"
REGION = "us-east-1"
PSEUDO = {
    "AWS::AccountId": ACCOUNT,
    "AWS::Region": REGION,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "nlsql-example",
}
# The ARN a parameter of the templates stands for (they are wired from other stacks' outputs).
PARAMETERS = {
    "KmsKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "DataLakeBucketArn": "arn:aws:s3:::nlsql-example-datalake",
    "DatabaseSecretArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:rds!cluster-example-AbCdEf",
    "DatabaseClusterResourceId": "cluster-ABCDEFGHIJKLMNOPQRSTUVWXY",
    "ExistingProviderArn": f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com",
    "Repository": "example-org/nlsql-infra",
    "AdministratorAccountId": "111122223333",  # the StackSets administrator account (stackset-execution.yaml)
}
# Where CloudFormation keeps each template's policy documents.
DOCUMENT_KEYS = ("AssumeRolePolicyDocument", "PolicyDocument", "KeyPolicy")


def _name(logical_id: str) -> str:
    return "example-" + re.sub(r"(?<!^)(?=[A-Z])", "-", logical_id).lower()


@dataclass(frozen=True)
class Resolver:
    """Resolves the intrinsics of one template's values."""

    resources: dict[str, Any]

    def _type(self, logical_id: str) -> str:
        return self.resources[logical_id]["Type"]

    def ref(self, name: str) -> str:
        if name in PSEUDO:
            return PSEUDO[name]
        if name in PARAMETERS:
            return PARAMETERS[name]
        kind = self._type(name)
        if kind == "AWS::S3::Bucket":
            return _name(name)
        if kind == "AWS::IAM::OIDCProvider":
            return PARAMETERS["ExistingProviderArn"]
        if kind == "AWS::Logs::LogGroup":
            return _name(name)
        raise KeyError(f"no stand-in for Ref {name} ({kind})")

    def get_att(self, logical_id: str, attribute: str) -> str:
        kind = self._type(logical_id)
        name = _name(logical_id)
        arns = {
            ("AWS::S3::Bucket", "Arn"): f"arn:aws:s3:::{name}",
            ("AWS::Logs::LogGroup", "Arn"): f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*",
            ("AWS::IAM::Role", "Arn"): f"arn:aws:iam::{ACCOUNT}:role/{name}",
            ("AWS::KMS::Key", "Arn"): PARAMETERS["KmsKeyArn"],
            ("AWS::RDS::DBCluster", "DBClusterArn"): f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:{name}",
            ("AWS::RDS::DBCluster", "MasterUserSecret.SecretArn"): PARAMETERS["DatabaseSecretArn"],
            ("AWS::EC2::VPC", "DefaultSecurityGroup"): "sg-0123456789abcdef0",
        }
        try:
            return arns[kind, attribute]
        except KeyError:
            raise KeyError(f"no stand-in for GetAtt {logical_id}.{attribute} ({kind})") from None

    def _sub(self, text: str, variables: dict[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            key = match.group(1)
            if key in variables:
                return self.resolve(variables[key])
            if "." in key and not key.startswith("AWS::"):
                logical_id, attribute = key.split(".", 1)
                return self.get_att(logical_id, attribute)
            return self.ref(key)

        return re.sub(r"\$\{([^}!]+)\}", one, text)

    def resolve(self, value: Any) -> Any:
        """The value with every intrinsic replaced by a string."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), *_ = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(logical_id, attribute)
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else arg
                return self._sub(text, variables)
            if key == "Fn::Join":
                separator, items = arg
                return separator.join(self.resolve(items))
            if key == "Fn::If":
                return self.resolve(arg[1])  # both branches are the same kind of value; lint the first
            if key.startswith("Fn::"):
                raise KeyError(f"no resolver for {key}")
        return {k: self.resolve(v) for k, v in value.items()}


@dataclass(frozen=True)
class Document:
    where: str  # template path under templates/, logical id and kind
    kind: str  # AssumeRolePolicyDocument, PolicyDocument (bucket), KeyPolicy or Policies (role inline)
    document: dict[str, Any]


def template_paths() -> list[str]:
    """Every generated template that can hold a policy document."""
    stacks = ("network", "storage", "database", "compute", "root")
    return [f"{env}/{stack}.yaml" for env in ENVS for stack in stacks] + list(SHARED_FILES)


def documents() -> Iterator[Document]:
    """Every policy document of every generated template, resolved."""
    for path in template_paths():
        doc, errors = decode_str((TEMPLATES / path).read_text(encoding="utf-8"))
        assert not errors, errors
        resolver = Resolver(doc.get("Resources", {}))
        for logical_id, resource in resolver.resources.items():
            p = resource.get("Properties", {})
            for kind in DOCUMENT_KEYS:
                if kind in p:
                    yield Document(f"{path} {logical_id}.{kind}", kind, resolver.resolve(p[kind]))
            for policy in p.get("Policies", []):
                where = f"{path} {logical_id}.Policies[{policy['PolicyName']}]"
                yield Document(where, "Policies", resolver.resolve(policy["PolicyDocument"]))
