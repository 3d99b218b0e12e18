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
    account_id: str | None = None  # the environment's account (params); None: not checked (account-wide tools)
    assume_role: str | None = None  # a role in that account to assume first (params' deploy_role)
    source: str = "params"  # where account_id and deploy_role were read, for the refusal's wording


class Aws:
    """boto3 clients for one Target, made once each, in the Target's account or not at all.

    Where the Target names an account, the credentials (after assuming the Target's role, if any) are asked
    who they are (STS GetCallerIdentity) before any client is handed out, and credentials of another account
    are refused, naming both: a prod template deployed with dev credentials, or the reverse, is one wrong
    AWS_PROFILE away otherwise, and nothing may be called in the wrong account before it is caught."""

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
        self.identity: dict[str, Any] | None = None
        if target.assume_role:
            self._assume(target.assume_role)
        if target.account_id:
            self._check_account(target.account_id)

    def _assume(self, role: str) -> None:
        import boto3

        try:
            answer = self._session.client(
                "sts", endpoint_url=self.target.endpoint_url, config=self._config
            ).assume_role(RoleArn=role, RoleSessionName="nlsql-build", DurationSeconds=3600)
        except aws_errors() as exc:
            raise BuildError(
                f"{self.target.source}: deploy_role {role} could not be assumed ({describe_error(exc)}): nothing "
                f"was done; the credentials need sts:AssumeRole on it, and its trust policy must let them"
            ) from None
        creds = answer["Credentials"]
        self._session = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"], region_name=self.target.region,
        )  # fmt: skip

    def _check_account(self, wanted: str) -> None:
        self.identity = self.client("sts").get_caller_identity()
        found = self.identity["Account"]
        if found != wanted:
            way = (
                f"the role assumed ({self.target.assume_role}) is not in it"
                if self.target.assume_role
                else "use credentials of that account (--profile NAME, AWS_PROFILE), or set deploy_role in "
                f"{self.target.source} to a role of account {wanted} that these credentials may assume"
            )
            raise BuildError(
                f"{self.target.source}: account_id is {wanted}, but the credentials are for account {found} "
                f"({self.identity.get('Arn', '?')}): nothing was done; {way}"
            )

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
