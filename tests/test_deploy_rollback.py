"""Rollback triggers and --status's alarms, end to end: build.py processes against the local AWS.

dev's committed params name no rollback trigger, so each test gives a copy of them one (app-unhealthy, watched
10 minutes: a second or so on the local AWS, see localaws.ROLLBACK_SECONDS_PER_MINUTE). The alarms are made with
PutMetricAlarm, as the monitoring stack will make them, and their state is set with SetAlarmState.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests import localaws
from tests.conftest import PARAMS, REPO
from tests.test_deploy_e2e import _build, _client

ALARM = "nlsql-dev-app-unhealthy"
ARN = f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{ALARM}"
TRIGGER = "\n  rollback:\n    alarms: [app-unhealthy]\n    monitoring_minutes: 10\n"
WATCHED = f"watching {ALARM} for 10 minutes after the last resource; a deploy that sets it off is rolled back"
UNWATCHED = f"not watched: {ALARM} does not exist yet (this deploy creates it; the next one is watched)"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A copy of params/ in which dev is watched by app-unhealthy."""
    shutil.copytree(PARAMS, tmp_path / "params")
    dev = tmp_path / "params" / "dev.yaml"
    dev.write_text(dev.read_text().replace("monitoring:\n", "monitoring:" + TRIGGER, 1))
    return tmp_path


def _alarm(local: localaws.LocalAws, name: str, state: str = "OK", reason: str = "set by the test") -> None:
    """An alarm as the monitoring stack makes one, in `state`."""
    cw = _client(local, "cloudwatch")
    cw.put_metric_alarm(AlarmName=name, Namespace="AWS/ApplicationELB", MetricName="UnHealthyHostCount",
                        Statistic="Maximum", Period=60, EvaluationPeriods=1, Threshold=0,
                        ComparisonOperator="GreaterThanThreshold")  # fmt: skip
    cw.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)


def _new_image(workdir: Path, tag: str) -> None:
    dev = workdir / "params" / "dev.yaml"
    dev.write_text(dev.read_text().replace('image_tag: "0.1.0"', f'image_tag: "{tag}"', 1))


def _stack(local: localaws.LocalAws) -> dict:
    return _client(local, "cloudformation").describe_stacks(StackName="nlsql-dev")["Stacks"][0]


def _parameters(local: localaws.LocalAws) -> dict[str, str]:
    return {p["ParameterKey"]: p["ParameterValue"] for p in _stack(local)["Parameters"]}


def test_a_missing_trigger_is_not_watched_and_a_kept_plan_carries_the_one_that_exists(local, workdir) -> None:
    first = _build(local, workdir, "dev", "--deploy", "--yes")
    assert first.returncode == 0, first.stdout + first.stderr
    assert UNWATCHED in first.stdout and WATCHED not in first.stdout
    assert _stack(local)["StackStatus"] == "CREATE_COMPLETE"

    _alarm(local, ALARM)  # the monitoring stack made it
    _new_image(workdir, "0.2.0")
    planned = _build(local, workdir, "dev", "--plan", "--change-set-name", "watched")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert WATCHED in planned.stdout and UNWATCHED not in planned.stdout
    cf = _client(local, "cloudformation")
    kept = cf.describe_change_set(ChangeSetName="watched", StackName="nlsql-dev")
    assert kept["RollbackConfiguration"] == {
        "RollbackTriggers": [{"Arn": ARN, "Type": "AWS::CloudWatch::Alarm"}],
        "MonitoringTimeInMinutes": 10,
    }

    deployed = _build(local, workdir, "dev", "--deploy", "--yes", "--change-set-name", "watched")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert WATCHED in deployed.stdout
    assert _stack(local)["StackStatus"] == "UPDATE_COMPLETE" and _parameters(local)["ApiImageTag"] == "0.2.0"
    assert _stack(local)["RollbackConfiguration"]["RollbackTriggers"][0]["Arn"] == ARN


