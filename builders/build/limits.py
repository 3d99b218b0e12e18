"""CloudFormation's hard limits, and how close each template is to them.

A template over a limit fails at deploy time, often after the nested stacks
before it have been created; checking at build time turns that into a build
error that names the stack and the figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_RESOURCES = 500
MAX_PARAMETERS = 200
MAX_OUTPUTS = 200
MAX_BODY_S3 = 1_000_000  # bytes, a template read from S3 (as nested stacks always are)
MAX_BODY_INLINE = 51_200  # bytes, a template passed inline with --template-body


@dataclass(frozen=True)
class Usage:
    """The figures of one rendered template."""

    path: str
    resources: int
    parameters: int
    outputs: int
    size: int
    # Sent as a template body, not from S3: the account-wide stacks, which `build.py --deploy` and the README's
    # `aws cloudformation deploy` (no --s3-bucket) pass inline. An environment's root goes by S3 URL when too big.
    inline: bool = False

    def violations(self) -> list[str]:
        """Every hard limit this template crosses, as a sentence naming the figure."""
        checks = [
            ("resources", self.resources, MAX_RESOURCES),
            ("parameters", self.parameters, MAX_PARAMETERS),
            ("outputs", self.outputs, MAX_OUTPUTS),
            ("bytes", self.size, MAX_BODY_S3),
        ]
        if self.inline:
            checks.append(("bytes sent inline", self.size, MAX_BODY_INLINE))
        return [
            f"{self.path}: {value:,} {what}, over CloudFormation's limit of {limit:,}"
            for what, value, limit in checks
            if value > limit
        ]


def usage(path: str, doc: dict[str, Any], text: str, inline: bool = False) -> Usage:
    return Usage(
        path=path,
        resources=len(doc.get("Resources", {})),
        parameters=len(doc.get("Parameters", {})),
        outputs=len(doc.get("Outputs", {})),
        size=len(text.encode("utf-8")),
        inline=inline,
    )
