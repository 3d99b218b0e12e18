"""Child templates to the artifacts bucket under content-hash keys, and the root's body.

A key made from the template's bytes means an unchanged child keeps its URL,
so CloudFormation sees no change in that nested stack; a changed child gets
a new key and never overwrites what a running change set may still read.

Plans and deploys write to separate areas of the bucket (`plans/`,
`templates/`): the plan role of a pull request may write only the first, so
it cannot place an object at a key that a later deploy would reuse. A key
that already exists is reused only when it holds exactly the template's
bytes; anything else there was written by someone else, and the deploy
stops rather than deploy from it.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any

from builders.build.limits import MAX_BODY_INLINE
from builders.build.pipeline import Artifact
from builders.errors import BuildError

DEPLOYS = "templates"  # written by deploys (the deploy role)
PLANS = "plans"  # written by plans (the plan role may write nothing else)


class ForeignObject(BuildError):
    """An object at a template's content-hash key that is not that template."""


def key_for(env: str, filename: str, text: str, area: str = DEPLOYS) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]
    return f"{area}/{env}/{digest}/{filename}"


def url_for(bucket: str, key: str, region: str, endpoint_url: str | None) -> str:
    """The URL CloudFormation reads a template from: virtual-hosted on AWS, path-style on a custom endpoint."""
    if endpoint_url:
        return f"{endpoint_url.rstrip('/')}/{bucket}/{key}"
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://{bucket}.s3.{region}.{suffix}/{key}"


def put_if_missing(s3: Any, bucket: str, key: str, text: str, content_type: str = "application/x-yaml") -> bool:
    """Upload unless the key already holds exactly these bytes; True when it uploaded.

    The bytes are compared, not trusted from the key: S3's ETag is no content hash under SSE-KMS, and a key is
    only a name anyone with s3:PutObject there could have written."""
    body = text.encode("utf-8")
    try:
        held = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:  # botocore ClientError NoSuchKey; anything else is raised by put_object below
        if getattr(exc, "response", {}).get("Error", {}).get("Code") not in {"404", "NoSuchKey", "NotFound"}:
            raise
    else:
        if held == body:
            return False
        raise ForeignObject(
            f"s3://{bucket}/{key} is named after this template's content but holds {len(held)} other bytes: "
            "someone other than a deploy wrote it. Nothing was deployed from it; find who wrote it (CloudTrail "
            "data events, or the bucket's access log) before you delete it and deploy again."
        )
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
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
    s3: Any,
    bucket: str,
    env: str,
    body: str,
    url: Callable[[str], str],
    inline_limit: int = MAX_BODY_INLINE,
    area: str = DEPLOYS,
) -> dict[str, str]:
    """TemplateBody when the packaged root fits CreateChangeSet's inline limit, else TemplateURL.

    The key hashes the packaged body, not root.yaml: a changed child changes the
    body (its URL is in it) while root.yaml stays the same.
    """
    if len(body.encode("utf-8")) <= inline_limit:
        return {"TemplateBody": body}
    key = key_for(env, "root.json", body, area)
    put_if_missing(s3, bucket, key, body, content_type="application/json")
    return {"TemplateURL": url(key)}
