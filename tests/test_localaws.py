"""Each patch of the local AWS (tests/localaws.py), shown to close its gap, through plain boto3 calls."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests import localaws
from tests.test_accounts import _in_account


@pytest.fixture(scope="module")
def local() -> Iterator[localaws.LocalAws]:
    server = localaws.start()
    yield server
    server.stop()


def _client(local: localaws.LocalAws, service: str) -> Any:
    return boto3.client(service, endpoint_url=local.url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip


CHILD = {
    "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
    "Outputs": {"QueueName": {"Value": {"Fn::GetAtt": ["Queue", "QueueName"]}}},
}


def _root(child_url: str) -> str:
    return json.dumps(
        {
            "Resources": {"Child": {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": child_url}}},
            "Outputs": {"FromChild": {"Value": {"Fn::GetAtt": ["Child", "Outputs.QueueName"]}}},
        }
    )


def _upload_child(local: localaws.LocalAws, bucket: str) -> str:
    s3 = _client(local, "s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="child.json", Body=json.dumps(CHILD).encode())
    return f"{local.url}/{bucket}/child.json"


def _create_through_change_set(local: localaws.LocalAws, name: str, body: str, **extra: Any) -> str:
    cf = _client(local, "cloudformation")
    change_set = cf.create_change_set(StackName=name, ChangeSetName="first", ChangeSetType="CREATE",
                                      TemplateBody=body, **extra)["Id"]  # fmt: skip
    cf.execute_change_set(ChangeSetName=change_set)
    return change_set


def test_a_nested_template_on_loopback_is_read_and_its_outputs_reach_the_root(local) -> None:
    url = _upload_child(local, "loopback-templates")
    assert "127.0.0.1" in url
    _create_through_change_set(local, "outer", _root(url))
    cf = _client(local, "cloudformation")
    stack = cf.describe_stacks(StackName="outer")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    (child,) = [
        r for r in cf.describe_stack_resources(StackName="outer")["StackResources"] if r["LogicalResourceId"] == "Child"
    ]
    assert child["PhysicalResourceId"].startswith("arn:aws:cloudformation:"), "a nested stack's id is its ARN"
    child_stack = cf.describe_stacks(StackName=child["PhysicalResourceId"])["Stacks"][0]
    assert child_stack["StackName"].startswith("outer-Child-"), "named <parent>-<LogicalId>-<suffix>"
    assert outputs["FromChild"] == {o["OutputKey"]: o["OutputValue"] for o in child_stack["Outputs"]}["QueueName"]


def test_only_an_available_change_set_executes_and_unchanged_input_gives_an_empty_one(local) -> None:
    cf = _client(local, "cloudformation")
    body = json.dumps(CHILD)
    _create_through_change_set(local, "plain", body)
    again = cf.create_change_set(StackName="plain", ChangeSetName="same", ChangeSetType="UPDATE", TemplateBody=body)[
        "Id"
    ]
    described = cf.describe_change_set(ChangeSetName=again)
    assert described["Status"] == "FAILED" and "didn't contain changes" in described["StatusReason"]
    with pytest.raises(ClientError, match="cannot be executed") as refused:
        cf.execute_change_set(ChangeSetName=again)
    assert refused.value.response["Error"]["Code"] == "InvalidChangeSetStatus"


def test_change_sets_on_a_stack_in_review_share_it_and_executing_one_drops_the_others(local) -> None:
    cf = _client(local, "cloudformation")
    body = json.dumps(CHILD)
    first = cf.create_change_set(StackName="review", ChangeSetName="a", ChangeSetType="CREATE", TemplateBody=body)
    second = cf.create_change_set(StackName="review", ChangeSetName="b", ChangeSetType="CREATE", TemplateBody=body)
    assert first["StackId"] == second["StackId"], "the second CREATE goes on the stack waiting in review"
    assert {s["ChangeSetName"] for s in cf.list_change_sets(StackName="review")["Summaries"]} == {"a", "b"}
    cf.execute_change_set(ChangeSetName=second["Id"])
    assert cf.describe_stacks(StackName="review")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    left = cf.list_change_sets(StackName="review")["Summaries"]
    assert [(c["ChangeSetName"], c["ExecutionStatus"]) for c in left] == [("b", "EXECUTE_COMPLETE")], "a is gone"
    with pytest.raises(ClientError) as exists:
        cf.create_change_set(StackName="review", ChangeSetName="c", ChangeSetType="CREATE", TemplateBody=body)
    assert exists.value.response["Error"]["Code"] == "AlreadyExistsException"


def test_a_stack_made_by_a_change_set_has_per_resource_events_and_outputs(local) -> None:
    cf = _client(local, "cloudformation")
    _create_through_change_set(local, "evented", json.dumps(CHILD))
    events = cf.describe_stack_events(StackName="evented")["StackEvents"]
    assert {(e["LogicalResourceId"], e["ResourceStatus"]) for e in events} >= {
        ("Queue", "CREATE_IN_PROGRESS"), ("Queue", "CREATE_COMPLETE")
    }  # fmt: skip
    assert cf.describe_stacks(StackName="evented")["Stacks"][0]["Outputs"][0]["OutputKey"] == "QueueName"


def test_unmodelled_types_are_accepted_and_answer_a_dotted_short_form_getatt(local) -> None:
    template = (
        "Resources:\n"
        "  Cluster:\n"
        "    Type: AWS::RDS::DBCluster\n"
        "    Properties: {Engine: aurora-postgresql}\n"
        "Outputs:\n"
        "  Port: {Value: !GetAtt Cluster.Endpoint.Port}\n"
    )
    _create_through_change_set(local, "unmodelled", template)
    stack = _client(local, "cloudformation").describe_stacks(StackName="unmodelled")["Stacks"][0]
    assert stack["Outputs"][0]["OutputValue"] == "5432"


def test_a_kms_key_with_tags_and_an_object_policy_is_created_and_describable(local) -> None:
    statement = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"}
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    properties = {"KeyPolicy": policy, "Tags": [{"Key": "Project", "Value": "nlsql"}]}
    template = {"Resources": {"Key": {"Type": "AWS::KMS::Key", "Properties": properties}}}
    _create_through_change_set(local, "keyed", json.dumps(template))
    cf, kms = _client(local, "cloudformation"), _client(local, "kms")
    (key,) = [
        r for r in cf.describe_stack_resources(StackName="keyed")["StackResources"] if r["LogicalResourceId"] == "Key"
    ]
    assert kms.describe_key(KeyId=key["PhysicalResourceId"])["KeyMetadata"]["Enabled"] is True
    tags = kms.list_resource_tags(KeyId=key["PhysicalResourceId"])["Tags"]
    assert {"TagKey": "Project", "TagValue": "nlsql"} in tags


def test_termination_protection_is_set_and_stops_a_delete(local) -> None:
    cf = _client(local, "cloudformation")
    _create_through_change_set(local, "guarded", json.dumps(CHILD))
    cf.update_termination_protection(StackName="guarded", EnableTerminationProtection=True)
    assert cf.describe_stacks(StackName="guarded")["Stacks"][0]["EnableTerminationProtection"] is True
    with pytest.raises(ClientError, match="TerminationProtection is enabled"):
        cf.delete_stack(StackName="guarded")


def test_a_lambda_backed_custom_resource_runs_its_inline_code_and_answers(local) -> None:
    code = "\n".join(
        [
            "import json, urllib.request",
            "def handler(event, context):",
            "    keys = ('StackId', 'RequestId', 'LogicalResourceId')",
            "    answer = {'Status': 'SUCCESS', 'PhysicalResourceId': 'x', **{k: event[k] for k in keys}}",
            "    body = json.dumps(answer).encode()",
            "    request = urllib.request.Request(event['ResponseURL'], data=body, method='PUT')",
            "    urllib.request.urlopen(request)",
            "    return 'SUCCESS'",
        ]
    )
    trust = {"Version": "2012-10-17", "Statement": []}
    function = {
        "Runtime": "python3.12",
        "Handler": "index.handler",
        "Role": {"Fn::GetAtt": ["Role", "Arn"]},
        "Code": {"ZipFile": code},
        "Timeout": 30,
    }
    template = {
        "Resources": {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": trust}},
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": function},
            "Custom": {"Type": "Custom::Thing", "Properties": {"ServiceToken": {"Fn::GetAtt": ["Fn", "Arn"]}}},
        },
    }
    _create_through_change_set(local, "customised", json.dumps(template), Capabilities=["CAPABILITY_IAM"])
    deadline = time.monotonic() + 10
    while ("Custom", "SUCCESS") not in localaws.ANSWERS and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ("Custom", "SUCCESS") in localaws.ANSWERS


def test_a_failed_create_in_a_nested_stack_rolls_back_with_the_resource_and_its_reason(local) -> None:
    s3, sqs, cf = _client(local, "s3"), _client(local, "sqs"), _client(local, "cloudformation")
    s3.create_bucket(Bucket="already-taken")
    child = {
        "Resources": {
            "Made": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "made-then-rolled-back"}},
            "Lake": {"Type": "AWS::S3::Bucket", "DependsOn": "Made", "Properties": {"BucketName": "already-taken"}},
        }
    }
    s3.put_object(Bucket="already-taken", Key="failing.json", Body=json.dumps(child).encode())
    root = {
        "Resources": {
            "Sibling": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "sibling-then-rolled-back"}},
            "Child": {"Type": "AWS::CloudFormation::Stack", "DependsOn": "Sibling",
                      "Properties": {"TemplateURL": f"{local.url}/already-taken/failing.json"}},
        }
    }  # fmt: skip
    _create_through_change_set(local, "failing", json.dumps(root))  # answers as CloudFormation does: accepted
    assert cf.describe_stacks(StackName="failing")["Stacks"][0]["StackStatus"] == "ROLLBACK_COMPLETE"
    (embedded,) = [e for e in cf.describe_stack_events(StackName="failing")["StackEvents"]
                   if e["LogicalResourceId"] == "Child" and e["ResourceStatus"] == "CREATE_FAILED"]  # fmt: skip
    assert embedded["ResourceStatusReason"].startswith("Embedded stack arn:aws:cloudformation:")
    assert "[Lake]" in embedded["ResourceStatusReason"]
    (failed,) = [e for e in cf.describe_stack_events(StackName=embedded["PhysicalResourceId"])["StackEvents"]
                 if e["ResourceStatus"] == "CREATE_FAILED" and e["LogicalResourceId"] == "Lake"]  # fmt: skip
    assert "bucket name is not available" in failed["ResourceStatusReason"]
    left = sqs.list_queues().get("QueueUrls", [])
    assert not [url for url in left if "rolled-back" in url], "what was created was deleted on rollback"


def test_deleting_a_stack_with_routed_subnets_deletes_its_vpc(local) -> None:
    vpc = {"Ref": "Vpc"}
    template = {
        "Resources": {
            "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.77.0.0/16"}},
            "Subnet": {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": vpc, "CidrBlock": "10.77.0.0/24"}},
            "Gateway": {"Type": "AWS::EC2::InternetGateway"},
            "Attachment": {"Type": "AWS::EC2::VPCGatewayAttachment",
                           "Properties": {"VpcId": vpc, "InternetGatewayId": {"Ref": "Gateway"}}},
            "Routes": {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": vpc}},
            "Default": {"Type": "AWS::EC2::Route", "DependsOn": "Attachment",
                        "Properties": {"RouteTableId": {"Ref": "Routes"}, "DestinationCidrBlock": "0.0.0.0/0",
                                       "GatewayId": {"Ref": "Gateway"}}},
            "Association": {"Type": "AWS::EC2::SubnetRouteTableAssociation",
                            "Properties": {"SubnetId": {"Ref": "Subnet"}, "RouteTableId": {"Ref": "Routes"}}},
        }
    }  # fmt: skip
    _create_through_change_set(local, "routed", json.dumps(template))
    ec2, cf = _client(local, "ec2"), _client(local, "cloudformation")
    cidr = [{"Name": "cidr", "Values": ["10.77.0.0/16"]}]
    assert len(ec2.describe_vpcs(Filters=cidr)["Vpcs"]) == 1
    cf.delete_stack(StackName="routed")
    assert ec2.describe_vpcs(Filters=cidr)["Vpcs"] == []


def test_stopping_gives_the_environment_back() -> None:
    before = os.environ.get("AWS_ENDPOINT_URL")
    server = localaws.start()
    assert os.environ["AWS_ENDPOINT_URL"] == server.url
    server.stop()
    assert os.environ.get("AWS_ENDPOINT_URL") == before


def test_the_server_listens_on_loopback_only(local) -> None:
    assert local.url.startswith("http://127.0.0.1:")
    assert set(localaws.PATCHES) == {
        "template_url_on_loopback", "nested_stack_outputs_and_ids", "unmodelled_resource_types",
        "lambda_runs_inline_python", "execute_change_set_like_cloudformation", "kms_key_from_cloudformation",
        "termination_protection", "empty_change_set_is_failed_not_refused", "short_form_getatt_with_a_dotted_attribute",
        "a_failed_create_rolls_back", "route_tables_are_deleted_with_their_stack", "change_set_rules",
        "change_sets_with_replacement_and_nested_change_sets", "a_failed_delete_ends_delete_failed",
        "ec2_deletes_refuse_dependents", "refs_that_answer_none", "a_failed_update_rolls_back",
        "references_to_a_replaced_resource_change", "replacement_makes_a_new_resource",
        "custom_resources_get_update_and_delete_requests", "throttling_can_be_injected",
        "security_group_egress_resources", "hosted_zone_ids_like_route53",
        "acm_certificates_validated_by_dns", "role_policies_from_cloudformation_are_json",
        "permissions_boundaries_must_exist", "load_balancer_metric_names",
        "cloudwatch_alarms_from_cloudformation", "rollback_triggers_watch_alarms",
        "composite_alarms_follow_their_members", "ecs_services_keep_their_deployment_configuration",
        "assume_role_needs_a_role_that_trusts_the_caller", "drift_detection_per_stack",
        "oidc_providers_from_cloudformation", "stack_sets_deploy_through_their_roles",
    }, "every patch has a test in this file"  # fmt: skip


def test_a_modify_says_whether_it_replaces_from_the_type_s_create_only_properties(local) -> None:
    cf = _client(local, "cloudformation")

    def bucket(name: str, tag: str) -> str:
        props = {"BucketName": name, "Tags": [{"Key": "Owner", "Value": tag}]}
        return json.dumps({"Resources": {"Lake": {"Type": "AWS::S3::Bucket", "Properties": props}}})

    _create_through_change_set(local, "lake", bucket("lake-one", "a"))
    renamed = cf.create_change_set(
        StackName="lake", ChangeSetName="rename", ChangeSetType="UPDATE", TemplateBody=bucket("lake-two", "a")
    )
    (change,) = [c["ResourceChange"] for c in cf.describe_change_set(ChangeSetName=renamed["Id"])["Changes"]]
    assert (change["Action"], change["Replacement"]) == ("Modify", "True")
    assert change["Details"][0]["Target"] == {
        "Attribute": "Properties",
        "Name": "BucketName",
        "RequiresRecreation": "Always",
    }
    retagged = cf.create_change_set(
        StackName="lake", ChangeSetName="retag", ChangeSetType="UPDATE", TemplateBody=bucket("lake-one", "b")
    )
    (change,) = [c["ResourceChange"] for c in cf.describe_change_set(ChangeSetName=retagged["Id"])["Changes"]]
    assert change["Replacement"] == "False" and change["Details"][0]["Target"]["RequiresRecreation"] == "Never"


NETWORK = {
    "Resources": {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.9.0.0/16"}},
        "Front": {"Type": "AWS::EC2::SecurityGroup",
                  "Properties": {"GroupDescription": "front", "VpcId": {"Ref": "Vpc"}}},
        "Back": {"Type": "AWS::EC2::SecurityGroup",
                 "Properties": {"GroupDescription": "back", "VpcId": {"Ref": "Vpc"}}},
        "BackFromFront": {"Type": "AWS::EC2::SecurityGroupIngress", "Properties": {
            "GroupId": {"Fn::GetAtt": ["Back", "GroupId"]}, "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80,
            "SourceSecurityGroupId": {"Fn::GetAtt": ["Front", "GroupId"]}}},
    },
    "Outputs": {"Front": {"Value": {"Fn::GetAtt": ["Front", "GroupId"]}}, "Vpc": {"Value": {"Ref": "Vpc"}}},
}  # fmt: skip


def _hand_made_rule(local: localaws.LocalAws, stack: str) -> tuple[str, str]:
    """What an operator might add by hand: a group outside the stack with a rule from the stack's Front group."""
    cf, ec2 = _client(local, "cloudformation"), _client(local, "ec2")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cf.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]}
    bastion = ec2.create_security_group(GroupName=f"{stack}-bastion", Description="by hand", VpcId=outputs["Vpc"])
    permission = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                  "UserIdGroupPairs": [{"GroupId": outputs["Front"]}]}  # fmt: skip
    ec2.authorize_security_group_ingress(GroupId=bastion["GroupId"], IpPermissions=[permission])
    return bastion["GroupId"], outputs["Front"]


