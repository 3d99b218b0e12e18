"""cfn-lint through its Python API, with the repository's .cfnlintrc.

The build lints every template before anything is written. It passes the
repository's `.cfnlintrc` explicitly, so the build, the cfn-lint CLI and the
pre-commit hook read the same settings wherever the build is run from.
cfn-lint is imported only when a lint runs: it takes about a second to
import, and commands such as `--check` or `--help` do not need it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CONFIG_FILE = Path(__file__).resolve().parent.parent / ".cfnlintrc"


@dataclass(frozen=True)
class Finding:
    """One cfn-lint match, located in the file it will be written to."""

    path: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule} {self.message}"


def lint(text: str, path: str, region: str) -> list[Finding]:
    """Every error and warning cfn-lint reports for one template (informational checks are off)."""
    from cfnlint.config import ConfigMixIn
    from cfnlint.decode.decode import decode_str
    from cfnlint.runner import Runner

    template, matches = decode_str(text)
    if not matches:
        config = ConfigMixIn(["--config-file", str(CONFIG_FILE)], regions=[region])
        matches = list(Runner(config).validate_template(template))
    return [Finding(path, m.linenumber, m.rule.id, m.message) for m in matches]
