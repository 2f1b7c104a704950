"""The revision file: what it may call (`run_sql`), what it may declare, and its checksum.

Revision files keep their change as raw SQL so that reviewers read exactly what will run.
`run_sql` hands a body to the executor, which runs each statement where PostgreSQL allows it.
A file may declare its own `lock_timeout`, `statement_timeout` and `lock_retries` (for a
revision known to need a longer wait, or a bigger table); the checksum is what `validate`
compares with the one recorded when the revision was applied.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import sys
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from alembic import op

from migrator.config import parse_duration_ms
from migrator.model import sql
from migrator.run import statements as executor


@dataclass(frozen=True)
class RevisionSource:
    """A revision's id, file and the engine settings it overrides (None: the run's own)."""

    revision: str
    path: Path
    lock_timeout_ms: int | None = None
    statement_timeout_ms: int | None = None
    lock_retries: int | None = None

    @classmethod
    def of(cls, namespace: Mapping[str, Any]) -> RevisionSource:
        """Read from a revision module's globals."""

        def duration(name: str) -> int | None:
            value = namespace.get(name)
            return None if value is None else parse_duration_ms(value, f"{name} of a revision")

        retries = namespace.get("lock_retries")
        return cls(
            revision=str(namespace.get("revision", "?")),
            path=Path(str(namespace.get("__file__", "?"))),
            lock_timeout_ms=duration("lock_timeout"),
            statement_timeout_ms=duration("statement_timeout"),
            lock_retries=int(retries) if retries is not None else None,
        )


def run_sql(body: str) -> None:
    """Run a revision's SQL body; call it from `upgrade()` or `downgrade()` of a revision file.

    The revision is read from the caller's module so that errors and overrides need no
    arguments: every file stays `run_sql(UPGRADE)`.
    """
    source = RevisionSource.of(sys._getframe(1).f_globals)
    try:
        statements = sql.split(body)
    except sql.SqlError as error:
        raise sql.SqlError(f"revision {source.revision} ({source.path.name}): {error}") from error
    executor.run_body(op.get_context(), source, statements)


@functools.cache
def checksum(module: ModuleType) -> str:
    """The fingerprint of what a revision applies: its UPGRADE body in pglast's canonical
    rendering (whitespace and comments do not count, any change to a statement does) and the
    shape of its `upgrade()` function (comments and layout do not count there either)."""
    digest = hashlib.sha256()
    body = getattr(module, "UPGRADE", None)
    if isinstance(body, str):
        for statement in sql.split(body):
            digest.update(statement.canonical.encode())
            digest.update(b";\n")
    upgrade = getattr(module, "upgrade", None)
    if callable(upgrade):
        digest.update(_code_shape(upgrade).encode())
    return digest.hexdigest()


def _code_shape(function: Callable[..., Any]) -> str:
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    definition = tree.body[0]
    if isinstance(definition, ast.FunctionDef) and ast.get_docstring(definition) is not None:
        definition.body = definition.body[1:]
    return ast.dump(tree)
