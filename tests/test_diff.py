"""`build.py ENV --diff [REF|deployed]`: the offline diff and its replacement predictions.

Unit tests of the pure functions on small templates (property paths, will /
may / in place, nested create-only paths, type changes, policies, custom
types, what flows between nested stacks); then build.py as a subprocess in
a scratch git repository (no AWS at all: credentials and config removed),
and against the local AWS after a real deploy for `--diff deployed`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from builders.deploy import guard
from builders.deploy.diff import render
from builders.deploy.diff.environment import Snapshot, changes, diff_environment
from builders.deploy.diff.model import IN_PLACE, MAY_REPLACE, WILL_REPLACE
from builders.deploy.diff.templates import diff_templates
from tests.conftest import REPO, scratch_repo

REGION = "us-east-1"


def _one(old: dict[str, Any], new: dict[str, Any], **kwargs: Any) -> Any:
    """The diff of one resource R from `old` to `new` (its whole resource definition)."""
    diff = diff_templates({"Resources": {"R": old}}, {"Resources": {"R": new}}, REGION, **kwargs)
    (row,) = diff.resources
    return row


def _paths(row: Any) -> dict[str, Any]:
    return {p.path: p for p in row.properties}


# --- one template ----------------------------------------------------------------------------


def test_a_change_is_named_by_its_property_path_with_old_and_new_values() -> None:
    old = {"Type": "AWS::Lambda::Function", "Properties": {"VpcConfig": {"SubnetIds": ["subnet-a", "subnet-b"]}}}
    new = {"Type": "AWS::Lambda::Function", "Properties": {"VpcConfig": {"SubnetIds": ["subnet-a", "subnet-c"]}}}
    row = _one(old, new)
    assert (row.action, row.verdict) == ("Modify", IN_PLACE)  # VpcConfig is not create-only for a function
    (change,) = row.properties
    assert (change.path, change.old, change.new) == ("Properties.VpcConfig.SubnetIds[1]", '"subnet-b"', '"subnet-c"')


def test_a_static_create_only_change_will_replace_and_a_dynamic_one_may() -> None:
    bucket = {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "nlsql-dev-a"}}
    assert _one(bucket, {**bucket, "Properties": {"BucketName": "nlsql-dev-b"}}).verdict == WILL_REPLACE
    named = {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": {"Ref": "Name"}}}
    assert _one(bucket, named).verdict == MAY_REPLACE  # a parameter's value: known only during the deploy
    pseudo = {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": {"Fn::Sub": "${AWS::StackName}-data"}}}
    assert _one(bucket, pseudo).verdict == WILL_REPLACE  # pseudo parameters are known before it
    late = {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "{{resolve:ssm:/nlsql/bucket}}"}}
    assert _one(bucket, late).verdict == MAY_REPLACE
    cluster = {"Type": "AWS::RDS::DBCluster", "Properties": {"Engine": "aurora-postgresql"}}
    keyed = {"Type": "AWS::RDS::DBCluster", "Properties": {"Engine": "aurora-postgresql", "KmsKeyId": {"Ref": "Key"}}}
    row = _one(cluster, keyed)
    assert row.verdict == MAY_REPLACE
    assert _paths(row)["Properties.KmsKeyId"].create_only
    versioned = {"Type": "AWS::RDS::DBCluster", "Properties": {"Engine": "aurora-postgresql", "EngineVersion": "16.8"}}
    assert _one(cluster, versioned).verdict == IN_PLACE


def test_nested_create_only_paths_are_honoured() -> None:
    def endpoint(**dns: str) -> dict[str, Any]:
        return {"Type": "AWS::EC2::VPCEndpoint", "Properties": {"VpcId": "vpc-1", "DnsOptions": dns}}

    # DnsOptions/PrivateDnsPreference is create-only; DnsOptions/DnsRecordIpType is not.
    row = _one(endpoint(PrivateDnsPreference="ALL_DOMAINS"), endpoint(PrivateDnsPreference="VERIFIED_DOMAINS_ONLY"))
    assert row.verdict == WILL_REPLACE
    assert _paths(row)["Properties.DnsOptions.PrivateDnsPreference"].create_only
    assert _one(endpoint(DnsRecordIpType="ipv4"), endpoint(DnsRecordIpType="dualstack")).verdict == IN_PLACE
    # Adding the whole DnsOptions changes its create-only part too.
    assert _one(endpoint(), endpoint(PrivateDnsPreference="ALL_DOMAINS")).verdict == WILL_REPLACE

    def peer(asn: int) -> dict[str, Any]:
        config = {"PeerAddress": "10.0.0.1", "BgpConfigurations": [{"PeerAsn": 64512}, {"PeerAsn": asn}]}
        return {"Type": "AWS::EC2::TransitGatewayConnectPeer", "Properties": {"ConnectPeerConfiguration": config}}

    row = _one(peer(64513), peer(64514))  # .../BgpConfigurations/*/PeerAsn: a list index matches the *
    assert row.verdict == WILL_REPLACE
    assert _paths(row)["Properties.ConnectPeerConfiguration.BgpConfigurations[1].PeerAsn"].create_only


def test_a_type_change_is_a_replacement_and_the_guard_sees_the_old_stateful_type() -> None:
    old = {"Type": "AWS::S3::Bucket", "Properties": {}}
    new = {"Type": "AWS::SQS::Queue", "Properties": {}}
    row = _one(old, new)
    assert (row.verdict, row.old_type, row.resource_type) == (WILL_REPLACE, "AWS::S3::Bucket", "AWS::SQS::Queue")
    assert _paths(row)["Type"].old == '"AWS::S3::Bucket"'
    env = _environment({"R": old}, {"R": new})
    (risky,) = guard.dangerous(changes(env))
    assert guard.describe_danger(risky) == (
        "nlsql-dev/R (AWS::S3::Bucket) would be replaced (True) because of Type (Always)"
    )


def test_policies_condition_and_depends_on_are_their_own_lines_and_in_place() -> None:
    old = {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain", "Properties": {}}
    new = {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Delete", "Condition": "IsProd", "DependsOn": ["Key"],
           "Properties": {}}  # fmt: skip
    row = _one(old, new)
    assert row.verdict == IN_PLACE
    lines = _paths(row)
    assert (lines["DeletionPolicy"].old, lines["DeletionPolicy"].new) == ('"Retain"', '"Delete"')
    assert (lines["UpdateReplacePolicy"].old, lines["UpdateReplacePolicy"].new) == ('"Retain"', None)
    assert lines["Condition"].new == '"IsProd"' and lines["DependsOn"].new == '["Key"]'


def test_custom_resources_and_nested_stack_urls_change_in_place() -> None:
    custom = {"Type": "Custom::PgVector", "Properties": {"ServiceToken": "arn:x", "BucketName": "a"}}
    assert _one(custom, {**custom, "Properties": {"ServiceToken": "arn:x", "BucketName": "b"}}).verdict == IN_PLACE
    stack = {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": "network.yaml"}}
    moved = {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": "https://s3.amazonaws.com/b/k"}}
    assert diff_templates({"Resources": {"N": stack}}, {"Resources": {"N": moved}}, REGION).empty


def test_what_refers_to_a_replaced_resource_changes_and_may_be_replaced_in_turn() -> None:
    old = {
        "Group": {"Type": "AWS::RDS::DBSubnetGroup", "Properties": {"DBSubnetGroupName": "a", "SubnetIds": ["s"]}},
        "Cluster": {"Type": "AWS::RDS::DBCluster", "Properties": {"DBSubnetGroupName": {"Ref": "Group"}}},
        "Instance": {"Type": "AWS::RDS::DBInstance", "Properties": {"DBClusterIdentifier": {"Ref": "Cluster"}}},
        "Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"AlarmName": "x", "Dimensions": [
            {"Name": "DBClusterIdentifier", "Value": {"Ref": "Cluster"}}]}},
    }  # fmt: skip
    new = {**old, "Group": {**old["Group"], "Properties": {"DBSubnetGroupName": "b", "SubnetIds": ["s"]}}}
    rows = {r.logical_id: r for r in diff_templates({"Resources": old}, {"Resources": new}, REGION).resources}
    assert rows["Group"].verdict == WILL_REPLACE
    assert rows["Cluster"].verdict == MAY_REPLACE  # its new group's name is known only during the deploy
    assert _paths(rows["Cluster"])["Properties.DBSubnetGroupName"].cause == "Group"
    assert rows["Instance"].verdict == MAY_REPLACE  # and so on down the references
    assert rows["Alarm"].verdict == IN_PLACE  # Dimensions is not create-only
    unchanged = diff_templates({"Resources": old}, {"Resources": old}, REGION)
    assert unchanged.empty


def test_parameters_outputs_and_conditions_are_listed_with_the_values_given() -> None:
    old = {"Parameters": {"Tag": {"Type": "String"}}, "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Env"}, "a"]}},
           "Outputs": {"Url": {"Value": "http://a"}, "Gone": {"Value": "x"}},
           "Resources": {"Def": {"Type": "AWS::ECS::TaskDefinition", "Properties": {"ContainerDefinitions": [
               {"Name": "api", "Image": {"Fn::Sub": "repo:${Tag}"}}]}}}}  # fmt: skip
    new = {
        **old,
        "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Env"}, "b"]}},
        "Outputs": {"Url": {"Value": "http://b"}},
    }
    diff = diff_templates(old, new, REGION, path="nlsql-dev", values=({"Tag": "0.1.0"}, {"Tag": "0.2.0"}))
    items = {(i.section, i.name): i for i in diff.items}
    assert [(p.path, p.old, p.new) for p in items["Parameters", "Tag"].properties] == [("Value", '"0.1.0"', '"0.2.0"')]
    (condition,) = items["Conditions", "IsProd"].properties  # an intrinsic function is one leaf
    assert (condition.path, condition.new) == ("IsProd", '{"Fn::Equals":[{"Ref":"Env"},"b"]}')
    assert items["Outputs", "Url"].action == "Modify" and items["Outputs", "Gone"].action == "Remove"
    # The image's text is the same, but the value it names is given and changed: certain, so it will replace.
    (row,) = diff.resources
    assert row.verdict == WILL_REPLACE
    assert _paths(row)["Properties.ContainerDefinitions[0].Image"].cause == "Tag"


# --- an environment: the root and its nested stacks -------------------------------------------------------


def _root(**parameters: dict[str, Any]) -> dict[str, Any]:
    stacks = {
        name: {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": f"{name.lower()}.yaml",
               **({"Parameters": p} if p else {})}}
        for name, p in parameters.items()
    }  # fmt: skip
    return {"Parameters": {"Tag": {"Type": "String"}}, "Resources": stacks}


def _environment(old_resources: dict[str, Any], new_resources: dict[str, Any]) -> Any:
    old, new = {"Resources": old_resources}, {"Resources": new_resources}
    return diff_environment("dev", Snapshot(old), Snapshot(new), REGION, "HEAD")


NETWORK = {"Resources": {"Subnet": {"Type": "AWS::EC2::Subnet", "Properties": {"CidrBlock": "10.0.0.0/24"}}},
           "Outputs": {"SubnetId": {"Value": {"Ref": "Subnet"}}}}  # fmt: skip
DATABASE = {
    "Parameters": {"SubnetId": {"Type": "String"}, "Tag": {"Type": "String"}},
    "Resources": {
        "Group": {"Type": "AWS::RDS::DBSubnetGroup", "Properties": {"DBSubnetGroupName": {"Fn::Sub": "g-${Tag}"},
                  "SubnetIds": [{"Ref": "SubnetId"}]}},
        "Cluster": {"Type": "AWS::RDS::DBCluster", "Properties": {"DBSubnetGroupName": {"Ref": "Group"}}},
    },
}  # fmt: skip


def test_a_change_flows_from_one_nested_stack_to_the_next_through_the_root() -> None:
    root = _root(Network={}, Database={"SubnetId": {"Fn::GetAtt": ["Network", "Outputs.SubnetId"]},
                                       "Tag": {"Ref": "Tag"}})  # fmt: skip
    old = Snapshot(root, {"Tag": "a"}, {"Network": NETWORK, "Database": DATABASE})
    moved = {
        **NETWORK,
        "Resources": {"Subnet": {"Type": "AWS::EC2::Subnet", "Properties": {"CidrBlock": "10.0.1.0/24"}}},
    }
    new = Snapshot(root, {"Tag": "a"}, {"Network": moved, "Database": DATABASE})
    diff = diff_environment("dev", old, new, REGION, "HEAD")
    assert [s.path for s in diff.stacks] == ["nlsql-dev", "nlsql-dev/Network", "nlsql-dev/Database"]
    network, database = ({r.logical_id: r for r in s.resources} for s in diff.stacks[1:])
    assert network["Subnet"].verdict == WILL_REPLACE
    # The subnet's new id reaches the database stack as a parameter known only during the deploy.
    assert database["Group"].verdict == IN_PLACE  # SubnetIds is not create-only
    assert _paths(database["Group"])["Properties.SubnetIds[0]"].cause == "SubnetId"
    assert "Cluster" not in database
    # A root parameter whose value changes is known before the deploy: the group's name will change.
    tagged = diff_environment("dev", old, Snapshot(root, {"Tag": "b"}, old.children), REGION, "HEAD")
    rows = {r.logical_id: r for r in tagged.stacks[2].resources}
    assert rows["Group"].verdict == WILL_REPLACE and rows["Cluster"].verdict == MAY_REPLACE
    danger = [guard.describe_danger(c) for c in guard.dangerous(changes(tagged))]
    assert danger == [
        "nlsql-dev/Database/Cluster (AWS::RDS::DBCluster) would be replaced (Conditional) because of "
        "DBSubnetGroupName (Conditionally, by Group)"
    ]


def test_a_removed_nested_stack_is_guarded_and_a_missing_environment_is_all_adds() -> None:
    old = Snapshot(_root(Network={}, Database={}), {}, {"Network": NETWORK, "Database": DATABASE})
    new = Snapshot(_root(Network={}), {}, {"Network": NETWORK})
    diff = diff_environment("dev", old, new, REGION, "HEAD")
    assert [guard.describe_danger(c) for c in guard.dangerous(changes(diff))] == [
        "nlsql-dev/Database (AWS::CloudFormation::Stack) would be removed",
        "nlsql-dev/Database/Cluster (AWS::RDS::DBCluster) would be removed",  # with the stack that holds it
    ]
    assert {r.action for r in diff.stacks[2].resources} == {"Remove"}
    assert diff.stacks[2].note == "the root no longer has this nested stack: every resource is a Remove"
    created = diff_environment("dev", Snapshot(None, note="gone"), old, REGION, "HEAD")
    assert {r.action for s in created.stacks for r in s.resources} == {"Add"}
    assert not guard.dangerous(changes(created))


def test_markdown_has_a_heading_per_environment_and_stack_and_a_table() -> None:
    old = Snapshot(_root(Network={}), {}, {"Network": NETWORK})
    pipe = {**NETWORK, "Outputs": {"SubnetId": {"Value": {"Ref": "Subnet"}, "Description": "a | b"}}}
    diff = diff_environment("dev", old, Snapshot(_root(Network={}), {}, {"Network": pipe}), REGION, "main (abc)")
    text = render.markdown([diff], ["nlsql-dev/X (AWS::S3::Bucket) would be removed"])
    assert "## nlsql-dev: this build against main (abc)" in text
    assert "### nlsql-dev/Network" in text
    assert '| Outputs | `SubnetId` | Modify | `Description`: – → `"a \\| b"` |' in text
    assert "- nlsql-dev/X (AWS::S3::Bucket) would be removed" in text


# --- build.py --diff REF, in a scratch git repository, with no AWS at all ----------------------------------


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository (branch main) with params/ and templates/ committed."""
    root = scratch_repo(tmp_path / "repo", docs=False)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q", "-m", "templates")
    return root


