"""The files outside templates/ that a build generates: README.md's marked sections and docs/<env>.svg.

They describe every environment at once, so they are made only by a build
of all environments. `files()` is pure (configs, artifacts and the current
README text in, file contents out); `builders.docs.output` reads and writes. A
diagram's bytes need a layout run, so a Diagram carries its DOT source and
is rendered only when the committed SVG's stamp says it is out of date:
`--check` never lays anything out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from builders.build.pipeline import Artifact
from builders.config import EnvConfig
from builders.docs import diagram
from builders.docs import readme as docs
from builders.docs.paths import svg_path


@dataclass(frozen=True)
class Page:
    """A generated text file whose bytes are cheap to make: compared byte for byte."""

    relpath: str
    text: str

    def is_current(self, committed: str) -> bool:
        return committed == self.text

    def render(self) -> str:
        return self.text


@dataclass(frozen=True)
class Diagram:
    """An architecture SVG: current when its stamp matches the DOT source; rendered only when it is not."""

    relpath: str
    dot: str

    def is_current(self, committed: str) -> bool:
        return diagram.is_current(committed, self.dot)

    def render(self) -> str:
        return diagram.render_svg(self.dot)


GeneratedFile = Page | Diagram


def files(configs: dict[str, EnvConfig], artifacts: Iterable[Artifact], readme: str) -> list[GeneratedFile]:
    """README.md with its generated sections refreshed, and one diagram per environment."""
    sources = docs.Sources(configs, tuple(artifacts))
    made: list[GeneratedFile] = [Page(docs.README, docs.splice(readme, docs.render(sources)))]
    made += [Diagram(svg_path(env), diagram.dot_source(sources.stacks[env])) for env in sources.envs]
    return made


def texts(configs: dict[str, EnvConfig], artifacts: Iterable[Artifact], readme: str) -> dict[str, str]:
    """Every generated file's full bytes, diagrams laid out: what a build from nothing would write."""
    return {f.relpath: f.render() for f in files(configs, artifacts, readme)}
