"""The README's plain AWS CLI path, run as written against a local AWS on 127.0.0.1:
`aws cloudformation package`, then `aws cloudformation deploy --parameter-overrides file://...`,
on the committed templates, with the `awscli` package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3

from tests import localaws
from tests.conftest import REPO, STACKS


def _aws(local: localaws.LocalAws, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **localaws.credentials_env(),
        "AWS_ENDPOINT_URL": local.url,
        # AWS CLI v1's `package` uploads with its own S3 client, which ignores --endpoint-url.
        "AWS_ENDPOINT_URL_S3": local.url,
    }
    return subprocess.run(
        [sys.executable, "-m", "awscli", *args], cwd=REPO, capture_output=True, text=True, timeout=300, env=env
    )


def test_package_and_deploy_the_committed_dev_templates_with_the_aws_cli(tmp_path: Path) -> None:
    local = localaws.start()
    try:
        # The README's once-per-account step first: the environment's roles carry its permissions boundary, and
        # a role whose boundary does not exist fails (tests/localaws.py permissions_boundaries_must_exist).
        bootstrap = _aws(local, "cloudformation", "deploy", "--template-file", "templates/bootstrap.yaml",
                         "--stack-name", "nlsql-bootstrap", "--capabilities", "CAPABILITY_NAMED_IAM",
                         "--tags", "Project=nlsql", "Environment=shared", "ManagedBy=cloudformation")  # fmt: skip
        assert bootstrap.returncode == 0, bootstrap.stdout + bootstrap.stderr
        s3 = boto3.client("s3", endpoint_url=local.url, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
        s3.create_bucket(Bucket="my-artifacts")
        packaged = tmp_path / "dev-packaged.yaml"
        package = _aws(local, "cloudformation", "package", "--template-file", "templates/dev/root.yaml",
                       "--s3-bucket", "my-artifacts", "--output-template-file", str(packaged))  # fmt: skip
        assert package.returncode == 0, package.stderr
        text = packaged.read_text()
        assert "TemplateURL: network.yaml" not in text and text.count("my-artifacts") == len(STACKS) - 1
        deploy = _aws(local, "cloudformation", "deploy", "--template-file", str(packaged), "--stack-name", "nlsql-dev",
                      "--capabilities", "CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND",
                      "--parameter-overrides", "file://templates/dev/parameters.json",
                      "--tags", "Project=nlsql", "Environment=dev", "ManagedBy=cloudformation")  # fmt: skip
        assert deploy.returncode == 0, deploy.stdout + deploy.stderr
        cf = boto3.client("cloudformation", endpoint_url=local.url, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
        stack = cf.describe_stacks(StackName="nlsql-dev")["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]} == {
            "ApiImageTag": "0.1.0", "UiImageTag": "0.1.0"
        }  # fmt: skip
        assert {o["OutputKey"] for o in stack["Outputs"]} >= {"AppUrl", "DatabaseEndpoint", "DataLakeBucketName"}
    finally:
        local.stop()