def _offline(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """build.py in `repo` with no AWS credentials, no AWS config, and an AWS endpoint nobody listens on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {"AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "COLUMNS": "250"}  # fmt: skip
    return subprocess.run(
        [sys.executable, str(REPO / "build.py"), *args, "--out", "templates", "--params-dir", "params"],
        cwd=repo, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip


def _edit(repo: Path, section: str, key: str, value: Any, env: str = "dev") -> None:
    path = repo / "params" / f"{env}.yaml"
    doc = yaml.safe_load(path.read_text())
    node = doc
    for part in section.split("."):
        node = node[part]
    node[key] = value
    path.write_text(yaml.safe_dump(doc))


def test_no_change_exits_0_for_each_environment_asked(repo: Path) -> None:
    result = _offline(repo, "dev", "staging", "--diff", "HEAD")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nlsql-dev: no changes against HEAD (" in result.stdout
    assert "nlsql-staging: no changes against HEAD (" in result.stdout
    # Without a REF: the merge base of HEAD with main.
    result = _offline(repo, "dev", "--diff")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nlsql-dev: no changes against the merge base with main (" in result.stdout


def test_a_stateful_replacement_is_predicted_guarded_and_exits_3(repo: Path, tmp_path: Path) -> None:
    _edit(repo, "storage", "encryption", "KMS")  # Aurora gets a KmsKeyId: create-only, from the storage stack
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    result = _offline(repo, "dev", "--diff", "HEAD", "--summary", str(summary))
    assert result.returncode == 3, result.stdout + result.stderr
    out = result.stdout
    assert "DatabaseCluster" in out and "may replace (stateful)" in out and "Properties.KmsKeyId (create-only)" in out
    assert (
        "nlsql-dev/Database/DatabaseCluster (AWS::RDS::DBCluster) would be replaced (Conditional) because of "
        "KmsKeyId (Conditionally)" in out
    )
    assert "a deploy would refuse these without --allow-replacement" in out
    assert guard.CONDITIONAL_EXPLAINED[:40] in out
    assert "Add     EnvironmentKey" in out  # the new key, in the storage stack's table
    text = summary.read_text()
    assert text.startswith("# earlier step\n## nlsql-dev: this build against HEAD (")  # appended, not replaced
    assert "### nlsql-dev/Database" in text
    assert "| `DatabaseCluster` | AWS::RDS::DBCluster | Modify | may replace (stateful) |" in text
    assert "- nlsql-dev/Database/DatabaseCluster (AWS::RDS::DBCluster) would be replaced (Conditional)" in text
    # The build wrote its files as a plain build does: the next diff is against what it wrote.
    assert "KmsKeyId: !Ref KmsKeyArn" in (repo / "templates" / "dev" / "database.yaml").read_text()


def test_an_in_place_change_exits_1(repo: Path) -> None:
    _edit(repo, "compute.api", "max_count", 3)
    result = _offline(repo, "dev", "--diff=HEAD")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "ApiScalableTarget" in result.stdout and "in place" in result.stdout
    assert "Properties.MaxCapacity" in result.stdout
    assert "stateful resources at risk" not in result.stdout


def test_bad_refs_and_places_exit_2_with_one_paragraph(repo: Path, tmp_path: Path) -> None:
    result = _offline(repo, "dev", "--diff", "no-such-ref")
    assert result.returncode == 2
    assert "--diff no-such-ref: no such commit in the git repository" in result.stderr
    assert "Traceback" not in result.stderr
    result = _offline(repo, "--diff", "dev")  # `dev` is read as the REF; the message says how to mean the ENV
    assert result.returncode == 2
    assert "dev is an environment: to diff it against the merge base with main, put the ENVs first" in result.stderr
    # No main and no origin/main: the default ref cannot be found, and the message says to pass one.
    _git(repo, "branch", "-m", "main", "work")
    result = _offline(repo, "dev", "--diff")
    assert result.returncode == 2
    assert "neither a `main` nor an `origin/main` branch; pass the ref" in result.stderr
    # An output folder outside any git repository.
    outside = scratch_repo(tmp_path / "plain", docs=False)
    result = _offline(outside, "dev", "--diff", "HEAD")
    assert result.returncode == 2
    assert "is not inside a git repository" in result.stderr
    # --summary belongs to --diff; --diff is an action like --plan.
    for args in (["dev", "--summary", "x.md"], ["dev", "--diff", "HEAD", "--plan"]):
        result = _offline(repo, *args)
        assert result.returncode == 2 and "usage:" in result.stderr
    # A params error is 2 as well (not the 1 a --diff with changes exits with).
    _edit(repo, "compute.api", "max_count", "many")
    result = _offline(repo, "dev", "--diff", "HEAD")
    assert result.returncode == 2 and "max_count" in result.stderr


# --- build.py --diff deployed, against the local AWS --------------------------------------------------


def test_diff_deployed_reads_the_stacks_in_aws(local: Any, tmp_path: Path) -> None:
    from tests.test_deploy_e2e import _build

    work = scratch_repo(tmp_path / "work", docs=False)
    result = _build(local, work, "dev", "--diff", "deployed")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "nlsql-dev in us-east-1 does not exist: every resource is an Add" in result.stdout
    result = _build(local, work, "dev", "--deploy", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    result = _build(local, work, "dev", "--diff", "deployed")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nlsql-dev: no changes against the deployed stacks (us-east-1)" in result.stdout
    _edit(work, "compute.api", "max_count", 3)
    _edit(work, "compute.api", "image_tag", "0.2.0")
    result = _build(local, work, "dev", "--diff", "deployed")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "ApiScalableTarget" in result.stdout and "Properties.MaxCapacity" in result.stdout
    assert 'ApiImageTag  Modify  Value     "0.1.0"  "0.2.0"' in result.stdout  # the deployed root's parameters
    assert "ApiTaskDefinition" in result.stdout and "will replace" in result.stdout


def test_diff_deployed_checks_the_account_first(local: Any, tmp_path: Path) -> None:
    from tests.test_accounts import OTHER, _params
    from tests.test_deploy_e2e import _build

    dev = _params(tmp_path, account_id=OTHER)
    result = _build(local, tmp_path, "dev", "--diff", "deployed")
    assert result.returncode == 2, result.stdout + result.stderr
    said = " ".join(result.stderr.split())
    assert f"{dev}: account_id is {OTHER}, but the credentials are for account 123456789012" in said
    assert "Traceback" not in result.stderr