def _events(cf: Any, stack: str) -> list[tuple[str, str, str]]:
    events = cf.describe_stack_events(StackName=stack)["StackEvents"]
    return [(e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason") or "") for e in events]


def test_a_delete_blocked_by_a_hand_made_rule_ends_delete_failed_and_is_taken_up_again(local) -> None:
    cf, ec2 = _client(local, "cloudformation"), _client(local, "ec2")
    _create_through_change_set(local, "blocked", json.dumps(NETWORK))
    stack_id = cf.describe_stacks(StackName="blocked")["Stacks"][0]["StackId"]
    bastion, front = _hand_made_rule(local, "blocked")
    with pytest.raises(ClientError, match="only be specified when the stack is in the DELETE_FAILED state"):
        cf.delete_stack(StackName="blocked", RetainResources=["Front"])

    cf.delete_stack(StackName="blocked")
    stack = cf.describe_stacks(StackName=stack_id)["Stacks"][0]
    assert stack["StackStatus"] == "DELETE_FAILED", "the stack stays, with what could not be deleted"
    events = _events(cf, stack_id)
    assert ("Front", "DELETE_FAILED", f"resource {front} has a dependent object") in events
    assert ("blocked", "DELETE_FAILED", "The following resource(s) failed to delete: [Front]. ") in events
    assert ("Back", "DELETE_COMPLETE", "") in events and ("BackFromFront", "DELETE_COMPLETE", "") in events
    assert not [e for e in events if e[0] == "Vpc" and "DELETE" in e[1]], "the VPC the failed group needs is left"
    assert ec2.describe_security_groups(GroupIds=[front])["SecurityGroups"], "the group is still there"

    # The way out AWS offers: fix the cause (the rule made by hand) and delete again; the rest goes.
    ec2.delete_security_group(GroupId=bastion)
    cf.delete_stack(StackName=stack_id)
    assert cf.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    with pytest.raises(ClientError):
        ec2.describe_security_groups(GroupIds=[front])


def test_retaining_a_resource_that_cannot_be_deleted_lets_the_stack_go_and_keeps_it(local) -> None:
    cf, ec2 = _client(local, "cloudformation"), _client(local, "ec2")
    _create_through_change_set(local, "keep", json.dumps(NETWORK))
    stack_id = cf.describe_stacks(StackName="keep")["Stacks"][0]["StackId"]
    _bastion, front = _hand_made_rule(local, "keep")
    cf.delete_stack(StackName="keep")
    with pytest.raises(ClientError, match="must be in a valid state"):
        cf.delete_stack(StackName="keep", RetainResources=["Back"])  # already deleted
    cf.delete_stack(StackName="keep", RetainResources=["Front"])
    # The kept group (and the hand-made one) still sit in the VPC, so now the VPC cannot go, as in AWS.
    assert cf.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == "DELETE_FAILED"
    assert ("Front", "DELETE_SKIPPED", "") in _events(cf, stack_id)
    assert ("Vpc", "DELETE_FAILED", "") not in _events(cf, stack_id)
    assert any(e[:2] == ("Vpc", "DELETE_FAILED") and "has dependencies" in e[2] for e in _events(cf, stack_id))
    cf.delete_stack(StackName="keep", RetainResources=["Vpc"])
    assert cf.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    assert ec2.describe_security_groups(GroupIds=[front])["SecurityGroups"], "a retained resource is kept"


def test_a_nested_stack_that_fails_to_delete_fails_its_parent_with_the_embedded_reason(local) -> None:
    cf, s3 = _client(local, "cloudformation"), _client(local, "s3")
    s3.create_bucket(Bucket="nested-network")
    s3.put_object(Bucket="nested-network", Key="net.json", Body=json.dumps(NETWORK).encode())
    root = {"Resources": {"Net": {"Type": "AWS::CloudFormation::Stack",
                                  "Properties": {"TemplateURL": f"{local.url}/nested-network/net.json"}}}}  # fmt: skip
    _create_through_change_set(local, "parent", json.dumps(root))
    (net,) = cf.describe_stack_resources(StackName="parent")["StackResources"]
    child = net["PhysicalResourceId"]
    _hand_made_rule(local, child)
    cf.delete_stack(StackName="parent")
    assert cf.describe_stacks(StackName="parent")["Stacks"][0]["StackStatus"] == "DELETE_FAILED"
    assert cf.describe_stacks(StackName=child)["Stacks"][0]["StackStatus"] == "DELETE_FAILED"
    (reason,) = [e[2] for e in _events(cf, "parent") if e[:2] == ("Net", "DELETE_FAILED")]
    assert reason == (
        f"Embedded stack {child} was not successfully deleted: The following resource(s) failed to delete: [Front]. "
    )


def test_an_updated_nested_stack_keeps_its_arn_and_changes_only_what_changed(local) -> None:
    cf, s3 = _client(local, "cloudformation"), _client(local, "s3")
    url = _upload_child(local, "in-place")
    _create_through_change_set(local, "inplace", _root(url))
    (before,) = cf.describe_stack_resources(StackName="inplace")["StackResources"]
    queue_before = cf.describe_stack_resources(StackName=before["PhysicalResourceId"])["StackResources"][0]
    grown = {**CHILD, "Resources": {**CHILD["Resources"], "Topic": {"Type": "AWS::SNS::Topic"}}}
    s3.put_object(Bucket="in-place", Key="child-2.json", Body=json.dumps(grown).encode())
    change = cf.create_change_set(StackName="inplace", ChangeSetName="grow", ChangeSetType="UPDATE",
                                  TemplateBody=_root(f"{local.url}/in-place/child-2.json"))["Id"]  # fmt: skip
    cf.execute_change_set(ChangeSetName=change)

    (after,) = cf.describe_stack_resources(StackName="inplace")["StackResources"]
    assert after["PhysicalResourceId"] == before["PhysicalResourceId"], "updated in place, not replaced"
    child = cf.describe_stacks(StackName=after["PhysicalResourceId"])["Stacks"][0]
    assert child["StackStatus"] == "UPDATE_COMPLETE"
    resources = {r["LogicalResourceId"]: r for r in
                 cf.describe_stack_resources(StackName=after["PhysicalResourceId"])["StackResources"]}  # fmt: skip
    assert set(resources) == {"Queue", "Topic"}
    assert resources["Queue"]["PhysicalResourceId"] == queue_before["PhysicalResourceId"], "the queue was kept"
    events = _events(cf, after["PhysicalResourceId"])
    assert ("Topic", "CREATE_COMPLETE", "") in events
    assert not [e for e in events if e[0] == "Queue" and e[1].startswith("UPDATE")], "the queue did not change"
    assert cf.describe_stacks(StackName="inplace")["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"


def _failed_create(cf: Any, stack: str) -> list[tuple[str, str]]:
    return [(e[0], e[2]) for e in _events(cf, stack) if e[1] == "CREATE_FAILED" and e[0] != stack]


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"Engine": "aurora-postgresql", "Port": "not-a-port"}, "#/Port: expected type: Integer, found: String"),
        ({"Engine": "aurora-postgresql", "EnginMode": "provisioned"}, "#: extraneous key [EnginMode] is not permitted"),
        ({"Engine": "aurora-postgresql", "DatabaseInsightsMode": "full"},
         "#/DatabaseInsightsMode: failed validation constraint for keyword [enum]"),
        ({"Engine": "aurora-postgresql", "MasterUsername": "9lives"},
         "#/MasterUsername: failed validation constraint for keyword [pattern]"),
    ],
)  # fmt: skip
def test_an_unmodelled_type_s_properties_are_validated_against_its_registry_schema(local, properties, message) -> None:
    cf = _client(local, "cloudformation")
    name = f"invalid-{abs(hash(message)) % 10**8}"
    _create_through_change_set(local, name, json.dumps({"Resources": {
        "Cluster": {"Type": "AWS::RDS::DBCluster", "Properties": properties}}}))  # fmt: skip
    assert cf.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "ROLLBACK_COMPLETE"
    assert _failed_create(cf, name) == [
        ("Cluster", f"Properties validation failed for resource Cluster with message: [{message}]")
    ]


