"""Where to deploy and the boto3 clients to do it with.

Every AWS error a user can cause (no credentials, an unknown profile, an
endpoint that does not answer) becomes a BuildError with the way out, not a
traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from builders.errors import BuildError


@dataclass(frozen=True)
class Target:
    """An account and region to deploy to, as the user named them."""

    region: str
    profile: str | None = None
    endpoint_url: str | None = None


class Aws:
    """boto3 clients for one Target, made once each."""

    def __init__(self, target: Target) -> None:
        import boto3
        import botocore.config
        import botocore.exceptions

        self.target = target
        try:
            self._session = boto3.Session(profile_name=target.profile, region_name=target.region)
        except botocore.exceptions.ProfileNotFound as exc:
            raise BuildError(f"{exc}; list the profiles with `aws configure list-profiles`") from None
        # Standard retry mode backs off on throttling, which a busy account's CloudFormation API does.
        self._config = botocore.config.Config(retries={"mode": "standard", "max_attempts": 8})
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._session.client(
                service, endpoint_url=self.target.endpoint_url, config=self._config
            )
        return self._clients[service]


def aws_errors() -> tuple[type[BaseException], ...]:
    """The botocore exceptions that mean "AWS said no or could not be reached"."""
    import botocore.exceptions
    import botocore.parsers

    return (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, botocore.parsers.ResponseParserError)


def describe_error(exc: BaseException) -> str:
    """A one-line account of an AWS failure, with a hint for the common ones."""
    import botocore.exceptions

    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return "no AWS credentials found: set AWS_PROFILE or pass --profile, or run `aws configure`"
    if isinstance(exc, botocore.exceptions.EndpointConnectionError):
        return f"cannot reach AWS: {exc}"
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', exc)}"
    return str(exc)


def error_code(exc: BaseException) -> str:
    import botocore.exceptions

    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""
