"""Deploy flow against the local AWS, from an empty account: --plan executes nothing, a failed bootstrap recovers.

Real build.py processes against a moto server on 127.0.0.1 (tests/localaws.py),
each test from an empty account (the server is reset first).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import localaws
from tests.conftest import PARAMS
from tests.test_deploy_e2e import _build, _client

ACCOUNT, REGION = "123456789012", "us-east-1"
ARTIFACTS = f"nlsql-shared-artifacts-{ACCOUNT}-{REGION}"
LIVE = ["CREATE_COMPLETE", "REVIEW_IN_PROGRESS", "ROLLBACK_COMPLETE", "UPDATE_COMPLETE", "CREATE_FAILED"]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copytree(PARAMS, tmp_path / "params")
    return tmp_path


def _stacks(local: localaws.LocalAws) -> dict[str, str]:
    found = _client(local, "cloudformation").list_stacks(StackStatusFilter=LIVE)["StackSummaries"]
    return {s["StackName"]: s["StackStatus"] for s in found}


def test_plan_in_an_empty_account_executes_nothing_and_says_how_to_bootstrap(local, workdir) -> None:
    result = _build(local, workdir, "dev", "--plan")
    assert result.returncode == 1
    assert "nlsql-bootstrap does not exist yet" in result.stderr and "--plan executes nothing" in result.stderr
    assert "python build.py dev --deploy" in result.stderr
    assert "Traceback" not in result.stderr
    assert _stacks(local) == {}, "a plan created a stack"


def test_a_deploy_through_the_execution_role_refuses_to_create_the_bootstrap_stack(local, workdir) -> None:
    """The bootstrap stack holds the permissions boundary, which the execution role may not create: refused
    before anything is made, with the administrator's commands, the first of which then works."""
    role = "arn:aws:iam::123456789012:role/cfn-exec-nlsql-us-east-1"
    result = _build(local, workdir, "dev", "--deploy", "--yes", "--role-arn", role)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "nlsql-bootstrap does not exist yet in us-east-1" in result.stderr
    assert "not through --role-arn" in result.stderr and "Traceback" not in result.stderr
    assert _stacks(local) == {}, "nothing was created"
    hint = result.stderr.split("run `", 1)[1].split("`", 1)[0]
    assert hint == "python build.py dev --deploy"
    assert _build(local, workdir, *hint.split()[2:], "--yes").returncode == 0


def test_a_planned_create_leaves_no_stack_behind_and_a_kept_one_deploys(local, workdir) -> None:
    assert _build(local, workdir, "dev", "--deploy", "--yes").returncode == 0  # bootstraps the account
    qa = (workdir / "params" / "dev.yaml").read_text().replace("environment: dev", "environment: qa")
    (workdir / "params" / "qa.yaml").write_text(qa)

    planned = _build(local, workdir, "qa", "--plan")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "nothing executed; change set deleted and the empty stack it was made on" in planned.stdout
    assert "nlsql-qa" not in _stacks(local)

    kept = _build(local, workdir, "qa", "--plan", "--change-set-name", "first-qa")
    assert kept.returncode == 0, kept.stderr
    assert _stacks(local).get("nlsql-qa") == "REVIEW_IN_PROGRESS"
    started = time.monotonic()
    followed = _build(local, workdir, "qa", "--follow")  # nothing runs: it must not wait for an operation
    assert followed.returncode == 0 and time.monotonic() - started < 30, followed.stdout + followed.stderr
    assert "REVIEW_IN_PROGRESS" in followed.stdout and "python build.py qa --deploy" in followed.stdout
    deployed = _build(local, workdir, "qa", "--deploy", "--yes", "--change-set-name", "first-qa")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert "creating change set" not in deployed.stdout, "the kept change set is executed, not a new one"
    assert _stacks(local)["nlsql-qa"] == "CREATE_COMPLETE"