def test_a_required_property_is_required_and_template_strings_pass_for_numbers(local) -> None:
    cf = _client(local, "cloudformation")
    _create_through_change_set(local, "no-document", json.dumps({"Resources": {
        "Policy": {"Type": "AWS::S3::BucketPolicy", "Properties": {"Bucket": "some-bucket"}}}}))  # fmt: skip
    assert _failed_create(cf, "no-document") == [
        ("Policy", "Properties validation failed for resource Policy with message: "
                   "[#: required key [PolicyDocument] not found]")
    ]  # fmt: skip
    # A parameter is a string; CloudFormation turns "5432" and "true" into the schema's integer and boolean.
    _create_through_change_set(local, "strings", json.dumps({"Resources": {"Cluster": {
        "Type": "AWS::RDS::DBCluster",
        "Properties": {"Engine": "aurora-postgresql", "Port": "5432", "StorageEncrypted": "true"}}}}))  # fmt: skip
    assert cf.describe_stacks(StackName="strings")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"


def test_getatt_answers_only_the_schema_s_read_only_properties(local) -> None:
    cf = _client(local, "cloudformation")
    cluster = {"Type": "AWS::RDS::DBCluster", "Properties": {"Engine": "aurora-postgresql"}}
    wrong = {"Resources": {"Cluster": cluster}, "Outputs": {"Port": {"Value": {"Fn::GetAtt": ["Cluster", "Port"]}}}}
    with pytest.raises(ClientError, match=r"Template error: resource Cluster does not support attribute type Port "
                                          r"in Fn::GetAtt"):  # fmt: skip
        cf.create_change_set(StackName="getatt", ChangeSetName="first", ChangeSetType="CREATE",
                             TemplateBody=json.dumps(wrong))  # fmt: skip
    right = {"Resources": {"Cluster": cluster},
             "Outputs": {"Arn": {"Value": {"Fn::GetAtt": ["Cluster", "DBClusterArn"]}}}}  # fmt: skip
    _create_through_change_set(local, "getatt", json.dumps(right))
    (output,) = cf.describe_stacks(StackName="getatt")["Stacks"][0]["Outputs"]
    assert output["OutputValue"].startswith("arn:aws:rds:us-east-1:123456789012:dbcluster:")


