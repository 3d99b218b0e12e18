"""Least privilege, asserted over every policy document of every generated template,
and awacs as the only way a policy document is written."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from builders import params
from tests.conftest import ENVS, PARAMS, REPO, STACKS, TEMPLATES, props, ref, resources, template

# Actions that do not support resource-level permissions, so "*" is the only valid Resource.
STAR_RESOURCE_ALLOWED = {"ecr:GetAuthorizationToken", "ec2:DescribeSecurityGroups"}
KEY_POLICY_ROOT_SID = "EnableIamPoliciesOfThisAccount"  # AWS's default key policy: "*" there means "this key"
KEY_POLICY_LOGS_SID = "CloudWatchLogsEncryptsThisAccountsLogGroups"  # the log groups' encryption, same "*"
KEY_POLICY_TOPIC_SID = "AlarmsAndEventsPublishToTheEncryptedAlarmTopic"  # the alarm topic's encryption, same "*"


def _documents(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(logical id, kind, document) for every policy document in a template."""
    for logical_id, resource in doc["Resources"].items():
        p = props(resource)
        for kind in ("AssumeRolePolicyDocument", "PolicyDocument", "KeyPolicy"):
            if kind in p:
                yield logical_id, kind, p[kind]
        for policy in p.get("Policies", []):
            yield logical_id, "Policies", policy["PolicyDocument"]


def _all_documents() -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    for env in ENVS:
        for stack in STACKS:
            for logical_id, kind, document in _documents(template(env, stack)):
                yield f"{env}/{stack}", logical_id, kind, document


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_there_are_policy_documents_to_check() -> None:
    kinds = {kind for _, _, kind, _ in _all_documents()}
    assert kinds == {"AssumeRolePolicyDocument", "PolicyDocument", "KeyPolicy", "Policies"}


def test_no_action_is_a_bare_star_and_no_allow_grants_a_whole_service() -> None:
    for where, logical_id, kind, document in _all_documents():
        assert document["Version"] == "2012-10-17"
        for statement in document["Statement"]:
            actions = _listed(statement.get("Action", []))
            assert "*" not in actions, (where, logical_id)
            assert "NotAction" not in statement and "NotResource" not in statement
            wildcards = [a for a in actions if isinstance(a, str) and a.endswith(":*")]
            if statement["Effect"] == "Allow" and wildcards:
                assert kind == "KeyPolicy" and statement["Sid"] == KEY_POLICY_ROOT_SID, (where, logical_id, wildcards)


def test_resource_star_only_for_actions_without_resource_level_permissions() -> None:
    for where, logical_id, kind, document in _all_documents():
        for statement in document["Statement"]:
            if "*" in _listed(statement.get("Resource", [])):
                if kind == "KeyPolicy":
                    # "*" in a key policy is this key; a Deny only narrows what the others allow
                    assert (
                        statement["Sid"] in (KEY_POLICY_ROOT_SID, KEY_POLICY_LOGS_SID, KEY_POLICY_TOPIC_SID)
                        or statement["Effect"] == "Deny"
                    )
                else:
                    assert set(_listed(statement["Action"])) <= STAR_RESOURCE_ALLOWED, (where, logical_id)


def test_every_role_is_assumable_by_one_service_of_this_account_only() -> None:
    for env in ENVS:
        for stack in STACKS:
            for logical_id, role in resources(template(env, stack), "AWS::IAM::Role").items():
                (statement,) = props(role)["AssumeRolePolicyDocument"]["Statement"]
                assert list(statement["Principal"]) == ["Service"] and len(statement["Principal"]["Service"]) == 1
                assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
                assert "ManagedPolicyArns" not in props(role), f"{logical_id}: managed policies are not least privilege"


def _role_actions(env: str, stack: str, logical_id: str) -> dict[str, list[Any]]:
    role = props(template(env, stack)["Resources"][logical_id])
    found: dict[str, list[Any]] = {}
    for policy in role.get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            for action in statement["Action"]:
                found.setdefault(action, []).extend(statement["Resource"])
    return found


@pytest.mark.parametrize("env", ENVS)
def test_task_execution_role_pulls_images_and_writes_logs_and_reads_no_secret(env: str) -> None:
    actions = _role_actions(env, "compute", "TaskExecutionRole")
    expected = {
        "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage",
        "ecr:GetAuthorizationToken", "logs:CreateLogStream", "logs:PutLogEvents",
    }  # fmt: skip
    assert set(actions) == expected, "the tasks log in to the database with IAM: no secret to inject"
    assert all(
        r["Fn::Sub"].endswith(("repository/nlsql/api", "repository/nlsql/ui")) for r in actions["ecr:BatchGetImage"]
    )


