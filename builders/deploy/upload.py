"""Child templates to the artifacts bucket under content-hash keys, and the root's body.

A key made from the template's bytes means an unchanged child keeps its URL,
so CloudFormation sees no change in that nested stack; a changed child gets
a new key and never overwrites what a running change set may still read.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from builders.limits import MAX_BODY_INLINE
from builders.pipeline import Artifact


def key_for(artifact: Artifact) -> str:
    digest = hashlib.sha256(artifact.text.encode("utf-8")).hexdigest()[:20]
    return f"templates/{artifact.env}/{digest}/{artifact.filename}"


def url_for(bucket: str, key: str, region: str, endpoint_url: str | None) -> str:
    """The URL CloudFormation reads a template from: virtual-hosted on AWS, path-style on a custom endpoint."""
    if endpoint_url:
        return f"{endpoint_url.rstrip('/')}/{bucket}/{key}"
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://{bucket}.s3.{region}.{suffix}/{key}"


def put_if_missing(s3: Any, bucket: str, key: str, text: str) -> bool:
    """Upload unless the key already exists (same key, same bytes); True when it uploaded."""
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return False
    except Exception as exc:  # botocore ClientError 404; anything else is raised by put_object below
        if getattr(exc, "response", {}).get("Error", {}).get("Code") not in {"404", "NoSuchKey", "NotFound"}:
            raise
    s3.put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"), ContentType="application/x-yaml")
    return True


def packaged_root(root: Artifact, urls: dict[str, str]) -> str:
    """The root template as JSON with each nested stack's relative TemplateURL replaced by its S3 URL."""
    assert root.doc is not None
    doc: dict[str, Any] = copy.deepcopy(root.doc)
    for resource in doc["Resources"].values():
        if resource["Type"] == "AWS::CloudFormation::Stack":
            relative = resource["Properties"]["TemplateURL"]
            resource["Properties"]["TemplateURL"] = urls[relative]
    return json.dumps(doc, separators=(",", ":"), sort_keys=False)


def fits_inline(body: str) -> bool:
    return len(body.encode("utf-8")) <= MAX_BODY_INLINE
