"""Checkov's skips, recorded on the resources they excuse.

A skipped check lives in the resource's own Metadata (checkov reads
`Metadata.checkov.skip`), next to what it excuses and with the reason a
reviewer reads in the template diff. Nothing is skipped on checkov's command
line, so a new resource cannot inherit a skip it was never reviewed for;
tests/test_security_scanners.py holds every template to zero failed checks and
every skip to a reason.
"""

from __future__ import annotations

from typing import TypeVar

from troposphere import AWSObject

R = TypeVar("R", bound=AWSObject)

Check = tuple[str, str]  # (checkov check id, why it does not apply to this resource)


def skip(resource: R, *checks: Check) -> R:
    """Record checkov skips on the resource, each with its one-line reason; returns the resource."""
    metadata = dict(resource.Metadata) if hasattr(resource, "Metadata") else {}
    checkov = dict(metadata.get("checkov", {}))
    skips = list(checkov.get("skip", []))
    for check_id, reason in checks:
        if not check_id.startswith("CKV_") or not reason.strip():
            raise ValueError(f"{resource.title}: a skip needs a checkov id and a reason, got {check_id!r}: {reason!r}")
        if any(s["id"] == check_id for s in skips):
            raise ValueError(f"{resource.title}: {check_id} is skipped twice")
        skips.append({"id": check_id, "comment": reason})
    metadata["checkov"] = {**checkov, "skip": skips}
    resource.Metadata = metadata
    return resource


# The one skip several stacks share: a log group in an environment without a customer managed key.
NO_ENVIRONMENT_KEY: Check = (
    "CKV_AWS_158",
    "This environment has no customer managed key (storage.encryption: AES256, the seed's dev setting); "
    "CloudWatch Logs encrypts the group at rest with its own keys",
)
# The alarm topic where the environment has no customer managed key: SNS's AWS managed key cannot be used by
# CloudWatch alarms (its key policy is AWS's and names no service), so such a topic would never get a message.
NO_KEY_FOR_THE_ALARM_TOPIC: Check = (
    "CKV_AWS_26",
    "dev has no customer managed key (the seed's AES256), and CloudWatch alarms cannot publish to a topic under "
    "SNS's AWS managed key; alarm messages hold no data",
)
