"""The account-wide stacks through StackSets: the two roles' templates, and `build.py --stacksets` end to end.

End to end, build.py runs as a subprocess against the local AWS across two accounts: 123456789012 (the
caller's, so the administrator account, and dev's) and 111122223333 (staging in us-east-1 and prod in
us-west-2), from a params dir of the test's own. The local AWS runs stack set operations as StackSets does
(localaws.stack_sets_deploy_through_their_roles): through the execution role of each target account, which
must trust the administration role, making the instance's stack in its account and region.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode.decode import decode_str

from builders import github, stackset_admin, stackset_execution
from builders.build.pipeline import SHARED_FILES
from builders.deploy import stackset_plan
from builders.naming import STACKSET_ADMIN_ROLE, STACKSET_EXECUTION_ROLE
from tests import localaws
from tests.conftest import PARAMS, TEMPLATES
from tests.policy_documents import Resolver
from tests.test_accounts import _in_account
from tests.test_deploy_e2e import _build

ADMIN, OTHER = "123456789012", "111122223333"
REPOSITORY = "example-org/nlsql-infra"
# env -> (account, region) in the test's params dir
TARGETS = {"dev": (ADMIN, "us-east-1"), "staging": (OTHER, "us-east-1"), "prod": (OTHER, "us-west-2")}
SETS = ("nlsql-bootstrap", github.STACK_NAME)


def _doc(filename: str) -> dict[str, Any]:
    doc, errors = decode_str((TEMPLATES / filename).read_text(encoding="utf-8"))
    assert not errors, errors
    return doc


def _role(filename: str) -> tuple[dict[str, Any], Resolver]:
    doc = _doc(filename)
    ((_, role),) = [(k, r) for k, r in doc["Resources"].items() if r["Type"] == "AWS::IAM::Role"]
    return role["Properties"], Resolver(doc["Resources"])


# --- the templates ------------------------------------------------------------------------------------------


def test_both_roles_are_shared_templates_and_name_no_account() -> None:
    assert {stackset_admin.FILENAME, stackset_execution.FILENAME} <= set(SHARED_FILES)
    for name in (stackset_admin.FILENAME, stackset_execution.FILENAME):
        text = (TEMPLATES / name).read_text()
        assert not re.search(r"(?<!\d)\d{12}(?!\d)", text), f"{name} names an account id"
    assert STACKSET_ADMIN_ROLE == "stackset-admin-nlsql" and STACKSET_EXECUTION_ROLE == "stackset-execution-nlsql"
    # Outside `nlsql-*`: the CloudFormation execution role of github-oidc.yaml manages exactly those roles.
    assert not STACKSET_ADMIN_ROLE.startswith("nlsql-") and not STACKSET_EXECUTION_ROLE.startswith("nlsql-")


def test_the_admin_role_is_cloudformations_and_may_only_assume_the_execution_role() -> None:
    props, resolver = _role(stackset_admin.FILENAME)
    assert props["RoleName"] == STACKSET_ADMIN_ROLE
    (trust,) = resolver.resolve(props["AssumeRolePolicyDocument"])["Statement"]
    assert trust["Principal"] == {"Service": ["cloudformation.amazonaws.com"]} and trust["Action"] == ["sts:AssumeRole"]
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    (policy,) = props["Policies"]
    (statement,) = resolver.resolve(policy["PolicyDocument"])["Statement"]
    assert statement["Effect"] == "Allow" and statement["Action"] == ["sts:AssumeRole"]
    assert statement["Resource"] == [f"arn:aws:iam::*:role/{STACKSET_EXECUTION_ROLE}"]


def test_the_execution_role_trusts_the_admin_role_of_the_named_account_only() -> None:
    doc = _doc(stackset_execution.FILENAME)
    parameter = doc["Parameters"][stackset_execution.ADMIN_ACCOUNT_PARAMETER]
    assert parameter["AllowedPattern"] == r"^\d{12}$" and "Default" not in parameter
    props, resolver = _role(stackset_execution.FILENAME)
    assert props["RoleName"] == STACKSET_EXECUTION_ROLE
    (trust,) = resolver.resolve(props["AssumeRolePolicyDocument"])["Statement"]
    # policy_documents stands 111122223333 in for AdministratorAccountId.
    assert trust == {"Effect": "Allow", "Action": ["sts:AssumeRole"],
                     "Principal": {"AWS": f"arn:aws:iam::111122223333:role/{STACKSET_ADMIN_ROLE}"}}  # fmt: skip


def _execution_grants() -> list[tuple[set[str], list[str]]]:
    props, resolver = _role(stackset_execution.FILENAME)
    (policy,) = props["Policies"]
    statements = resolver.resolve(policy["PolicyDocument"])["Statement"]
    assert all(s["Effect"] == "Allow" and "*" not in s["Resource"] for s in statements), "everything by name"
    return [(set(s["Action"]), s["Resource"]) for s in statements]


def test_the_execution_role_may_do_what_the_handlers_of_the_account_wide_stacks_call_on_their_names() -> None:
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    grants = _execution_grants()
    # What no account-wide resource uses: attaching the boundary to groups, users or roles, KMS-encrypted
    # repositories, a role's boundary (the GitHub roles have none), S3 handler names that are not IAM actions.
    unused = re.compile(r"iam:(Attach|Detach)(Group|User|Role)Policy|kms:.*|iam:(Put|Delete)RolePermissionsBoundary")
    for filename in (bootstrap_file := "bootstrap.yaml", github.FILENAME):
        for logical_id, resource in _doc(filename)["Resources"].items():
            if resource["Type"] == "AWS::S3::Bucket":
                continue  # the S3 lists are the CloudFormation execution role's, compared in test_boundary.py
            handlers = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource["Type"]).schema["handlers"]
            called = {p for h in ("create", "read", "update", "delete") for p in handlers[h]["permissions"]}
            for action in sorted(called):
                if unused.fullmatch(action):
                    continue
                assert any(action in actions for actions, _ in grants), f"{filename} {logical_id}: {action}"
    assert bootstrap_file in SHARED_FILES


def test_the_execution_role_is_scoped_to_the_account_wide_stacks_names() -> None:
    resources = sorted(r for _, found in _execution_grants() for r in found)
    assert resources == sorted([
        "arn:aws:cloudformation:*:123456789012:stack/StackSet-nlsql-*/*",
        "arn:aws:ecr:*:123456789012:repository/nlsql/*",
        "arn:aws:s3:::nlsql-*", "arn:aws:s3:::nlsql-*/*",
        "arn:aws:iam::123456789012:policy/nlsql-permissions-boundary-*",
        "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com",
        *(f"arn:aws:iam::123456789012:role/{label}-nlsql-*" for label in github.ROLE_LABELS),
    ])  # fmt: skip


def test_the_guard_finds_a_replaced_or_removed_stateful_resource_from_the_schemas() -> None:
    before = (TEMPLATES / "bootstrap.yaml").read_text()
    assert stackset_plan.replacements("nlsql-bootstrap", before, before, "us-east-1") == []
    renamed = before.replace("RepositoryName: nlsql/api", "RepositoryName: nlsql/api2", 1)
    (change,) = stackset_plan.replacements("nlsql-bootstrap", before, renamed, "us-east-1")
    assert (change.logical_id, change.action, change.causes) == ("ApiRepository", "Modify", (("RepositoryName",
                                                                   "Always", ""),))  # fmt: skip
    # A property that is not create-only (the lifecycle policy) replaces nothing.
    assert stackset_plan.replacements("nlsql-bootstrap", before, before.replace("200", "300"), "us-east-1") == []
    gone = before.replace("  ArtifactsBucket:\n", "  ArtifactsBucketRenamed:\n", 1)
    assert [(c.logical_id, c.action) for c in stackset_plan.replacements("x", before, gone, "us-east-1")] == [
        ("ArtifactsBucket", "Remove")
    ]


# --- end to end -------------------------------------------------------------------------------------------


def _workdir(tmp_path: Path, **extra: dict[str, str]) -> Path:
    """A params dir of the test's own: dev in the admin account, staging and prod in another account."""
    (tmp_path / "params").mkdir()
    for env, (account, region) in TARGETS.items():
        text = (PARAMS / f"{env}.yaml").read_text()
        text = re.sub(r'\naccount_id: "\d+"', f'\naccount_id: "{account}"', text)
        text = re.sub(r"\nregion: [\w-]+", f"\nregion: {region}\ngithub_repository: {REPOSITORY}", text)
        for key, value in extra.get(env, {}).items():
            text = re.sub(rf"\n{key}: .*", f"\n{key}: {value}", text)
        (tmp_path / "params" / f"{env}.yaml").write_text(text)
    shutil.copy(PARAMS / "schema.json", tmp_path / "params" / "schema.json")
    return tmp_path


