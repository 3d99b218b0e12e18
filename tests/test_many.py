"""Several environments in one command (builders/deploy/many.py), through build.py as a user runs it.

The environments are a tests-only params folder: params/ plus `ireland` (dev moved to eu-west-1, the
second region the issue asks for), `dev2` (dev again, same account and region) and `other` (dev in another
account). End to end against the local AWS on 127.0.0.1: two regions deploy in parallel, one failing does
not stop the others, environments sharing an account and region run one after another, Ctrl-C stops all.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from builders.deploy import many
from tests import localaws
from tests.conftest import REPO, params_in_region

OTHER = "111122223333"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    folder = tmp_path / "params"
    params_in_region(folder, "ireland", "eu-west-1")
    params_in_region(folder, "dev2", "us-east-1")
    params_in_region(folder, "other", "us-east-1", replace={'account_id: "123456789012"': f'account_id: "{OTHER}"'})
    return tmp_path


def _command(local: localaws.LocalAws, workdir: Path, *args: str) -> list[str]:
    return [sys.executable, str(REPO / "build.py"), *args, "--endpoint-url", local.url,
            "--params-dir", str(workdir / "params"), "--out", str(workdir / "templates")]  # fmt: skip


def _env() -> dict[str, str]:
    env = {**os.environ, **localaws.credentials_env(), "COLUMNS": "200"}
    env.pop("AWS_ENDPOINT_URL", None)
    return env


def _build(local: localaws.LocalAws, workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_command(local, workdir, *args), capture_output=True, text=True, timeout=600, env=_env())


def _lines(out: str, env: str) -> list[int]:
    """The indexes of the output lines the child of `env` printed (relayed with its name in front)."""
    return [i for i, line in enumerate(out.splitlines()) if line.split(" | ", 1)[0].rstrip() == env]


def _summary_row(out: str, env: str) -> list[str]:
    tail = out[out.index("environments\n") :].splitlines()
    [row] = [line.split() for line in tail if line.split()[:1] == [env]]
    return row


def _stack(local: localaws.LocalAws, region: str, name: str) -> dict[str, Any]:
    cf = boto3.client("cloudformation", endpoint_url=local.url, region_name=region, aws_access_key_id="testing",
                      aws_secret_access_key="testing")  # fmt: skip
    return cf.describe_stacks(StackName=name)["Stacks"][0]


# --- what a child is given -------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    sys.path.insert(0, str(REPO))
    import build

    return build._parser()


@pytest.mark.parametrize(
    "argv",
    [
        ["--profile", "dev", "dev", "staging", "--plan", "-y", "--change-set-name", "pr-7"],
        ["dev", "staging", "--deploy", "--yes", "--allow-replacement", "--role-arn", "arn:aws:iam::1:role/x", "-q"],
        ["dev", "prod", "--status", "--endpoint-url", "http://127.0.0.1:5000", "--no-cache", "-v"],
    ],
)
def test_each_child_is_given_every_option_the_user_gave_and_only_its_environment(argv: list[str]) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    for env in args.envs:
        child = parser.parse_args(many.child_argv(parser, args, env))
        assert child.envs == [env]
        assert {**vars(child), "envs": None} == {**vars(args), "envs": None}


def test_groups_are_account_and_region_pairs_in_the_order_named() -> None:
    named = [
        ("dev", "1", "us-east-1"),
        ("ireland", "1", "eu-west-1"),
        ("dev2", "1", "us-east-1"),
        ("other", "2", "us-east-1"),
    ]
    runs = [many.Run(env, account, region, []) for env, account, region in named]
    assert [[r.env for r in g] for g in many.groups(runs)] == [["dev", "dev2"], ["ireland"], ["other"]]
    for run, code in zip(runs, (0, 3, 1, 0), strict=True):
        run.process = subprocess.Popen([sys.executable, "-c", f"raise SystemExit({code})"])
        run.process.wait()
    assert [r.code for r in runs] == [0, 3, 1, 0] and many.worst(runs) == 3
    runs[3].process = None  # never ran: counted as interrupted
    assert many.worst(runs) == many.INTERRUPTED
    runs[2].process = subprocess.Popen(
        [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"]
    )
    runs[2].process.wait()
    assert runs[2].code == 143  # killed by a signal: as a shell says it


# --- refused before anything runs ------------------------------------------------------------


def test_a_deploy_of_several_needs_yes_and_says_to_plan_first(local: localaws.LocalAws, workdir: Path) -> None:
    result = _build(local, workdir, "dev", "ireland", "--deploy")
    assert result.returncode == 2, result.stdout + result.stderr
    said = " ".join(result.stderr.split())
    assert "--deploy of several environments (dev, ireland) needs --yes" in said
    assert "python build.py dev ireland --plan" in said and "Traceback" not in said
    assert "built " not in result.stdout  # refused before the build


def test_one_role_arn_for_environments_in_two_accounts_is_refused(local: localaws.LocalAws, workdir: Path) -> None:
    result = _build(local, workdir, "dev", "other", "--plan", "--role-arn", "arn:aws:iam::123456789012:role/x")
    assert result.returncode == 2
    assert f"in 2 accounts (dev in 123456789012, other in {OTHER})" in " ".join(result.stderr.split())


@pytest.mark.parametrize("action", ["--follow", "--delete"])
def test_follow_and_delete_stay_one_environment(local: localaws.LocalAws, workdir: Path, action: str) -> None:
    result = _build(local, workdir, "dev", "ireland", action)
    assert result.returncode == 2 and f"{action} takes exactly one ENV" in result.stderr


# --- end to end ------------------------------------------------------------------------------


def test_two_regions_deploy_in_parallel_each_line_says_whose_and_a_summary_follows(
    local: localaws.LocalAws, workdir: Path
) -> None:
    result = _build(local, workdir, "dev", "ireland", "--deploy", "--yes")
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr
    assert _stack(local, "us-east-1", "nlsql-dev")["StackStatus"] == "CREATE_COMPLETE"
    assert _stack(local, "eu-west-1", "nlsql-ireland")["StackStatus"] == "CREATE_COMPLETE"
    assert _stack(local, "eu-west-1", "nlsql-bootstrap")["StackStatus"] == "CREATE_COMPLETE"  # its own region's
    dev, ireland = _lines(out, "dev"), _lines(out, "ireland")
    # In parallel: each started before the other had finished (their lines interleave).
    assert ireland[0] < dev[-1] and dev[0] < ireland[-1], "the two regions ran one after the other"
    lines = out.splitlines()
    relayed = lines[min(dev + ireland) : lines.index("--deploy of 2 environments")]
    assert [line for line in relayed if line.split(" | ", 1)[0].rstrip() not in {"dev", "ireland"}] == [""]
    assert "eu-west-1.elb.amazonaws.com" in "\n".join(out.splitlines()[i] for i in ireland)
    assert _summary_row(out, "dev")[:4] == ["dev", "123456789012", "us-east-1", "ok"]
    assert _summary_row(out, "ireland")[:4] == ["ireland", "123456789012", "eu-west-1", "ok"]
    assert out.count("templates under ") == 1, "the limits table is the parent's build's, once"

    status = _build(local, workdir, "dev", "ireland", "--status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "dev     | nlsql-dev: CREATE_COMPLETE" in status.stdout
    assert "ireland | nlsql-ireland: CREATE_COMPLETE" in status.stdout

    drift = _build(local, workdir, "dev", "ireland", "--drift")  # every nested stack of both, in their regions
    assert drift.returncode == 0, drift.stdout + drift.stderr
    assert _summary_row(drift.stdout, "dev")[3] == "ok" and _summary_row(drift.stdout, "ireland")[3] == "ok"
    assert "nlsql-ireland/Network" in drift.stdout


def test_one_failing_does_not_stop_the_others_and_the_exit_status_says_so(
    local: localaws.LocalAws, workdir: Path
) -> None:
    result = _build(local, workdir, "other", "dev", "--status")
    assert result.returncode == 1, result.stdout + result.stderr
    out = " ".join(result.stdout.split())
    assert f"other | error: {workdir / 'params' / 'other.yaml'}: account_id is {OTHER}" in out
    assert "dev | nlsql-dev: not deployed in us-east-1" in out  # dev was asked all the same
    assert _summary_row(result.stdout, "other")[3:5] == ["failed", "(exit"]
    assert _summary_row(result.stdout, "dev")[3] == "ok"


def test_environments_sharing_an_account_and_region_run_one_after_another(
    local: localaws.LocalAws, workdir: Path
) -> None:
    result = _build(local, workdir, "dev", "dev2", "--status")
    assert result.returncode == 0, result.stdout + result.stderr
    dev, dev2 = _lines(result.stdout, "dev"), _lines(result.stdout, "dev2")
    assert dev and dev2 and dev[-1] < dev2[0], "dev2 started before dev had finished"


def test_a_full_standard_output_is_said_once_without_a_traceback(local: localaws.LocalAws, workdir: Path) -> None:
    """The relaying threads meet the full disk first: they must not die with a traceback each."""
    with open("/dev/full", "w") as full:  # noqa: PTH123 - a device, not a path to build
        result = subprocess.run(_command(local, workdir, "dev", "ireland", "--status"), stdout=full,
                                stderr=subprocess.PIPE, text=True, timeout=300, env=_env())  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("cannot write to standard output: No space left on device") == 1, result.stderr
    assert "Traceback" not in result.stderr and "Exception in thread" not in result.stderr


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_stops_every_environment_and_leaves_no_process_behind(
    local: localaws.LocalAws, workdir: Path, signum: int, code: int
) -> None:
    """A custom resource whose answer is lost keeps both deploys waiting; Ctrl-C (SIGINT to build.py, as a
    terminal sends it to the foreground process group, which the children are not in) reaches each once, and
    SIGTERM (a CI runner cancelling the job) is passed on the same way."""
    localaws.LOST_ANSWERS.add("RestrictDefaultSecurityGroup")
    try:
        process = subprocess.Popen(_command(local, workdir, "dev", "ireland", "--deploy", "--yes"), env=_env(),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        assert process.stdout is not None
        seen: list[str] = []
        following: set[str] = set()
        while following != {"dev", "ireland"}:  # until both children are following their stacks
            line = process.stdout.readline()
            assert line, "build.py ended before both deploys were under way: " + "".join(seen)
            seen.append(line)
            if " | [00:" in line:
                following.add(line.split(" | ", 1)[0].strip())
        process.send_signal(signum)
        rest, err = process.communicate(timeout=120)
    finally:
        localaws.clear_faults()
    assert process.returncode == code, err
    assert "interrupted: each running environment was stopped" in err and "Traceback" not in err + rest
    said = "".join(seen) + rest
    assert _summary_row(said, "dev")[3] == "interrupted"
    assert _summary_row(said, "ireland")[3] == "interrupted"
    assert "python build.py bootstrap" not in said  # no hint naming an environment that does not exist
    marker = str(workdir / "params")
    left = [p for p in Path("/proc").glob("[0-9]*") if marker in _cmdline(p)]
    assert not left, f"processes left running: {[_cmdline(p) for p in left]}"


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""
