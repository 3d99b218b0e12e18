"""Deploys end to end, through build.py as a user runs it, against a local AWS on 127.0.0.1.

One moto server (tests/localaws.py) is started for this module and stopped
after it; the tests run in file order and build on each other: the first
deploy creates the bootstrap stack and dev, the next finds no changes, and
so on. Resources are checked through the service APIs (EC2, S3, ECR, ECS,
ELBv2, CloudFormation), not through our own code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from tests import localaws
from tests.conftest import PARAMS, REPO, STACKS, read_terminal, template

STACK = "nlsql-dev"
NESTED = sorted(f"{stack}.yaml" for stack in STACKS[1:])  # the child templates a deploy uploads


@pytest.fixture(scope="module")
def local() -> Iterator[localaws.LocalAws]:
    server = localaws.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of params/ to edit, and an output folder, so the repository's files are never touched."""
    root = tmp_path_factory.mktemp("deploy")
    shutil.copytree(PARAMS, root / "params")
    return root


def _build(
    local: localaws.LocalAws, workdir: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **localaws.credentials_env(), "COLUMNS": "200"}
    env.pop("AWS_ENDPOINT_URL", None)  # the child must reach the local AWS because it was told to, not by accident
    return subprocess.run(
        [
            sys.executable,
            str(REPO / "build.py"),
            *args,
            "--endpoint-url",
            local.url,
            "--params-dir",
            str(workdir / "params"),
            "--out",
            str(workdir / "templates"),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        input=stdin,
    )


def _client(local: localaws.LocalAws, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=local.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _parameters(local: localaws.LocalAws) -> dict[str, str]:
    stack = _client(local, "cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack.get("Parameters", [])}


def _edit_params(workdir: Path, change: dict[str, Any]) -> None:
    path = workdir / "params" / "dev.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["compute"]["api"].update(change)
    path.write_text(yaml.safe_dump(doc))


def _document(value: Any) -> Any:
    """A policy document as boto3 gives it: a dict from AWS, the JSON text from moto."""
    return json.loads(value) if isinstance(value, str) else value


def test_first_deploy_creates_the_bootstrap_stack_and_the_environment(local, workdir) -> None:
    result = _build(local, workdir, "dev", "--deploy", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "creating nlsql-bootstrap" in result.stdout
    assert "(CREATE) for nlsql-dev" in result.stdout
    assert "nlsql-dev/Database/DatabaseCluster AWS::RDS::DBCluster CREATE_COMPLETE" in result.stdout
    cf = _client(local, "cloudformation")
    assert cf.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    assert {t["Key"]: t["Value"] for t in cf.describe_stacks(StackName=STACK)["Stacks"][0]["Tags"]} == {
        "Project": "nlsql", "Environment": "dev", "ManagedBy": "cloudformation"
    }  # fmt: skip
    vpcs = _client(local, "ec2").describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.2.0.0/16"]}])["Vpcs"]
    assert len(vpcs) == 1
    subnets = _client(local, "ec2").describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpcs[0]["VpcId"]]}])[
        "Subnets"
    ]
    assert len(subnets) == 6, "public, private and database subnets in 2 AZs"
    # The VPC's default security group was emptied by its custom resource, whose own handler ran.
    ec2 = _client(local, "ec2")
    wanted = [{"Name": "vpc-id", "Values": [vpcs[0]["VpcId"]]}, {"Name": "group-name", "Values": ["default"]}]
    (default,) = ec2.describe_security_groups(Filters=wanted)["SecurityGroups"]
    assert ("RestrictDefaultSecurityGroup", "SUCCESS") in localaws.ANSWERS
    assert default["IpPermissions"] == [] and default["IpPermissionsEgress"] == [], default
    buckets = {b["Name"] for b in _client(local, "s3").list_buckets()["Buckets"]}
    assert {"nlsql-dev-datalake-123456789012-us-east-1", "nlsql-shared-artifacts-123456789012-us-east-1"} <= buckets
    repos = {r["repositoryName"] for r in _client(local, "ecr").describe_repositories()["repositories"]}
    assert repos == {"nlsql/api", "nlsql/ui"}
    # Every role the stacks made carries the bootstrap stack's permissions boundary (a missing one fails a role).
    bootstrap = cf.describe_stacks(StackName="nlsql-bootstrap")["Stacks"][0]
    boundary = {o["OutputKey"]: o["OutputValue"] for o in bootstrap["Outputs"]}["PermissionsBoundaryArn"]
    assert boundary == "arn:aws:iam::123456789012:policy/nlsql-permissions-boundary-us-east-1"
    iam = _client(local, "iam")
    roles = [iam.get_role(RoleName=r["RoleName"])["Role"] for r in iam.list_roles()["Roles"]]
    made = [r for r in roles if r["RoleName"].startswith("nlsql-dev")]
    assert len(made) >= 5, [r["RoleName"] for r in roles]
    assert {r.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn") for r in made} == {boundary}
    assert len(_client(local, "ecs").list_clusters()["clusterArns"]) == 1
    (alb,) = _client(local, "elbv2").describe_load_balancers()["LoadBalancers"]
    assert alb["Scheme"] == "internet-facing"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cf.describe_stacks(StackName=STACK)["Stacks"][0]["Outputs"]}
    assert outputs["AppUrl"] == f"http://{alb['DNSName']}"
    assert outputs["DataLakeBucketName"] == "nlsql-dev-datalake-123456789012-us-east-1"
    # The pgvector custom resource's own handler ran, answered SUCCESS and sent its SQL through the Data API.
    assert ("PgVectorExtension", "SUCCESS") in localaws.ANSWERS, localaws.ANSWERS
    assert any(sql == "CREATE EXTENSION IF NOT EXISTS vector" for _, sql in localaws.STATEMENTS)
    # ...and then the database roles', after the extension (DependsOn), all of them.
    assert ("DatabaseRoles", "SUCCESS") in localaws.ANSWERS, localaws.ANSWERS
    sent = [sql for _, sql in localaws.STATEMENTS]
    roles = template("dev", "database")["Resources"]["DatabaseRoles"]["Properties"]["Statements"]
    assert sent.index("CREATE EXTENSION IF NOT EXISTS vector") < sent.index(roles[0]) and set(roles) <= set(sent)
    # The API's task role may log in as the app's two database users of *this* cluster: the resource id went
    # from the database stack through the root into the compute stack's policy.
    nested = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in cf.describe_stack_resources(StackName=STACK)[
        "StackResources"]}  # fmt: skip
    database_outputs = {o["OutputKey"]: o["OutputValue"] for o in cf.describe_stacks(StackName=nested["Database"])[
        "Stacks"][0]["Outputs"]}  # fmt: skip
    resource_id = database_outputs["DatabaseClusterResourceId"]
    assert resource_id.startswith("cluster-")
    role = cf.describe_stack_resource(StackName=nested["Compute"], LogicalResourceId="ApiTaskRole")
    iam = _client(local, "iam")
    role_name = role["StackResourceDetail"]["PhysicalResourceId"]
    documents = [_document(iam.get_role_policy(RoleName=role_name, PolicyName=n)["PolicyDocument"])
                 for n in iam.list_role_policies(RoleName=role_name)["PolicyNames"]]  # fmt: skip
    connect = [
        r for d in documents for st in d["Statement"] if "rds-db:connect" in st["Action"] for r in st["Resource"]
    ]
    assert connect == [
        f"arn:aws:rds-db:us-east-1:123456789012:dbuser:{resource_id}/{u}" for u in ("nlsql_app", "nlsql_reader")
    ]
    # Child templates went to the artifacts bucket under content-hash keys.
    keys = [
        o["Key"]
        for o in _client(local, "s3").list_objects_v2(Bucket="nlsql-shared-artifacts-123456789012-us-east-1")[
            "Contents"
        ]
    ]
    assert sorted(k.rsplit("/", 1)[1] for k in keys) == NESTED
    # The monitoring stack's alarms are CloudWatch's now, each named as the builder names it, and the composite.
    from builders import monitoring, params

    made = _client(local, "cloudwatch").describe_alarms(AlarmNamePrefix="nlsql-dev-", AlarmTypes=[
        "MetricAlarm", "CompositeAlarm"])  # fmt: skip
    names = {a["AlarmName"] for kind in ("MetricAlarms", "CompositeAlarms") for a in made.get(kind, [])}
    assert names == set(monitoring.alarm_names(params.load(PARAMS / "dev.yaml")))
    assert outputs["AlarmTopicArn"].endswith(":nlsql-dev-alarms")


