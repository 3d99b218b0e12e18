"""Generated params documents thrown at the loader: each one loads, or is a ConfigError with a message.

Three sources of input: documents built from scratch (random keys, types,
CIDR-like strings, nesting), real params files with one part mutated, and
real params text with YAML oddities spliced in. For every example the loader
returns an EnvConfig or raises ConfigError naming the file, nothing else;
what loads also renders (or is a BuildError); and a build given what does not
load exits 2 without touching the output folder. In CI the examples are
derandomized (the same ones every run); locally each run explores new ones.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from builders import cli, params
from builders.build import pipeline
from builders.config import EnvConfig
from builders.errors import BuildError, ConfigError
from tests.conftest import PARAMS, TEMPLATES, tree_digest

settings.register_profile(
    "ci", derandomize=True, max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("local", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "local")

ENV = "dev"
REAL = {name: yaml.safe_load((PARAMS / f"{name}.yaml").read_text()) for name in ("dev", "staging", "prod")}


def _keys(doc: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(doc, dict):
        for key, value in doc.items():
            found.add(key)
            found |= _keys(value)
    return found


KNOWN_KEYS = sorted(set().union(*(_keys(doc) for doc in REAL.values())))
ODD_STRINGS = ["yes", "no", "on", "off", "~", "null", "0x1F", "0o17", "1e3", ".inf", "-.nan", "2026-11-25", "", " "]

cidrs = st.builds(
    lambda a, b, c, d, m: f"{a}.{b}.{c}.{d}/{m}",
    *(st.integers(0, 300) for _ in range(4)),
    st.integers(-1, 40),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(ODD_STRINGS),
    cidrs,
)
keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=12), st.integers(-5, 5), st.booleans())
documents = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=6),
    max_leaves=25,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a document (to mutate at), the root excepted."""
    found = []
    if isinstance(doc, dict):
        items = list(doc.items())
    elif isinstance(doc, list):
        items = list(enumerate(doc))
    else:
        return []
    for key, value in items:
        found.append((*prefix, key))
        found += _paths(value, (*prefix, key))
    return found


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    """A real params document with one value replaced, one key removed or one key added."""
    doc = yaml.safe_load(yaml.safe_dump(REAL[draw(st.sampled_from(sorted(REAL)))]))
    doc["environment"] = ENV
    path = draw(st.sampled_from(_paths(doc)))
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    action = draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "replace":
        parent[path[-1]] = draw(documents)
    elif action == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[draw(keys)] = draw(documents)
    else:
        parent.append(draw(documents))
    return doc


YAML_ODDITIES = [
    "&a [*a]", "*undefined", "!!python/object/apply:os.system [ls]", "!!binary aGk=", "!custom x", "<<: {a: 1}",
    "? [1, 2]\n: 3", "%YAML 1.1\n---\n", "---\n---\n", "\t", "\ufeff", "\x00", "[" * 2000, "{a: 1, a: 2}",
    "'unterminated", "key: |\n  block\n", ": :", "- - -", "@", "`",
]  # fmt: skip


