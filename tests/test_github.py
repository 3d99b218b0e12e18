"""templates/github-oidc.yaml: GitHub Actions deploys without stored keys, with the least each role needs."""

from __future__ import annotations

from typing import Any

from cfnlint.decode import decode_str

from builders import github
from tests.conftest import ENVS, REPO, STACKS, TEMPLATES, props, resources, template


def _doc() -> dict[str, Any]:
    doc, errors = decode_str((TEMPLATES / github.FILENAME).read_text())
    assert not errors
    return doc


def _role(title: str) -> dict[str, Any]:
    return props(_doc()["Resources"][title])


def _statements(title: str) -> list[dict[str, Any]]:
    return [s for policy in _role(title)["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def _actions(title: str) -> set[str]:
    return {a for s in _statements(title) for a in s["Action"]}


def test_every_resource_type_the_stacks_deploy_is_within_the_execution_roles_services() -> None:
    docs = [template(env, stack) for env in ENVS for stack in STACKS]
    docs.append(decode_str((TEMPLATES / "bootstrap.yaml").read_text())[0])  # deployed with the same role
    # What params may turn on that no committed environment has: a domain (its certificate and DNS record).
    from builders import compute, params
    from builders.config import Domain
    from tests.conftest import PARAMS

    cfg = params.load(PARAMS / "dev.yaml")
    domain = Domain(name="insights.example.com", hosted_zone_id="Z0123456789ABCDEFGHIJ")
    docs.append(compute.build(cfg.model_copy(update={"compute": cfg.compute.model_copy(update={"domain": domain})}))
                .to_dict())  # fmt: skip
    namespaces = set()
    for doc in docs:
        for resource in doc["Resources"].values():
            kind = resource["Type"]
            namespaces.add("Custom" if kind.startswith("Custom::") else kind.split("::")[1])
    missing = namespaces - set(github.SERVICES) - github.HANDLED_APART - {"Custom"}
    assert not missing, f"add these to builders/github.py SERVICES: {sorted(missing)}"
    granted = {a.split(":")[0] for s in _statements("CloudFormationExecutionRole") for a in s["Action"]}
    assert {p for ns in namespaces & set(github.SERVICES) for p in github.SERVICES[ns]} <= granted
    assert "lambda" in granted, "custom resources are invoked by CloudFormation"
    unused = set(github.SERVICES) - namespaces
    assert not unused, f"the execution role grants services no stack uses: {sorted(unused)}"


def test_the_roles_trust_only_this_repositorys_tokens_for_github_s_audience() -> None:
    subjects = {
        "PlanRole": ["repo:${Repository}:pull_request"],
        # exactly the workflow's deploy environments, never `environment:*` (any environment someone adds)
        "DeployRole": [f"repo:${{Repository}}:environment:{env}" for env in ("dev", "staging", "prod")],
    }
    for title, subject in subjects.items():
        (statement,) = _role(title)["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Action"] == ["sts:AssumeRoleWithWebIdentity"]
        assert "Federated" in statement["Principal"]
        assert statement["Condition"] == {"StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": [{"Fn::Sub": s} for s in subject]}}  # fmt: skip


def test_the_deploy_role_trusts_the_environments_the_deploy_workflow_uses() -> None:
    import yaml

    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "deploy.yml").read_text())
    # The deploy jobs call deploy-environment.yml, whose job runs in the GitHub environment it is given.
    used = {job["with"]["environment"] for job in workflow["jobs"].values() if "environment" in job.get("with", {})}
    assert used == set(github.GITHUB_ENVIRONMENTS) == set(ENVS)


def test_a_plan_cannot_execute_and_neither_role_touches_resources_itself() -> None:
    plan, deploy = _actions("PlanRole"), _actions("DeployRole")
    assert "cloudformation:ExecuteChangeSet" not in plan and "cloudformation:ExecuteChangeSet" in deploy
    assert plan < deploy
    # A plan passes no role; it reads alarms (the rollback triggers it names, --status) and nothing else there.
    assert {a.split(":")[0] for a in plan} == {"cloudformation", "cloudwatch", "s3", "ssm"}, "a plan passes no role"
    assert {a for a in plan if a.startswith("cloudwatch:")} == {"cloudwatch:DescribeAlarms"}
    assert {a.split(":")[0] for a in deploy} == {"cloudformation", "cloudwatch", "s3", "ssm", "iam"}
    (pass_role,) = [s for s in _statements("DeployRole") if "iam:PassRole" in s["Action"]]
    assert pass_role["Action"] == ["iam:PassRole"]
    assert pass_role["Resource"] == [{"Fn::GetAtt": ["CloudFormationExecutionRole", "Arn"]}]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}
    for title in ("PlanRole", "DeployRole"):
        for statement in _statements(title):
            # cloudformation:ListStacks has no resource type in IAM ("*" is its only value): it reads the names
            # and statuses of stacks, to find the bootstrap a stack set made (StackSet-nlsql-bootstrap-<id>).
            if statement["Action"] == ["cloudformation:ListStacks"]:
                continue
            assert statement["Resource"] != ["*"], statement["Sid"]


