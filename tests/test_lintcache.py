"""The lint cache and the lint workers: nothing is linted twice, and what a build decides is the same without them.

Behaviour only, no timings: which templates cfn-lint ran on (the summary's
"N linted, M cached" and `-v`'s list), that a rebuild never imports cfn-lint
(a cfn-lint on PYTHONPATH that fails on import would fail it), that a broken
cache entry is a miss, and that a failing template fails the build the same
way whether its verdict came from a worker or the cache.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from troposphere import Template, ec2

from builders import cli, root
from builders.build import lint, lintcache
from tests.conftest import PARAMS, REPO, run_build, tree_digest

LINTED = re.compile(r"lint clean \((\d+) linted, (\d+) cached\)")
BROKEN_VPC = "Resources:\n  Vpc:\n    Type: AWS::EC2::VPC\n    Properties:\n      CidrBlock: 10.0.0.0/99\n"


def _build(*args: str | Path, cache: Path, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """python build.py ARGS with its own cache folder."""
    return run_build(*args, env={lintcache.ENV_VAR: str(cache), **(extra_env or {})})


def _counts(stdout: str) -> tuple[int, int]:
    found = LINTED.search(stdout)
    assert found, stdout
    return int(found.group(1)), int(found.group(2))


def _linted(stdout: str) -> set[str]:
    found = re.search(r"^linted: (.*)$", stdout, re.M)
    return set(found.group(1).split(", ")) if found else set()


def _poisoned_cfnlint(folder: Path) -> Path:
    """A `cfnlint` package that fails when imported, with the real one's version.py (what the cache key reads)."""
    package = folder / "cfnlint"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('raise ImportError("cfn-lint was imported by a build that needed no lint")\n')
    shutil.copy(_real_version_py(), package)
    return folder


def _real_version_py() -> Path:
    from importlib.util import find_spec

    spec = find_spec("cfnlint")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "version.py"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, str]:
    """A cold build of every environment (params copy, output folder, cache folder) and its stdout."""
    base = tmp_path_factory.mktemp("built")
    params_dir, out, cache = base / "params", base / "templates", base / "cache"
    shutil.copytree(PARAMS, params_dir)
    result = _build("-v", "--params-dir", params_dir, "--out", out, cache=cache)
    assert result.returncode == 0, result.stderr
    return params_dir, out, cache, result.stdout


def test_a_cold_build_lints_every_template_once(built: tuple[Path, Path, Path, str]) -> None:
    _, out, cache, stdout = built
    templates = {str(p.relative_to(out)) for p in out.rglob("*.yaml")}
    assert _counts(stdout) == (len(templates), 0)
    assert _linted(stdout) == templates
    assert len(list((cache / lintcache.SUBDIR).glob("*.json"))) == len(templates)


def test_a_rebuild_with_nothing_changed_never_imports_cfn_lint(
    built: tuple[Path, Path, Path, str], tmp_path: Path
) -> None:
    params_dir, out, cache, _ = built
    poison = {"PYTHONPATH": str(_poisoned_cfnlint(tmp_path / "poison"))}
    before = tree_digest(out)

    stamped = _build("--params-dir", params_dir, "--out", out, cache=cache, extra_env=poison)
    shutil.rmtree(cache / "builds")  # without the stamp: render, compare, and every verdict from the lint cache
    rendered = _build("-v", "--params-dir", params_dir, "--out", out, cache=cache, extra_env=poison)

    for result in (stamped, rendered):
        assert result.returncode == 0, result.stderr
        assert _counts(result.stdout) == (0, len(list(out.rglob("*.yaml"))))
        assert "nothing changed" in result.stdout
    assert "nothing re-rendered" in stamped.stdout and "nothing re-rendered" not in rendered.stdout
    assert "linted:" not in rendered.stdout
    assert tree_digest(out) == before


def test_the_poisoned_cfn_lint_would_be_noticed(built: tuple[Path, Path, Path, str], tmp_path: Path) -> None:
    """The test above proves something: with nothing cached, the same build fails on the poisoned import."""
    params_dir, out, _, _ = built
    poison = {"PYTHONPATH": str(_poisoned_cfnlint(tmp_path / "poison"))}
    result = _build(
        "dev", "--params-dir", params_dir, "--out", tmp_path / "out", cache=tmp_path / "empty", extra_env=poison
    )
    assert result.returncode != 0
    assert "cfn-lint was imported" in result.stderr


