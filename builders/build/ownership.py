"""Which files of an output folder the build owns, and whether a folder may be an output folder at all.

The build removes or overwrites only files it wrote itself. It knows them
from `manifest.json` in the output folder: the list of every file the last
build left there, written in the same all-or-nothing write as the files.
Anything else in the folder (notes, a hand-written template) is reported
and left alone.

An `--out` is checked before anything is rendered. It is refused (exit 2)
when it is not a folder, is read-only, is an environment's own subfolder of
an output folder, holds the params or the repository, or holds files the
build did not write and has no manifest. A folder with no manifest whose
files are all at paths the build writes (an output folder from before the
manifest existed) is adopted: its first build writes the manifest.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from builders.build.transaction import LEFTOVER, shown
from builders.errors import BuildError, ConfigError
from builders.paramfiles import is_env_name

MANIFEST = "manifest.json"
FORMAT = 1
ABOUT = "the files build.py generated in this folder; it overwrites or removes only these. Do not edit."
SHOW_AT_MOST = 5


class OutDirError(ConfigError):
    """An --out the build refuses before rendering (exit 2, like any other bad input)."""


@dataclass(frozen=True)
class Layout:
    """The paths a build may write under an output folder: the account-wide files, and each environment's."""

    shared: tuple[str, ...]
    per_env: tuple[str, ...]

    def builds(self, relpath: str) -> bool:
        """Whether a build of some environment writes this path (so that a folder without a manifest is adoptable)."""
        parts = relpath.split("/")
        if len(parts) == 1:
            return parts[0] in self.shared or parts[0] == MANIFEST
        return len(parts) == 2 and is_env_name(parts[0]) and parts[1] in self.per_env


def manifest_text(files: set[str]) -> str:
    """The manifest's bytes: sorted, one path a line, so its diff in review reads like the list it is."""
    doc = {"about": ABOUT, "format": FORMAT, "files": sorted(files)}
    return json.dumps(doc, indent=2) + "\n"


def read_manifest(out_dir: Path) -> set[str] | None:
    """The files the manifest lists, or None when there is none; a manifest that is not ours is an error."""
    path = out_dir / MANIFEST
    if not path.is_file() and not path.is_symlink():
        return None
    problem = None
    try:
        if not path.is_file() or path.stat().st_size > 1 << 20:
            raise ValueError("not a regular file of at most 1 MiB")
        doc = json.loads(path.read_bytes().decode("utf-8"))
        files = doc["files"] if isinstance(doc, dict) and doc.get("format") == FORMAT else None
        if not isinstance(files, list) or not all(isinstance(f, str) and _safe(f) for f in files):
            raise ValueError("its 'files' are not a list of paths inside the folder")
        return set(files)
    except (OSError, ValueError, UnicodeDecodeError, RecursionError, KeyError) as exc:
        problem = str(exc) or type(exc).__name__
    raise OutDirError(
        f"{shown(path)}: not a manifest build.py wrote ({problem}). It lists which files of {shown(out_dir)} "
        f"the build may overwrite or remove, so the build will not guess: restore it "
        f"(`git checkout -- {shown(path)}`), or delete it if every file in {shown(out_dir)} is the build's."
    )


def _safe(relpath: str) -> bool:
    parts = relpath.split("/")
    return bool(relpath) and not relpath.startswith("/") and all(p not in {"", ".", ".."} for p in parts)


def present(out_dir: Path) -> list[str]:
    """Every file at the top of out_dir and in its subfolders (not hidden ones), as paths under it."""
    found = []
    try:
        entries = sorted(os.scandir(out_dir), key=lambda e: e.name)
    except OSError:
        return []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            try:
                found += [f"{entry.name}/{sub.name}" for sub in sorted(os.scandir(entry.path), key=lambda e: e.name)]
            except OSError:
                found.append(f"{entry.name}/")
        else:
            found.append(entry.name)
    return [f for f in found if not LEFTOVER.match(f.rsplit("/", 1)[-1])]


HARMLESS = {".gitkeep", ".keep", ".DS_Store"}  # hidden files a folder may hold and still be an output folder


def _hidden(out_dir: Path) -> list[str]:
    """Hidden entries at the top of out_dir (a home folder has many), but for temp files and HARMLESS ones.

    `present` leaves hidden files out of what it reports, so they must be
    counted here: a folder whose only content is hidden is not empty.
    """
    try:
        names = sorted(e.name for e in os.scandir(out_dir))
    except OSError:
        return []
    return [n for n in names if n.startswith(".") and n not in HARMLESS and not LEFTOVER.match(n)]