@pytest.mark.parametrize("env", ENVS)
def test_api_task_role_reads_the_data_lake_and_invokes_only_the_named_models(env: str) -> None:
    actions = _role_actions(env, "compute", "ApiTaskRole")
    has_key = "KmsKeyArn" in template(env, "compute")["Parameters"]
    read_only = {"s3:ListBucket", "s3:GetObject", "bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"}
    assert set(actions) == read_only | {"rds-db:connect"} | ({"kms:Decrypt"} if has_key else set())
    assert actions["s3:ListBucket"] == [{"Ref": "DataLakeBucketArn"}]
    # Exactly the app's two database users, named as IAM database authentication names them (AWS's documented
    # ARN format), by the cluster's resource id: never the master user, never a wildcard.
    access = params.load(PARAMS / f"{env}.yaml").database.access
    assert actions["rds-db:connect"] == [
        {"Fn::Sub": ["arn:${AWS::Partition}:rds-db:${AWS::Region}:${AWS::AccountId}:dbuser:${ClusterResourceId}/" + u,
                     {"ClusterResourceId": {"Ref": "DatabaseClusterResourceId"}}]}
        for u in (access.app_user, access.readonly_user)
    ]  # fmt: skip
    models = params.load(PARAMS / f"{env}.yaml").compute.bedrock_models
    role = props(template(env, "compute")["Resources"]["ApiTaskRole"])
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]
                  if "bedrock:InvokeModel" in s["Action"]]  # fmt: skip
    granted = {(r["Fn::Sub"], json.dumps(s.get("Condition"))) for s in statements for r in s["Resource"]}
    # Written out from Bedrock's documentation, not from the builder: a profile in this account and region, and
    # its model in any region but only through one of the profiles.
    arn = "arn:${AWS::Partition}:bedrock:"
    profiles = [m for m in models if m.split(".")[0] in {"us", "eu", "apac", "global"}]
    profile_arns = [f"{arn}${{AWS::Region}}:${{AWS::AccountId}}:inference-profile/{m}" for m in profiles]
    through = json.dumps({"ArnEquals": {"bedrock:InferenceProfileArn": [{"Fn::Sub": a} for a in profile_arns]}})
    expected = {(a, "null") for a in profile_arns}
    expected |= {(f"{arn}*::foundation-model/{m.split('.', 1)[1]}", through) for m in profiles}
    expected |= {(f"{arn}${{AWS::Region}}::foundation-model/{m}", "null") for m in models if m not in profiles}
    assert granted == expected
    assert bool(profiles) is (env in {"staging", "prod"}), "the committed params use both kinds"


@pytest.mark.parametrize("env", ENVS)
def test_ui_task_role_grants_nothing(env: str) -> None:
    assert "Policies" not in props(template(env, "compute")["Resources"]["UiTaskRole"])


@pytest.mark.parametrize("env", ENVS)
def test_kms_decrypt_is_only_through_s3_or_secrets_manager(env: str) -> None:
    for stack in ("compute", "database"):
        for _, _kind, document in _documents(template(env, stack)):
            for statement in document["Statement"]:
                if "kms:Decrypt" in _listed(statement.get("Action", [])):
                    service = statement["Condition"]["StringEquals"]["kms:ViaService"]["Fn::Sub"]
                    assert service in {"s3.${AWS::Region}.amazonaws.com", "secretsmanager.${AWS::Region}.amazonaws.com"}


@pytest.mark.parametrize("env", ENVS)
def test_pgvector_function_role_can_run_sql_on_its_cluster_and_nothing_else(env: str) -> None:
    actions = _role_actions(env, "database", "PgVectorRole")
    assert actions["rds-data:ExecuteStatement"] == [{"Fn::GetAtt": ["DatabaseCluster", "DBClusterArn"]}]
    assert actions["secretsmanager:GetSecretValue"] == [
        {"Fn::GetAtt": ["DatabaseCluster", "MasterUserSecret.SecretArn"]}
    ]
    assert {ref(r) for r in actions["logs:PutLogEvents"]} == {"PgVectorLogGroup"}


def test_policy_documents_are_written_with_awacs_only() -> None:
    # A hand-written policy would be a dict with an "Effect" or "Statement" key somewhere in the builders.
    pattern = re.compile(r"""["'](Effect|Statement|Action|Principal)["']\s*:""")
    for path in sorted((REPO / "builders").rglob("*.py")):
        assert not pattern.search(path.read_text()), (
            f"{path.name} writes a policy document by hand; use awacs in iam.py"
        )
    source = (REPO / "builders" / "iam.py").read_text()
    assert "from awacs" in source


def test_bootstrap_repositories_are_immutable_scanned_retained_and_pruned() -> None:
    from cfnlint.decode.decode import decode_str

    doc, _ = decode_str((TEMPLATES / "bootstrap.yaml").read_text())
    repos = resources(doc, "AWS::ECR::Repository")
    assert sorted(props(r)["RepositoryName"] for r in repos.values()) == ["nlsql/api", "nlsql/ui"]
    for repo in repos.values():
        p = props(repo)
        assert p["ImageTagMutability"] == "IMMUTABLE" and p["ImageScanningConfiguration"] == {"ScanOnPush": True}
        assert repo["DeletionPolicy"] == repo["UpdateReplacePolicy"] == "Retain"
        import json

        rules = json.loads(p["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
        assert {r["selection"]["tagStatus"] for r in rules} == {"untagged", "any"}