def test_a_change_to_one_compute_value_relints_only_the_templates_it_changed(
    built: tuple[Path, Path, Path, str], tmp_path: Path
) -> None:
    params_dir, out, cache, _ = built
    params_copy, out_copy, cache_copy = tmp_path / "params", tmp_path / "templates", tmp_path / "cache"
    shutil.copytree(params_dir, params_copy)
    shutil.copytree(out, out_copy)
    shutil.copytree(cache, cache_copy)
    prod = params_copy / "prod.yaml"
    assert prod.read_text().count("    max_count: 6\n") == 1
    prod.write_text(prod.read_text().replace("    max_count: 6\n", "    max_count: 7\n"))
    before = tree_digest(out_copy)

    result = _build("-v", "--params-dir", params_copy, "--out", out_copy, cache=cache_copy)

    assert result.returncode == 0, result.stderr
    after = tree_digest(out_copy)
    changed = {p for p in after if after[p] != before.get(p) and p.endswith(".yaml")}
    assert "prod/compute.yaml" in changed
    assert all(p.startswith("prod/") for p in changed), changed
    assert _linted(result.stdout) == changed
    assert _counts(result.stdout) == (len(changed), len(list(out_copy.rglob("*.yaml"))) - len(changed))


def _broken_layer(cfg: object) -> Template:
    t = Template()
    t.add_resource(ec2.VPC("Vpc", CidrBlock="10.0.0.0/99"))
    return t


def test_a_finding_from_a_worker_and_the_same_finding_from_the_cache_fail_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(lintcache.ENV_VAR, str(tmp_path / "cache"))
    monkeypatch.setattr(root, "LAYERS", (*root.LAYERS, root.Layer("extra", _broken_layer)))
    out = tmp_path / "templates"
    runs = []
    for _ in range(2):  # the first lints dev/extra.yaml in a worker process, the second finds its verdict cached
        code = cli.run(["dev"], check=False, params_dir=PARAMS, out_dir=out, quiet=False, started=0.0)
        runs.append((code, capsys.readouterr().err))
    assert runs[0] == runs[1]
    code, err = runs[0]
    assert code == 1 and not out.exists()
    assert "cfn-lint found" in err and "nothing was written" in err and "Traceback" not in err
    assert re.search(r"dev/extra\.yaml:\d+: E\d+ .*10.0.0.0/99", err), err
    verdicts = [json.loads(p.read_text()) for p in (tmp_path / "cache" / lintcache.SUBDIR).glob("*.json")]
    assert sum(1 for v in verdicts if v["problems"]) == 1


def test_lint_many_returns_verdicts_in_the_order_given() -> None:
    clean = "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n"
    jobs = [(clean, "us-east-1"), (BROKEN_VPC, "us-east-1"), (clean, "us-east-1")]
    verdicts = lint.lint_many(jobs)
    assert verdicts[0] == [] and verdicts[2] == []
    assert verdicts[1] and verdicts[1][0][0] == 5 and verdicts[1][0][1].startswith("E")


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_forked_and_spawned_workers_judge_as_this_process_does(method: str) -> None:
    """Workers forked from the fork server (Linux, macOS) or spawned (elsewhere) find what an in-process lint finds.

    The longest template is submitted last: workers take the longest first, and the verdicts still come back
    in the order submitted.
    """
    topics = "".join(f"  Topic{i}:\n    Type: AWS::SNS::Topic\n" for i in range(30))
    texts = [
        BROKEN_VPC,
        "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n    Properties:\n      Bogus: 1\n",
        "Resources:\n" + topics + "  Sg:\n    Type: AWS::EC2::SecurityGroup\n"
        "    Properties:\n      GroupDescription: !Ref Nope\n",
    ]
    with lint.LintPool(workers=2, method=method) as pool:
        for text in texts:
            pool.submit(text, "us-east-1")
        verdicts = pool.results()
    assert verdicts == [lint.problems(text, "us-east-1") for text in texts]
    assert all(verdicts), "each of these templates has a finding"


def test_one_runner_per_process_finds_what_a_fresh_runner_finds() -> None:
    """The workers keep one cfn-lint Runner for every template; per template, it must judge as a new one would."""
    from cfnlint.config import ConfigMixIn
    from cfnlint.decode.decode import decode_str
    from cfnlint.runner import Runner

    texts = [
        BROKEN_VPC,
        "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n    Properties:\n      Bogus: 1\n",
        "Resources:\n  Sg:\n    Type: AWS::EC2::SecurityGroup\n    Properties:\n      GroupDescription: !Ref Nope\n",
        BROKEN_VPC,
    ]
    for text in texts:
        fresh = Runner(ConfigMixIn(["--config-file", str(lint.CONFIG_FILE)], regions=["us-east-1"]))
        template, _ = decode_str(text)
        expected = [(m.linenumber, m.rule.id, m.message) for m in fresh.validate_template(template)]
        assert expected and lint.problems(text, "us-east-1") == expected


