"""Reading and writing the generated docs: README.md's marked sections and docs/<env>.svg.

The same rules as templates/ (builders.build.output): each file replaced in
one rename, and only after every template has rendered, passed lint and
stayed within the limits.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from builders.build.output import shown, write_atomic

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
    return (root / "README.md").read_text(encoding="utf-8")


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _doc_orphans(root: Path, files: list[GeneratedFile]) -> list[Path]:
    """Diagrams this build made once (they carry its stamp) whose environment is gone."""
    from builders.docs.diagram import (  # here: diagram imports troposphere, which an unchanged rebuild skips
        DOCS_DIR,
        is_stamped,
    )

    folder = root / DOCS_DIR
    if not folder.is_dir():
        return []
    made = {root / f.relpath for f in files}
    return sorted(p for p in folder.glob("*.svg") if p not in made and is_stamped(p.read_text(encoding="utf-8")))


def doc_changes(root: Path, files: list[GeneratedFile]) -> list[tuple[Path, str | None]]:
    """(path, new text, or None to remove) for each generated file that is not current.

    Stale diagrams are laid out here, before anything is written, so a
    renderer failure leaves every file as it was.
    """
    changes: list[tuple[Path, str | None]] = []
    for item in files:
        path = root / item.relpath
        committed = _read(path)
        if committed is None or not item.is_current(committed):
            changes.append((path, item.render()))
    changes += [(orphan, None) for orphan in _doc_orphans(root, files)]
    return changes


def apply_doc_changes(changes: list[tuple[Path, str | None]]) -> list[str]:
    """Write (atomically) or remove each changed file; returns the paths touched, as a build lists them."""
    touched = []
    for path, text in changes:
        if text is None:
            path.unlink()
            touched.append(f"{shown(path)} (removed)")
        else:
            write_atomic(path, text)
            touched.append(shown(path))
    return touched


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
    return problems
