"""Custom resource: empty the VPC's default security group, as AWS CDK's restrictDefaultSecurityGroup does.

Every VPC comes with a default group that lets its members reach each other on every port and reach anything
out. Nothing here uses it, so emptied it can only make a mistake harmless: a resource put in it by accident
(no group named) reaches nothing and is reached by nothing. Inlined into the network stack (ZipFile): boto3 and
the cfnresponse module Lambda gives inline code. A Delete leaves the group as it is (it goes with its VPC).
"""

import boto3
import cfnresponse


def handler(event, context):
    group = event["ResourceProperties"].get("GroupId", "")
    try:
        if event["RequestType"] != "Delete":
            ec2 = boto3.client("ec2")
            (found,) = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
            if found.get("IpPermissions"):
                ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=found["IpPermissions"])
            if found.get("IpPermissionsEgress"):
                ec2.revoke_security_group_egress(GroupId=group, IpPermissions=found["IpPermissionsEgress"])
        cfnresponse.send(event, context, cfnresponse.SUCCESS, {}, group)
    except Exception as exc:
        cfnresponse.send(event, context, cfnresponse.FAILED, {}, group, reason=f"{type(exc).__name__}: {exc}")