def test_the_rules_loaded_once_judge_each_region_as_a_runner_for_that_region_would() -> None:
    """A worker loads the rules before it knows the region; a resource type one region lacks must still be found."""
    from cfnlint.config import ConfigMixIn
    from cfnlint.decode.decode import decode_str
    from cfnlint.runner import Runner

    # Bedrock agents exist in us-east-1 and not (as cfn-lint 1.58 knows) in ap-southeast-7.
    text = "Resources:\n  Agent:\n    Type: AWS::Bedrock::Agent\n    Properties:\n      AgentName: a\n"
    verdicts = {}
    for region in ("us-east-1", "eu-west-1", "ap-southeast-7", "us-east-1"):
        fresh = Runner(ConfigMixIn(["--config-file", str(lint.CONFIG_FILE)], regions=[region]))
        template, _ = decode_str(text)
        expected = [(m.linenumber, m.rule.id, m.message) for m in fresh.validate_template(template)]
        assert lint.problems(text, region) == expected, region
        verdicts[region] = expected
    assert len({str(v) for v in verdicts.values()}) > 1, "the regions must judge this template differently"


# --- the cache itself ---------------------------------------------------------------------------------------------


def test_the_default_cache_is_dot_cache_in_the_repository_and_the_variable_moves_or_disables_it(
    tmp_path: Path,
) -> None:
    assert lintcache.cache_root({}) == REPO / ".cache"
    assert lintcache.open_cache(environ={}).folder == REPO / ".cache" / "cfn-lint"
    assert lintcache.cache_root({lintcache.ENV_VAR: str(tmp_path)}) == tmp_path
    assert lintcache.cache_root({lintcache.ENV_VAR: "off"}) is None
    assert lintcache.open_cache(environ={lintcache.ENV_VAR: "off"}).folder is None
    assert lintcache.open_cache(enabled=False, environ={}).folder is None
    assert ".cache/" in (REPO / ".gitignore").read_text().splitlines()


def test_a_disabled_cache_never_hits_nor_writes(tmp_path: Path) -> None:
    off = lintcache.open_cache(environ={lintcache.ENV_VAR: "off"})
    key = off.key("text", "us-east-1")
    off.put(key, [])
    assert off.get(key) is None


def test_entries_round_trip_and_are_written_whole(tmp_path: Path) -> None:
    cache = lintcache.open_cache(environ={lintcache.ENV_VAR: str(tmp_path)})
    key = cache.key("Resources: {}\n", "us-east-1")
    assert cache.get(key) is None
    cache.put(key, [(5, "E3031", "'10.0.0.0/99' does not match")])
    assert cache.get(key) == [(5, "E3031", "'10.0.0.0/99' does not match")]
    assert [p.name for p in (tmp_path / lintcache.SUBDIR).iterdir()] == [f"{key}.json"]  # no temp file left


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b"\xff\xfe\x00garbage",
        b'{"format": 1, "problems": [[5, "E3031"]]}',
        b'{"format": 1, "problems": [["5", "E3031", "m"]]}',
        b'{"format": 1, "problems": {"x": 1}}',
        b'{"format": 99, "problems": []}',
        b"[]",
        b'{"format": 1, "problems": [[5, "E3031", "a message"]',  # truncated
    ],
)
def test_a_corrupted_entry_is_a_miss(tmp_path: Path, content: bytes) -> None:
    cache = lintcache.open_cache(environ={lintcache.ENV_VAR: str(tmp_path)})
    key = cache.key("text", "us-east-1")
    cache.put(key, [])
    (tmp_path / lintcache.SUBDIR / f"{key}.json").write_bytes(content)
    assert cache.get(key) is None


