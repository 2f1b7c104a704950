"""The package keeps the shape its folders announce: data flows one way, the command line only
renders, and a revision file is read in one place.

Layers, left to right: the entry points (cli, env.py's alembic_env, the revision files' API),
commands (and the context they are handed), checks, ops, run, model, and the base modules
everyone uses. A module may import from its own layer or to its right; the Context is the one
type every layer may name, since it is handed down explicitly.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "migrator"

LAYERS = {
    "cli": 0,
    "alembic_env": 0,
    "revision": 0,
    "__init__": 0,
    "__main__": 0,
    "pytest_plugin": 0,
    "commands": 1,
    "context": 1,
    "checks": 2,
    "ops": 3,
    "run": 4,
    "model": 5,
    "errors": 6,
    "events": 6,
    "urls": 6,
    "logs": 6,
    "config": 6,
    "database": 6,
    "interrupts": 6,
    "units": 6,
    "__version__": 6,
}
# Named by every layer: the object commands hand down.
SHARED_TYPES = {"migrator.context"}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _layer(module: str) -> int:
    """The layer of `migrator.x.y` (or of a file's path inside the package)."""
    parts = module.split(".")
    return LAYERS[parts[1]] if len(parts) > 1 else LAYERS["__init__"]


def _dotted(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    return ".".join(relative.parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every import of the package, outside TYPE_CHECKING."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("migrator"):
            module = node.module or ""
            if module == "migrator":
                found += [(node.lineno, f"migrator.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, module))
        elif isinstance(node, ast.Import):
            found += [
                (node.lineno, alias.name)
                for alias in node.names
                if alias.name.startswith("migrator")
            ]
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: _dotted(p))
def test_a_module_imports_only_from_its_own_layer_or_to_its_right(path: Path) -> None:
    own = _layer(_dotted(path))
    leftward = [
        f"line {line}: {module}"
        for line, module in _imports(path)
        if module not in SHARED_TYPES and _layer(module) < own
    ]
    assert leftward == [], f"{_dotted(path)} imports against the flow: {leftward}"


def _calls_and_names(folder: Path) -> set[str]:
    found: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute):
                found.add(node.attr)
            elif isinstance(node, ast.Name):
                found.add(node.id)
            elif isinstance(node, ast.ImportFrom):
                found.add(node.module or "")
    return found


def test_the_command_line_holds_no_sql_no_connection_and_no_lock() -> None:
    used = _calls_and_names(PACKAGE / "cli")
    forbidden = {
        "connect",
        "exec_driver_sql",
        "execute",
        "migration_lock",
        "sqlalchemy",
        "psycopg",
        "migrator.database",
        "migrator.run.lock",
    }
    assert used & forbidden == set()
    texts = [
        node.value
        for path in (PACKAGE / "cli").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    assert not [text for text in texts if text.lstrip().upper().startswith(("SELECT ", "INSERT "))]


def test_revision_files_are_parsed_by_the_revision_model_alone() -> None:
    readers = sorted(
        _dotted(path)
        for path in _modules()
        if any(
            isinstance(node, ast.Attribute)
            and node.attr in ("parse", "get_docstring")
            and getattr(node.value, "id", "") == "ast"
            for node in ast.walk(ast.parse(path.read_text()))
        )
    )
    assert readers == ["migrator.model.revision"]


def test_nothing_inspects_the_caller_to_find_its_context() -> None:
    used = _calls_and_names(PACKAGE)
    assert used & {"_getframe", "tb_frame", "f_globals", "f_back"} == set()
