"""What a revision file calls: `run_sql`, which runs an embedded SQL body statement by statement.

Revision files keep their change as raw SQL so that reviewers read exactly what will run. The
body is split by PostgreSQL's parser; statements PostgreSQL refuses inside a transaction block
(`CREATE INDEX CONCURRENTLY`, `VACUUM`, ...) run in Alembic's autocommit block, the rest in the
revision's own transaction. The same path renders the SQL in offline (`--sql`) mode.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterable
from pathlib import Path

from alembic import op
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import DBAPIError

from migrator import sql
from migrator.errors import MigratorError


class StatementFailed(MigratorError):
    """A statement of a revision failed in PostgreSQL; names the revision, file and statement."""

    def __init__(self, revision: str, path: str, statement: sql.Statement, error: DBAPIError):
        diag = getattr(error.orig, "diag", None)
        self.sqlstate: str | None = getattr(error.orig, "sqlstate", None)
        self.pg_message = (
            diag.message_primary if diag and diag.message_primary else str(error.orig).strip()
        )
        self.revision = revision
        self.statement = statement
        super().__init__(
            f"revision {revision} ({Path(path).name}) failed at line {statement.line} "
            f"`{statement.first_line}`: {self.pg_message} [SQLSTATE {self.sqlstate}]; "
            "fix the revision and run `migrate up` again (earlier revisions stay applied)"
        )


def run_sql(body: str) -> None:
    """Run a revision's SQL body; call it from `upgrade()` or `downgrade()` of a revision file.

    The revision and its file are read from the caller's module so that an error can name them
    without every revision repeating its own id.
    """
    caller = sys._getframe(1).f_globals
    revision = str(caller.get("revision", "?"))
    path = str(caller.get("__file__", "?"))
    try:
        statements = sql.split(body)
    except sql.SqlError as error:
        raise sql.SqlError(f"revision {revision} ({Path(path).name}): {error}") from error
    context = op.get_context()
    for transactional, group in itertools.groupby(statements, key=lambda s: s.transactional):
        if transactional:
            _execute(context, group, revision, path)
        else:
            with context.autocommit_block():
                _execute(context, group, revision, path)


def _execute(
    context: MigrationContext, statements: Iterable[sql.Statement], revision: str, path: str
) -> None:
    for statement in statements:
        if context.as_sql:
            context.impl.static_output(statement.text + context.impl.command_terminator)
            continue
        # no_parameters: the body is raw SQL, so `%` and `:name` must reach PostgreSQL untouched.
        connection = op.get_bind().execution_options(no_parameters=True)
        try:
            connection.exec_driver_sql(statement.text)
        except DBAPIError as error:
            raise StatementFailed(revision, path, statement, error) from error