def test_a_failed_bootstrap_is_named_and_recreated(local, workdir) -> None:
    _client(local, "s3").create_bucket(Bucket=ARTIFACTS)  # left over from an earlier attempt: the create fails
    failed = _build(local, workdir, "dev", "--deploy", "--yes")
    assert failed.returncode == 1
    assert _stacks(local).get("nlsql-bootstrap") == "ROLLBACK_COMPLETE"

    planned = _build(local, workdir, "dev", "--plan")
    assert planned.returncode == 1
    assert "nlsql-bootstrap is ROLLBACK_COMPLETE" in planned.stderr and "--recreate-failed" in planned.stderr
    assert "is it an older version" not in planned.stderr + failed.stderr

    refused = _build(local, workdir, "dev", "--deploy", "--yes")
    assert refused.returncode == 1
    assert "nlsql-bootstrap is ROLLBACK_COMPLETE" in refused.stderr and "--recreate-failed" in refused.stderr

    _client(local, "s3").delete_bucket(Bucket=ARTIFACTS)
    retried = _build(local, workdir, "dev", "--deploy", "--yes", "--recreate-failed")
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert _stacks(local)["nlsql-bootstrap"] == "CREATE_COMPLETE" and _stacks(local)["nlsql-dev"] == "CREATE_COMPLETE"


@pytest.fixture
def faults() -> Iterator[None]:
    yield
    localaws.clear_faults()


def _root_cause(result) -> list[str]:
    out = result.stdout + result.stderr
    return out[out.index("What failed first:") :].splitlines()[1:]


def test_a_custom_resource_that_answers_failed_fails_the_deploy_with_its_reason(local, workdir, faults) -> None:
    """The pgvector function's statement fails (the engine has no such extension): it answers FAILED with the
    error, the Database stack fails, the root rolls back, and the deploy names the resource and its reason."""
    localaws.DATA_API_ERRORS.append(("CREATE EXTENSION", "BadRequestException", 'extension "vector" is not available'))
    result = _build(local, workdir, "dev", "--deploy", "--yes")
    assert result.returncode == 1, result.stdout + result.stderr
    first = _root_cause(result)[0].strip()
    resource = "nlsql-dev/Database/PgVectorExtension (Custom::PgVector): "
    assert first.startswith(resource + "Received response status [FAILED] from custom resource"), first
    assert "BadRequestException" in first and 'extension "vector" is not available' in first
    assert ("PgVectorExtension", "FAILED") in localaws.ANSWERS
    assert _stacks(local)["nlsql-dev"] == "ROLLBACK_COMPLETE"
    events = _client(local, "cloudformation").describe_stack_events(StackName="nlsql-dev")["StackEvents"]
    database = [e for e in events if e["LogicalResourceId"] == "Database" and e["ResourceStatus"] == "CREATE_FAILED"]
    assert database and database[0]["ResourceStatusReason"].startswith("Embedded stack ")
    assert "was not successfully created" in database[0]["ResourceStatusReason"]


def test_a_custom_resource_that_never_answers_fails_and_the_stack_can_still_be_deleted(
    local, workdir, faults, monkeypatch
) -> None:
    monkeypatch.setattr(localaws, "CUSTOM_RESOURCE_TIMEOUT", 2.0)
    localaws.LOST_ANSWERS.add("PgVectorExtension")
    started = time.monotonic()
    result = _build(local, workdir, "dev", "--deploy", "--yes")
    assert result.returncode == 1, result.stdout + result.stderr
    assert time.monotonic() - started < 120
    first = _root_cause(result)[0].strip()
    assert first.startswith("nlsql-dev/Database/PgVectorExtension (Custom::PgVector): CloudFormation did not"), first
    # The rollback sends the resource a Delete, whose answer is lost too: the rollback cannot finish, as in AWS.
    cf = _client(local, "cloudformation")
    assert cf.describe_stacks(StackName="nlsql-dev")["Stacks"][0]["StackStatus"] == "ROLLBACK_FAILED"
    assert "nlsql-dev could not roll back" in result.stdout

    deleted = _build(local, workdir, *_printed(result, "python build.py dev --delete"), "--yes")
    assert deleted.returncode == 1, deleted.stdout + deleted.stderr
    assert "--retain nlsql-dev/Database/PgVectorExtension" in deleted.stdout
    retained = _build(local, workdir, *_printed(deleted, "2. delete the rest"), "--yes")
    assert retained.returncode == 0, retained.stdout + retained.stderr
    assert "nlsql-dev: deleted" in retained.stdout
    assert not [s for s in cf.list_stacks()["StackSummaries"] if s["StackStatus"] != "DELETE_COMPLETE"
                and s["StackName"].startswith("nlsql-dev")], "no nested stack is left behind"  # fmt: skip


