"""The layout docs/architecture.md describes, held by reading the source with `ast`: the package's rooms import
one way and no module imports one that imports it back; tests live in rooms and import only tests/support; the
README's layout table and docs/architecture.md name what the tree holds."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.support.project import REPO_ROOT

PACKAGE = REPO_ROOT / "dagster_project"
TESTS = REPO_ROOT / "tests"
TEST_ROOMS = ("pipeline", "local", "deploy", "dev_loop", "hygiene")
# What each room of the package may import from the package (docs/architecture.md#the-package): definitions.py
# wires defs/, defs/ builds on the contract, the contract stands alone, the tools read the contract and the storage
# resource, and the top-level summary.py only starts the tools' summary.
MAY_IMPORT = {
    "definitions": ("dagster_project.defs",),
    "defs": ("dagster_project.defs", "dagster_project.contract"),
    "contract": ("dagster_project.contract",),
    "control": ("dagster_project.control", "dagster_project.contract", "dagster_project.defs.resources"),
    "summary": ("dagster_project.control",),
}


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(f"{prefix}.")


def module_name(path: Path, package: Path) -> str:
    """tests/support/stack.py -> tests.support.stack; a package's __init__.py is the package."""
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, module: str) -> set[str]:
    """Every dotted name an import of the file names, at the top or inside a function, relative imports made
    absolute. `from a import b` names both a and a.b: b may be a module or a name in a."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                anchor = parts[: len(parts) + (path.name == "__init__.py") - node.level]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph(package: Path) -> dict[str, set[str]]:
    """module -> the modules of the same package it imports."""
    files = {module_name(path, package): path for path in sorted(package.rglob("*.py"))}
    return {module: (imported(path, module) & set(files)) - {module} for module, path in files.items()}


def circle_through(start: str, graph: dict[str, set[str]]) -> tuple[str, ...] | None:
    """A chain of imports that leads from `start` back to it, or None."""
    pending, seen = [(start, (start,))], {start}
    while pending:
        current, chain = pending.pop()
        for target in sorted(graph[current]):
            if target == start:
                return (*chain, start)
            if target not in seen:
                seen.add(target)
                pending.append((target, (*chain, target)))
    return None


def circles(package: Path) -> dict[str, tuple[str, ...]]:
    graph = import_graph(package)
    return {module: chain for module in graph if (chain := circle_through(module, graph))}


def section(page: Path, heading: str) -> str:
    """The text of a page from `heading` to the next heading of the same level."""
    text = page.read_text(encoding="utf-8")
    level = heading.split(" ", 1)[0]
    start = text.index(f"\n{heading}\n")
    end = text.find(f"\n{level} ", start + len(heading) + 2)
    return text[start : end if end != -1 else len(text)]


def package_files() -> list[str]:
    """The package's modules, relative to it: defs/assets/gold.py."""
    return [p.relative_to(PACKAGE).as_posix() for p in sorted(PACKAGE.rglob("*.py")) if p.name != "__init__.py"]


def names_file(text: str, relative: str) -> bool:
    """Whether the text shows the file in code: by its path, by the end of it (`gold.py`, `assets/gold.py`) or
    from the checkout (`dagster_project/defs/assets/gold.py`)."""
    shown = re.findall(r"`([^`\s]+)`", text)
    return any(relative.endswith(f"/{s}") or s.endswith(f"/{relative}") or s == relative for s in shown)


# -- the package ----------------------------------------------------------------------------------------------


def test_no_module_of_the_package_imports_one_that_imports_it_back():
    found = circles(PACKAGE)
    assert not found, "\n".join(" -> ".join(chain) for chain in found.values())


def test_the_circle_check_finds_a_circle(tmp_path):
    """The check's counter-check: two modules that reach each other, one through a relative import."""
    package = tmp_path / "loop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import f\n")
    (package / "b.py").write_text("def f():\n    from loop import a\n")
    (package / "c.py").write_text("import loop.a\n")
    assert set(circles(package)) == {"loop.a", "loop.b"}


def test_the_rooms_of_the_package_import_one_way():
    """Nothing imports definitions.py, and only the tools' entry point imports the tools."""
    wrong = []
    for module, targets in import_graph(PACKAGE).items():
        if "." not in module:
            continue  # the package's own __init__.py
        allowed = MAY_IMPORT[module.split(".")[1]]
        wrong += [f"{module} imports {t}" for t in sorted(targets) if not any(within(t, a) for a in allowed)]
    assert not wrong, "\n".join(wrong)


# -- the tests ------------------------------------------------------------------------------------------------


def test_every_test_module_lives_in_a_room():
    misplaced = [
        path.relative_to(REPO_ROOT).as_posix()
        for path in TESTS.rglob("test_*.py")
        if path.parent.parent != TESTS or path.parent.name not in TEST_ROOMS
    ]
    assert not misplaced, f"test modules outside tests/{{{','.join(TEST_ROOMS)}}}/: {misplaced}"
    folders = {path.name for path in TESTS.iterdir() if path.is_dir() and path.name != "__pycache__"}
    assert folders == {*TEST_ROOMS, "support"}
    for folder in folders:
        assert (TESTS / folder / "__init__.py").is_file(), f"tests/{folder}/ is not a package"


@pytest.mark.parametrize(
    "path", sorted(TESTS.rglob("*.py")), ids=lambda path: path.relative_to(TESTS).as_posix()
)  # fmt: skip
def test_a_test_file_imports_only_the_support_package(path):
    """Never another test module, nor conftest.py: what two test modules share belongs in tests/support/."""
    names = imported(path, module_name(path, TESTS))
    wrong = sorted(
        name
        for name in names
        if (within(name, "tests") and name != "tests" and not within(name, "tests.support"))
        or within(name, "conftest")
        or any(part.startswith("test_") for part in name.split("."))
    )
    assert not wrong, wrong


# -- the docs -------------------------------------------------------------------------------------------------


def test_the_readme_layout_table_names_existing_paths_and_every_room():
    table = section(REPO_ROOT / "README.md", "## Repository layout")
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    for row in rows:
        for path in re.findall(r"`([^`]+)`", row.split("|")[1]):
            assert (REPO_ROOT / path).exists(), f"README layout table: {path} does not exist"
    for module in package_files():
        assert names_file(table, module), f"README layout table: no {module}"
    for room in (*TEST_ROOMS, "support"):
        assert f"`{room}/`" in table, f"README layout table: no tests/{room}/"


def test_the_architecture_page_names_every_module_and_every_room():
    page = (REPO_ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for module in package_files():
        assert names_file(page, module), f"docs/architecture.md: no {module}"
    for room in (*TEST_ROOMS, "support"):
        assert f"`tests/{room}/`" in page or f"`{room}/`" in page, f"docs/architecture.md: no tests/{room}/"
