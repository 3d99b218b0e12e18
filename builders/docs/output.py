"""Reading and writing the generated docs: README.md's marked sections and docs/<env>.svg.

The same rules as templates/ (builders.build.output): each file replaced in
one rename, and only after every template has rendered, passed lint and
stayed within the limits.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from builders.build.transaction import LEFTOVER_NOTE, Change, leftovers, shown
from builders.docs.paths import DOCS_DIR
from builders.errors import ConfigError

if TYPE_CHECKING:  # only for annotations: a rebuild with nothing changed reads files without importing troposphere
    from builders.docs.generated import GeneratedFile


def docs_root(out_dir: Path) -> Path | None:
    """The folder holding README.md and docs/: the one that holds the output folder, if it has a README.md.

    With the default `--out templates` that is the repository. A copy of
    templates/ elsewhere (as the tests make) has no README.md beside it, and
    its build leaves docs alone rather than inventing a README.
    """
    root = out_dir.resolve().parent
    return root if (root / "README.md").is_file() else None


def read_readme(root: Path) -> str:
    """README.md's text, into which the build splices its sections; one that is not UTF-8 is bad input."""
    path = root / "README.md"
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{shown(path)}: line {line}: not UTF-8 (byte {data[exc.start]:#04x}); the build splices its generated "
            f"sections into README.md and will not rewrite a file it cannot read. Fix that line (or "
            f"`git checkout -- README.md`), then build again"
        ) from None


def check_docs_folder(root: Path) -> None:
    """Refuse (before rendering) a docs/ that is not a folder: the diagrams could not be written."""
    from builders.build.ownership import OutDirError

    folder = root / DOCS_DIR
    if (folder.exists() or folder.is_symlink()) and not folder.is_dir():
        raise OutDirError(
            f"{shown(folder)}: is a file where the build keeps the architecture diagrams (docs/<env>.svg); "
            f"move it away, then build again"
        )


def _read(path: Path) -> str | None:
    """A generated file's text; bytes that are not UTF-8 become U+FFFD, which no fresh build matches."""
    try:
        return path.read_bytes().decode("utf-8", errors="replace") if path.is_file() else None
    except OSError:
        return None


def _doc_orphans(root: Path, files: list[GeneratedFile]) -> list[Path]:
    """Diagrams this build made once (they carry its stamp) whose environment is gone."""
    from builders.docs.diagram import is_stamped  # here: diagram imports troposphere, which an unchanged rebuild skips

    folder = root / DOCS_DIR
    if not folder.is_dir():
        return []
    made = {root / f.relpath for f in files}
    return sorted(p for p in folder.glob("*.svg") if p not in made and is_stamped(_read(p) or ""))


def doc_changes(root: Path, files: list[GeneratedFile]) -> list[Change]:
    """A change (new text, or None to remove) for each generated file that is not current.

    Stale diagrams are laid out here, before anything is written, so a
    renderer failure leaves every file as it was; the changes join the
    templates' in one all-or-nothing write (builders.build.transaction).
    """
    changes = []
    for item in files:
        path = root / item.relpath
        committed = _read(path)
        if committed is None or not item.is_current(committed):
            changes.append(Change(path, item.render()))
    changes += [Change(orphan, None) for orphan in _doc_orphans(root, files)]
    return changes


def doc_leftovers(root: Path) -> list[Path]:
    """Temp files an interrupted build left beside README.md or in docs/."""
    return leftovers([root, root / DOCS_DIR])


def stale_docs(root: Path, files: list[GeneratedFile]) -> list[str]:
    """Each generated doc that differs from a fresh build; diagrams are judged by their stamp, without a layout."""
    problems = []
    for item in files:
        path = root / item.relpath
        committed = _read(path)
        if committed is None:
            problems.append(f"{shown(path)}: missing")
        elif not item.is_current(committed):
            problems.append(f"{shown(path)}: differs from a fresh build")
    problems += [f"{shown(p)}: no longer built" for p in _doc_orphans(root, files)]
    problems += [f"{shown(p)}: {LEFTOVER_NOTE}" for p in doc_leftovers(root)]
    return problems
