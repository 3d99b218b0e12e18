"""templates/github-oidc.yaml: GitHub Actions deploys without stored keys, with the least each role needs."""

from __future__ import annotations

from typing import Any

from cfnlint.decode import decode_str

from builders import github, iam
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


def _stack_docs(bootstrap: bool = True) -> list[dict[str, Any]]:
    """Every template the roles deploy, and what params may turn on that no committed environment has."""
    docs = [template(env, stack) for env in ENVS for stack in STACKS]
    if bootstrap:
        docs.append(decode_str((TEMPLATES / "bootstrap.yaml").read_text())[0])  # deployed with the same role
    # What params may turn on that no committed environment has: a domain (its certificate and DNS record).
    from builders import compute, params
    from builders.config import Domain
    from tests.conftest import PARAMS

    cfg = params.load(PARAMS / "dev.yaml")
    domain = Domain(name="insights.example.com", hosted_zone_id="Z0123456789ABCDEFGHIJ")
    docs.append(compute.build(cfg.model_copy(update={"compute": cfg.compute.model_copy(update={"domain": domain})}))
                .to_dict())  # fmt: skip
    return docs


def _environment_types() -> set[str]:
    """The resource types of the environments' stacks (what --drift checks: nlsql-<env> and its nested stacks)."""
    return {r["Type"] for doc in _stack_docs(bootstrap=False) for r in doc["Resources"].values()}


def test_every_resource_type_the_stacks_deploy_is_within_the_execution_roles_services() -> None:
    docs = _stack_docs()
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
        # pull requests' plans, and the scheduled drift check on main (drift.yml); nothing else on any branch
        "PlanRole": ["repo:${Repository}:pull_request", "repo:${Repository}:ref:refs/heads/main"],
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


# The statements that let --drift run (builders/iam.py _drift_statements), in both roles.
DRIFT_SIDS = ("DetectDriftOfThisProjectsStacks", "ReadDriftDetections", "ReadWhatDriftDetectionCompares",
              "ReadThisProjectsBucketsForDrift", "ReadThisProjectsRolesForDrift")  # fmt: skip


def test_a_plan_cannot_execute_and_neither_role_touches_resources_itself() -> None:
    plan, deploy = _actions("PlanRole"), _actions("DeployRole")
    assert "cloudformation:ExecuteChangeSet" not in plan and "cloudformation:ExecuteChangeSet" in deploy
    assert plan < deploy
    # A plan passes no role; beyond its own reads (alarms: the rollback triggers it names, --status) it reads
    # only what drift detection compares (test_boundary.py holds them all to List and Read).
    own = {a for s in _statements("PlanRole") if s["Sid"] not in DRIFT_SIDS for a in s["Action"]}
    assert {a.split(":")[0] for a in own} == {"cloudformation", "cloudwatch", "s3", "ssm"}
    assert {a for a in own if a.startswith("cloudwatch:")} == {"cloudwatch:DescribeAlarms"}
    assert "iam:PassRole" not in plan, "a plan passes no role"
    assert {a.split(":")[0] for a in deploy - plan} == {"cloudformation", "iam"}
    (pass_role,) = [s for s in _statements("DeployRole") if "iam:PassRole" in s["Action"]]
    assert pass_role["Action"] == ["iam:PassRole"]
    assert pass_role["Resource"] == [{"Fn::GetAtt": ["CloudFormationExecutionRole", "Arn"]}]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}
    for title in ("PlanRole", "DeployRole"):
        for statement in _statements(title):
            # Only what IAM offers no resource for: a detection's status (by id), and most services' Describes,
            # those held to the stacks' region; and cloudformation:ListStacks ("*" is its only value: it reads
            # the names and statuses of stacks, to find the bootstrap a stack set made, StackSet-nlsql-bootstrap-*).
            if statement["Sid"] == "ReadWhatDriftDetectionCompares":
                assert statement["Condition"] == {"StringEquals": {"aws:RequestedRegion": {"Ref": "AWS::Region"}}}
            elif statement["Sid"] == "ReadDriftDetections":
                assert statement["Action"] == ["cloudformation:DescribeStackDriftDetectionStatus"]
            elif statement["Action"] != ["cloudformation:ListStacks"]:
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


def test_the_roles_may_detect_drift_and_read_what_each_resource_type_s_read_handler_reads() -> None:
    """Drift detection reads every resource with the caller's rights: with the types' read handlers' List and Read
    actions (their registry schemas), in the services the stacks use, and no action beyond those."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    from tests.test_boundary import _access_level, _reference
    from tests.test_iam_lint import NEWER_THAN_PARLIAMENT

    def reads(action: str) -> bool:
        if action.lower() in _reference() or action in NEWER_THAN_PARLIAMENT:
            return _access_level(action) in {"List", "Read"}
        return False  # unknown to the reference and not named there as a read: left out

    services = {p for prefixes in github.SERVICES.values() for p in prefixes} | {"iam"}
    needed = set()
    for kind in _environment_types() - {"AWS::CloudFormation::Stack"}:  # nested stacks: not checked, read by the drift
        if kind.startswith("Custom::"):
            continue
        handlers = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", kind).schema.get("handlers", {})
        needed |= {p for p in handlers.get("read", {}).get("permissions", [])
                   if p.split(":")[0] in services and reads(p)}  # fmt: skip
    granted = {f"{service}:{name}" for service, names in iam.DRIFT_READS.items() for name in names}
    assert granted == needed, (
        f"missing: {sorted(needed - granted)}; not read by any handler: {sorted(granted - needed)}"
    )
    for title in ("PlanRole", "DeployRole"):
        actions = _actions(title)
        assert granted <= actions, title
        assert {"cloudformation:DetectStackDrift", "cloudformation:DetectStackResourceDrift",
                "cloudformation:DescribeStackDriftDetectionStatus", "cloudformation:DescribeStackResourceDrifts",
                "cloudformation:ListStackResources"} <= actions, title  # fmt: skip
    (detect,) = [s for s in _statements("PlanRole") if "cloudformation:DetectStackDrift" in s["Action"]]
    assert detect["Resource"] == [{"Fn::Sub": "arn:${AWS::Partition}:cloudformation:${AWS::Region}:${AWS::AccountId}"
                                   ":stack/nlsql-*/*"}], "this project's stacks only"  # fmt: skip
    (buckets,) = [s for s in _statements("PlanRole") if "s3:GetBucketVersioning" in s["Action"]]
    assert buckets["Resource"] == [{"Fn::Sub": "arn:${AWS::Partition}:s3:::nlsql-*"}], "buckets, never their objects"


def test_the_drift_workflow_assumes_the_plan_role_on_the_branch_it_trusts() -> None:
    import yaml

    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "drift.yml").read_text())
    (job,) = workflow["jobs"].values()
    (credentials,) = [s for s in job["steps"] if str(s.get("uses", "")).startswith("aws-actions/configure-aws")]
    assert credentials["with"]["role-to-assume"] == "${{ steps.role.outputs.plan_role_arn }}", "the plan role: reads"
    (role,) = [s for s in job["steps"] if s.get("id") == "role"]
    assert "--role plan" in role["run"]
    assert github.DRIFT_BRANCH == "main", "GitHub runs a schedule on the default branch"
