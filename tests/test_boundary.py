"""The permissions boundary, and the GitHub deploy roles' policies, proven on the generated templates.

Everything is read back from templates/ (bootstrap.yaml holds the boundary,
github-oidc.yaml the three roles, templates/<env>/ the app's roles) with
the intrinsics resolved to one account and region (tests/policy_documents.py),
so what is proven is what CloudFormation would deploy. Access levels and
condition keys come from parliament's copy of AWS's service authorization
reference, not from builders/. Each check is also run on a doctored policy,
so a check that could not fail would fail its own test.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
from collections.abc import Callable, Iterator
from fnmatch import fnmatchcase
from functools import cache
from typing import Any

import parliament
import pytest
from cfnlint.decode.decode import decode_str

from builders import github
from tests.conftest import ENVS, STACKS, TEMPLATES, props, resources
from tests.policy_documents import ACCOUNT, REGION, Resolver

GITHUB_ROLES = ("CloudFormationExecutionRole", "DeployRole", "PlanRole")
# What a role of the app stacks and one of github-oidc's are named, resolved (the app's names are generated).
APP_ROLE = f"arn:aws:iam::{ACCOUNT}:role/nlsql-dev-Compute-1A2B3C-ApiTaskRole-4D5E6F"
OWN_ROLES = [f"arn:aws:iam::{ACCOUNT}:role/{label}-nlsql-us-east-1" for label in github.ROLE_LABELS]
# IAM role writes that IAM offers no iam:PermissionsBoundary condition for (the reference says which), and why
# each cannot raise a role above its boundary. Any other allowed role write must carry the boundary condition.
UNBOUNDABLE_ROLE_WRITES = {
    "iam:DeleteRole": "a deleted role can do nothing",
    "iam:UpdateRole": "description and session length only",
    "iam:UpdateRoleDescription": "description only",
    "iam:UpdateAssumeRolePolicy": "who may assume it; what it may do stays capped by its boundary",
    "iam:TagRole": "tags; no policy of the project decides on role tags",
    "iam:UntagRole": "the same",
    "iam:CreateServiceLinkedRole": "AWS-defined roles and policies under aws-service-role/, which take no boundary",
}
# The plan role's writes, and why each leaves what is deployed as it is. Everything else must be List or Read.
PLAN_WRITES = {
    "cloudformation:CreateChangeSet": "a change set is a proposal; making one changes no resource",
    "cloudformation:DeleteChangeSet": "removes a proposal",
    "s3:PutObject": "the templates the change set reads, under templates/ of the artifacts bucket",
}
CHANGES_TO_THE_BOUNDARY = ["iam:CreatePolicyVersion", "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion",
                           "iam:DeletePolicy", "iam:CreatePolicy"]  # fmt: skip


# --- reading the templates ------------------------------------------------------------------------------------


@cache
def _doc(path: str) -> dict[str, Any]:
    doc, errors = decode_str((TEMPLATES / path).read_text(encoding="utf-8"))
    assert not errors, errors
    return doc


def _resolved(path: str, value: Any) -> Any:
    return Resolver(_doc(path)["Resources"]).resolve(value)


def _role_statements(path: str, logical_id: str) -> list[dict[str, Any]]:
    role = props(_doc(path)["Resources"][logical_id])
    return [s for policy in role.get("Policies", []) for s in _resolved(path, policy["PolicyDocument"])["Statement"]]


def _boundary() -> list[dict[str, Any]]:
    policy = props(_doc("bootstrap.yaml")["Resources"]["PermissionsBoundary"])
    return _resolved("bootstrap.yaml", policy["PolicyDocument"])["Statement"]


def _boundary_arn() -> str:
    policy = props(_doc("bootstrap.yaml")["Resources"]["PermissionsBoundary"])
    return f"arn:aws:iam::{ACCOUNT}:policy/{_resolved('bootstrap.yaml', policy['ManagedPolicyName'])}"


def _app_roles() -> Iterator[tuple[str, str]]:
    """(template path, logical id) of every role of every app stack."""
    for env in ENVS:
        for stack in STACKS:
            path = f"{env}/{stack}.yaml"
            for logical_id in resources(_doc(path), "AWS::IAM::Role"):
                yield path, logical_id


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _conditions(statement: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    return {(op, key): set(_listed(values)) for op, keys in statement.get("Condition", {}).items()
            for key, values in keys.items()}  # fmt: skip


# --- the reference: access levels and condition keys --------------------------------------------------------


@cache
def _reference() -> dict[str, dict[str, Any]]:
    """Every action of parliament's copy of the IAM service authorization reference, by lowercase name."""
    with open(os.path.join(os.path.dirname(parliament.__file__), "iam_definition.json")) as f:
        services = json.load(f)
    return {f"{s['prefix']}:{p['privilege']}".lower(): p for s in services for p in s["privileges"]}