def test_changing_a_create_only_property_replaces_the_resource_and_others_change_it_in_place(local) -> None:
    cf = _client(local, "cloudformation")

    def cluster(database: str, retention: int) -> str:
        properties = {"Engine": "aurora-postgresql", "DatabaseName": database, "BackupRetentionPeriod": retention}
        return json.dumps({"Resources": {"Cluster": {"Type": "AWS::RDS::DBCluster", "Properties": properties}}})

    def physical() -> str:
        return cf.describe_stack_resources(StackName="replace")["StackResources"][0]["PhysicalResourceId"]

    _create_through_change_set(local, "replace", cluster("app", 7))
    first = physical()
    for name, body in (("retention", cluster("app", 14)), ("rename", cluster("renamed", 14))):
        change = cf.create_change_set(StackName="replace", ChangeSetName=name, ChangeSetType="UPDATE",
                                      TemplateBody=body)["Id"]  # fmt: skip
        cf.execute_change_set(ChangeSetName=change)
        if name == "retention":
            assert physical() == first, "BackupRetentionPeriod changes in place"
    assert physical() != first, "DatabaseName is create-only: a new cluster"


def test_a_parameter_change_replaces_what_names_it_and_modifies_what_refers_to_that(local) -> None:
    """QueueName is create-only: a new name (from a parameter) replaces the queue, and the SSM parameter that holds
    its ARN changes too (Dynamic: the new ARN is known only during the deploy), then holds the new ARN."""
    cf, ssm = _client(local, "cloudformation"), _client(local, "ssm")
    template = json.dumps({
        "Parameters": {"Name": {"Type": "String"}},
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Ref": "Name"}}},
            "Where": {"Type": "AWS::SSM::Parameter", "Properties": {
                "Name": "/localaws/queue-arn", "Type": "String", "Value": {"Fn::GetAtt": ["Queue", "Arn"]}}},
        },
    })  # fmt: skip
    _create_through_change_set(local, "by-parameter", template,
                               Parameters=[{"ParameterKey": "Name", "ParameterValue": "first-queue"}])  # fmt: skip
    second = [{"ParameterKey": "Name", "ParameterValue": "second-queue"}]
    change = cf.create_change_set(StackName="by-parameter", ChangeSetName="rename", ChangeSetType="UPDATE",
                                  TemplateBody=template, Parameters=second)["Id"]  # fmt: skip
    changes = {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"]
               for c in cf.describe_change_set(ChangeSetName=change)["Changes"]}  # fmt: skip
    assert changes["Queue"]["Replacement"] == "True"
    assert changes["Queue"]["Details"] == [{
        "Target": {"Attribute": "Properties", "Name": "QueueName", "RequiresRecreation": "Always"},
        "Evaluation": "Static", "ChangeSource": "ParameterReference", "CausingEntity": "Name"}]  # fmt: skip
    assert changes["Where"]["Replacement"] == "False"
    assert changes["Where"]["Details"][0]["ChangeSource"] == "ResourceReference"
    assert changes["Where"]["Details"][0]["Evaluation"] == "Dynamic"
    cf.execute_change_set(ChangeSetName=change)
    value = ssm.get_parameter(Name="/localaws/queue-arn")["Parameter"]["Value"]
    assert value.endswith(":second-queue"), "what refers to the replaced queue was updated with its new ARN"


def test_replacing_a_custom_named_resource_fails_the_update_and_rolls_it_back(local) -> None:
    cf = _client(local, "cloudformation")

    def queue(**extra: Any) -> str:
        properties = {"QueueName": "custom-named-queue", **extra}
        return json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": properties}}})

    _create_through_change_set(local, "custom-named", queue())
    change = cf.create_change_set(StackName="custom-named", ChangeSetName="fifo", ChangeSetType="UPDATE",
                                  TemplateBody=queue(FifoQueue=False))["Id"]  # fmt: skip
    (rc,) = [c["ResourceChange"] for c in cf.describe_change_set(ChangeSetName=change)["Changes"]]
    assert rc["Replacement"] == "True"
    cf.execute_change_set(ChangeSetName=change)
    assert cf.describe_stacks(StackName="custom-named")["Stacks"][0]["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    reason = ("CloudFormation cannot update a stack when a custom-named resource requires replacing. Rename "
              "custom-named-queue and update the stack again.")  # fmt: skip
    assert ("Queue", "UPDATE_FAILED", reason) in _events(cf, "custom-named")


RECORDING = "\n".join([
    "import json, urllib.request",
    "def handler(event, context):",
    "    wanted = event['ResourceProperties']['Prop']",
    "    refused = wanted == 'fail' or (event['RequestType'] == 'Delete' and wanted == 'refuse-delete')",
    "    old = event.get('OldResourceProperties', {}).get('Prop', '')",
    "    answer = {'Status': 'FAILED' if refused else 'SUCCESS', 'Reason': 'refused by the function',",
    "              'PhysicalResourceId': 'phys-' + wanted, 'Data': {'Kind': event['RequestType'], 'Old': old},",
    "              **{k: event[k] for k in ('StackId', 'RequestId', 'LogicalResourceId')}}",
    "    request = urllib.request.Request(event['ResponseURL'], data=json.dumps(answer).encode(), method='PUT')",
    "    urllib.request.urlopen(request)",
])  # fmt: skip


def _custom(prop: str) -> str:
    function = {"Runtime": "python3.12", "Handler": "index.handler", "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                "Code": {"ZipFile": RECORDING}, "Timeout": 30}  # fmt: skip
    custom = {"ServiceToken": {"Fn::GetAtt": ["Fn", "Arn"]}, "Prop": prop}
    return json.dumps({
        "Resources": {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {"Statement": []}}},
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": function},
            "Custom": {"Type": "Custom::Thing", "Properties": custom},
        },
        "Outputs": {"Kind": {"Value": {"Fn::GetAtt": ["Custom", "Kind"]}},
                    "Old": {"Value": {"Fn::GetAtt": ["Custom", "Old"]}}},
    })  # fmt: skip


def test_a_custom_resource_is_sent_update_and_delete_and_its_answers_count(local) -> None:
    cf = _client(local, "cloudformation")

    def update(stack: str, prop: str) -> dict[str, Any]:
        change = cf.create_change_set(StackName=stack, ChangeSetName=f"to-{prop}", ChangeSetType="UPDATE",
                                      TemplateBody=_custom(prop), Capabilities=["CAPABILITY_IAM"])["Id"]  # fmt: skip
        cf.execute_change_set(ChangeSetName=change)
        return cf.describe_stacks(StackName=stack)["Stacks"][0]

    def outputs(stack: dict[str, Any]) -> dict[str, str]:
        return {o["OutputKey"]: o.get("OutputValue") for o in stack.get("Outputs", [])}

    _create_through_change_set(local, "answers", _custom("a"), Capabilities=["CAPABILITY_IAM"])
    (custom,) = [r for r in cf.describe_stack_resources(StackName="answers")["StackResources"]
                 if r["LogicalResourceId"] == "Custom"]  # fmt: skip
    assert custom["PhysicalResourceId"] == "phys-a", "the physical id is the one the function answered"
    updated = update("answers", "b")
    assert updated["StackStatus"] == "UPDATE_COMPLETE"
    assert outputs(updated) == {"Kind": "Update", "Old": "a"}, "an Update request, with the old properties"

    failed = update("answers", "fail")
    assert failed["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    (reason,) = [e[2] for e in _events(cf, "answers") if e[:2] == ("Custom", "UPDATE_FAILED")]
    assert reason.startswith("Received response status [FAILED] from custom resource. Message returned: refused")

    cf.delete_stack(StackName="answers")
    assert cf.describe_stacks(StackName=failed["StackId"])["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    assert ("Custom", "SUCCESS") in localaws.ANSWERS

    _create_through_change_set(local, "refuses", _custom("refuse-delete"), Capabilities=["CAPABILITY_IAM"])
    cf.delete_stack(StackName="refuses")
    assert cf.describe_stacks(StackName="refuses")["Stacks"][0]["StackStatus"] == "DELETE_FAILED"
    (reason,) = [e[2] for e in _events(cf, "refuses") if e[:2] == ("Custom", "DELETE_FAILED")]
    assert reason.startswith("Received response status [FAILED] from custom resource")


def test_a_standalone_egress_rule_exists_and_goes_with_its_resource(local) -> None:
    cf, ec2 = _client(local, "cloudformation"), _client(local, "ec2")
    body = {**NETWORK, "Resources": {**NETWORK["Resources"], "FrontToBack": {
        "Type": "AWS::EC2::SecurityGroupEgress", "Properties": {
            "GroupId": {"Fn::GetAtt": ["Front", "GroupId"]}, "IpProtocol": "tcp", "FromPort": 81, "ToPort": 81,
            "DestinationSecurityGroupId": {"Fn::GetAtt": ["Back", "GroupId"]}}}}}  # fmt: skip
    _create_through_change_set(local, "egress", json.dumps(body))
    front = {o["OutputKey"]: o["OutputValue"] for o in cf.describe_stacks(StackName="egress")["Stacks"][0]["Outputs"]}
    (group,) = ec2.describe_security_groups(GroupIds=[front["Front"]])["SecurityGroups"]
    assert [p["FromPort"] for p in group["IpPermissionsEgress"] if p.get("UserIdGroupPairs")] == [81]
    stack_id = cf.describe_stacks(StackName="egress")["Stacks"][0]["StackId"]
    cf.delete_stack(StackName="egress")
    # Back could go only because the rule naming it was revoked with its resource (else: "has a dependent object")
    assert cf.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"


def test_a_role_s_inline_policy_from_a_template_reads_back_as_json(local) -> None:
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}
    role = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
                "Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
            "Policies": [{"PolicyName": "read", "PolicyDocument": document}],
        },
    }  # fmt: skip
    _create_through_change_set(local, "role", json.dumps({"Resources": {"Role": role}}))
    name = _client(local, "cloudformation").describe_stack_resource(StackName="role", LogicalResourceId="Role")[
        "StackResourceDetail"]["PhysicalResourceId"]  # fmt: skip
    answer = _client(local, "iam").get_role_policy(RoleName=name, PolicyName="read")["PolicyDocument"]
    assert (json.loads(answer) if isinstance(answer, str) else answer) == document


