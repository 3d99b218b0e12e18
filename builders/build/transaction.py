"""All of a build's file changes, or none: staged, then renamed into place, rolled back on any failure.

A build changes up to ~25 files (templates, the manifest, README.md, the
diagrams). Replacing them one by one means a Ctrl-C, a SIGTERM, a full disk
or a read-only file halfway leaves some new and some old, which a later
build, `--check` and git would all see. So the write happens in phases:

1. stage: every new text goes to a temp file beside its target and is
   fsynced. This is where bytes are written, so a full disk or a file-size
   limit fails here, before any target has changed.
2. backup: every target that exists gets a hard link under a backup name
   (a copy where the file system has no hard links), so that putting the
   earlier bytes back needs no disk space.
3. commit: with SIGINT and SIGTERM held, each temp file is renamed over its
   target (a removal is a rename to the backup name). Renames need no
   space; if one fails, or a signal arrived meanwhile, the backups are
   renamed back, in reverse order, and the signal is then delivered.
4. clean up the backups.

What cannot be promised: a `kill -9` or a power cut between the first and
the last rename (a few milliseconds) leaves a mix; its temp and backup
files (`.NAME.XXXXXXXX.tmp`, `.NAME.XXXXXXXX.old.tmp`) are then named by
`--check` and removed by the next build, which rewrites every target.
If putting the earlier bytes back fails too, the error lists exactly which
files changed and how to restore them.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from builders.errors import BuildError

STAGED_SUFFIX = ".tmp"
BACKUP_SUFFIX = ".old.tmp"
# mkstemp's names: ".<target name>.<8 random characters>.tmp"; a backup adds ".old" before ".tmp".
LEFTOVER = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}(\.old)?\.tmp$")
HELD_SIGNALS = {signal.SIGINT, signal.SIGTERM}
LEFTOVER_NOTE = "left over by an interrupted build (the next build removes it)"


@dataclass
class Outcome:
    """Filled in by `apply` the moment its write is complete, while signals are still held.

    A Ctrl-C held back during the write is delivered as `apply` returns;
    whoever catches it reads this to say truthfully what was written.
    """

    done: bool = False
    paths: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Change:
    """One file a build changes: `text` is its new content, or None to remove it."""

    path: Path
    text: str | None


class Interrupted(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so that every cleanup on the way out runs."""

    exit_code = 143


def shown(path: Path) -> str:
    """A path relative to the working directory when it is under it: shorter, and what a user typed."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except (ValueError, OSError):  # OSError: the working folder was deleted under the process
        return str(path)


def _mode(path: Path) -> int:
    """The permission bits the file has, or what the umask gives a new file."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def stage(path: Path, text: str, sync: bool = True) -> Path:
    """Write `text` to a new temp file beside `path` (same folder, so a rename replaces it) and return its name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _mode(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=STAGED_SUFFIX)
    try:
        os.chmod(tmp, mode)  # mkstemp makes 0600 files; a rewritten README.md must stay readable
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_atomic(path: Path, text: str, sync: bool = True) -> None:
    """Replace one file in one rename; readers see the old file or the new one, never a mix.

    For single files (the lint cache, the build stamp, the params schema);
    a build's set of files goes through `apply`. `sync=False` skips the
    fsync, for caches: after a crash a lost entry is only a miss.
    """
    tmp = stage(path, text, sync)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _reserve(path: Path) -> Path:
    """A fresh backup name beside `path`, not yet taken by any file."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=BACKUP_SUFFIX)
    os.close(fd)
    os.unlink(name)
    return Path(name)


def _backup(change: Change) -> Path | None:
    """Where the earlier bytes of the change's target will be kept; None for a file that does not exist yet.

    A replaced file gets a hard link (or, where the file system has none, a
    copy) made now; a removed file is renamed to the reserved name during
    the commit (a rename over a hard link to the same file would do nothing).
    """
    if not change.path.exists():
        return None
    backup = _reserve(change.path)
    if change.text is None:
        return backup
    try:
        try:
            os.link(change.path, backup)
        except OSError:  # no hard links here (some network and FAT file systems): a copy does the same job
            shutil.copy2(change.path, backup)
    except BaseException:
        backup.unlink(missing_ok=True)
        raise
    return backup