def test_deploying_again_is_no_changes_and_reuses_the_uploads(local, workdir) -> None:
    result = _build(local, workdir, "dev", "--deploy", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nlsql-dev: no changes" in result.stdout
    assert result.stdout.count("unchanged dev/") == len(NESTED) and "uploaded dev/" not in result.stdout
    assert "creating nlsql-bootstrap" not in result.stdout


def test_an_object_someone_else_put_at_a_template_s_key_stops_the_deploy(local, workdir) -> None:
    """Keys are content hashes, so a deploy reuses what it finds there, but only if the bytes are the template's:
    whoever else could write the bucket must not get a template of theirs deployed."""
    s3, bucket = _client(local, "s3"), "nlsql-shared-artifacts-123456789012-us-east-1"
    (key,) = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="templates/dev/")["Contents"]
              if o["Key"].endswith("/network.yaml")]  # fmt: skip
    original = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    s3.put_object(Bucket=bucket, Key=key, Body=original.replace(b"10.2.0.0/16", b"10.66.0.0/16"))
    try:
        result = _build(local, workdir, "dev", "--deploy", "--yes")
    finally:
        s3.put_object(Bucket=bucket, Key=key, Body=original)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"s3://{bucket}/{key} is named after this template's content but holds" in result.stderr
    assert "Traceback" not in result.stderr
    assert "nlsql-dev: no changes" not in result.stdout and "(UPDATE) for nlsql-dev" not in result.stdout
    assert _client(local, "cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == (
        "CREATE_COMPLETE")  # fmt: skip