def _bounded_role(boundary: Any) -> str:
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "lambda.amazonaws.com"}}]}  # fmt: skip
    props = {"AssumeRolePolicyDocument": trust, **({"PermissionsBoundary": boundary} if boundary else {})}
    return json.dumps({"Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": props}}})


def test_a_role_needs_a_permissions_boundary_that_exists_and_an_update_changes_it(local) -> None:
    iam, cf = _client(local, "iam"), _client(local, "cloudformation")
    missing = "arn:aws:iam::123456789012:policy/no-such-boundary"
    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    with pytest.raises(iam.exceptions.NoSuchEntityException, match="does not exist or is not attachable"):
        iam.create_role(RoleName="unbounded", AssumeRolePolicyDocument=trust, PermissionsBoundary=missing)
    # Through CloudFormation: the role fails with IAM's reason, as a stack deployed before its boundary would.
    _create_through_change_set(local, "boundless", _bounded_role(missing))
    assert cf.describe_stacks(StackName="boundless")["Stacks"][0]["StackStatus"] == "ROLLBACK_COMPLETE"
    (failed,) = [e for e in _events(cf, "boundless") if e[:2] == ("Role", "CREATE_FAILED")]
    assert f"Scope ARN: {missing} does not exist" in failed[2]
    boundary = iam.create_policy(PolicyName="a-boundary", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    ))["Policy"]["Arn"]  # fmt: skip
    other = iam.create_policy(PolicyName="another-boundary", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}
    ))["Policy"]["Arn"]  # fmt: skip
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.put_role_permissions_boundary(RoleName="unbounded", PermissionsBoundary=missing)
    _create_through_change_set(local, "bounded", _bounded_role(boundary))
    name = cf.describe_stack_resource(StackName="bounded", LogicalResourceId="Role")["StackResourceDetail"][
        "PhysicalResourceId"]  # fmt: skip
    assert iam.get_role(RoleName=name)["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    for changed, expected in ((other, other), (None, None)):
        cs = cf.create_change_set(StackName="bounded", ChangeSetName=f"to-{expected is None}", ChangeSetType="UPDATE",
                                  TemplateBody=_bounded_role(changed))["Id"]  # fmt: skip
        cf.execute_change_set(ChangeSetName=cs)
        got = iam.get_role(RoleName=name)["Role"].get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")
        assert got == expected, f"an update puts or deletes the boundary in place: {_events(cf, 'bounded')[:3]}"


ALARM_ARN = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:{}"


def _alarm(local: localaws.LocalAws, name: str, state: str = "OK") -> str:
    """A metric alarm as the monitoring stack makes one, in `state`; its ARN."""
    cw = _client(local, "cloudwatch")
    cw.put_metric_alarm(AlarmName=name, Namespace="AWS/ApplicationELB", MetricName="UnHealthyHostCount",
                        Statistic="Maximum", Period=60, EvaluationPeriods=1, Threshold=0,
                        ComparisonOperator="GreaterThanThreshold")  # fmt: skip
    cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"set {state} by the test")
    return ALARM_ARN.format(name)


def _labelled(label: str) -> str:
    """A stack whose one parameter a test changes, to tell its template and parameters apart after a rollback."""
    topic = {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": {"Ref": "Label"}}}
    return json.dumps({"Parameters": {"Label": {"Type": "String"}}, "Resources": {"Topic": topic},
                       "Outputs": {"Label": {"Value": {"Ref": "Label"}}}})  # fmt: skip


def _until(cf: Any, name: str, wanted: set[str], seconds: float = 30) -> str:
    deadline = time.monotonic() + seconds
    while (status := cf.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]) not in wanted:
        assert time.monotonic() < deadline, f"{name} still {status}"
        time.sleep(0.1)
    return status


def _update(cf: Any, name: str, label: str, **extra: Any) -> str:
    made = cf.create_change_set(StackName=name, ChangeSetName=f"to-{label}", ChangeSetType="UPDATE",
                                TemplateBody=_labelled(label), Parameters=[{"ParameterKey": "Label",
                                "ParameterValue": label}], **extra)["Id"]  # fmt: skip
    cf.execute_change_set(ChangeSetName=made)
    return made


def test_rollback_triggers_are_kept_watched_after_the_last_resource_and_roll_an_update_back(local, monkeypatch) -> None:
    monkeypatch.setattr(localaws, "ROLLBACK_SECONDS_PER_MINUTE", 1.0)
    cf = _client(local, "cloudformation")
    arn = _alarm(local, "watched-app-unhealthy")
    config = {"RollbackTriggers": [{"Arn": arn, "Type": "AWS::CloudWatch::Alarm"}], "MonitoringTimeInMinutes": 1}
    made = _create_through_change_set(local, "watched", _labelled("one"), RollbackConfiguration=config,
                                      Parameters=[{"ParameterKey": "Label", "ParameterValue": "one"}])  # fmt: skip
    assert cf.describe_change_set(ChangeSetName=made)["RollbackConfiguration"] == config
    assert cf.describe_stacks(StackName="watched")["Stacks"][0]["StackStatus"] == "CREATE_IN_PROGRESS", (
        "all resources are made, and the stack is watched for a minute (a second here) before it completes"
    )
    assert _until(cf, "watched", {"CREATE_COMPLETE"}) == "CREATE_COMPLETE"
    assert cf.describe_stacks(StackName="watched")["Stacks"][0]["RollbackConfiguration"] == config

    # An update that names no triggers is watched by the stack's; the alarm goes off during the monitoring.
    monkeypatch.setattr(localaws, "ROLLBACK_SECONDS_PER_MINUTE", 30.0)
    _update(cf, "watched", "two")
    assert cf.describe_stacks(StackName="watched")["Stacks"][0]["StackStatus"] == "UPDATE_IN_PROGRESS"
    _client(local, "cloudwatch").set_alarm_state(AlarmName="watched-app-unhealthy", StateValue="ALARM",
                                                 StateReason="1 unhealthy target")  # fmt: skip
    assert _until(cf, "watched", {"UPDATE_ROLLBACK_COMPLETE", "UPDATE_COMPLETE"}) == "UPDATE_ROLLBACK_COMPLETE"
    stack = cf.describe_stacks(StackName="watched")["Stacks"][0]
    assert stack["Parameters"] == [{"ParameterKey": "Label", "ParameterValue": "one"}], "back on the old parameters"
    assert stack["Outputs"][0]["OutputValue"] == "one"
    events = _events(cf, "watched")
    (rolling,) = [e for e in events if e[1] == "UPDATE_ROLLBACK_IN_PROGRESS"]
    assert arn in rolling[2], "the reason names the alarm"

    # Already in ALARM when the operation starts: rolled back before anything changes.
    _update(cf, "watched", "three")
    assert _until(cf, "watched", {"UPDATE_ROLLBACK_COMPLETE", "UPDATE_COMPLETE"}) == "UPDATE_ROLLBACK_COMPLETE"
    assert cf.describe_stacks(StackName="watched")["Stacks"][0]["Parameters"][0]["ParameterValue"] == "one"

    # An empty list clears the triggers: the next update is not watched and completes.
    monkeypatch.setattr(localaws, "ROLLBACK_SECONDS_PER_MINUTE", 0.1)
    _update(cf, "watched", "four", RollbackConfiguration={"RollbackTriggers": [], "MonitoringTimeInMinutes": 0})
    assert _until(cf, "watched", {"UPDATE_ROLLBACK_COMPLETE", "UPDATE_COMPLETE"}) == "UPDATE_COMPLETE"


def test_a_trigger_whose_alarm_does_not_exist_fails_the_operation(local) -> None:
    cf = _client(local, "cloudformation")
    _create_through_change_set(local, "unwatchable", _labelled("one"),
                               Parameters=[{"ParameterKey": "Label", "ParameterValue": "one"}])  # fmt: skip
    missing = ALARM_ARN.format("no-such-alarm")
    config = {"RollbackTriggers": [{"Arn": missing, "Type": "AWS::CloudWatch::Alarm"}], "MonitoringTimeInMinutes": 1}
    _update(cf, "unwatchable", "two", RollbackConfiguration=config)
    assert _until(cf, "unwatchable", {"UPDATE_ROLLBACK_COMPLETE", "UPDATE_COMPLETE"}) == "UPDATE_ROLLBACK_COMPLETE"
    assert any(e[1] == "UPDATE_ROLLBACK_IN_PROGRESS" and missing in e[2] for e in _events(cf, "unwatchable"))
    assert cf.describe_stacks(StackName="unwatchable")["Stacks"][0]["Parameters"][0]["ParameterValue"] == "one"
    with pytest.raises(ClientError, match="at most 5"):
        cf.create_change_set(StackName="unwatchable", ChangeSetName="six", ChangeSetType="UPDATE",
                             TemplateBody=_labelled("six"), Parameters=[{"ParameterKey": "Label",
                             "ParameterValue": "six"}], RollbackConfiguration={**config,
                             "RollbackTriggers": config["RollbackTriggers"] * 6})  # fmt: skip


