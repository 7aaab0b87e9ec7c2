"""Code versions from the source that decides an asset's output, so the UI marks exactly what an edit made stale
(docs/dev-loop.md#what-an-edit-made-stale; how the closure is drawn: docs/architecture.md#code-versions)."""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path

PACKAGE = __name__.partition(".")[0]
PACKAGE_DIR = Path(__file__).resolve().parents[1]
# Modules whose edits cannot change any output of an asset: the package's __init__ holds only its docstring, and
# the bridge only forwards log records.
NOT_OUTPUT_DECIDING = frozenset({PACKAGE, f"{PACKAGE}.contract.log_bridge"})
DOCUMENTED = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def code_version(module: str) -> str:
    """Version of `module` (a dotted name in this package, e.g. __name__ of an asset module)."""
    digest = hashlib.sha256()
    for name in sorted(_closure(module)):
        digest.update(f"{name}\0{_module(name)[0]}\0".encode())
    return digest.hexdigest()[:16]


def _closure(module: str) -> set[str]:
    seen: set[str] = set()
    pending = [module]
    while pending:
        current = pending.pop()
        if current in seen or current in NOT_OUTPUT_DECIDING:
            continue
        seen.add(current)
        pending.extend(_module(current)[1])
    return seen


def versioned_modules() -> list[str]:
    """The package's modules that version an asset: they call code_version(__name__)."""
    found = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == code_version.__name__
                and [getattr(arg, "id", None) for arg in node.args] == ["__name__"]
            ):
                found.append(module_name(path))
                break
    return found


def module_name(path: Path) -> str:
    """The dotted name of a file of the package: defs/assets/gold.py -> dagster_project.defs.assets.gold."""
    parts = path.resolve().relative_to(PACKAGE_DIR).with_suffix("").parts
    return ".".join((PACKAGE, *(parts[:-1] if parts[-1] == "__init__" else parts)))


def source_file(module: str) -> Path | None:
    """The file of a module of the package (a package's __init__.py), or None for any other module."""
    root, _, rest = module.partition(".")
    if root != PACKAGE:
        return None
    if not rest:
        return PACKAGE_DIR / "__init__.py"
    base = PACKAGE_DIR.joinpath(*rest.split("."))
    return next((file for file in (base.with_name(f"{base.name}.py"), base / "__init__.py") if file.is_file()), None)


def _module(name: str) -> tuple[str, frozenset[str]]:
    """The module's syntax tree without docstrings, dumped, and the package modules it imports. Parsed again
    only when the file changed: `control refresh` compares versions while Tilt syncs files."""
    path = source_file(name)
    if path is None:
        raise ModuleNotFoundError(f"{name} is not a module of {PACKAGE_DIR}")
    stat = path.stat()
    return _parsed(name, path, stat.st_mtime_ns, stat.st_size)


@cache
def _parsed(name: str, path: Path, _mtime_ns: int, _size: int) -> tuple[str, frozenset[str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, name, path.name == "__init__.py")
            # `from a.b import c` imports the module a.b.c when there is one, else the name c of a.b.
            imported.update(
                f"{base}.{alias.name}" if source_file(f"{base}.{alias.name}") else base for alias in node.names
            )
        elif isinstance(node, DOCUMENTED) and ast.get_docstring(node, clean=False) is not None:
            node.body = node.body[1:] or [ast.Pass()]
    if ast.get_docstring(tree, clean=False) is not None:
        tree.body = tree.body[1:]
    return ast.dump(tree), frozenset(module for module in imported if source_file(module))


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The absolute module an import names: `from .x import y` in a.b.c is a.b.x."""
    if not node.level:
        return node.module or ""
    anchor = importer.split(".") if is_package else importer.split(".")[:-1]
    anchor = anchor[: len(anchor) - (node.level - 1)]
    return ".".join([*anchor, *([node.module] if node.module else [])])
