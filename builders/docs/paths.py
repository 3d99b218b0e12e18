"""Where the generated docs live, beside the output folder's parent: one name each, imported by writer and drawer."""

from __future__ import annotations

DOCS_DIR = "docs"  # the architecture diagrams, docs/<env>.svg
README = "README.md"


def svg_path(env: str) -> str:
    """Where an environment's diagram is written, relative to the repository."""
    return f"{DOCS_DIR}/{env}.svg"