def test_describe_alarms_applies_every_filter_and_answers_composites_only_when_asked(local) -> None:
    _alarm(local, "nlsql-qa-app-unhealthy", "ALARM")
    _alarm(local, "nlsql-qa-db-cpu", "OK")
    _alarm(local, "nlsql-other-app-unhealthy", "ALARM")
    cw = _client(local, "cloudwatch")
    cw.put_composite_alarm(AlarmName="nlsql-qa-any", AlarmRule='ALARM("nlsql-qa-app-unhealthy")')
    cw.set_alarm_state(AlarmName="nlsql-qa-any", StateValue="ALARM", StateReason="a child is in ALARM")
    both = cw.describe_alarms(AlarmNamePrefix="nlsql-qa-", StateValue="ALARM",
                              AlarmTypes=["MetricAlarm", "CompositeAlarm"])  # fmt: skip
    assert [a["AlarmName"] for a in both["MetricAlarms"]] == ["nlsql-qa-app-unhealthy"]
    assert [a["AlarmName"] for a in both["CompositeAlarms"]] == ["nlsql-qa-any"]
    metric_only = cw.describe_alarms(AlarmNamePrefix="nlsql-qa-")
    assert sorted(a["AlarmName"] for a in metric_only["MetricAlarms"]) == ["nlsql-qa-app-unhealthy", "nlsql-qa-db-cpu"]
    assert metric_only["CompositeAlarms"] == []


def test_template_alarms_are_cloudwatch_s_and_a_composite_needs_its_members(local) -> None:
    metric = {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": "t-errors",
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "Statistic": "Sum",
            "Period": 60,
            "EvaluationPeriods": 1,
            "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold",
        },
    }
    composite = {
        "Type": "AWS::CloudWatch::CompositeAlarm",
        "DependsOn": ["Errors"],
        "Properties": {"AlarmName": "t-unhealthy", "AlarmRule": 'ALARM("t-errors")'},
    }
    outputs = {"Arn": {"Value": {"Fn::GetAtt": ["Unhealthy", "Arn"]}}, "Name": {"Value": {"Ref": "Errors"}}}
    _create_through_change_set(local, "alarms", json.dumps(
        {"Resources": {"Errors": metric, "Unhealthy": composite}, "Outputs": outputs}))  # fmt: skip
    cf, cw = _client(local, "cloudformation"), _client(local, "cloudwatch")
    stack = cf.describe_stacks(StackName="alarms")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    got = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert got == {"Arn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:t-unhealthy", "Name": "t-errors"}
    found = cw.describe_alarms(AlarmNamePrefix="t-", AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    assert [a["AlarmName"] for a in found["MetricAlarms"]] == ["t-errors"]
    assert [(a["AlarmName"], a["AlarmRule"]) for a in found["CompositeAlarms"]] == [
        ("t-unhealthy", 'ALARM("t-errors")')
    ]
    # A rule naming an alarm that does not exist fails the resource, as CloudWatch refuses it.
    orphan = {
        "Type": "AWS::CloudWatch::CompositeAlarm",
        "Properties": {"AlarmName": "t-o", "AlarmRule": 'ALARM("nope")'},
    }
    _create_through_change_set(local, "orphan", json.dumps({"Resources": {"Orphan": orphan}}))
    assert cf.describe_stacks(StackName="orphan")["Stacks"][0]["StackStatus"] == "ROLLBACK_COMPLETE"
    cf.delete_stack(StackName="alarms")
    assert cw.describe_alarms(AlarmNamePrefix="t-", AlarmTypes=["MetricAlarm", "CompositeAlarm"])["MetricAlarms"] == []


def _state(local: localaws.LocalAws, name: str) -> str:
    found = _client(local, "cloudwatch").describe_alarms(
        AlarmNames=[name], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
    )
    (alarm,) = found["MetricAlarms"] + found["CompositeAlarms"]
    return alarm["StateValue"]


def test_a_new_alarm_has_no_data_yet_and_an_updated_one_keeps_its_state(local) -> None:
    cw = _client(local, "cloudwatch")
    alarm = {
        "AlarmName": "qa-new",
        "Namespace": "AWS/ECS",
        "MetricName": "CPUUtilization",
        "Statistic": "Average",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 80,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    cw.put_metric_alarm(**alarm)
    assert _state(local, "qa-new") == "INSUFFICIENT_DATA", "no datapoint yet: not OK"
    cw.set_alarm_state(AlarmName="qa-new", StateValue="ALARM", StateReason="test")
    cw.put_metric_alarm(**{**alarm, "Threshold": 90})
    assert _state(local, "qa-new") == "ALARM", "PutMetricAlarm on an existing alarm leaves its state"


def test_a_composite_follows_its_rule_whenever_a_member_moves_composites_of_composites_too(local) -> None:
    for member in ("qa-5xx", "qa-hosts", "qa-cpu"):
        _alarm(local, member, "OK")
    cw = _client(local, "cloudwatch")
    cw.put_composite_alarm(AlarmName="qa-users", AlarmRule='ALARM("qa-5xx") OR ALARM("qa-hosts")')
    cw.put_composite_alarm(AlarmName="qa-page", AlarmRule='ALARM("qa-users") AND NOT ALARM("qa-cpu")')
    cw.put_composite_alarm(AlarmName="qa-never", AlarmRule="FALSE")
    assert [_state(local, n) for n in ("qa-users", "qa-page", "qa-never")] == ["OK", "OK", "OK"]

    cw.set_alarm_state(AlarmName="qa-hosts", StateValue="ALARM", StateReason="1 unhealthy target")
    assert _state(local, "qa-users") == "ALARM" and _state(local, "qa-page") == "ALARM"
    users = cw.describe_alarms(AlarmNames=["qa-users"], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"][0]
    assert users["StateReason"].startswith(ALARM_ARN.format("qa-hosts") + " transitioned to ALARM")
    assert json.loads(users["StateReasonData"]) == {"triggeringAlarms": ["qa-hosts"]}

    cw.set_alarm_state(AlarmName="qa-cpu", StateValue="ALARM", StateReason="hot")
    assert _state(local, "qa-page") == "OK", "AND NOT: the CPU alarm holds the page back"
    cw.set_alarm_state(AlarmName="qa-hosts", StateValue="OK", StateReason="healthy again")
    assert _state(local, "qa-users") == "OK"
    cw.set_alarm_state(AlarmName="qa-5xx", StateValue="INSUFFICIENT_DATA", StateReason="no requests")
    assert _state(local, "qa-users") == "OK", "INSUFFICIENT_DATA is not ALARM"
    assert _state(local, "qa-never") == "OK"
    with pytest.raises(ClientError):  # a rule this stand-in cannot read is refused, not read wrong
        cw.put_composite_alarm(AlarmName="qa-odd", AlarmRule='AT_LEAST(2, ALARM, ("qa-5xx", "qa-hosts"))')


def test_a_service_keeps_its_deployment_circuit_breaker_and_alarms(local) -> None:
    task = {"Type": "AWS::ECS::TaskDefinition", "Properties": {"Family": "qa", "ContainerDefinitions": [
        {"Name": "api", "Image": "nginx", "Memory": 128}]}}  # fmt: skip
    deployment = {"DeploymentCircuitBreaker": {"Enable": True, "Rollback": True}, "MaximumPercent": 200,
                  "MinimumHealthyPercent": 100,
                  "Alarms": {"AlarmNames": ["qa-api-5xx-rate"], "Enable": True, "Rollback": True}}  # fmt: skip
    service = {
        "Type": "AWS::ECS::Service",
        "Properties": {
            "Cluster": {"Ref": "Cluster"},
            "TaskDefinition": {"Ref": "Task"},
            "DesiredCount": 1,
            "DeploymentConfiguration": deployment,
        },
    }
    body = {"Resources": {"Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {"ClusterName": "qa"}},
                          "Task": task, "Service": service}}  # fmt: skip
    _create_through_change_set(local, "ecs-alarms", json.dumps(body))
    cf, ecs = _client(local, "cloudformation"), _client(local, "ecs")
    assert cf.describe_stacks(StackName="ecs-alarms")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    arn = cf.describe_stack_resource(StackName="ecs-alarms", LogicalResourceId="Service")["StackResourceDetail"][
        "PhysicalResourceId"]  # fmt: skip
    (described,) = ecs.describe_services(cluster="qa", services=[arn])["services"]
    assert described["deploymentConfiguration"] == {
        "deploymentCircuitBreaker": {"enable": True, "rollback": True}, "maximumPercent": 200,
        "minimumHealthyPercent": 100,
        "alarms": {"alarmNames": ["qa-api-5xx-rate"], "enable": True, "rollback": True},
    }, "kept, though no alarm of that name exists"  # fmt: skip


def test_load_balancer_and_target_group_full_names_are_their_arns_tails(local) -> None:
    ec2 = _client(local, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"][
        "SubnetId"] for i, z in enumerate("ab")]  # fmt: skip
    template = {"Resources": {
        "Lb": {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "Properties": {"Subnets": subnets}},
        "Tg": {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": {
            "Port": 80, "Protocol": "HTTP", "VpcId": vpc, "TargetType": "ip"}}},
        "Outputs": {"Lb": {"Value": {"Fn::GetAtt": ["Lb", "LoadBalancerFullName"]}},
                    "Tg": {"Value": {"Fn::GetAtt": ["Tg", "TargetGroupFullName"]}},
                    "LbArn": {"Value": {"Ref": "Lb"}}, "TgArn": {"Value": {"Ref": "Tg"}}}}  # fmt: skip
    _create_through_change_set(local, "lb", json.dumps(template))
    out = {o["OutputKey"]: o["OutputValue"] for o in _client(local, "cloudformation").describe_stacks(
        StackName="lb")["Stacks"][0]["Outputs"]}  # fmt: skip
    assert out["Lb"] == out["LbArn"].split(":loadbalancer/", 1)[1] and out["Lb"].startswith("app/")
    assert out["Tg"] == out["TgArn"].split(":", 5)[5] and out["Tg"].startswith("targetgroup/")


def test_assume_role_needs_a_role_that_exists_and_trusts_the_caller(local) -> None:
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"AWS": "arn:aws:iam::999999999999:root"}}]}  # fmt: skip
    _in_account(local, "iam", "111122223333").create_role(
        RoleName="elsewhere", AssumeRolePolicyDocument=json.dumps(trust)
    )
    sts = _client(local, "sts")
    trusted = {**trust, "Statement": [{**trust["Statement"][0], "Principal": {"AWS": "123456789012"}}]}
    _in_account(local, "iam", "111122223333").create_role(
        RoleName="trusted", AssumeRolePolicyDocument=json.dumps(trusted)
    )
    creds = sts.assume_role(RoleArn="arn:aws:iam::111122223333:role/trusted", RoleSessionName="test")["Credentials"]
    inside = boto3.client(
        "sts",
        endpoint_url=local.url,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    assert inside.get_caller_identity()["Account"] == "111122223333", "the role's credentials act in its account"
    with pytest.raises(sts.exceptions.ClientError, match="AccessDenied"):
        sts.assume_role(RoleArn="arn:aws:iam::111122223333:role/elsewhere", RoleSessionName="test")
    with pytest.raises(sts.exceptions.ClientError, match="is not authorized to perform: sts:AssumeRole"):
        sts.assume_role(RoleArn="arn:aws:iam::111122223333:role/absent", RoleSessionName="test")


DRIFT_CHILD = {
    "Resources": {
        "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 7}},
        "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "drift-child-bucket",
                   "Tags": [{"Key": "Project", "Value": "nlsql"}, {"Key": "Module", "Value": "storage"}]}},
        "Queue": {"Type": "AWS::SQS::Queue"},
    }
}  # fmt: skip


