"""Which files in params/ are environments, and reading one without trusting what it is.

Only `params/<env>.yaml` whose `<env>` is a valid environment name is an
environment; everything else in the folder (editor lock files, notes, the
schema, a `DEV.yaml`) is ignored by every command, and by the build record.

A params file is read only if it is a regular file (a symlink is followed
only to a regular file inside the folder that holds params/, the
repository), and only up to MAX_BYTES: a FIFO would block forever, a link
to /dev/zero would grow without end, a folder or a device cannot be a
params file. Each refusal is a ConfigError naming the file and what it is.

Kept free of heavy imports: a rebuild with nothing changed reads params
files through here to hash them, without pydantic or PyYAML.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from builders.errors import ConfigError

ENV_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,14}[a-z0-9]$"
NAME_RULE = "2 to 16 characters: lowercase letters, digits and '-', starting with a letter, not ending with '-'"
SUFFIX = ".yaml"
MAX_BYTES = 256 * 1024  # the largest params file today is ~5 KB


def is_env_name(name: str) -> bool:
    return re.match(ENV_NAME_PATTERN, name) is not None


def environments(params_dir: Path) -> list[str]:
    """The environments that have a params file, sorted: `<env>.yaml` entries with a valid name, of any kind.

    Of any kind, so that a `dev.yaml` that is a folder or a FIFO is refused
    with its own message when it is read, rather than silently skipped.
    """
    try:
        names = [e.name for e in os.scandir(params_dir)]
    except OSError:
        return []
    return sorted(n.removesuffix(SUFFIX) for n in names if n.endswith(SUFFIX) and is_env_name(n.removesuffix(SUFFIX)))


def _kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


def _target(path: Path) -> Path:
    """The file to open: path itself, or where its symlink leads if that is inside the repository."""
    if not path.is_symlink():
        return path
    home = path.parent.resolve().parent
    try:
        target = path.resolve(strict=True)
    except RuntimeError:  # Python < 3.13 reports a loop this way
        raise ConfigError(f"{path}: is a symlink in a loop; a params file must be a regular file") from None
    except OSError as exc:
        if "loop" in str(exc).lower() or getattr(exc, "errno", None) == 40:
            raise ConfigError(f"{path}: is a symlink in a loop; a params file must be a regular file") from None
        raise ConfigError(
            f"{path}: is a symlink to {os.readlink(path)}, which does not exist; a params file must be a regular file"
        ) from None
    if not target.is_relative_to(home):
        raise ConfigError(
            f"{path}: is a symlink out of the repository (to {target}); params files are read only from "
            f"{home}, so that a build reads what the repository holds"
        )
    return target


def read(path: Path) -> bytes:
    """The bytes of one params file, or a ConfigError saying why it is not one; nothing odd is ever read."""
    if not path.exists() and not path.is_symlink():
        raise ConfigError(f"{path}: there is no such params file")
    target = _target(path)
    try:
        info = os.stat(target)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the params file: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{path}: is {_kind(info.st_mode)}, not a params file; params/<env>.yaml must be a file")
    if info.st_size > MAX_BYTES:
        raise ConfigError(_too_big(path, info.st_size))
    try:
        fd = os.open(target, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the params file: {exc.strerror or exc}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped for something else since the stat above
            raise ConfigError(f"{path}: is {_kind(os.fstat(fd).st_mode)}, not a params file")
        chunks, size = [], 0
        while size <= MAX_BYTES:
            chunk = os.read(fd, MAX_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the params file: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if size > MAX_BYTES:
        raise ConfigError(_too_big(path, size))
    return b"".join(chunks)


def _too_big(path: Path, size: int) -> str:
    return (
        f"{path}: is {size:,} bytes; a params file may be at most {MAX_BYTES:,} bytes (256 KiB), so this is "
        f"not one (the largest today is a few KB)"
    )