def test_the_guard_refuses_a_deploy_that_would_replace_the_aurora_cluster_and_allows_it_when_asked(
    local, workdir
) -> None:
    """DatabaseName is create-only on AWS::RDS::DBCluster: changing it in params replaces the cluster, which the
    nested change set of the Database stack says, and the guard stops the deploy naming it."""
    assert _build(local, workdir, "dev", "--deploy", "--yes").returncode == 0
    nested_before = _nested(local)
    params = workdir / "params" / "dev.yaml"
    text = params.read_text()
    params.write_text(text.replace("database:\n", "database:\n  database_name: nlsql_renamed\n", 1))

    refused = _build(local, workdir, "dev", "--deploy", "--yes")

    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "refusing to deploy" in refused.stderr
    assert "nlsql-dev/Database/DatabaseCluster (AWS::RDS::DBCluster) would be replaced (True)" in refused.stderr
    assert "because of DatabaseName (Always" in refused.stderr
    assert "Modify" in refused.stdout and "DatabaseCluster" in refused.stdout  # the nested change is shown
    assert _stacks(local)["nlsql-dev"] == "CREATE_COMPLETE", "nothing was executed"

    allowed = _build(local, workdir, "dev", "--deploy", "--yes", "--allow-replacement")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "--allow-replacement: going ahead although" in allowed.stdout
    assert _stacks(local)["nlsql-dev"] == "UPDATE_COMPLETE"
    assert _nested(local) == nested_before, "nested stacks are updated in place: the same ARNs"
    cf = _client(local, "cloudformation")
    assert cf.describe_stacks(StackName=nested_before["Database"])["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"


def test_the_guard_refuses_dropping_the_environment_s_kms_key(local, workdir) -> None:
    """From KMS to AES256: the key goes (Remove) and the Aurora cluster's KmsKeyId (create-only) changes, so the
    deploy is refused naming both; nothing is executed."""
    params = workdir / "params" / "dev.yaml"
    params.write_text(params.read_text().replace("  encryption: AES256", "  encryption: KMS", 1))
    first = _build(local, workdir, "dev", "--deploy", "--yes")
    assert first.returncode == 0, first.stdout + first.stderr
    params.write_text(params.read_text().replace("  encryption: KMS", "  encryption: AES256", 1))

    refused = _build(local, workdir, "dev", "--deploy", "--yes")

    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "(AWS::KMS::Key) would be removed" in refused.stderr, refused.stderr
    assert _stacks(local)["nlsql-dev"] == "CREATE_COMPLETE", "nothing was executed"


def test_an_update_that_fails_rolls_back_and_the_deploy_says_what_failed_first(local, workdir, faults) -> None:
    assert _build(local, workdir, "dev", "--deploy", "--yes").returncode == 0
    params = workdir / "params" / "dev.yaml"
    params.write_text(params.read_text().replace('image_tag: "0.1.0"', 'image_tag: "0.2.0"', 1))
    refused = "Resource handler returned message: Invalid request provided: the image cannot be pulled"
    localaws.UPDATE_ERRORS["ApiService"] = refused

    result = _build(local, workdir, "dev", "--deploy", "--yes")

    assert result.returncode == 1, result.stdout + result.stderr
    assert "nlsql-dev ended UPDATE_ROLLBACK_COMPLETE. What failed first:" in result.stdout
    assert _root_cause(result)[0].strip() == f"nlsql-dev/Compute/ApiService (AWS::ECS::Service): {refused}"
    cf = _client(local, "cloudformation")
    stack = cf.describe_stacks(StackName="nlsql-dev")["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}["ApiImageTag"] == "0.1.0"
    again = _build(local, workdir, "dev", "--deploy", "--yes")  # the cause is still there: it fails the same way
    assert again.returncode == 1 and "UPDATE_ROLLBACK_COMPLETE" in again.stdout


def _nested(local: localaws.LocalAws) -> dict[str, str]:
    resources = _client(local, "cloudformation").describe_stack_resources(StackName="nlsql-dev")["StackResources"]
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}


def _network_ids(local: localaws.LocalAws) -> dict[str, str]:
    """Physical ids of the dev Network stack's resources, as an operator would look them up."""
    cf = _client(local, "cloudformation")
    network = _nested(local)["Network"]
    return {r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
            for r in cf.describe_stack_resources(StackName=network)["StackResources"]}  # fmt: skip


def _hand_made_group(local: localaws.LocalAws) -> str:
    """A group made by hand in the environment's VPC, with a rule naming aurora-sg: it blocks that group's delete."""
    ids, ec2 = _network_ids(local), _client(local, "ec2")
    group = ec2.create_security_group(GroupName="by-hand", Description="made by hand", VpcId=ids["Vpc"])["GroupId"]
    pair = {"GroupId": ids["AuroraSecurityGroup"]}
    rule = {"IpProtocol": "tcp", "FromPort": 9000, "ToPort": 9000, "UserIdGroupPairs": [pair]}
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[rule])
    return group


