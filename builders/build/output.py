"""What a build changes in its output folder, and which committed files are stale.

A build writes only after every environment asked for has rendered, passed
lint and stayed within the limits; then `plan` lists the changes (new or
changed files, files it wrote once and no longer makes, its manifest) and
builders.build.transaction makes all of them or none. It touches only files
it owns (builders.build.ownership): anything else in the folder is listed
as left alone. README.md's generated sections and docs/<env>.svg join the
same write (builders.docs.output).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from builders.build.ownership import MANIFEST, manifest_text, present
from builders.build.transaction import LEFTOVER_NOTE, Change, leftovers, shown

# Set by builders.deploy.many for each environment's child process: the parent printed the limits table for all of
# them, so the child's build prints only its one-line summary. Here, not in many.py, so that every build can read it
# without importing the runner.
BUILT_BY_PARENT = "NLSQL_BUILT_BY_PARENT"

if TYPE_CHECKING:  # only for annotations: a rebuild with nothing changed reads files without importing troposphere
    from builders.build.pipeline import Artifact


@dataclass(frozen=True)
class Plan:
    """What a build of one output folder would do."""

    changes: list[Change]
    foreign: list[str]  # files in the folder that the build does not own: reported, left alone


def differs(path: Path, text: str) -> bool:
    """Whether the file's bytes are not `text` (a missing, unreadable or non-UTF-8 file differs)."""
    try:
        return path.read_bytes() != text.encode("utf-8")
    except OSError:
        return True


def _folders(out_dir: Path) -> list[Path]:
    """The output folder and its subfolders: where temp files of a build could be left."""
    try:
        return [out_dir, *sorted(p for p in out_dir.iterdir() if p.is_dir() and not p.is_symlink())]
    except OSError:
        return [out_dir]


def leftovers_of(out_dir: Path) -> list[Path]:
    """Temp files an interrupted build left in the output folder or its environment folders: named by --check,
    removed by a build (which looks again once it holds the folder's lock), and a miss for the build record."""
    return leftovers(_folders(out_dir))


def plan(out_dir: Path, artifacts: list[Artifact], all_envs: bool, owned: set[str] | None) -> Plan:
    """The changes a build makes: files whose bytes differ, owned files it no longer makes, the manifest.

    An owned file is removed when no environment makes it any more: with
    `all_envs` anywhere, else only in the folders of the environments built
    (a build of prod leaves dev's files alone).
    """
    made = {a.relpath: a.text for a in artifacts}
    envs = {a.env for a in artifacts if a.env}
    owned = set(owned or ())

    def ours_to_remove(relpath: str) -> bool:
        return all_envs or "/" not in relpath or relpath.split("/", 1)[0] in envs

    gone = sorted(f for f in owned - set(made) if ours_to_remove(f))
    listed = (owned - set(gone)) | set(made)
    changes = [Change(out_dir / f, text) for f, text in made.items() if differs(out_dir / f, text)]
    changes += [Change(out_dir / f, None) for f in gone if (out_dir / f).exists() or (out_dir / f).is_symlink()]
    manifest = manifest_text(listed)
    if differs(out_dir / MANIFEST, manifest):
        changes.append(Change(out_dir / MANIFEST, manifest))
    foreign = [f for f in present(out_dir) if f not in listed and f not in gone and f != MANIFEST]
    return Plan(changes, foreign)


def stale(out_dir: Path, todo: Plan) -> list[str]:
    """Each committed file that differs from a fresh build (what `todo` would write): changed, missing, no longer
    built, or left over."""
    problems = []
    for change in todo.changes:
        path = change.path
        if change.text is None:
            problems.append(f"{shown(path)}: no longer built")
        elif not path.exists():
            problems.append(f"{shown(path)}: missing")
        else:
            problems.append(f"{shown(path)}: differs from a fresh build")
    problems += [f"{shown(p)}: {LEFTOVER_NOTE}" for p in leftovers_of(out_dir)]
    return problems
