"""The layout of builders/ holds: every import in the tree obeys the rules of builders/__init__.py.

Each module belongs to one concern by where it lives (builders/*.py the
stack builders and their helpers, builders/build, builders/docs,
builders/deploy, builders/functions, builders/cli.py, build.py); each
concern may import only the concerns listed for it. Every import counts:
at the top, inside a function (the lazy imports that keep --help light) and
under TYPE_CHECKING, since each ties the two modules together all the same.
A forbidden import fails with the file, the line and the rule it breaks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

STACKS, BUILD, DOCS, DEPLOY, FUNCTIONS, CLI, ENTRY = "stacks", "build", "docs", "deploy", "functions", "cli", "entry"
SUBPACKAGES = {"build": BUILD, "docs": DOCS, "deploy": DEPLOY, "functions": FUNCTIONS}
ALLOWED: dict[str, set[str]] = {
    STACKS: {STACKS},
    BUILD: {STACKS, BUILD},
    DOCS: {STACKS, BUILD, DOCS},
    DEPLOY: {STACKS, BUILD, DEPLOY},
    FUNCTIONS: set(),  # runs in AWS Lambda, where there are no builders
    CLI: {STACKS, BUILD, DOCS, DEPLOY, CLI},
    ENTRY: {CLI},
}


def concern(module: str) -> str:
    """The concern of a dotted module name under builders (or build.py's "build")."""
    if module == "build":
        return ENTRY
    parts = module.split(".")
    assert parts[0] == "builders", module
    if len(parts) == 1:
        return STACKS  # the package itself: a docstring only
    if parts[1] == "cli":
        return CLI
    return SUBPACKAGES.get(parts[1], STACKS)


def module_name(root: Path, path: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_module(root: Path, dotted: str) -> bool:
    base = root.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imported(root: Path, path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) for each builders module that the file at `path` imports, anywhere in it."""
    own = module_name(root, path)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                candidate = f"{source}.{alias.name}"
                found.append((node.lineno, candidate if _is_module(root, candidate) else source))
    return [(line, name) for line, name in found if name == "builders" or name.startswith("builders.")]


def violations(root: Path) -> list[str]:
    """Every import under root that its concern may not make, as `file:line: rule` lines."""
    problems = []
    files = sorted((root / "builders").rglob("*.py")) + [root / "build.py"]
    for path in files:
        own = concern(module_name(root, path))
        for line, target in imported(root, path):
            other = concern(target)
            if other not in ALLOWED[own]:
                allowed = ", ".join(sorted(ALLOWED[own])) or "nothing of builders"
                problems.append(
                    f"{path.relative_to(root)}:{line}: {own} may not import {target} ({other}); "
                    f"{own} may import: {allowed}"
                )
    return problems


def test_every_import_in_the_tree_follows_the_layout_rules() -> None:
    assert violations(REPO) == []


def test_every_module_belongs_to_a_known_concern() -> None:
    """A new sub-package needs its own rule here and in builders/__init__.py, not a silent default."""
    folders = {p.parent.relative_to(REPO / "builders") for p in (REPO / "builders").rglob("*.py")}
    folders = {f.parts[0] for f in folders if f.parts}
    assert folders - {"__pycache__"} == set(SUBPACKAGES)


def test_each_sub_package_says_what_it_is_for_and_what_it_may_import() -> None:
    for name in ["builders", *(f"builders.{sub}" for sub in SUBPACKAGES)]:
        init = REPO.joinpath(*name.split(".")) / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc, f"{init.relative_to(REPO)} has no docstring"
        assert "import" in doc, f"{init.relative_to(REPO)}: its docstring does not say what it may import"


def test_the_import_graph_has_no_cycle_between_modules() -> None:
    graph: dict[str, set[str]] = {}
    for path in sorted((REPO / "builders").rglob("*.py")):
        graph[module_name(REPO, path)] = {t for _, t in imported(REPO, path)}
    seen: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, trail: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt == "builders" or nxt == node:
                continue
            assert seen.get(nxt) != 1, f"import cycle: {' -> '.join([*trail, node, nxt])}"
            if nxt not in seen:
                visit(nxt, [*trail, node])
        seen[node] = 2

    for module in sorted(graph):
        if module not in seen:
            visit(module, [])


@pytest.mark.parametrize(
    ("where", "line", "rule"),
    [
        ("builders/network.py", "from builders.build import lint", "stacks may not import builders.build.lint"),
        ("builders/storage.py", "from builders.docs.cost import load_prices", "stacks may not import builders.docs"),
        ("builders/build/output.py", "from builders.docs import diagram", "build may not import builders.docs"),
        ("builders/docs/cost.py", "from builders.deploy import guard", "docs may not import builders.deploy.guard"),
        ("builders/deploy/run.py", "from builders.docs import readme", "deploy may not import builders.docs.readme"),
        ("builders/deploy/guard.py", "from ..docs import readback", "deploy may not import builders.docs.readback"),
        ("builders/functions/pgvector.py", "import builders.tags", "functions may not import builders.tags"),
        ("builders/naming.py", "import builders.cli", "stacks may not import builders.cli"),
        ("build.py", "from builders import network", "entry may not import builders.network"),
    ],
)
def test_a_forbidden_import_is_reported_with_its_module_and_line(
    tmp_path: Path, where: str, line: str, rule: str
) -> None:
    """The checker itself: a copy of the tree with one forbidden import added, even inside a function."""
    for path in [*(REPO / "builders").rglob("*.py"), REPO / "build.py"]:
        target = tmp_path / path.relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    victim = tmp_path / where
    text = victim.read_text(encoding="utf-8") + f"\n\ndef _sneaky() -> None:\n    {line}  # noqa\n"
    victim.write_text(text, encoding="utf-8")
    lineno = text.splitlines().index(f"    {line}  # noqa") + 1
    found = violations(tmp_path)
    assert len(found) == 1, found
    assert found[0].startswith(f"{where}:{lineno}: {rule}"), found[0]