def _access_level(action: str) -> str:
    """The reference's access level; an action newer than parliament's copy is a Read only by its name's verb."""
    if action.lower() not in _reference() and action in _newer_than_parliament():
        return "Read" if action.split(":")[1].startswith(("Get", "Describe", "List")) else "Write"
    return _reference()[action.lower()]["access_level"]


def _takes_the_boundary_key(action: str) -> bool:
    privilege = _reference()[action.lower()]
    return any("iam:PermissionsBoundary" in rt["condition_keys"] for rt in privilege["resource_types"])


def _writes(action: str) -> bool:
    return _access_level(action) in {"Write", "Permissions management", "Tagging"}


# --- 1. every app role within the boundary -------------------------------------------------------------------


def _covers(bound: dict[str, Any], action: str, resource: str, conditions: dict[tuple[str, str], set[str]]) -> bool:
    """Whether one boundary statement allows `action` on `resource` for a request that meets `conditions`: every
    condition of the boundary statement must be one the role's statement also imposes, with no value beyond it."""
    return (
        bound["Effect"] == "Allow"
        and action.lower() in {a.lower() for a in _listed(bound["Action"])}
        and any(fnmatchcase(resource, pattern) for pattern in _listed(bound["Resource"]))
        and all(key in conditions and conditions[key] <= values for key, values in _conditions(bound).items())
    )


def outside_the_boundary(boundary: list[dict[str, Any]], statements: list[dict[str, Any]]) -> list[str]:
    """Each (action, resource) of an Allow in `statements` that no statement of the boundary allows."""
    found = []
    for statement in statements:
        if statement["Effect"] != "Allow":
            continue
        for action in _listed(statement["Action"]):
            for resource in _listed(statement["Resource"]):
                if not any(_covers(b, action, resource, _conditions(statement)) for b in boundary):
                    found.append(f"{statement.get('Sid')}: {action} on {resource}")
    return found


