"""Every IAM policy document the builders produce, linted offline by parliament: zero findings.

The documents are read from the generated templates (identity policies of the
roles, key policies, bucket policies and the roles' trust policies) with their
intrinsics resolved to plausible ARNs (tests/policy_documents.py). What
parliament gets wrong is allowed below, each with why; anything else it
reports is a real finding, to be fixed in builders/iam.py.
"""

from __future__ import annotations

import json
from typing import Any

from parliament import analyze_policy_string

from builders.iam import awacs_module
from tests.policy_documents import Document, documents

TRUST = "AssumeRolePolicyDocument"

# (document kind or "where" suffix, parliament issue) -> why it is not a problem.
ALLOWED: dict[tuple[str, str], str] = {
    (TRUST, "MALFORMED"): "parliament reads every policy as an identity policy; a trust policy has no Resource",
    (TRUST, "UNKNOWN_FEDERATION_SOURCE"): "parliament's list of identity providers predates GitHub's OIDC issuer",
    ("KeyPolicy", "RESOURCE_STAR"): "in a key policy Resource '*' means the key itself, the only valid value",
    (
        "CloudFormationExecutionRole.Policies[deploy-the-stacks]",
        "RESOURCE_STAR",
    ): "by design: CloudFormation creates resources whose ARNs do not exist yet; bounded by service list and region",
}
# Actions whose RESOURCE_MISMATCH is parliament's, not ours: it demands a resource of every type the action
# can take, where InvokeModel takes any one of them (a foundation model here).
ONE_OF_RESOURCE_TYPES = {"bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"}
# Actions newer than parliament 1.6.4's copy of the IAM reference (S3 ABAC and metadata-table updates, 2025):
# the S3 bucket handlers call them (their registry schemas) and awacs defines them. Only these names pass
# UNKNOWN_ACTION, so a typo'd action still fails; a test below drops a name once parliament knows it.
NEWER_THAN_PARLIAMENT = {
    "s3:GetBucketAbac", "s3:PutBucketAbac", "s3:UpdateBucketMetadataAnnotationTableConfiguration",
    "s3:UpdateBucketMetadataInventoryTableConfiguration", "s3:UpdateBucketMetadataJournalTableConfiguration",
    # reads that drift detection makes (builders/iam.py DRIFT_READS, from the types' read handlers)
    "ec2:DescribeVpcEncryptionControls", "elasticloadbalancing:GetLoadBalancerWebACL",
    "lambda:GetFunctionScalingConfig",
}  # fmt: skip


def _allowed(document: Document, finding: Any) -> bool:
    for (scope, issue), _why in ALLOWED.items():
        if finding.issue == issue and (document.kind == scope or document.where.endswith(scope)):
            if issue == "MALFORMED":
                return finding.detail == "Statement contains neither Resource nor NotResource"
            return True
    if finding.issue == "RESOURCE_MISMATCH":
        return all(entry["action"] in ONE_OF_RESOURCE_TYPES for entry in finding.detail)
    if finding.issue == "UNKNOWN_ACTION":
        return finding.detail.removeprefix("Unknown action ") in NEWER_THAN_PARLIAMENT
    return False


def _findings(document: Document) -> list[str]:
    policy = analyze_policy_string(json.dumps(document.document))
    return [f"{document.where}: {f.issue} {f.detail}" for f in policy.findings if not _allowed(document, f)]


def test_the_linter_sees_every_kind_of_policy_document() -> None:
    kinds = {d.kind for d in documents()}
    assert kinds == {TRUST, "Policies", "KeyPolicy", "PolicyDocument"}


def test_every_policy_document_passes_parliament() -> None:
    found = [line for document in documents() for line in _findings(document)]
    assert not found, "parliament:\n" + "\n".join(found)


def test_the_allow_list_is_not_dead() -> None:
    """Each allowance still matches something, so a fixed false positive drops out of the list."""
    used = set()
    for document in documents():
        for finding in analyze_policy_string(json.dumps(document.document)).findings:
            for scope, issue in ALLOWED:
                if finding.issue == issue and (document.kind == scope or document.where.endswith(scope)):
                    used.add((scope, issue))
    assert used == set(ALLOWED)


def test_parliament_finds_a_planted_mistake() -> None:
    """The resolver and linter are live: a typo'd action and a bucket action on an object ARN are found."""
    bad = Document(
        "planted",
        "Policies",
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["s3:GetObjekt"], "Resource": ["arn:aws:s3:::b/*"]},
                {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": ["arn:aws:s3:::b/*"]},
            ],
        },
    )
    issues = {line.split()[1] for line in _findings(bad)}
    assert {"UNKNOWN_ACTION", "RESOURCE_MISMATCH"} <= issues


def test_the_actions_newer_than_parliament_are_real_and_still_unknown_to_it() -> None:
    for action in sorted(NEWER_THAN_PARLIAMENT):
        service, name = action.split(":")
        assert hasattr(awacs_module(service), name), f"{action}: not an action awacs knows"
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [action], "Resource": ["*"]}]}
        issues = {f.issue for f in analyze_policy_string(json.dumps(policy)).findings}
        assert "UNKNOWN_ACTION" in issues, f"parliament knows {action} now: drop it from NEWER_THAN_PARLIAMENT"
