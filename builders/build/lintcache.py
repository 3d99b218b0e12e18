"""cfn-lint's verdicts cached by content, so that no template is linted twice.

cfn-lint is nearly all of a cold build's time, and its verdict on a template
is a function of: the template's text, the region it is linted for,
cfn-lint's version, the `.cfnlintrc`, `builders/build/lint.py` (which decides
how cfn-lint is called and what is kept of its matches) and
`builders/build/lintspeed.py` (which patches how cfn-lint runs). An entry's
name is a hash of all six; it holds the problems without a path, because the same
text may be written under another `--out`. Failing verdicts are cached too:
the next build fails at once with the same messages.

A cache may only ever make a build faster, never change its result: an entry
that cannot be read or does not have the expected shape is a miss, a write
that fails is skipped, and each entry is written to a temp file and renamed
into place, so a concurrent build sees a whole entry or none.

Where: `.cache/cfn-lint/` in the repository (git-ignored). `NLSQL_CACHE_DIR`
moves the cache folder (entries go in its `cfn-lint/`), `NLSQL_CACHE_DIR=off`
and `python build.py --no-cache` disable it. Deleting the folder clears it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from builders.build import lint, lintspeed
from builders.build.lint import Problem
from builders.build.transaction import write_atomic

ENV_VAR = "NLSQL_CACHE_DIR"
OFF = "off"
DEFAULT_ROOT = Path(__file__).resolve().parents[2] / ".cache"
SUBDIR = "cfn-lint"
FORMAT = 1  # bump when an entry's layout changes


def cache_root(environ: Mapping[str, str] = os.environ) -> Path | None:
    """The cache folder: NLSQL_CACHE_DIR if set (None when it says "off"), else .cache/ in the repository."""
    value = environ.get(ENV_VAR, "").strip()
    if not value:
        return DEFAULT_ROOT
    if value.lower() == OFF:
        return None
    return Path(value).expanduser()


def cfn_lint_version() -> str:
    """cfn-lint's version, read from its source rather than imported (importing it takes a second)."""
    spec = find_spec("cfnlint")
    if spec is None or not spec.submodule_search_locations:
        return "not installed"
    try:
        source = (Path(next(iter(spec.submodule_search_locations))) / "version.py").read_text(encoding="utf-8")
    except OSError:
        return "unknown"
    found = re.search(r"""__version__\s*=\s*["']([^"']+)["']""", source)
    return found.group(1) if found else "unknown"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_digest(path: Path) -> str:
    try:
        return _digest(path.read_bytes())
    except OSError:
        return "missing"


@dataclass(frozen=True)
class LintCache:
    """Lookups and stores of verdicts in one folder; `folder=None` is a cache that never hits and never writes."""

    folder: Path | None
    salt: str  # the hash of everything but the template and the region

    def key(self, text: str, region: str) -> str:
        material = json.dumps([self.salt, region, _digest(text.encode("utf-8"))])
        return _digest(material.encode("utf-8"))

    def _path(self, key: str) -> Path | None:
        return None if self.folder is None else self.folder / f"{key}.json"

    def is_empty(self) -> bool:
        """True when no verdict at all is cached (or the cache is off): a build will lint every template."""
        if self.folder is None:
            return True
        try:
            with os.scandir(self.folder) as entries:
                return not any(entry.name.endswith(".json") for entry in entries)
        except OSError:
            return True

    def get(self, key: str) -> list[Problem] | None:
        """The cached problems of a template, or None when there is no usable entry."""
        path = self._path(key)
        if path is None:
            return None
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):  # missing, unreadable, not UTF-8, not JSON, nested too deep
            return None
        return _problems(entry)

    def put(self, key: str, problems: list[Problem]) -> None:
        """Store a verdict atomically; a cache that cannot be written is no reason to fail a build."""
        path = self._path(key)
        if path is None:
            return
        entry = json.dumps({"format": FORMAT, "problems": [list(p) for p in problems]})
        try:
            write_atomic(path, entry, sync=False)
        except OSError:
            pass


def _problems(entry: object) -> list[Problem] | None:
    """The entry's problems if it has exactly the shape `put` writes, else None (a miss)."""
    if not isinstance(entry, dict) or entry.get("format") != FORMAT or not isinstance(entry.get("problems"), list):
        return None
    problems: list[Problem] = []
    for item in entry["problems"]:
        if not (
            isinstance(item, list)
            and len(item) == 3
            and type(item[0]) is int
            and isinstance(item[1], str)
            and isinstance(item[2], str)
        ):
            return None
        problems.append((item[0], item[1], item[2]))
    return problems


def open_cache(enabled: bool = True, environ: Mapping[str, str] = os.environ) -> LintCache:
    """The cache for this build: its folder (or none), and the salt of this cfn-lint, .cfnlintrc and lint.py."""
    root = cache_root(environ) if enabled else None
    salt = json.dumps(
        {
            "format": FORMAT,
            "cfn-lint": cfn_lint_version(),
            "cfnlintrc": _file_digest(lint.CONFIG_FILE),
            "lint.py": _file_digest(Path(lint.__file__)),
            "lintspeed.py": _file_digest(Path(lintspeed.__file__)),
        },
        sort_keys=True,
    )
    return LintCache(None if root is None else root / SUBDIR, _digest(salt.encode("utf-8")))
