"""Rollback triggers and --status's alarms, end to end: build.py processes against the local AWS.

dev's committed params name no rollback trigger, so each test gives a copy of them one (app-unhealthy, watched
10 minutes: a second or so on the local AWS, see localaws.ROLLBACK_SECONDS_PER_MINUTE). The alarms are the ones
the first deploy's monitoring stack makes: a test sets a member alarm's state with SetAlarmState (nothing
evaluates metrics locally), and the composite app-unhealthy follows its rule as CloudWatch's does
(localaws.composite_alarms_follow_their_members); nothing sets the trigger itself.
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
MEMBER = "nlsql-dev-alb-target-5xx-rate"  # one of the alarms dev's composite pages on
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


def _set(local: localaws.LocalAws, name: str, state: str, reason: str = "set by the test") -> None:
    """What CloudWatch would do when the alarm's metric crosses its threshold (or comes back)."""
    _client(local, "cloudwatch").set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)


def _state(local: localaws.LocalAws, name: str) -> str:
    found = _client(local, "cloudwatch").describe_alarms(
        AlarmNames=[name], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
    )
    return (found["MetricAlarms"] + found["CompositeAlarms"])[0]["StateValue"]


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
    assert _state(local, MEMBER) == "INSUFFICIENT_DATA" and _state(local, ALARM) == "OK", "made by the stack"

    _new_image(workdir, "0.2.0")
    planned = _build(local, workdir, "dev", "--plan", "--change-set-name", "watched")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert WATCHED in planned.stdout and UNWATCHED not in planned.stdout
    cf = _client(local, "cloudformation")
    kept = cf.describe_change_set(ChangeSetName="watched", StackName="nlsql-dev")
    assert kept["RollbackConfiguration"] == {
        "RollbackTriggers": [{"Arn": ARN, "Type": "AWS::CloudWatch::CompositeAlarm"}],
        "MonitoringTimeInMinutes": 10,
    }

    deployed = _build(local, workdir, "dev", "--deploy", "--yes", "--change-set-name", "watched")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert WATCHED in deployed.stdout
    assert _stack(local)["StackStatus"] == "UPDATE_COMPLETE" and _parameters(local)["ApiImageTag"] == "0.2.0"
    assert _stack(local)["RollbackConfiguration"]["RollbackTriggers"][0]["Arn"] == ARN


def _start(local: localaws.LocalAws, workdir: Path, *args: str) -> subprocess.Popen[str]:
    """build.py with `args`, its output (stdout and stderr) to be read as it comes; killed after 300 s."""
    env = {**os.environ, **localaws.credentials_env(), "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    env.pop("AWS_ENDPOINT_URL", None)
    process = subprocess.Popen(
        [sys.executable, str(REPO / "build.py"), *args, "--endpoint-url", local.url,
         "--params-dir", str(workdir / "params"), "--out", str(workdir / "templates")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    killer = threading.Timer(300, process.kill)
    killer.daemon = True
    killer.start()
    return process


def _deploy_reading(local: localaws.LocalAws, workdir: Path, on_line: tuple[str, callable]) -> tuple[int, str]:
    """build.py dev --deploy --yes, its output read as it comes; `on_line`: (text, what to do when it appears)."""
    process = _start(local, workdir, "dev", "--deploy", "--yes")
    lines = []
    for line in process.stdout:  # type: ignore[union-attr]
        lines.append(line)
        if on_line[0] in line:
            on_line[1]()
    return process.wait(), "".join(lines)


def test_a_trigger_that_goes_off_while_watched_rolls_the_deploy_back_and_is_named(local, workdir, monkeypatch) -> None:
    first = _build(local, workdir, "dev", "--deploy", "--yes")
    assert first.returncode == 0, first.stdout + first.stderr
    _set(local, MEMBER, "OK")
    _new_image(workdir, "0.2.0")
    monkeypatch.setattr(localaws, "ROLLBACK_SECONDS_PER_MINUTE", 6.0)  # the 10 minutes last a minute here
    went_off: list[float] = []
    followed: list[tuple[subprocess.Popen[str], str]] = []

    def unhealthy() -> None:
        if went_off:
            return
        follower = _start(local, workdir, "dev", "--follow")  # a second person following the same deploy
        said = ""
        for line in follower.stdout:  # type: ignore[union-attr]
            said += line
            if "this operation is watched by" in line:
                break
        followed.append((follower, said))
        went_off.append(time.monotonic())
        _set(local, MEMBER, "ALARM", "Threshold Crossed: 3 datapoints were greater than the threshold (5.0)")

    started = time.monotonic()
    code, out = _deploy_reading(local, workdir, (f"CloudFormation is watching {ALARM}", unhealthy))

    assert went_off, f"the deploy never said it was watching:\n{out}"
    assert code == 1, out
    assert f"rolled back by its rollback trigger {ALARM}" in out
    assert f"set off by {MEMBER}: Threshold Crossed: 3 datapoints" in out, "the member that set the composite off"
    assert f"describe-alarm-history --alarm-name {MEMBER} " in out
    assert "the stack is back on its previous template and parameters" in out
    assert "Traceback" not in out
    assert time.monotonic() - started < 120, "the rollback ended the watch early"
    assert _stack(local)["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert _parameters(local)["ApiImageTag"] == "0.1.0", "back on the old parameters"

    ((follower, said),) = followed
    said += follower.stdout.read()  # type: ignore[union-attr]
    assert follower.wait(timeout=60) == 1, said
    assert f"this operation is watched by {ALARM} (for 10 minutes after its last resource)" in said
    assert f"rolled back by its rollback trigger {ALARM}" in said and f"set off by {MEMBER}" in said, said


def test_a_trigger_already_in_alarm_rolls_the_deploy_back_at_once(local, workdir) -> None:
    assert _build(local, workdir, "dev", "--deploy", "--yes").returncode == 0
    _set(local, MEMBER, "ALARM")
    assert _state(local, ALARM) == "ALARM"
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

    _set(local, MEMBER, "ALARM", "Threshold Crossed: 2 datapoints")
    _set(local, "nlsql-dev-alb-elb-5xx", "OK")
    cw = _client(local, "cloudwatch")
    cw.put_metric_alarm(AlarmName="nlsql-staging-app-5xx", Namespace="AWS/ApplicationELB", Statistic="Sum",
                        MetricName="HTTPCode_ELB_5XX_Count", Period=60, EvaluationPeriods=1, Threshold=0,
                        ComparisonOperator="GreaterThanThreshold")  # fmt: skip
    _set(local, "nlsql-staging-app-5xx", "ALARM")  # another environment's
    status = _build(local, tmp_path, "dev", "--status")
    assert status.returncode == 0, status.stdout + status.stderr
    table = status.stdout[status.stdout.index("nlsql-dev alarms in ALARM") :]
    (row,) = [line for line in table.splitlines() if MEMBER in line and ALARM not in line]
    assert "Threshold Crossed: 2 datapoints" in row
    assert time.strftime("%Y-%m-%d", time.gmtime()) in row, "since when"
    (composite,) = [line for line in table.splitlines() if ALARM in line]
    assert f"{MEMBER} transitioned to ALARM" in composite, "the composite it set off, and why"
    assert "nlsql-dev-alb-elb-5xx" not in status.stdout and "nlsql-staging" not in status.stdout