def _deploy_roles(local: localaws.LocalAws, accounts: tuple[str, ...] = (ADMIN, OTHER)) -> None:
    """What the administrator does first, with the repository's own templates: the admin role, then each
    target account's execution role with AdministratorAccountId."""
    admin = _in_account(local, "cloudformation", ADMIN)
    admin.create_stack(StackName="nlsql-stackset-admin", Capabilities=["CAPABILITY_NAMED_IAM"],
                       TemplateBody=(TEMPLATES / stackset_admin.FILENAME).read_text())  # fmt: skip
    for account in accounts:
        _in_account(local, "cloudformation", account).create_stack(
            StackName="nlsql-stackset-execution", Capabilities=["CAPABILITY_NAMED_IAM"],
            TemplateBody=(TEMPLATES / stackset_execution.FILENAME).read_text(),
            Parameters=[{"ParameterKey": "AdministratorAccountId", "ParameterValue": ADMIN}])  # fmt: skip


def _stacks(local: localaws.LocalAws, account: str, region: str) -> dict[str, str]:
    """The instance stacks in that account and region: stack set name -> status."""
    client = _regional(local, account, region)
    found = {}
    for stack in client.describe_stacks()["Stacks"]:
        match = re.fullmatch(r"StackSet-(nlsql-[a-z-]+?)-[0-9a-f-]{36}", stack["StackName"])
        if match:
            found[match.group(1)] = stack["StackStatus"]
    return found