def test_an_unreadable_entry_is_a_miss_and_an_unwritable_cache_is_no_error(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    cache = lintcache.LintCache(blocked / lintcache.SUBDIR, "salt")  # cannot be created: a file is in the way
    cache.put(cache.key("text", "us-east-1"), [])
    assert cache.get(cache.key("text", "us-east-1")) is None
    folder = tmp_path / "cache"
    (folder / f"{cache.key('x', 'us-east-1')}.json").mkdir(parents=True)  # a folder where an entry should be
    cache = lintcache.LintCache(folder, "salt")
    assert cache.get(cache.key("x", "us-east-1")) is None


def test_a_corrupted_entry_in_a_build_is_linted_again(built: tuple[Path, Path, Path, str], tmp_path: Path) -> None:
    params_dir, out, cache, _ = built
    cache_copy = tmp_path / "cache"
    shutil.copytree(cache, cache_copy)
    shutil.rmtree(cache_copy / "builds")
    text = (out / "dev" / "storage.yaml").read_text()
    entry = cache_copy / lintcache.SUBDIR / f"{lintcache.open_cache(environ={}).key(text, 'us-east-1')}.json"
    assert entry.is_file()
    entry.write_text('{"format": 1, "problems": [[1, "E0000", "tru')

    result = _build("-v", "dev", "--params-dir", params_dir, "--out", out, cache=cache_copy)

    assert result.returncode == 0, result.stderr
    assert _linted(result.stdout) == {"dev/storage.yaml"}
    assert json.loads(entry.read_text()) == {"format": 1, "problems": []}


def test_the_key_changes_with_the_template_the_region_cfnlintrc_cfn_lint_and_the_wrapper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / ".cfnlintrc"
    config.write_text((REPO / ".cfnlintrc").read_text())
    monkeypatch.setattr(lint, "CONFIG_FILE", config)
    environ = {lintcache.ENV_VAR: str(tmp_path)}

    def key(text: str = "Resources: {}\n", region: str = "us-east-1") -> str:
        return lintcache.open_cache(environ=environ).key(text, region)

    base = key()
    assert key() == base, "the same inputs, the same key"
    assert key(text="Resources: {}\n# a comment\n") != base
    assert key(region="eu-west-1") != base

    config.write_text(config.read_text() + "  - W1020\n")
    assert key() != base
    config.write_text((REPO / ".cfnlintrc").read_text())
    assert key() == base

    monkeypatch.setattr(lintcache, "cfn_lint_version", lambda: "9.9.9")
    assert key() != base
    monkeypatch.undo()
    monkeypatch.setattr(lint, "CONFIG_FILE", config)
    wrapper = tmp_path / "lint.py"
    wrapper.write_text(Path(lint.__file__).read_text() + "\n# changed\n")
    monkeypatch.setattr(lint, "__file__", str(wrapper))
    assert key() != base


def test_the_cfn_lint_version_is_read_without_importing_it() -> None:
    code = (
        "import sys; from builders.build import lintcache; "
        "print(lintcache.cfn_lint_version(), 'cfnlint' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    from importlib.metadata import version

    assert result.stdout.split() == [version("cfn-lint"), "False"]


# --- imports ------------------------------------------------------------------------------------------------------

HEAVY = ("cfnlint", "troposphere", "boto3", "botocore", "pydantic", "rich", "graphviz", "awacs", "yaml")


def _imported(*args: str | Path, env: dict[str, str] | None = None) -> set[str]:
    """The top-level modules `python -X importtime build.py ARGS` imported."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(REPO / "build.py"), *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stderr
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)$", result.stderr, re.M)
    assert names, result.stderr[:500]
    return {name.split(".")[0] for name in names}


def test_help_imports_nothing_heavy() -> None:
    assert _imported("--help") & set(HEAVY) == set()


def test_an_unchanged_rebuild_imports_nothing_heavy(built: tuple[Path, Path, Path, str]) -> None:
    params_dir, out, cache, _ = built
    found = _imported("--params-dir", params_dir, "--out", out, env={lintcache.ENV_VAR: str(cache)})
    assert found & set(HEAVY) == set()


def test_check_imports_neither_cfn_lint_nor_boto3(built: tuple[Path, Path, Path, str]) -> None:
    params_dir, out, _, _ = built
    found = _imported("--check", "--params-dir", params_dir, "--out", out)
    assert "troposphere" in found, "the test sees imports"
    assert found & {"cfnlint", "boto3", "botocore"} == set()


# --- Ctrl-C -------------------------------------------------------------------------------------------------------


def _workers(pid: int) -> tuple[dict[int, str], int]:
    """The lint processes under pid with their start times, and how many of them lint.

    Those are multiprocessing's spawned workers, or its fork server and the
    workers forked from it (children of the server, with its command line).
    """
    found, linting, todo = {}, 0, [pid]
    while todo:
        current = todo.pop()
        try:
            parent = Path(f"/proc/{current}/cmdline").read_text()
            for task in os.listdir(f"/proc/{current}/task"):
                children = [int(c) for c in Path(f"/proc/{current}/task/{task}/children").read_text().split()]
                todo += children
                for child in children:
                    command = Path(f"/proc/{child}/cmdline").read_text()
                    if "spawn_main" in command or "multiprocessing.forkserver" in command:
                        found[child] = _started(child)
                        linting += "spawn_main" in command or "multiprocessing.forkserver" in parent
        except OSError:
            continue
    return found, linting


def _started(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[19]


def _running(pid: int, started: str) -> bool:
    """pid is still the process that had this start time, and not a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except OSError:
        return False
    return fields[19] == started and fields[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc to find the lint workers")
@pytest.mark.parametrize("phase", ["starting", "linting"])
def test_ctrl_c_stops_the_lint_processes_and_writes_nothing(tmp_path: Path, phase: str) -> None:
    """Ctrl-C while the fork server is still loading cfn-lint (the build waits for it), or while workers lint."""
    out = tmp_path / "templates"
    env = {**os.environ, lintcache.ENV_VAR: str(tmp_path / "cache")}
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "build.py"), "--out", str(out)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job has
    )
    found: dict[int, str] = {}
    linting, deadline = 0, time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        found, linting = _workers(proc.pid)
        if linting if phase == "linting" else found:
            break
        time.sleep(0.02 if phase == "starting" else 0.1)
    assert found if phase == "starting" else linting, "the build started no lint process"
    if phase == "linting":
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group gets SIGINT
    _, err = proc.communicate(timeout=60)

    assert proc.returncode == 130, err
    assert err.strip().endswith("interrupted; nothing was written"), err
    assert "Traceback" not in err
    assert not out.exists()
    found |= _workers(proc.pid)[0]
    assert [pid for pid, started in found.items() if _running(pid, started)] == [], "a lint process outlived the build"


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signal masks")
def test_a_ctrl_c_while_a_lint_process_starts_is_raised_after_it_not_lost() -> None:
    """The build records the fork server it started before a Ctrl-C lands, so it can stop it; none is dropped."""
    reached_the_end = False
    with pytest.raises(KeyboardInterrupt):
        with lint._ctrl_c_held():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            reached_the_end = True  # not interrupted inside the block
    assert reached_the_end
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, set())