@st.composite
def spliced(draw: st.DrawFn) -> str:
    """Real params text with an oddity, or random characters, put in at a random place."""
    text = (PARAMS / f"{ENV}.yaml").read_text()
    piece = draw(st.sampled_from(YAML_ODDITIES) | st.text(alphabet=":-{}[]&*!|>'\"%@`#,\t\n ab1", max_size=12))
    at = draw(st.integers(0, len(text)))
    return text[:at] + piece + text[at:]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A params folder to write examples into, and a copy of templates/ a failed build must leave alone."""
    root = tmp_path_factory.mktemp("fuzz")
    (root / "params").mkdir()
    shutil.copytree(TEMPLATES, root / "templates")
    return root / "params", root / "templates"


def _check(workspace: tuple[Path, Path], text: str) -> None:
    params_dir, templates = workspace
    path = params_dir / f"{ENV}.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        cfg = params.load(path)
    except ConfigError as exc:
        assert str(exc).startswith(str(path)) and len(str(exc)) > len(str(path)) + 10, str(exc)
        before = tree_digest(templates)
        code = cli.run([ENV], check=False, params_dir=params_dir, out_dir=templates, quiet=True, started=0.0)
        assert code == 2
        assert tree_digest(templates) == before
        return
    assert isinstance(cfg, EnvConfig)
    try:
        pipeline.render(cfg)
    except BuildError:
        pass


def _dump(doc: Any) -> str:
    return yaml.safe_dump(doc, allow_unicode=True)


@given(doc=documents)
@example(doc={"environment": ENV, "network": {"az_count": 2**70}})
@example(doc=[1, 2])
def test_documents_from_scratch(workspace, doc: Any) -> None:
    _check(workspace, _dump(doc))


@given(doc=mutated())
def test_real_params_with_one_part_changed(workspace, doc: Any) -> None:
    _check(workspace, _dump(doc))


@given(text=spliced())
@example(text="a: " + "[" * 3000 + "]" * 3000)  # found here: PyYAML's RecursionError, now a ConfigError
@example(text="environment: dev\nnetwork: &a [*a]\n")
def test_real_params_text_with_yaml_oddities(workspace, text: str) -> None:
    _check(workspace, text)


# --- file-system oddities: what params/ holds, not what a params file says ---------------------------------------

FS_NAMES = ["dev.yaml", "qa.yaml", "DEV.yaml", ".#dev.yaml", "my env.yaml", "notes.txt", "dev.yaml~", "x.yaml"]
FS_KINDS = ["real", "aliases", "big", "binary", "empty", "fifo", "folder", "link-in", "link-out", "link-loop",
            "link-dangling", "unreadable"]  # fmt: skip
FS_SECONDS = 5  # per example: reading and parsing a params folder takes milliseconds
FS_MIB = 64  # per example, Python's own allocations (tracemalloc): a params file is a few KB


def _make(folder: Path, name: str, kind: str, size: int) -> None:
    path = folder / name
    real = (PARAMS / f"{ENV}.yaml").read_text().replace(f"environment: {ENV}", f"environment: {name.split('.')[0]}")
    if kind == "real":
        path.write_text(real)
    elif kind == "aliases":
        path.write_text("x: &x [1, 2, 3]\n" + "".join(f"y{i}: &y{i} [*x, *x, *x]\n" for i in range(size % 30)) + real)
    elif kind == "big":
        path.write_bytes(b"# " + b"z" * (256 * 1024 + size) + b"\n")
    elif kind == "binary":
        path.write_bytes(bytes(range(256)) * (1 + size % 8))
    elif kind == "empty":
        path.write_text("")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "link-in":
        (folder.parent / f"linked-{name}").write_text(real)
        os.symlink(f"../linked-{name}", path)
    elif kind == "link-out":
        os.symlink("/dev/zero" if size % 2 else "/etc/passwd", path)
    elif kind == "link-loop":
        os.symlink(name, path)
    elif kind == "link-dangling":
        os.symlink("nowhere.yaml", path)
    elif kind == "unreadable":
        path.write_text(real)
        path.chmod(0)


@given(
    entries=st.dictionaries(
        st.sampled_from(FS_NAMES), st.tuples(st.sampled_from(FS_KINDS), st.integers(0, 1000)), min_size=1, max_size=5
    )
)
def test_any_params_folder_loads_or_is_refused_quickly_and_small(tmp_path_factory, entries) -> None:
    """Every environment of an odd params folder loads, or is one ConfigError; never a hang, a crash or gigabytes."""
    import time
    import tracemalloc

    from builders import paramfiles

    folder = tmp_path_factory.mktemp("fs") / "params"
    folder.mkdir()
    for name, (kind, size) in entries.items():
        _make(folder, name, kind, size)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        envs = paramfiles.environments(folder)
        assert all(paramfiles.is_env_name(env) for env in envs)
        for env in envs:
            try:
                params.load(params.params_path(folder, env))
            except ConfigError as exc:
                assert str(folder) in str(exc) and len(str(exc)) > 40, str(exc)
        visible = [p.name for p in folder.iterdir() if p.name.endswith(".yaml") and not p.name.startswith(".")]
        for name in [n for n in visible if not paramfiles.is_env_name(n.removesuffix(".yaml"))]:
            with pytest.raises(ConfigError, match="not a valid environment name"):
                params.params_path(folder, name.removesuffix(".yaml"))
    finally:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    assert time.perf_counter() - started < FS_SECONDS
    assert peak < FS_MIB, f"{peak:.0f} MiB"