def _regional(local: localaws.LocalAws, account: str, region: str) -> Any:
    import boto3

    client = boto3.client("cloudformation", endpoint_url=local.url, region_name=region, aws_access_key_id="testing",
                          aws_secret_access_key="testing")  # fmt: skip
    client.meta.events.register("before-sign.*.*", lambda request, **_: request.headers.__setitem__(
        "x-moto-account-id", account))  # fmt: skip
    return client


def _said(result: Any) -> str:
    return " ".join((result.stdout + result.stderr).split())


def test_plan_lists_every_instance_to_create_and_changes_nothing(local, tmp_path) -> None:
    work = _workdir(tmp_path)
    _deploy_roles(local)
    result = _build(local, work, "--stacksets", "--plan")
    assert result.returncode == 0, result.stdout + result.stderr
    said = _said(result)
    for name in SETS:
        assert f"{name} (account {ADMIN}, us-east-1): does not exist yet: created" in said
        for account, region in TARGETS.values():
            assert re.search(rf"create +{account} +{region} +new stack set", result.stdout), (name, account, region)
    assert "2 stack set(s): 6 instance(s) to create, 0 to update" in said and "plan only: nothing was changed" in said
    assert _in_account(local, "cloudformation", ADMIN).list_stack_sets()["Summaries"] == []
    assert _stacks(local, OTHER, "us-east-1") == {} and _stacks(local, ADMIN, "us-east-1") == {}

    # No terminal and no --yes: refused after the preview, as a deploy is.
    refused = _build(local, work, "--stacksets")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "no terminal to ask on and no --yes: no stack set was created or changed" in _said(refused)
    assert _in_account(local, "cloudformation", ADMIN).list_stack_sets()["Summaries"] == []


