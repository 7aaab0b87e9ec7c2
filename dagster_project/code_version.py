"""Code versions from the source that decides an asset's output, so the UI marks exactly what an edit made stale.

An asset's code version is a hash of its own module and of every project module that module imports, directly
or through another project module (imports inside functions count). An asset module imports its upstream
asset's module (`deps=[silver_orders]`), so the code that produces its input counts too: an edit in silver
marks silver and gold, an edit in gold_asset.py only gold, an edit in rules.py both. Modules are compared by
their syntax tree without docstrings, so comments, blank lines, formatting and docstrings never make an asset
stale; any other change does. log_bridge.py is left out: logging never changes what a step writes.

After an edit and a code reload, Dagster compares these versions with the ones recorded at the last
materialization and shows the asset as changed (*Unsynced*); its downstream assets follow.
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path

PACKAGE = __name__.rpartition(".")[0]
PACKAGE_DIR = Path(__file__).resolve().parent
# Modules whose edits cannot change any output of an asset.
NOT_OUTPUT_DECIDING = frozenset({"log_bridge"})
DOCUMENTED = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def code_version(module: str) -> str:
    """Version of `module` (a dotted name in this package, e.g. __name__ of an asset module)."""
    digest = hashlib.sha256()
    for name in sorted(_closure(module.rpartition(".")[2])):
        digest.update(f"{name}\0{_module(name)[0]}\0".encode())
    return digest.hexdigest()[:16]


def _closure(name: str) -> set[str]:
    seen: set[str] = set()
    pending = [name]
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
    for path in sorted(PACKAGE_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == code_version.__name__
                and [getattr(arg, "id", None) for arg in node.args] == ["__name__"]
            ):
                found.append(f"{PACKAGE}.{path.stem}")
                break
    return found


def _module(name: str) -> tuple[str, frozenset[str]]:
    """The module's syntax tree without docstrings, dumped, and the project modules it imports. Parsed again
    only when the file changed: `control refresh` compares versions while Tilt syncs files."""
    path = PACKAGE_DIR / f"{name}.py"
    stat = path.stat()
    return _parsed(path, stat.st_mtime_ns, stat.st_size)


@cache
def _parsed(path: Path, _mtime_ns: int, _size: int) -> tuple[str, frozenset[str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            # `from dagster_project.x import y`, `from dagster_project import x`, `from .x import y`
            base = f"{PACKAGE}.{node.module}" if node.level and node.module else PACKAGE if node.level else node.module
            imported.update([base or "", *(f"{base}.{alias.name}" for alias in node.names)])
        elif isinstance(node, DOCUMENTED) and ast.get_docstring(node, clean=False) is not None:
            node.body = node.body[1:] or [ast.Pass()]
    if ast.get_docstring(tree, clean=False) is not None:
        tree.body = tree.body[1:]
    prefix = f"{PACKAGE}."
    candidates = {dotted.removeprefix(prefix).partition(".")[0] for dotted in imported if dotted.startswith(prefix)}
    return ast.dump(tree), frozenset(c for c in candidates if (PACKAGE_DIR / f"{c}.py").is_file())