def _detected(cf: Any, stack: str) -> tuple[list[str], dict[str, Any]]:
    """Start a detection on one stack and describe it until it ends: every DetectionStatus seen, the last answer."""
    detection = cf.detect_stack_drift(StackName=stack)["StackDriftDetectionId"]
    seen = []
    for _ in range(10):
        answer = cf.describe_stack_drift_detection_status(StackDriftDetectionId=detection)
        seen.append(answer["DetectionStatus"])
        if answer["DetectionStatus"] != "DETECTION_IN_PROGRESS":
            return seen, answer
    raise AssertionError(f"never ended: {seen}")


def test_drift_is_detected_one_stack_at_a_time_against_what_the_services_hold(local) -> None:
    s3 = _client(local, "s3")
    s3.create_bucket(Bucket="drift-templates")
    s3.put_object(Bucket="drift-templates", Key="child.json", Body=json.dumps(DRIFT_CHILD).encode())
    root = {"Resources": {
        "Child": {"Type": "AWS::CloudFormation::Stack",
                  "Properties": {"TemplateURL": f"{local.url}/drift-templates/child.json"}},
        "RootLogs": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 30}}}}  # fmt: skip
    _create_through_change_set(local, "drifty", json.dumps(root))
    cf = _client(local, "cloudformation")
    child = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in cf.list_stack_resources(
        StackName="drifty")["StackResourceSummaries"]}  # fmt: skip
    before = cf.list_stack_resources(StackName="drifty")["StackResourceSummaries"]
    assert {r["DriftInformation"]["StackResourceDriftStatus"] for r in before} == {"NOT_CHECKED"}

    seen, answer = _detected(cf, "drifty")
    assert seen == ["DETECTION_IN_PROGRESS", "DETECTION_COMPLETE"], "asynchronous, as in AWS"
    assert answer["StackDriftStatus"] == "IN_SYNC" and answer["DriftedStackResourceCount"] == 0
    drifts = cf.describe_stack_resource_drifts(StackName="drifty")["StackResourceDrifts"]
    assert [(d["LogicalResourceId"], d["StackResourceDriftStatus"]) for d in drifts] == [("RootLogs", "IN_SYNC")]
    after = {r["LogicalResourceId"]: r["DriftInformation"]["StackResourceDriftStatus"]
             for r in cf.list_stack_resources(StackName="drifty")["StackResourceSummaries"]}  # fmt: skip
    assert after == {"Child": "NOT_CHECKED", "RootLogs": "IN_SYNC"}, "the root's detection does not recurse"

    # Behind the stack's back, in the nested stack: a retention changed, a tag changed, and one added.
    nested = cf.list_stack_resources(StackName=child["Child"])["StackResourceSummaries"]
    group = next(r["PhysicalResourceId"] for r in nested if r["LogicalResourceId"] == "Logs")
    _client(local, "logs").put_retention_policy(logGroupName=group, retentionInDays=90)
    s3.put_bucket_tagging(
        Bucket="drift-child-bucket",
        Tagging={
            "TagSet": [
                {"Key": "Project", "Value": "other"},
                {"Key": "Module", "Value": "storage"},
                {"Key": "Extra", "Value": "x"},
            ]
        },
    )
    _, root_answer = _detected(cf, "drifty")
    assert root_answer["StackDriftStatus"] == "IN_SYNC", "the root's own resources did not change"
    _, answer = _detected(cf, child["Child"])
    assert answer["StackDriftStatus"] == "DRIFTED" and answer["DriftedStackResourceCount"] == 2
    modified = cf.describe_stack_resource_drifts(StackName=child["Child"], StackResourceDriftStatusFilters=["MODIFIED"])
    by_id = {d["LogicalResourceId"]: d["PropertyDifferences"] for d in modified["StackResourceDrifts"]}
    assert by_id["Logs"] == [{"PropertyPath": "/RetentionInDays", "ExpectedValue": "7", "ActualValue": "90",
                              "DifferenceType": "NOT_EQUAL"}]  # fmt: skip
    assert by_id["Bucket"] == [
        {"PropertyPath": "/Tags/0/Value", "ExpectedValue": "nlsql", "ActualValue": "other",
         "DifferenceType": "NOT_EQUAL"},
        {"PropertyPath": "/Tags/2", "ExpectedValue": "null", "ActualValue": '{"Key": "Extra", "Value": "x"}',
         "DifferenceType": "ADD"}]  # fmt: skip

    # A resource deleted behind the stack's back is DELETED; results page; NOT_CHECKED is never returned.
    s3.delete_bucket(Bucket="drift-child-bucket")
    _detected(cf, child["Child"])
    first = cf.describe_stack_resource_drifts(StackName=child["Child"], MaxResults=1)
    second = cf.describe_stack_resource_drifts(StackName=child["Child"], MaxResults=1, NextToken=first["NextToken"])
    assert "NextToken" not in second
    statuses = {d["LogicalResourceId"]: d["StackResourceDriftStatus"]
                for d in first["StackResourceDrifts"] + second["StackResourceDrifts"]}  # fmt: skip
    assert statuses == {"Logs": "MODIFIED", "Bucket": "DELETED"}, "the queue is not checked here"
    assert cf.describe_stack_resource_drifts(StackName=child["Child"], StackResourceDriftStatusFilters=[
        "NOT_CHECKED"])["StackResourceDrifts"] == []  # fmt: skip