def test_workers_start_before_rendering_only_when_lint_is_all_but_certain(tmp_path: Path) -> None:
    from builders.build import buildstamp

    empty = lintcache.open_cache(environ={lintcache.ENV_VAR: str(tmp_path)})
    assert cli._expected_lint(empty, None, "inputs") == lint.cores(), "nothing cached: everything will be linted"
    assert cli._expected_lint(lintcache.open_cache(enabled=False), None, "x") == lint.cores()
    empty.put(empty.key("text", "us-east-1"), [])
    stamp = buildstamp.Stamp("inputs", {}, [], [])
    assert cli._expected_lint(empty, stamp, "other inputs") == 1, "params or code edited"
    assert cli._expected_lint(empty, stamp, "inputs") == 0, "only an output file or README.md differs"
    assert cli._expected_lint(empty, None, "inputs") == 0, "a new output folder, verdicts cached"


def test_an_edit_that_changes_no_template_lints_nothing(built: tuple[Path, Path, Path, str], tmp_path: Path) -> None:
    params_dir, out, cache, _ = built
    params_copy, cache_copy = tmp_path / "params", tmp_path / "cache"
    shutil.copytree(params_dir, params_copy)
    shutil.copytree(cache, cache_copy)
    for stamp in (cache_copy / "builds").glob("*.json"):  # the stamp of this params folder, as if built from it
        stamp.unlink()
    first = _build("--params-dir", params_copy, "--out", out, cache=cache_copy)
    assert first.returncode == 0 and _counts(first.stdout)[0] == 0, first.stdout + first.stderr
    (params_copy / "prod.yaml").write_text((params_copy / "prod.yaml").read_text() + "# a comment\n")

    result = _build("--params-dir", params_copy, "--out", out, cache=cache_copy)  # one worker starts on a bet

    assert result.returncode == 0, result.stderr
    assert _counts(result.stdout) == (0, len(list(out.rglob("*.yaml"))))
    assert "Traceback" not in result.stderr