def test_without_a_terminal_or_yes_the_change_is_refused_and_nothing_changes(local, workdir) -> None:
    _edit_params(workdir, {"image_tag": "0.2.0"})
    result = _build(local, workdir, "dev", "--deploy", stdin="")
    assert result.returncode == 1
    assert "no terminal to ask on and no --yes" in result.stderr
    assert _parameters(local)["ApiImageTag"] == "0.1.0"


def test_a_plan_shows_the_change_and_executes_nothing(local, workdir) -> None:
    result = _build(local, workdir, "dev", "--plan", "--change-set-name", "reviewed-1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(UPDATE) for nlsql-dev" in result.stdout and "change set reviewed-1 kept" in result.stdout
    assert _parameters(local)["ApiImageTag"] == "0.1.0"
    hint = result.stdout.split("Execute exactly it with: ", 1)[1].splitlines()[0]
    assert hint == "python build.py dev --deploy --change-set-name reviewed-1"  # the next test runs exactly it
    # A plan uploads where only plans write (the plan role may write nothing else), never where deploys reuse.
    planned = _client(local, "s3").list_objects_v2(Bucket="nlsql-shared-artifacts-123456789012-us-east-1",
                                                  Prefix="plans/dev/")["Contents"]  # fmt: skip
    assert sorted(o["Key"].rsplit("/", 1)[1] for o in planned) == [
        *NESTED]  # fmt: skip
    assert "-> s3://nlsql-shared-artifacts-123456789012-us-east-1/plans/dev/" in result.stdout
    summary = next(line for line in result.stdout.splitlines() if " change(s): " in line and "to add" in line)
    rows = sum(
        int(line.split(": ")[-1].split()[0]) for line in result.stdout.splitlines() if line.endswith(" change(s)")
    )
    assert summary.split(": ", 1)[1].startswith(f"{rows} change(s)"), (summary, rows)  # adds up to its tables


def test_the_reviewed_change_set_is_executed_by_name(local, workdir) -> None:
    hint = "python build.py dev --deploy --change-set-name reviewed-1"  # what the plan above printed
    result = _build(local, workdir, *hint.split()[2:], "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "creating change set" not in result.stdout, "the reviewed change set is executed, not a new one"
    assert _parameters(local)["ApiImageTag"] == "0.2.0"
    assert (
        _client(local, "cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"]
        == "UPDATE_COMPLETE"
    )


def test_status_shows_the_stack_and_its_outputs(local, workdir) -> None:
    result = _build(local, workdir, "dev", "--status")
    assert result.returncode == 0, result.stderr
    assert "nlsql-dev: UPDATE_COMPLETE" in result.stdout and "AppUrl" in result.stdout


def test_production_is_never_deleted(local, workdir) -> None:
    result = _build(local, workdir, "prod", "--delete", "--yes")
    assert result.returncode == 1 and "never deletes it" in result.stderr


def test_deleting_dev_removes_the_stack_and_keeps_the_data_lake(local, workdir) -> None:
    refused = _build(local, workdir, "dev", "--delete", stdin="")
    assert refused.returncode == 1 and "was not deleted" in refused.stderr
    result = _build(local, workdir, "dev", "--delete", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nlsql-dev: deleted" in result.stdout
    stacks = _client(local, "cloudformation").list_stacks(StackStatusFilter=["CREATE_COMPLETE", "UPDATE_COMPLETE"])
    assert STACK not in {s["StackName"] for s in stacks["StackSummaries"]}
    buckets = {b["Name"] for b in _client(local, "s3").list_buckets()["Buckets"]}
    assert "nlsql-dev-datalake-123456789012-us-east-1" in buckets, "DeletionPolicy: Retain kept the data lake"
    vpcs = _client(local, "ec2").describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.2.0.0/16"]}])["Vpcs"]
    assert vpcs == [], "the network went with the stack"


def test_a_failed_create_rolls_back_and_names_the_resource_and_its_reason(local, workdir) -> None:
    # The data lake kept by the delete above (DeletionPolicy Retain) now blocks the bucket of a new dev.
    result = _build(local, workdir, "dev", "--deploy", "--yes")
    assert result.returncode == 1
    out = result.stdout + result.stderr
    summary = out[out.index("nlsql-dev ended ROLLBACK_COMPLETE. What failed first:") :].splitlines()
    # CloudFormation's own reason for the bucket in the nested stack, not the root's "Embedded stack ...".
    assert (
        summary[1]
        .strip()
        .startswith("nlsql-dev/Storage/DataLakeBucket (AWS::S3::Bucket): The requested bucket name is not available")
    ), summary
    assert "Embedded stack" not in "\n".join(summary)
    cf = _client(local, "cloudformation")
    assert cf.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == "ROLLBACK_COMPLETE"
    vpcs = _client(local, "ec2").describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.2.0.0/16"]}])["Vpcs"]
    assert vpcs == [], "the rollback deleted what the failed create had made"


def test_a_rolled_back_create_is_replaced_only_when_asked(local, workdir) -> None:
    refused = _build(local, workdir, "dev", "--deploy", "--yes")
    assert refused.returncode == 1 and "--recreate-failed" in refused.stderr
    # The engineer decides the old data lake can go (here it is empty) ...
    _client(local, "s3").delete_bucket(Bucket="nlsql-dev-datalake-123456789012-us-east-1")
    # ... and asks for the failed stack to be replaced.
    result = _build(local, workdir, "dev", "--deploy", "--yes", "--recreate-failed")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "deleting nlsql-dev (ROLLBACK_COMPLETE) before creating it again" in result.stdout
    cf = _client(local, "cloudformation")
    assert cf.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"


def test_production_gets_termination_protection_and_a_stack_policy(local, workdir) -> None:
    # The account has a certificate, and its ARN in SSM where the params file says (README: once per account).
    certificate = _client(local, "acm").request_certificate(DomainName="nlsql.example.com")["CertificateArn"]
    _client(local, "ssm").put_parameter(Name="/nlsql/prod/certificate-arn", Type="String", Value=certificate)
    result = _build(local, workdir, "prod", "--deploy", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    cf = _client(local, "cloudformation")
    stack = cf.describe_stacks(StackName="nlsql-prod")["Stacks"][0]
    assert stack["EnableTerminationProtection"] is True
    nested = [r for r in cf.describe_stack_resources(StackName="nlsql-prod")["StackResources"]
              if r["ResourceType"] == "AWS::CloudFormation::Stack"]  # fmt: skip
    assert len(nested) == len(NESTED)
    for name in ["nlsql-prod", *(r["PhysicalResourceId"] for r in nested)]:
        policy = __import__("json").loads(cf.get_stack_policy(StackName=name)["StackPolicyBody"])
        (deny,) = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
        assert set(deny["Action"]) == {"Update:Replace", "Update:Delete"}
        assert "AWS::RDS::DBCluster" in deny["Condition"]["StringEquals"]["ResourceType"]
    assert "termination protection on" in result.stdout
    listeners = _client(local, "elbv2").describe_listeners(
        LoadBalancerArn=[
            lb
            for lb in _client(local, "elbv2").describe_load_balancers()["LoadBalancers"]
            if "prod" in lb["LoadBalancerName"]
        ][0]["LoadBalancerArn"]  # fmt: skip
    )["Listeners"]
    assert {listener["Port"] for listener in listeners} == {80, 443}
    # Each service rolls back on its own alarms, and the monitoring stack made every alarm ECS was given.
    ecs, cw = _client(local, "ecs"), _client(local, "cloudwatch")
    (cluster,) = [c for c in ecs.list_clusters()["clusterArns"] if "nlsql-prod" in c]
    services = ecs.describe_services(cluster=cluster, services=ecs.list_services(cluster=cluster)["serviceArns"])
    assert len(services["services"]) == 2
    for service in services["services"]:
        alarms = service["deploymentConfiguration"]["alarms"]
        assert alarms["enable"] is True and alarms["rollback"] is True and alarms["alarmNames"]
        found = cw.describe_alarms(AlarmNames=alarms["alarmNames"])["MetricAlarms"]
        assert sorted(a["AlarmName"] for a in found) == sorted(alarms["alarmNames"]), service["serviceName"]


def _build_on_a_terminal(local: localaws.LocalAws, workdir: Path, answer: str, *args: str) -> tuple[int, str]:
    """build.py with a pseudo-terminal as stdin and stdout, typing `answer` at its prompt."""
    import pty

    env = {**os.environ, **localaws.credentials_env(), "COLUMNS": "200", "TERM": "xterm"}
    env.pop("AWS_ENDPOINT_URL", None)
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, str(REPO / "build.py"), *args, "--endpoint-url", local.url,
         "--params-dir", str(workdir / "params"), "--out", str(workdir / "templates")],  # fmt: skip
        stdin=secondary, stdout=secondary, stderr=secondary, env=env, close_fds=True,
    )  # fmt: skip
    os.close(secondary)
    os.write(primary, answer.encode() + b"\n")
    return read_terminal(primary, process)


def test_on_a_terminal_the_user_is_asked_and_no_means_no(local, workdir) -> None:
    certificate = _client(local, "acm").request_certificate(DomainName="staging.example.com")["CertificateArn"]
    _client(local, "ssm").put_parameter(Name="/nlsql/staging/certificate-arn", Type="String", Value=certificate)
    code, screen = _build_on_a_terminal(local, workdir, "n", "staging", "--deploy")
    assert code == 1
    assert "[y/N]" in screen and "not confirmed" in screen and "was deleted" in screen
    live = _client(local, "cloudformation").list_stacks(StackStatusFilter=["REVIEW_IN_PROGRESS", "CREATE_COMPLETE"])
    assert "nlsql-staging" not in {s["StackName"] for s in live["StackSummaries"]}, "no empty stack left behind"


def test_on_a_terminal_yes_executes_and_shows_progress(local, workdir) -> None:
    code, screen = _build_on_a_terminal(local, workdir, "y", "staging", "--deploy")
    assert code == 0, screen
    assert "[y/N]" in screen and "nlsql-staging outputs" in screen
    cf = _client(local, "cloudformation")
    assert cf.describe_stacks(StackName="nlsql-staging")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