def _printed(result, start: str) -> list[str]:
    """A command the output tells the user to run, as argv (after `python build.py`)."""
    (line,) = [x for x in result.stdout.splitlines() if start in x]
    return line[line.index("python build.py ") + len("python build.py ") :].split()


def test_a_delete_that_fails_reports_delete_failed_and_the_way_out_works(local, workdir) -> None:
    assert _build(local, workdir, "dev", "--deploy", "--yes").returncode == 0
    aurora_sg = _network_ids(local)["AuroraSecurityGroup"]
    group = _hand_made_group(local)

    failed = _build(local, workdir, "dev", "--delete", "--yes")

    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "nlsql-dev ended DELETE_FAILED. What failed first:" in failed.stdout
    cause = f"nlsql-dev/Network/AuroraSecurityGroup (AWS::EC2::SecurityGroup): resource {aurora_sg} has a dependent"
    assert _root_cause(failed)[0].strip().startswith(cause), failed.stdout
    assert f"Name=ip-permission.group-id,Values={aurora_sg}" in failed.stdout
    status = _client(local, "cloudformation").describe_stacks(StackName="nlsql-dev")["Stacks"][0]["StackStatus"]
    assert status == "DELETE_FAILED"

    # Way 1: remove the cause, then the printed command (with --yes: no terminal here) takes up where it stopped.
    _client(local, "ec2").delete_security_group(GroupId=group)
    again = _build(local, workdir, *_printed(failed, "1. remove what still holds them"), "--yes")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nlsql-dev is DELETE_FAILED: deleting again what is left" in again.stdout
    assert "nlsql-dev: deleted" in again.stdout


