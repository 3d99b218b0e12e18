"""An environment is an account: every AWS command checks the caller's account first, and may assume a role.

End to end (build.py processes against the local AWS, whose default credentials are account 123456789012):
credentials of another account are refused before anything is called that changes anything, and a deploy_role
in the environment's account lets the same credentials deploy there. The local AWS refuses a role that does not
exist or does not trust the caller (localaws.assume_role_needs_a_role_that_trusts_the_caller), as AWS does.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest

from builders import params
from builders.errors import ConfigError
from tests import localaws
from tests.conftest import PARAMS
from tests.test_deploy_e2e import _build, _client

OTHER = "111122223333"
ROLE = f"arn:aws:iam::{OTHER}:role/nlsql-deployer"


def _params(tmp_path: Path, **keys: str) -> Path:
    """A copy of params/ whose dev.yaml has `keys` (account_id, deploy_role) set."""
    shutil.copytree(PARAMS, tmp_path / "params")
    dev = tmp_path / "params" / "dev.yaml"
    text = dev.read_text()
    for key, value in keys.items():
        line = f'{key}: "{value}"\n'
        if f"\n{key}:" in text:
            start = text.index(f"\n{key}:") + 1
            text = text[:start] + line + text[text.index("\n", start) + 1 :]
        else:
            text = text.replace("region: us-east-1\n", "region: us-east-1\n" + line, 1)
    dev.write_text(text)
    return dev


def _in_account(local: localaws.LocalAws, service: str, account: str) -> Any:
    """A client acting in another account of the local AWS (moto's x-moto-account-id), for the test's own set-up."""
    client = boto3.client(service, endpoint_url=local.url, region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")  # fmt: skip

    def header(request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = account

    client.meta.events.register("before-sign.*.*", header)
    return client


def test_the_account_id_is_twelve_digits_and_the_role_must_be_in_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"account_id.*\^\\d\{12\}\$"):
        params.load(_params(tmp_path / "a", account_id="12345"))
    with pytest.raises(ConfigError, match=rf"deploy_role: {ROLE} is a role of account {OTHER}, not of account_id "
                       "123456789012"):  # fmt: skip
        params.load(_params(tmp_path / "b", deploy_role=ROLE))
    assert params.load(_params(tmp_path / "c", account_id=OTHER, deploy_role=ROLE)).deploy_role == ROLE


@pytest.mark.parametrize("action", ["--deploy", "--plan", "--status", "--follow", "--delete"])
def test_credentials_of_another_account_are_refused_before_anything_is_done(local, tmp_path, action) -> None:
    dev = _params(tmp_path, account_id=OTHER)
    result = _build(local, tmp_path, "dev", action, "--yes")
    assert result.returncode == 1, result.stdout + result.stderr
    said = " ".join(result.stderr.split())
    assert f"{dev}: account_id is {OTHER}, but the credentials are for account 123456789012" in said
    assert "nothing was done" in said and "--profile" in said and "deploy_role" in said
    assert "Traceback" not in result.stderr
    assert _client(local, "cloudformation").list_stacks()["StackSummaries"] == [], "no stack, not even bootstrap"
    assert _client(local, "s3").list_buckets()["Buckets"] == []


def test_a_deploy_role_lets_one_set_of_credentials_deploy_into_the_environment_s_account(local, tmp_path) -> None:
    _params(tmp_path, account_id=OTHER, deploy_role=ROLE)
    missing = _build(local, tmp_path, "dev", "--deploy", "--yes")
    assert missing.returncode == 1, missing.stdout + missing.stderr
    said = " ".join(missing.stderr.split())
    assert f"deploy_role {ROLE} could not be assumed (AccessDenied: User: " in said
    assert _client(local, "cloudformation").list_stacks()["StackSummaries"] == []

    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}]}  # fmt: skip
    _in_account(local, "iam", OTHER).create_role(RoleName="nlsql-deployer", AssumeRolePolicyDocument=json.dumps(trust))
    deployed = _build(local, tmp_path, "dev", "--deploy", "--yes")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    there = _in_account(local, "cloudformation", OTHER).describe_stacks(StackName="nlsql-dev")["Stacks"][0]
    assert there["StackStatus"] == "CREATE_COMPLETE" and f":{OTHER}:stack/" in there["StackId"]
    assert not [s for s in _client(local, "cloudformation").list_stacks()["StackSummaries"]
                if s["StackName"] == "nlsql-dev"], "nothing in the credentials' own account"  # fmt: skip
    status = _build(local, tmp_path, "dev", "--status")
    assert status.returncode == 0 and "CREATE_COMPLETE" in status.stdout, status.stdout + status.stderr


@pytest.mark.parametrize("action", ["--deploy", "--plan", "--status", "--delete"])
def test_a_region_other_than_the_params_one_is_refused_before_anything_is_done(local, tmp_path, action) -> None:
    """The templates were built for the params' region (AZs, endpoints, lint region): --region may not move them."""
    dev = _params(tmp_path)
    result = _build(local, tmp_path, "dev", action, "--yes", "--region", "eu-west-1")
    assert result.returncode == 2, result.stdout + result.stderr
    said = " ".join(result.stderr.split())
    assert f"--region eu-west-1: {dev} says region: us-east-1" in said and "Traceback" not in said
    assert _client(local, "cloudformation").list_stacks()["StackSummaries"] == []
    assert _build(local, tmp_path, "dev", "--status", "--region", "us-east-1").returncode != 2  # repeating it is fine