def _deploy_reading(local: localaws.LocalAws, workdir: Path, on_line: tuple[str, callable]) -> tuple[int, str]:
    """build.py dev --deploy --yes, its output read as it comes; `on_line`: (text, what to do when it appears)."""
    env = {**os.environ, **localaws.credentials_env(), "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    env.pop("AWS_ENDPOINT_URL", None)
    process = subprocess.Popen(
        [sys.executable, str(REPO / "build.py"), "dev", "--deploy", "--yes", "--endpoint-url", local.url,
         "--params-dir", str(workdir / "params"), "--out", str(workdir / "templates")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    killer = threading.Timer(300, process.kill)
    killer.start()
    lines = []
    try:
        for line in process.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if on_line[0] in line:
                on_line[1]()
        return process.wait(), "".join(lines)
    finally:
        killer.cancel()


def test_a_trigger_that_goes_off_while_watched_rolls_the_deploy_back_and_is_named(local, workdir, monkeypatch) -> None:
    first = _build(local, workdir, "dev", "--deploy", "--yes")
    assert first.returncode == 0, first.stdout + first.stderr
    _alarm(local, ALARM)
    _new_image(workdir, "0.2.0")
    monkeypatch.setattr(localaws, "ROLLBACK_SECONDS_PER_MINUTE", 6.0)  # the 10 minutes last a minute here
    went_off = []

    def unhealthy() -> None:
        if not went_off:
            went_off.append(time.monotonic())
            _client(local, "cloudwatch").set_alarm_state(
                AlarmName=ALARM, StateValue="ALARM", StateReason="Threshold Crossed: 1 unhealthy target"
            )

    started = time.monotonic()
    code, out = _deploy_reading(local, workdir, (f"CloudFormation is watching {ALARM}", unhealthy))

    assert went_off, f"the deploy never said it was watching:\n{out}"
    assert code == 1, out
    assert f"rolled back by its rollback trigger {ALARM}" in out
    assert "the stack is back on its previous template and parameters" in out
    assert "Traceback" not in out
    assert time.monotonic() - started < 120, "the rollback ended the watch early"
    assert _stack(local)["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert _parameters(local)["ApiImageTag"] == "0.1.0", "back on the old parameters"


def test_a_trigger_already_in_alarm_rolls_the_deploy_back_at_once(local, workdir) -> None:
    assert _build(local, workdir, "dev", "--deploy", "--yes").returncode == 0
    _alarm(local, ALARM, "ALARM")
    _new_image(workdir, "0.3.0")
    result = _build(local, workdir, "dev", "--deploy", "--yes")
    assert result.returncode == 1, result.stdout + result.stderr
    assert WATCHED in result.stdout and f"rolled back by its rollback trigger {ALARM}" in result.stdout
    assert _parameters(local)["ApiImageTag"] == "0.1.0"


def test_status_lists_the_environment_s_alarms_in_alarm_and_dev_without_triggers_says_nothing(local, tmp_path) -> None:
    shutil.copytree(PARAMS, tmp_path / "params")  # dev as committed: no rollback trigger
    deployed = _build(local, tmp_path, "dev", "--deploy", "--yes")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    said = deployed.stdout.lower().replace("cloudwatch", "")  # resource types name CloudWatch
    assert "watch" not in said, "no triggers: nothing said about them"
    quiet = _build(local, tmp_path, "dev", "--status")
    assert quiet.returncode == 0 and "nlsql-dev: no alarms in ALARM" in quiet.stdout, quiet.stdout + quiet.stderr

    _alarm(local, ALARM, "ALARM", "Threshold Crossed: 2 unhealthy targets")
    _alarm(local, "nlsql-dev-db-cpu", "OK")
    _alarm(local, "nlsql-staging-app-unhealthy", "ALARM")
    status = _build(local, tmp_path, "dev", "--status")
    assert status.returncode == 0, status.stdout + status.stderr
    table = status.stdout[status.stdout.index("nlsql-dev alarms in ALARM") :]
    (row,) = [line for line in table.splitlines() if ALARM in line]
    assert "Threshold Crossed: 2 unhealthy targets" in row
    assert time.strftime("%Y-%m-%d", time.gmtime()) in row, "since when"
    assert "nlsql-dev-db-cpu" not in status.stdout and "nlsql-staging" not in status.stdout