def test_retaining_what_cannot_be_deleted_lets_the_environment_go(local, workdir) -> None:
    assert _build(local, workdir, "dev", "--deploy", "--yes").returncode == 0
    ids = _network_ids(local)
    _hand_made_group(local)
    failed = _build(local, workdir, "dev", "--delete", "--yes")
    assert failed.returncode == 1

    wrong = _build(local, workdir, "dev", "--delete", "--yes", "--retain", "Network/Vpc")
    assert wrong.returncode == 1 and "--retain Network/Vpc: not a resource of nlsql-dev whose delete failed" in (
        wrong.stderr), wrong.stderr  # fmt: skip
    assert "Those that failed: nlsql-dev/Network/AuroraSecurityGroup" in wrong.stderr

    # Way 2, as printed: the kept group still sits in the VPC with the hand-made one, so now the VPC cannot go
    # (as in AWS); the next report prints the next command, and that one lets the environment go.
    retained = _build(local, workdir, *_printed(failed, "2. delete the rest"), "--yes")
    assert retained.returncode == 1, retained.stdout + retained.stderr
    assert "nlsql-dev/Network/Vpc (AWS::EC2::VPC): The vpc" in retained.stdout, retained.stdout
    last = _build(local, workdir, *_printed(retained, "2. delete the rest"), "--yes")
    assert last.returncode == 0, last.stdout + last.stderr
    assert f"kept in AWS: nlsql-dev/Network/Vpc AWS::EC2::VPC {ids['Vpc']}" in last.stdout
    assert "nlsql-dev" not in _stacks(local)
    ec2 = _client(local, "ec2")
    assert ec2.describe_vpcs(VpcIds=[ids["Vpc"]])["Vpcs"], "the retained VPC is still there"
    assert ec2.describe_security_groups(GroupIds=[ids["AuroraSecurityGroup"]])["SecurityGroups"]


@pytest.mark.filterwarnings("ignore:Exception\\(Throttling\\):UserWarning")  # moto: not in its error shapes
def test_a_deploy_rides_out_throttling(local, workdir, faults) -> None:
    """A busy account: CloudFormation answers Throttling to the calls a deploy makes most; the client's standard
    retry mode backs off and the deploy goes on, with no error shown."""
    localaws.THROTTLED.update({"DescribeStackEvents": 3, "DescribeChangeSet": 2, "DescribeStacks": 2})
    result = _build(local, workdir, "dev", "--deploy", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(localaws.THROTTLED.values()) == {0}, "every throttled call was made, and retried"
    assert "Throttling" not in result.stdout + result.stderr
    assert _stacks(local)["nlsql-dev"] == "CREATE_COMPLETE"


def test_a_domain_deploys_its_certificate_and_alias_and_the_app_url_names_it(local, workdir) -> None:
    route53 = _client(local, "route53")
    zone = route53.create_hosted_zone(Name="example.com", CallerReference="nlsql-test")["HostedZone"]["Id"]
    zone_id = zone.rsplit("/", 1)[-1]
    params = workdir / "params" / "dev.yaml"
    domain = f"compute:\n  domain:\n    name: insights.example.com\n    hosted_zone_id: {zone_id}\n"
    params.write_text(params.read_text().replace("compute:\n", domain, 1))

    result = _build(local, workdir, "dev", "--deploy", "--yes")

    assert result.returncode == 0, result.stdout + result.stderr
    cf = _client(local, "cloudformation")
    outputs = {
        o["OutputKey"]: o["OutputValue"] for o in cf.describe_stacks(StackName="nlsql-dev")["Stacks"][0]["Outputs"]
    }
    assert outputs["AppUrl"] == "https://insights.example.com"
    records = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    (alias,) = [r for r in records if r["Name"].rstrip(".") == "insights.example.com" and r["Type"] == "A"]
    (alb,) = _client(local, "elbv2").describe_load_balancers()["LoadBalancers"]
    assert alias["AliasTarget"]["DNSName"].rstrip(".").lower() == alb["DNSName"].lower()
    assert "(AWS::CertificateManager::Certificate)" not in result.stdout, "no failure"
    assert "nlsql-dev/Compute/Certificate AWS::CertificateManager::Certificate CREATE_COMPLETE" in result.stdout
    assert any(r["Type"] == "CNAME" and r["Name"].endswith(".insights.example.com.") for r in records), (
        "ACM's DNS validation record was written into the zone")  # fmt: skip
    (certificate,) = _client(local, "acm").list_certificates()["CertificateSummaryList"]
    assert certificate["DomainName"] == "insights.example.com" and certificate["Status"] == "ISSUED"