def test_every_statement_of_every_app_role_is_within_the_boundary() -> None:
    checked, found = set(), []
    for path, logical_id in _app_roles():
        statements = _role_statements(path, logical_id)
        checked |= {logical_id} if statements else set()
        found += [f"{path} {logical_id}: {line}" for line in outside_the_boundary(_boundary(), statements)]
    assert not found, "widen the boundary (builders/iam.py permissions_boundary) or narrow the role:\n" + "\n".join(
        found
    )
    assert checked >= {"TaskExecutionRole", "ApiTaskRole", "PgVectorRole", "DefaultSecurityGroupRole",
                       "FlowLogRole", "DatabaseMonitoringRole"}, checked  # fmt: skip


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": ["arn:aws:s3:::nlsql-dev-datalake/*"]},
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::someone-elses/*"]},
        {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k"]},
        {
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": [f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:other-AbCdEf"],
        },
        {
            "Effect": "Allow",
            "Action": ["ecr:BatchGetImage"],
            "Resource": ["arn:aws:ecr:us-east-1:999999999999:repository/nlsql/api"],
        },
        {"Effect": "Allow", "Action": ["iam:PassRole"], "Resource": ["*"]},
    ],
    ids=["write-the-lake", "another-bucket", "decrypt-directly", "another-secret", "another-account", "iam"],
)
def test_the_boundary_check_catches_a_role_that_asks_for_more(statement: dict[str, Any]) -> None:
    assert outside_the_boundary(_boundary(), [statement])


def test_the_boundary_grants_no_iam_sts_organizations_or_account_action_and_no_wildcard() -> None:
    actions = [a for s in _boundary() for a in _listed(s["Action"])]
    assert actions and all(s["Effect"] == "Allow" for s in _boundary())
    assert not [a for a in actions if a.split(":")[0] in {"iam", "sts", "organizations", "account"}]
    assert not [a for a in actions if "*" in a], "the boundary names each action"
    assert all(a.lower() in _reference() or a in _newer_than_parliament() for a in actions)
    assert not [s for s in _boundary() if "NotAction" in s or "NotResource" in s]


def _newer_than_parliament() -> set[str]:
    from tests.test_iam_lint import NEWER_THAN_PARLIAMENT

    return NEWER_THAN_PARLIAMENT


def test_every_role_of_the_app_stacks_carries_the_boundary_the_execution_role_insists_on() -> None:
    roles = list(_app_roles())
    assert len(roles) >= 5 * len(ENVS)
    for path, logical_id in roles:
        role = props(_doc(path)["Resources"][logical_id])
        assert _resolved(path, role.get("PermissionsBoundary")) == _boundary_arn(), f"{path} {logical_id}"
    assert _boundary_arn() == f"arn:aws:iam::{ACCOUNT}:policy/nlsql-permissions-boundary-us-east-1"
    statements = _role_statements(github.FILENAME, "CloudFormationExecutionRole")
    conditioned = {v for s in statements for (_op, key), values in _conditions(s).items()
                   if key == "iam:PermissionsBoundary" for v in values}  # fmt: skip
    assert conditioned == {_boundary_arn()}


# --- 2. the three policies of github-oidc.yaml -----------------------------------------------------------------


def _denied(statements: list[dict[str, Any]], action: str, resource: str) -> bool:
    return any(
        s["Effect"] == "Deny"
        and "Condition" not in s
        and any(fnmatchcase(action.lower(), a.lower()) for a in _listed(s["Action"]))
        and any(fnmatchcase(resource, r) for r in _listed(s["Resource"]))
        for s in statements
    )


def escalations(statements: list[dict[str, Any]], boundary_arn: str) -> list[str]:
    """Every way a policy lets its role give itself or a new role more than the boundary allows.

    - no Allow of "*" or of a wildcard IAM action;
    - PassRole only with iam:PassedToService;
    - every role write IAM can condition on the boundary is conditioned on exactly this one, and the others are
      the few that cannot raise a role above its boundary (UNBOUNDABLE_ROLE_WRITES); no other IAM write at all;
    - no Allow of IAM on the roles of github-oidc itself (but passing the execution role to CloudFormation);
    - a policy with role writes also denies removing a boundary, changing the boundary policy, and all of IAM on
      github-oidc's roles, so no later Allow can reopen them.
    """
    found = []
    writes_roles = False
    for s in (s for s in statements if s["Effect"] == "Allow"):
        sid, conditions = s.get("Sid"), _conditions(s)
        for action in _listed(s["Action"]):
            if action == "*" or (action.lower().startswith("iam:") and "*" in action):
                found.append(f"{sid}: allows {action}")
                continue
            if not action.lower().startswith("iam:"):
                continue
            if action == "iam:PassRole":
                if not any(key == "iam:PassedToService" for _op, key in conditions):
                    found.append(f"{sid}: PassRole without iam:PassedToService")
                on_own = [r for r in _listed(s["Resource"]) for own in OWN_ROLES if fnmatchcase(own, r)]
                if on_own and conditions.get(("StringEquals", "iam:PassedToService")) != {
                    "cloudformation.amazonaws.com"
                }:
                    found.append(f"{sid}: passes a github-oidc role to something other than CloudFormation")
                continue
            if any(fnmatchcase(own, r) for r in _listed(s["Resource"]) for own in OWN_ROLES):
                found.append(f"{sid}: {action} on a role of github-oidc")
            if not _writes(action):
                continue
            writes_roles = True
            if _takes_the_boundary_key(action):
                ops = ("ArnEquals", "StringEquals")
                if not any(conditions.get((op, "iam:PermissionsBoundary")) == {boundary_arn} for op in ops):
                    found.append(f"{sid}: {action} not conditioned on the boundary")
            elif action not in UNBOUNDABLE_ROLE_WRITES:
                found.append(f"{sid}: {action} is an IAM write outside the known, harmless ones")
    if writes_roles:
        if not _denied(statements, "iam:DeleteRolePermissionsBoundary", APP_ROLE):
            found.append("iam:DeleteRolePermissionsBoundary is not denied")
        found += [f"{a} on the boundary is not denied" for a in CHANGES_TO_THE_BOUNDARY
                  if not _denied(statements, a, boundary_arn)]  # fmt: skip
        found += [f"{a} on {own} is not denied" for own in OWN_ROLES
                  for a in ("iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy", "iam:AttachRolePolicy")
                  if not _denied(statements, a, own)]  # fmt: skip
    return found


def test_no_policy_of_github_oidc_lets_a_role_exceed_the_boundary() -> None:
    for title in GITHUB_ROLES:
        assert escalations(_role_statements(github.FILENAME, title), _boundary_arn()) == [], title


def test_the_deploy_and_plan_roles_have_no_iam_writes_but_passing_the_execution_role() -> None:
    iam = {title: [a for s in _role_statements(github.FILENAME, title) for a in _listed(s["Action"])
                   if a.lower().startswith("iam:") and _writes(a)] for title in ("DeployRole", "PlanRole")}  # fmt: skip
    assert iam == {"DeployRole": ["iam:PassRole"], "PlanRole": []}
    # Their IAM reads are drift detection's, of the project's own roles only.
    for title in ("DeployRole", "PlanRole"):
        reads = [s for s in _role_statements(github.FILENAME, title)
                 if any(a.startswith("iam:") and not _writes(a) for a in _listed(s["Action"]))]  # fmt: skip
        assert [s["Resource"] for s in reads] == [[f"arn:aws:iam::{ACCOUNT}:role/nlsql-*"]], title


def _without(sid: str) -> Callable[[list[dict[str, Any]]], None]:
    def doctor(statements: list[dict[str, Any]]) -> None:
        statements[:] = [s for s in statements if s.get("Sid") != sid]

    return doctor


def _changed(sid: str, change: Callable[[dict[str, Any]], None]) -> Callable[[list[dict[str, Any]]], None]:
    def doctor(statements: list[dict[str, Any]]) -> None:
        (statement,) = [s for s in statements if s.get("Sid") == sid]
        change(statement)

    return doctor


def _added(statement: dict[str, Any]) -> Callable[[list[dict[str, Any]]], None]:
    return lambda statements: statements.append(statement)


BOUNDED = "GrantToThisProjectsRolesOnlyWithinTheBoundary"
DOCTORED = {
    "no boundary condition": _changed(BOUNDED, lambda s: s.pop("Condition")),
    "another boundary": _changed(BOUNDED, lambda s: s.update(
        Condition={"ArnEquals": {"iam:PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/AdministratorAccess"}})),
    "iam:* allowed": _added({"Effect": "Allow", "Action": ["iam:*"], "Resource": ["*"]}),
    "* allowed": _added({"Effect": "Allow", "Action": "*", "Resource": ["*"]}),
    "attach unconditioned": _added({"Effect": "Allow", "Action": ["iam:AttachRolePolicy"],
                                    "Resource": [f"arn:aws:iam::{ACCOUNT}:role/nlsql-*"]}),
    "a user": _added({"Effect": "Allow", "Action": ["iam:CreateUser"], "Resource": ["*"]}),
    "boundary removable": _without("NeverRemoveABoundary"),
    "boundary changeable": _without("NeverChangeTheBoundary"),
    "own roles open": _without("NeverTouchTheDeployRoles"),
    "pass to anything": _changed("PassThisProjectsRolesOnlyToTheirServices", lambda s: s.pop("Condition")),
    "trust of own roles": _added({"Effect": "Allow", "Action": ["iam:UpdateAssumeRolePolicy"],
                                  "Resource": [f"arn:aws:iam::{ACCOUNT}:role/*"]}),
}  # fmt: skip


@pytest.mark.parametrize("doctor", DOCTORED.values(), ids=DOCTORED.keys())
def test_the_escalation_check_catches_a_doctored_execution_role(doctor: Callable[[list[Any]], None]) -> None:
    statements = copy.deepcopy(_role_statements(github.FILENAME, "CloudFormationExecutionRole"))
    doctor(statements)
    assert escalations(statements, _boundary_arn())


def test_the_escalation_check_catches_a_deploy_role_that_passes_anything() -> None:
    statements = copy.deepcopy(_role_statements(github.FILENAME, "DeployRole"))
    (passing,) = [s for s in statements if "iam:PassRole" in _listed(s["Action"])]
    passing.pop("Condition")
    assert escalations(statements, _boundary_arn())


# --- 3. the plan role changes nothing deployed --------------------------------------------------------------


def changes_made_by(statements: list[dict[str, Any]]) -> list[str]:
    """Each allowed action that is not List or Read by the reference, nor one of the plan's named writes."""
    return [
        action
        for s in statements
        if s["Effect"] == "Allow"
        for action in _listed(s["Action"])
        if "*" in action or (_access_level(action) not in {"List", "Read"} and action not in PLAN_WRITES)
    ]


def test_the_plan_role_only_reads_and_proposes() -> None:
    statements = _role_statements(github.FILENAME, "PlanRole")
    assert changes_made_by(statements) == []
    actions = {a for s in statements for a in _listed(s["Action"])}
    assert set(PLAN_WRITES) <= actions, "the named writes are the ones a plan uses"
    (upload,) = [s for s in statements if "s3:PutObject" in s["Action"]]
    # Only where plans upload: never the keys a deploy reuses (builders/deploy/upload.py).
    assert [r.split(":::", 1)[1] for r in upload["Resource"]] == [f"nlsql-shared-artifacts-{ACCOUNT}-{REGION}/plans/*"]


def test_the_plan_check_catches_execute_and_pass_role() -> None:
    deploy = _role_statements(github.FILENAME, "DeployRole")
    assert set(changes_made_by(deploy)) == {"cloudformation:ExecuteChangeSet", "cloudformation:SetStackPolicy",
                                            "cloudformation:UpdateTerminationProtection",
                                            "cloudformation:ContinueUpdateRollback", "iam:PassRole"}  # fmt: skip


# --- 4. S3: the project's buckets, with the actions CloudFormation's handlers call ----------------------------


def _s3_types() -> set[str]:
    paths = [f"{env}/{stack}.yaml" for env in ENVS for stack in STACKS] + ["bootstrap.yaml"]
    return {r["Type"] for p in paths for r in _doc(p)["Resources"].values() if r["Type"].startswith("AWS::S3::")}


def test_the_execution_roles_s3_actions_are_those_of_the_bucket_handlers_on_the_projects_buckets() -> None:
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    awacs_s3 = importlib.import_module("awacs.s3")
    assert _s3_types() == {"AWS::S3::Bucket", "AWS::S3::BucketPolicy"}
    called = set()
    for kind in _s3_types():
        handlers = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", kind).schema["handlers"]
        called |= {p for h in ("create", "read", "update", "delete") for p in handlers[h]["permissions"]}
    # The handlers also list API operations that are not IAM actions (s3:DeleteBucketCors is s3:PutBucketCORS),
    # S3 Tables, and iam:PassRole for a replication role; awacs knows exactly the IAM actions.
    needed = {p for p in called if p.startswith("s3:") and hasattr(awacs_s3, p.split(":")[1])}
    statements = _role_statements(github.FILENAME, "CloudFormationExecutionRole")
    s3 = [s for s in statements if any(a.startswith("s3:") for a in _listed(s["Action"]))]
    granted = {a for s in s3 for a in s["Action"]}
    assert granted == needed | {"s3:GetObject"}, "GetObject: the nested stacks' templates"
    assert {r for s in s3 for r in s["Resource"]} == {"arn:aws:s3:::nlsql-*", "arn:aws:s3:::nlsql-*/*"}
    assert not [s for s in s3 if "Condition" in s]
    for path in [f"{env}/storage.yaml" for env in ENVS] + ["bootstrap.yaml"]:
        for bucket in resources(_doc(path), "AWS::S3::Bucket").values():
            assert fnmatchcase(_resolved(path, props(bucket)["BucketName"]), "nlsql-*")
            assert "ReplicationConfiguration" not in props(bucket), "would need iam:PassRole of a replication role"
