"""The one exception the CLI turns into a clean message and a non-zero exit."""

from __future__ import annotations


class BuildError(Exception):
    """A problem the user can fix; its message is complete and shown as is, with no traceback."""

    exit_code = 1


class ConfigError(BuildError):
    """A params file that cannot become an EnvConfig. Exit 2, like a usage error."""

    exit_code = 2