def test_drift_detection_is_refused_for_a_missing_or_busy_stack_and_a_resource_it_cannot_read(local) -> None:
    cf = _client(local, "cloudformation")
    with pytest.raises(ClientError, match=r"ValidationError.*Stack \[nowhere\] does not exist"):
        cf.detect_stack_drift(StackName="nowhere")
    cf.create_change_set(StackName="waiting", ChangeSetName="first", ChangeSetType="CREATE",
                         TemplateBody=json.dumps(CHILD))  # fmt: skip
    assert cf.describe_stacks(StackName="waiting")["Stacks"][0]["StackStatus"] == "REVIEW_IN_PROGRESS"
    with pytest.raises(ClientError, match=r"ValidationError.*while it is in status REVIEW_IN_PROGRESS"):
        cf.detect_stack_drift(StackName="waiting")

    _create_through_change_set(local, "unreadable", json.dumps(
        {"Resources": {"Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 7}}}}))  # fmt: skip
    localaws.DRIFT_FAILURES["Logs"] = "User is not authorized to perform: logs:DescribeLogGroups"
    try:
        _, answer = _detected(cf, "unreadable")
    finally:
        localaws.DRIFT_FAILURES.clear()
    assert answer["DetectionStatus"] == "DETECTION_FAILED"
    assert answer["DetectionStatusReason"] == (
        "Failed to detect drift on resources [Logs]: User is not authorized to perform: logs:DescribeLogGroups"
    )


# --- StackSets (stack_sets_deploy_through_their_roles, oidc_providers_from_cloudformation) -----------------------

QUEUE = json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}})


def _regional(local: localaws.LocalAws, service: str, account: str, region: str) -> Any:
    client = boto3.client(service, endpoint_url=local.url, region_name=region, aws_access_key_id="testing",
                          aws_secret_access_key="testing")  # fmt: skip
    client.meta.events.register("before-sign.*.*", lambda request, **_: request.headers.__setitem__(
        "x-moto-account-id", account))  # fmt: skip
    return client


def _execution_role(local: localaws.LocalAws, account: str, trusted: str) -> None:
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"AWS": trusted}}]}  # fmt: skip
    _in_account(local, "iam", account).create_role(RoleName="exec", AssumeRolePolicyDocument=json.dumps(trust))


def _stack_set(local: localaws.LocalAws, name: str, body: str = QUEUE) -> Any:
    cf = _client(local, "cloudformation")
    cf.create_stack_set(StackSetName=name, TemplateBody=body, PermissionModel="SELF_MANAGED",
                        AdministrationRoleARN="arn:aws:iam::123456789012:role/admin", ExecutionRoleName="exec",
                        Capabilities=["CAPABILITY_NAMED_IAM"])  # fmt: skip
    return cf


def _ended(cf: Any, name: str, operation_id: str) -> str:
    first = cf.describe_stack_set_operation(StackSetName=name, OperationId=operation_id)["StackSetOperation"]
    assert first["Status"] == "RUNNING", "an operation runs before it ends"
    time.sleep(localaws.STACKSET_SECONDS + 0.1)
    return cf.describe_stack_set_operation(StackSetName=name, OperationId=operation_id)["StackSetOperation"]["Status"]


def _results(cf: Any, name: str, operation_id: str) -> list[tuple[str, str, str, str]]:
    summaries = cf.list_stack_set_operation_results(StackSetName=name, OperationId=operation_id)["Summaries"]
    return [(s["Account"], s["Region"], s["Status"], s.get("StatusReason", "")) for s in summaries]


def test_a_stack_set_instance_runs_as_the_execution_role_that_trusts_the_admin_role(local) -> None:
    untrusting, trusting = "210000000001", "210000000002"
    _execution_role(local, untrusting, "arn:aws:iam::999999999999:role/admin")
    _execution_role(local, trusting, "arn:aws:iam::123456789012:role/admin")
    cf = _stack_set(local, "roles-checked")
    operation = cf.create_stack_instances(StackSetName="roles-checked", Accounts=[trusting, untrusting, "210000000003"],
                                          Regions=["eu-west-1"])["OperationId"]  # fmt: skip
    with pytest.raises(ClientError, match="OperationInProgressException"):
        cf.create_stack_instances(StackSetName="roles-checked", Accounts=[trusting], Regions=["us-east-1"])
    assert _ended(cf, "roles-checked", operation) == "FAILED"
    reason = f"Account {untrusting} should have 'exec' role with trust relationship to Role 'admin'."
    assert _results(cf, "roles-checked", operation) == [
        (trusting, "eu-west-1", "SUCCEEDED", ""),
        (untrusting, "eu-west-1", "FAILED", reason),
        ("210000000003", "eu-west-1", "CANCELLED", "Cancelled since failure tolerance has exceeded"),
    ]
    instances = {i["Account"]: i for i in cf.list_stack_instances(StackSetName="roles-checked")["Summaries"]}
    assert instances[trusting]["Status"] == "CURRENT"
    assert (instances[untrusting]["Status"], instances[untrusting]["StackInstanceStatus"]["DetailedStatus"],
            instances[untrusting]["StatusReason"]) == ("OUTDATED", "FAILED", reason)  # fmt: skip
    # The stack is in the target account and region, and nowhere else.
    (stack,) = _regional(local, "cloudformation", trusting, "eu-west-1").describe_stacks()["Stacks"]
    assert stack["StackName"].startswith("StackSet-roles-checked-") and stack["StackStatus"] == "CREATE_COMPLETE"
    assert _regional(local, "cloudformation", untrusting, "eu-west-1").describe_stacks()["Stacks"] == []
    assert _regional(local, "cloudformation", trusting, "us-east-1").describe_stacks()["Stacks"] == []


def test_an_instance_whose_template_fails_rolls_back_and_names_the_resource(local) -> None:
    account = "220000000001"
    _execution_role(local, account, f"arn:aws:iam::{123456789012}:root")
    body = json.dumps({"Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []},
        "PermissionsBoundary": f"arn:aws:iam::{account}:policy/missing"}}}})  # fmt: skip
    cf = _stack_set(local, "fails-to-create", body)
    operation = cf.create_stack_instances(StackSetName="fails-to-create", Accounts=[account],
                                          Regions=["us-east-1"])["OperationId"]  # fmt: skip
    assert _ended(cf, "fails-to-create", operation) == "FAILED"
    ((_, _, status, reason),) = _results(cf, "fails-to-create", operation)
    assert status == "FAILED" and reason.startswith("ResourceLogicalId:Role, ResourceType:AWS::IAM::Role, "
                                                    "ResourceStatusReason:"), reason  # fmt: skip
    assert "missing" in reason
    (stack,) = _regional(local, "cloudformation", account, "us-east-1").describe_stacks()["Stacks"]
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"


def test_update_stack_set_updates_every_instances_stack_and_capabilities_are_needed(local) -> None:
    account = "230000000001"
    _execution_role(local, account, "arn:aws:iam::123456789012:role/admin")
    cf = _stack_set(local, "updated")
    created = cf.create_stack_instances(StackSetName="updated", Accounts=[account],
                                        Regions=["us-east-1", "us-west-2"])["OperationId"]  # fmt: skip
    assert _ended(cf, "updated", created) == "SUCCEEDED"
    body = json.dumps({"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}, "Topic": {"Type": "AWS::SNS::Topic"}}})
    updated = cf.update_stack_set(StackSetName="updated", TemplateBody=body)["OperationId"]
    assert _ended(cf, "updated", updated) == "SUCCEEDED"
    for region in ("us-east-1", "us-west-2"):
        client = _regional(local, "cloudformation", account, region)
        (stack,) = client.describe_stacks()["Stacks"]
        assert stack["StackStatus"] == "UPDATE_COMPLETE", region
        assert {r["LogicalResourceId"] for r in client.describe_stack_resources(StackName=stack["StackName"])[
            "StackResources"]} == {"Queue", "Topic"}  # fmt: skip
    role = json.dumps({"Resources": {"R": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "named",
                       "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []}}}}})  # fmt: skip
    with pytest.raises(ClientError, match=r"InsufficientCapabilities.*CAPABILITY_NAMED_IAM"):
        cf.update_stack_set(StackSetName="updated", TemplateBody=role)


def test_a_github_provider_is_iams_one_per_account(local) -> None:
    account = "240000000001"
    body = json.dumps({"Resources": {"Provider": {"Type": "AWS::IAM::OIDCProvider", "Properties": {
        "Url": "https://token.actions.githubusercontent.com", "ClientIdList": ["sts.amazonaws.com"]}}},
        "Outputs": {"Arn": {"Value": {"Ref": "Provider"}}}})  # fmt: skip
    east = _regional(local, "cloudformation", account, "us-east-1")
    east.create_stack(StackName="first", TemplateBody=body)
    arn = f"arn:aws:iam::{account}:oidc-provider/token.actions.githubusercontent.com"
    assert east.describe_stacks(StackName="first")["Stacks"][0]["Outputs"][0]["OutputValue"] == arn
    iam = _in_account(local, "iam", account)
    assert [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]] == [arn]
    west = _regional(local, "cloudformation", account, "us-west-2")
    change_set = west.create_change_set(StackName="second", ChangeSetName="c", ChangeSetType="CREATE",
                                        TemplateBody=body)["Id"]  # fmt: skip
    west.execute_change_set(ChangeSetName=change_set)
    (second,) = west.describe_stacks(StackName="second")["Stacks"]
    assert second["StackStatus"] == "ROLLBACK_COMPLETE"
    reasons = [e.get("ResourceStatusReason", "") for e in west.describe_stack_events(StackName="second")["StackEvents"]]
    assert "Provider with url https://token.actions.githubusercontent.com already exists." in reasons
    east.delete_stack(StackName="first")
    assert iam.list_open_id_connect_providers()["OpenIDConnectProviderList"] == []
