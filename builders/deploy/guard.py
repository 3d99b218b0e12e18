"""Which changes would lose data, and how to say so.

A Remove or a replacing Modify of a resource that holds state stops the
deploy unless the user passes --allow-replacement. "Conditional" counts: it
means CloudFormation cannot know before it runs, which is exactly when a
reviewer should look.
"""

from __future__ import annotations

from builders.deploy.changeset import Change

STATEFUL_TYPES = frozenset(
    {
        "AWS::RDS::DBCluster",
        "AWS::RDS::DBInstance",
        "AWS::S3::Bucket",
        "AWS::KMS::Key",
        "AWS::SecretsManager::Secret",
        "AWS::Logs::LogGroup",
        "AWS::ECR::Repository",
        # Removing or replacing a nested stack deletes everything in it.
        "AWS::CloudFormation::Stack",
    }
)

CONDITIONAL_EXPLAINED = (
    "'Conditional' means CloudFormation cannot tell before it runs whether the new value forces a "
    "replacement: usually a value another nested stack passes through the root, known only during the "
    "deploy. If that value does not actually change, nothing is replaced; the property named after each "
    "resource is the one to check."
)


# Actions whose effect on a resource's data cannot be read from the change set: treated like a replacement.
UNKNOWN_EFFECT = {
    "Dynamic": "changed in a way CloudFormation works out only while it runs (Dynamic)",
    "Import": "imported: an existing resource taken under this stack (Import)",
    "SyncWithActual": "synced with its actual state, overwriting a change made outside CloudFormation (SyncWithActual)",
}


def dangerous(changes: tuple[Change, ...] | list[Change]) -> list[Change]:
    """The changes that would remove, (maybe) replace, or change unknowably a stateful resource."""
    return [
        c
        for c in changes
        if c.resource_type in STATEFUL_TYPES
        and (
            c.action in {"Remove", *UNKNOWN_EFFECT}
            or (c.action == "Modify" and c.replacement in {"True", "Conditional"})
        )
    ]


def describe_danger(change: Change) -> str:
    what = (
        "removed"
        if change.action == "Remove"
        else UNKNOWN_EFFECT.get(change.action) or f"replaced ({change.replacement})"
    )
    causes = ", ".join(f"{prop} ({why}{', by ' + entity if entity else ''})" for prop, why, entity in change.causes)
    return f"{change.stack}/{change.logical_id} ({change.resource_type}) would be {what}" + (
        f" because of {causes}" if causes else ""
    )