def _listed(names: list[str]) -> str:
    head = ", ".join(names[:SHOW_AT_MOST])
    return head + (f" and {len(names) - SHOW_AT_MOST} more" if len(names) > SHOW_AT_MOST else "")


def _read_only(path: Path) -> bool:
    """No write permission, by the mode bits as well as for this user: root could write, but was told not to."""
    mode = path.stat().st_mode
    return not os.access(path, os.W_OK) or not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def check_out_dir(out_dir: Path, params_dir: Path, layout: Layout) -> set[str] | None:
    """Refuse an --out the build must not write into (OutDirError); else the files it owns there (None: none yet).

    Runs before anything is rendered, so a refused folder costs nothing and changes nothing.
    """
    where = shown(out_dir)
    if not out_dir.exists():
        ancestor = out_dir.absolute().parent
        while not ancestor.exists():
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise OutDirError(f"--out {where}: {shown(ancestor)} is a file, so the folder cannot be made there")
        if _read_only(ancestor):
            raise OutDirError(f"--out {where}: cannot be made, {shown(ancestor)} is read-only")
        return None
    if not out_dir.is_dir():
        kind = "a file" if out_dir.is_file() else "not a folder (a device, a socket or a pipe)"
        raise OutDirError(f"--out {where}: is {kind}; the output folder must be a folder (default: templates)")
    resolved, params = out_dir.resolve(), params_dir.resolve()
    if params.is_relative_to(resolved):
        what = "is the params folder" if resolved == params else f"holds the params folder ({shown(params_dir)})"
        raise OutDirError(
            f"--out {where}: {what}; a build there would write beside the params files, and "
            f"a build of an earlier version removed them. Use a folder of its own (default: templates)"
        )
    parent_manifest = read_manifest(resolved.parent) if (resolved.parent / MANIFEST).exists() else None
    if parent_manifest is not None and any(f.startswith(f"{resolved.name}/") for f in parent_manifest):
        raise OutDirError(
            f"--out {where}: is the {resolved.name!r} environment's own folder inside the output folder "
            f"{shown(resolved.parent)}; the build writes each environment's subfolder itself. "
            f"Use --out {shown(resolved.parent)}"
        )
    if _read_only(out_dir):
        raise OutDirError(f"--out {where}: is read-only; make it writable (chmod u+w) or choose another folder")
    owned = read_manifest(out_dir)
    if owned is not None:
        return owned
    foreign = [f for f in present(out_dir) if not layout.builds(f)] + _hidden(out_dir)
    if foreign:
        raise OutDirError(
            f"--out {where}: holds files build.py did not write ({_listed(foreign)}) and no {MANIFEST} that "
            f"says which files are the build's, so a build there could overwrite or remove them. Use an empty "
            f"or new folder, or the output folder of an earlier build (default: templates)"
        )
    return set(present(out_dir))


def check_targets(out_dir: Path, owned: set[str] | None, made: list[str]) -> None:
    """Refuse a path the build would write that holds a folder or a file it does not own (OutDirError, exit 2),
    or one that is read-only (BuildError, exit 1: a write that cannot happen), before anything is rendered."""
    problems, read_only = [], []
    for relpath in made:
        path = out_dir / relpath
        if path.parent.is_dir() and _read_only(path.parent):
            read_only.append(f"{shown(path.parent)}/ (a folder the build writes in)")
        elif path.is_file() and _read_only(path):
            read_only.append(shown(path))
        for parent in [p for p in path.relative_to(out_dir).parents if str(p) != "."]:
            if (out_dir / parent).exists() and not (out_dir / parent).is_dir():
                problems.append(f"{shown(out_dir / parent)} is a file where the build makes a folder")
        if path.is_dir():
            problems.append(f"{shown(path)} is a folder where the build writes a file")
        elif (path.exists() or path.is_symlink()) and owned is not None and relpath not in owned | {MANIFEST}:
            problems.append(f"{shown(path)} exists but build.py did not write it (it is not in {MANIFEST})")
    if problems:
        raise OutDirError(
            _paragraph(
                "the build will not overwrite what it does not own", problems, "Move these away (or delete them)"
            )
        )
    if read_only:
        raise BuildError(
            _paragraph(
                "cannot write: read-only, so the build will not replace it",
                read_only,
                "Make them writable (chmod u+w) if the build should update them",
            )
        )


def _paragraph(what: str, items: list[str], remedy: str) -> str:
    listed = "\n".join(f"  {item}" for item in dict.fromkeys(items))
    return f"{what}; nothing was written:\n{listed}\n{remedy}, then build again."
