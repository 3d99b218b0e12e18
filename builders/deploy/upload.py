"""Child templates to the artifacts bucket under content-hash keys, and the root's body.

A key made from the template's bytes means an unchanged child keeps its URL,
so CloudFormation sees no change in that nested stack; a changed child gets
a new key and never overwrites what a running change set may still read.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any

from builders.build.limits import MAX_BODY_INLINE
from builders.build.pipeline import Artifact


def key_for(env: str, filename: str, text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]
    return f"templates/{env}/{digest}/{filename}"


def url_for(bucket: str, key: str, region: str, endpoint_url: str | None) -> str:
    """The URL CloudFormation reads a template from: virtual-hosted on AWS, path-style on a custom endpoint."""
    if endpoint_url:
        return f"{endpoint_url.rstrip('/')}/{bucket}/{key}"
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://{bucket}.s3.{region}.{suffix}/{key}"


def put_if_missing(s3: Any, bucket: str, key: str, text: str, content_type: str = "application/x-yaml") -> bool:
    """Upload unless the key already exists (same key, same bytes); True when it uploaded."""
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return False
    except Exception as exc:  # botocore ClientError 404; anything else is raised by put_object below
        if getattr(exc, "response", {}).get("Error", {}).get("Code") not in {"404", "NoSuchKey", "NotFound"}:
            raise
    s3.put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"), ContentType=content_type)
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


def root_template(
    s3: Any, bucket: str, env: str, body: str, url: Callable[[str], str], inline_limit: int = MAX_BODY_INLINE
) -> dict[str, str]:
    """TemplateBody when the packaged root fits CreateChangeSet's inline limit, else TemplateURL.

    The key hashes the packaged body, not root.yaml: a changed child changes the
    body (its URL is in it) while root.yaml stays the same.
    """
    if len(body.encode("utf-8")) <= inline_limit:
        return {"TemplateBody": body}
    key = key_for(env, "root.json", body)
    put_if_missing(s3, bucket, key, body, content_type="application/json")
    return {"TemplateURL": url(key)}