@contextmanager
def _held() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block is done (they stay pending); where there is no sigmask, nothing."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _pending() -> bool:
    return hasattr(signal, "sigpending") and bool(signal.sigpending() & HELD_SIGNALS)


def _unlink_all(paths: list[Path | None]) -> None:
    for path in paths:
        if path is not None:
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass


def _rollback(done: list[tuple[Change, Path | None]]) -> list[str]:
    """Put the earlier bytes back, last change first; the files that could not be restored."""
    failed = []
    for change, backup in reversed(done):
        try:
            if backup is not None:
                os.replace(backup, change.path)
            else:
                change.path.unlink(missing_ok=True)
        except OSError:
            failed.append(shown(change.path))
    return failed


def _partial(failed: list[str], reason: str) -> BuildError:
    listed = "\n".join(f"  {path}" for path in failed)
    return BuildError(
        f"{reason}; {len(failed)} file(s) have changed and could not be put back:\n{listed}\n"
        "Restore them with `git checkout -- templates/ README.md docs/` (or from the leftover "
        "`.NAME.*.old.tmp` backups beside them), then build again."
    )


def apply(changes: list[Change], outcome: Outcome | None = None) -> list[str]:
    """Make every change or none; the paths changed, as a build lists them.

    Raises BuildError (exit 1) when a write fails and nothing changed, the
    same with the list of files left changed if even putting them back
    failed, and KeyboardInterrupt / Interrupted (nothing changed) when a
    signal came during the write.
    """
    changes = [c for c in changes if c.text is not None or c.path.exists()]
    staged: list[Path | None] = []
    backups: list[Path | None] = []
    try:
        for change in changes:
            staged.append(stage(change.path, change.text) if change.text is not None else None)
        for change in changes:
            backups.append(_backup(change))
    except OSError as exc:
        _unlink_all(staged + backups)
        where = shown(Path(exc.filename)) if exc.filename else "a file"
        raise BuildError(f"cannot write {where}: {exc.strerror or exc}; nothing was written") from None
    except BaseException:
        _unlink_all(staged + backups)
        raise
    done: list[tuple[Change, Path | None]] = []
    with _held():
        try:
            for change, tmp, backup in zip(changes, staged, backups, strict=True):
                if tmp is not None:
                    os.replace(tmp, change.path)
                else:
                    assert backup is not None
                    os.replace(change.path, backup)  # the removal: the bytes stay under the backup name
                done.append((change, backup))  # only once it happened: signals are held, so nothing comes between
            if _pending():
                raise KeyboardInterrupt  # restoring the mask then delivers the signal itself
        except BaseException as exc:
            failed = _rollback(done)
            _unlink_all(staged + backups)
            if failed:
                raise _partial(failed, f"the write was interrupted ({_reason(exc)})") from None
            if isinstance(exc, OSError):
                where = shown(Path(exc.filename)) if exc.filename else "a file"
                raise BuildError(f"cannot replace {where}: {exc.strerror or exc}; nothing was written") from None
            raise
        touched = [shown(c.path) + (" (removed)" if c.text is None else "") for c in changes]
        if outcome is not None:
            outcome.done, outcome.paths = True, touched
        _unlink_all(backups)  # still held: an interruption now would leave backups beside complete files
    return touched


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return "a signal" if isinstance(exc, KeyboardInterrupt | Interrupted) else type(exc).__name__


@contextmanager
def locked(folder: Path, waiting: Callable[[], None]) -> Iterator[None]:
    """One build at a time writes into `folder`: an exclusive flock on the folder itself, for the write phase.

    A second build that reaches its write while the first is writing calls
    `waiting()` (to say so) and waits; without the lock, each would take the
    other's temp files for leftovers of a killed build and remove them. The
    lock is on the folder's own descriptor, so it leaves no file behind and
    goes with the process however it ends. Where there is no flock
    (Windows) or the folder does not exist yet, nothing is locked.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waiting()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def leftovers(folders: list[Path]) -> list[Path]:
    """Temp and backup files an interrupted or killed build left in these folders (not recursive)."""
    found = []
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        found += [Path(e.path) for e in entries if LEFTOVER.match(e.name) and e.is_file(follow_symlinks=False)]
    return sorted(found)