def test_stacksets_create_then_update_the_stacks_in_every_account_and_region(local, tmp_path) -> None:
    work = _workdir(tmp_path)
    _deploy_roles(local)
    result = _build(local, work, "--stacksets", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    for account, region in TARGETS.values():
        assert _stacks(local, account, region) == {s: "CREATE_COMPLETE" for s in SETS}, (account, region)
    # The first region of the other account creates its GitHub provider; its second region passes the ARN.
    cf = _in_account(local, "cloudformation", ADMIN)

    def overrides(account: str, region: str) -> dict[str, str]:
        found = cf.describe_stack_instance(StackSetName=github.STACK_NAME, StackInstanceAccount=account,
                                           StackInstanceRegion=region)["StackInstance"]  # fmt: skip
        found = found["ParameterOverrides"]
        return {p["ParameterKey"]: p["ParameterValue"] for p in found}

    assert overrides(OTHER, "us-east-1") == {"Repository": REPOSITORY, "ExistingProviderArn": ""}
    assert overrides(OTHER, "us-west-2")["ExistingProviderArn"] == github.provider_arn(OTHER)
    there = _in_account(local, "iam", OTHER).list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert [p["Arn"] for p in there] == [github.provider_arn(OTHER)]
    assert "SUCCEEDED" in result.stdout and "RUNNING" not in result.stderr

    again = _build(local, work, "--stacksets", "--plan")
    assert again.returncode == 0 and "6 unchanged" in _said(again), again.stdout + again.stderr

    # An environment's deploy finds the bootstrap the stack set made, instead of making nlsql-bootstrap beside it.
    plan = _build(local, work, "dev", "--plan")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert f"-> s3://nlsql-shared-artifacts-{ADMIN}-us-east-1/plans/" in plan.stdout
    assert "nlsql-bootstrap" not in {s["StackName"] for s in _regional(local, ADMIN, "us-east-1").describe_stacks()[
        "Stacks"]}  # fmt: skip

    # A changed template (the ECR lifecycle keeps more images) updates every instance of that stack set.
    import builders.bootstrap as boot

    changed = tmp_path / "changed.py"
    changed.write_text(f"import runpy, sys\nimport builders.bootstrap as b\nb.TAGGED_KEPT = {boot.TAGGED_KEPT + 1}\n"
                       "sys.argv[0] = 'build.py'\nrunpy.run_path(sys.argv[0], run_name='__main__')\n")  # fmt: skip
    plan = _build_with(local, work, changed, "--stacksets", "--plan")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "nlsql-bootstrap (account 123456789012, us-east-1): template differs" in _said(plan)
    assert re.search(rf"update +{OTHER} +us-west-2 +template differs", plan.stdout), plan.stdout
    assert re.search(rf"unchanged +{OTHER} +us-west-2", plan.stdout), "the GitHub stack set is as built"
    update = _build_with(local, work, changed, "--stacksets", "--yes")
    assert update.returncode == 0, update.stdout + update.stderr
    for account, region in TARGETS.values():
        assert _stacks(local, account, region)["nlsql-bootstrap"] == "UPDATE_COMPLETE", (account, region)
        body = _regional(local, account, region).get_template(StackName=_stack_name(local, account, region))
        assert f'countNumber": {boot.TAGGED_KEPT + 1}' in str(body["TemplateBody"]), (account, region)


def _stack_name(local: localaws.LocalAws, account: str, region: str) -> str:
    (name,) = [s["StackName"] for s in _regional(local, account, region).describe_stacks()["Stacks"]
               if s["StackName"].startswith("StackSet-nlsql-bootstrap-")]  # fmt: skip
    return name


def _build_with(local: localaws.LocalAws, work: Path, script: Path, *args: str) -> Any:
    """build.py as `_build` runs it, but through `script`, which changes a builder in that process first."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    env = {**os.environ, **localaws.credentials_env(), "COLUMNS": "200", "PYTHONPATH": str(REPO)}
    env.pop("AWS_ENDPOINT_URL", None)
    return subprocess.run([sys.executable, str(script), *args, "--endpoint-url", local.url, "--params-dir",
                           str(work / "params"), "--out", str(work / "templates")], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env=env)  # fmt: skip


def test_an_account_without_the_execution_role_fails_its_instance_and_names_it(local, tmp_path) -> None:
    work = _workdir(tmp_path)
    _deploy_roles(local, accounts=(ADMIN,))
    result = _build(local, work, "--stacksets", "--yes")
    assert result.returncode == 1, result.stdout + result.stderr
    said = _said(result)
    assert (f"account {OTHER}, region us-east-1: FAILED: Account {OTHER} should have '{STACKSET_EXECUTION_ROLE}' "
            f"role with trust relationship to Role '{STACKSET_ADMIN_ROLE}'.") in said  # fmt: skip
    assert "Traceback" not in result.stderr
    # Accounts go in order (111122223333 first): nothing runs after the failed operation, not even in the account
    # that has its role.
    assert _stacks(local, OTHER, "us-east-1") == {} and _stacks(local, ADMIN, "us-east-1") == {}
    assert result.stdout.count("create instances in") == 1, result.stdout

    # With the role in place, the failed instance is updated again and the rest is created.
    _deploy_roles_in(local, OTHER)
    plan = _build(local, work, "--stacksets", "--plan")
    assert re.search(rf"update +{OTHER} +us-east-1 +its last operation ended FAILED", plan.stdout), plan.stdout
    fixed = _build(local, work, "--stacksets", "--yes")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert _stacks(local, OTHER, "us-west-2") == {s: "CREATE_COMPLETE" for s in SETS}, fixed.stdout


def _deploy_roles_in(local: localaws.LocalAws, account: str) -> None:
    _in_account(local, "cloudformation", account).create_stack(
        StackName="nlsql-stackset-execution", Capabilities=["CAPABILITY_NAMED_IAM"],
        TemplateBody=(TEMPLATES / stackset_execution.FILENAME).read_text(),
        Parameters=[{"ParameterKey": "AdministratorAccountId", "ParameterValue": ADMIN}])  # fmt: skip


def test_no_admin_role_is_refused_with_the_commands_that_make_both_roles(local, tmp_path) -> None:
    work = _workdir(tmp_path)
    result = _build(local, work, "--stacksets", "--plan")
    assert result.returncode == 1, result.stdout + result.stderr
    said = _said(result)
    assert f"account {ADMIN} has no role {STACKSET_ADMIN_ROLE}" in said and "nothing was done" in said
    assert f"--template-file templates/{stackset_admin.FILENAME}" in said
    assert f"--template-file templates/{stackset_execution.FILENAME}" in said
    assert f"AdministratorAccountId={ADMIN}" in said and "Traceback" not in result.stderr
    # The two commands, run as printed (the AWS CLI, from the repository), make the roles; then it goes on. The
    # execution role is made in the admin account here, which is a target too (the CLI cannot act as another).
    import shlex

    from tests.test_aws_cli_path import _aws

    commands = re.findall(r"`(aws cloudformation deploy [^`]+)`", said)
    assert len(commands) == 2, said
    for command in commands:
        made = _aws(local, *shlex.split(command)[1:])
        assert made.returncode == 0, made.stdout + made.stderr
    again = _build(local, work, "--stacksets", "--plan")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "does not exist yet: created" in _said(again)


def test_a_caller_in_no_environments_account_is_refused_before_any_call(local, tmp_path) -> None:
    third = "444455556666"
    work = _workdir(tmp_path)
    for env in ("dev",):
        path = work / "params" / f"{env}.yaml"
        path.write_text(path.read_text().replace(f'account_id: "{ADMIN}"', f'account_id: "{third}"'))
    _deploy_roles(local)
    result = _build(local, work, "--stacksets", "--yes")
    assert result.returncode == 1, result.stdout + result.stderr
    said = _said(result)
    assert f"the credentials are for account {ADMIN}" in said and f"({OTHER}, {third}): nothing was done" in said
    assert _in_account(local, "cloudformation", ADMIN).list_stack_sets()["Summaries"] == []


@pytest.mark.parametrize(("args", "said"), [
    (("--stacksets", "--deploy"), "--stacksets cannot be combined with --deploy"),
    (("--stacksets", "--check"), "--stacksets cannot be combined with --check"),
    (("--stacksets", "--role-arn", "arn:aws:iam::123456789012:role/x"), "cannot be combined with --role-arn"),
])  # fmt: skip
def test_stacksets_refuses_flags_that_are_about_a_stack(tmp_path, args, said) -> None:
    from tests.conftest import run_build

    result = run_build(*args)
    assert result.returncode == 2 and said in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_a_missing_repository_is_a_params_error_before_any_call(tmp_path) -> None:
    from tests.conftest import run_build

    work = _workdir(tmp_path)
    path = work / "params" / "staging.yaml"
    path.write_text(path.read_text().replace(f"github_repository: {REPOSITORY}\n", ""))
    # Nothing listens on port 9: a call made before the params check would fail otherwise.
    result = run_build("--stacksets", "--plan", "--params-dir", work / "params", "--out", work / "templates",
                       "--endpoint-url", "http://127.0.0.1:9")  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "staging.yaml: github_repository is not set" in _said(result) and "Traceback" not in result.stderr


def test_ctrl_c_stops_the_waiting_not_the_operation(local, tmp_path, monkeypatch) -> None:
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import REPO

    monkeypatch.setattr(localaws, "STACKSET_SECONDS", 60.0)  # the server runs in this process: a long operation
    work = _workdir(tmp_path)
    _deploy_roles(local)
    env = {**os.environ, **localaws.credentials_env(), "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    env.pop("AWS_ENDPOINT_URL", None)
    child = subprocess.Popen([sys.executable, str(REPO / "build.py"), "dev", "--stacksets", "--yes", "--endpoint-url",
                              local.url, "--params-dir", str(work / "params"), "--out", str(work / "templates")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    lines = []
    assert child.stdout is not None
    for line in child.stdout:
        lines.append(line)
        if ": RUNNING" in line:
            break
    operation = re.search(r"operation ([0-9a-f-]{36})", "".join(lines))
    assert operation, "".join(lines)
    child.send_signal(signal.SIGINT)
    rest, err = child.communicate(timeout=60)
    said = " ".join(("".join(lines) + rest + err).split())
    assert child.returncode == 130, said
    assert f"operation {operation.group(1)} of stack set nlsql-bootstrap continues in AWS" in said
    assert (f"aws cloudformation stop-stack-set-operation --stack-set-name nlsql-bootstrap --operation-id "
            f"{operation.group(1)}") in said and "Traceback" not in err  # fmt: skip
    running = _in_account(local, "cloudformation", ADMIN).describe_stack_set_operation(
        StackSetName="nlsql-bootstrap", OperationId=operation.group(1))["StackSetOperation"]["Status"]  # fmt: skip
    assert running == "RUNNING", "the operation was left to run"


def test_an_update_that_replaces_a_repository_is_refused_unless_allowed(local, tmp_path) -> None:
    work = _workdir(tmp_path)
    _deploy_roles(local, accounts=(ADMIN,))
    created = _build(local, work, "dev", "--stacksets", "--yes")
    assert created.returncode == 0, created.stdout + created.stderr
    before = _in_account(local, "cloudformation", ADMIN).describe_stack_set(StackSetName="nlsql-bootstrap")
    renamed = tmp_path / "renamed.py"
    renamed.write_text("import runpy, sys\nimport builders.bootstrap as b\n"
                       "b.repository = lambda service: f'nlsql/{service}-v2'\n"
                       "sys.argv[0] = 'build.py'\nrunpy.run_path(sys.argv[0], run_name='__main__')\n")  # fmt: skip
    plan = _build_with(local, work, renamed, "dev", "--stacksets", "--plan")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert (
        "stateful: nlsql-bootstrap/ApiRepository (AWS::ECR::Repository) would be replaced (True) because of "
        "RepositoryName (Always)" in _said(plan)
    )
    refused = _build_with(local, work, renamed, "dev", "--stacksets", "--yes")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    said = _said(refused)
    assert "refusing to update the stack sets" in said and "ApiRepository (AWS::ECR::Repository)" in said
    assert "UiRepository" in said and "--allow-replacement" in said and "nothing was changed" in said
    after = _in_account(local, "cloudformation", ADMIN).describe_stack_set(StackSetName="nlsql-bootstrap")
    assert after["StackSet"]["TemplateBody"] == before["StackSet"]["TemplateBody"]
