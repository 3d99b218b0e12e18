"""--summary FILE: where --diff and --drift append their Markdown (GitHub's $GITHUB_STEP_SUMMARY).

One module for both, so they refuse the same files the same way and append
the same way: in one write (other steps of the job append to the same file,
and a reader must never see half a report), never replacing what is there.
"""

from __future__ import annotations

import os
from pathlib import Path

from builders.errors import BuildError


def check_writable(path: Path, error: type[BuildError] = BuildError) -> None:
    """Refuse a file that cannot be appended to before anything is asked of AWS, not after the work is done."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir() or not folder.is_dir() or not os.access(path if path.exists() else folder, os.W_OK):
        raise error(
            f"--summary {path}: cannot append to it (it must be a writable file, or a new file in an existing "
            "writable folder); nothing was asked of AWS"
        )


def append(path: Path, text: str, error: type[BuildError] = BuildError) -> None:
    """Append the text, ending in a newline, in one write."""
    try:
        with path.open("a", encoding="utf-8") as out:
            out.write(text if text.endswith("\n") else text + "\n")
    except OSError as exc:
        raise error(f"--summary {path}: cannot append the Markdown summary: {exc.strerror}") from None