def test_the_plan_workflow_does_not_hand_over_the_execution_role() -> None:
    """The plan role may not pass the execution role, so the plan job must not ask CloudFormation to use it."""
    import yaml

    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "deploy.yml").read_text())
    (plan,) = [step["run"] for step in workflow["jobs"]["plan"]["steps"] if "--plan" in step.get("run", "")]
    assert "--role-arn" not in plan


def test_only_cloudformation_assumes_the_execution_role_and_it_manages_only_the_projects_roles() -> None:
    (trust,) = _role("CloudFormationExecutionRole")["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": ["cloudformation.amazonaws.com"]}
    role_statements = [s for s in _statements("CloudFormationExecutionRole") if s["Effect"] == "Allow"
                       and any(a.startswith("iam:") for a in s["Action"]) and "iam:CreateServiceLinkedRole" not in
                       s["Action"]]  # fmt: skip
    for statement in role_statements:
        assert statement["Resource"] == [{"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/nlsql-*"}]
    roles = {"Action": [a for s in role_statements if "iam:PassRole" not in s["Action"] for a in s["Action"]]}
    # This stack's own roles are outside that pattern: the execution role cannot widen them (or itself).
    for title in ("PlanRole", "DeployRole", "CloudFormationExecutionRole"):
        assert not _role(title)["RoleName"]["Fn::Sub"].startswith("nlsql-")
    wide = [s for s in _statements("CloudFormationExecutionRole") if s["Resource"] == ["*"]]
    region = {"aws:RequestedRegion": {"Ref": "AWS::Region"}}
    assert all(region.items() <= s["Condition"]["StringEquals"].items() for s in wide), "'*' only in the region"
    (create_keys,) = [s for s in wide if s["Sid"] == "CreateKeysTaggedForThisProject"]
    assert create_keys["Condition"]["StringEquals"]["aws:RequestTag/Project"] == "nlsql", "a key only tagged for us"
    assert not [a for s in wide if s["Sid"] != "CreateKeysTaggedForThisProject" for a in s["Action"]
                if a.startswith(("kms:", "secretsmanager:"))], "keys and secrets are never on '*'"  # fmt: skip
    (keys,) = [s for s in _statements("CloudFormationExecutionRole") if s["Sid"] == "ThisProjectsKeys"]
    assert keys["Condition"] == {"StringEquals": {"aws:ResourceTag/Project": "nlsql"}}
    (secrets,) = [s for s in _statements("CloudFormationExecutionRole") if s["Sid"] == "TheSecretsRdsManages"]
    assert secrets["Resource"][0]["Fn::Sub"].endswith(":secret:rds!*")
    # Roles go only to the services they are for, and role updates and deletes can read what they need.
    (passing,) = [s for s in _statements("CloudFormationExecutionRole") if "iam:PassRole" in s["Action"]]
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": [
        "ecs-tasks.amazonaws.com", "lambda.amazonaws.com", "vpc-flow-logs.amazonaws.com",
        "monitoring.rds.amazonaws.com"]}}  # fmt: skip
    assert {"iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:UpdateRole"} <= set(roles["Action"])
    assert "iam:PassRole" not in roles["Action"]


def test_the_pass_role_services_are_exactly_those_the_stacks_roles_trust() -> None:
    trusted = set()
    for env in ENVS:
        for stack in STACKS:
            for role in resources(template(env, stack), "AWS::IAM::Role").values():
                for statement in props(role)["AssumeRolePolicyDocument"]["Statement"]:
                    trusted |= set(statement["Principal"].get("Service", []))
    from builders import iam as policies

    assert trusted == set(policies.ROLE_SERVICES)


def test_an_existing_oidc_provider_can_be_reused() -> None:
    doc = _doc()
    assert doc["Resources"]["GitHubProvider"]["Condition"] == "CreateProvider"
    assert doc["Parameters"]["ExistingProviderArn"]["Default"] == ""
    (provider,) = resources(doc, "AWS::IAM::OIDCProvider").values()
    assert props(provider)["ClientIdList"] == ["sts.amazonaws.com"]
