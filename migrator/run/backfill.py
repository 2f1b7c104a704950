"""Data migrations in batches: `backfill(...)` for revision files.

One `UPDATE` of a large table holds its row locks, and any lock the revision took, for as long
as it runs; every writer of those rows waits. `backfill` walks the table by primary key
(keyset, composite keys too) and updates one slice per short transaction, which also records a
checkpoint, so a killed or failed run continues after the last committed slice, and nothing
is done twice. Each slice runs under the revision's lock_timeout and is retried after a lock
timeout. The revision is recorded as applied only after the last slice and the validation the
revision declares.

    def upgrade() -> None:
        run_sql(UPGRADE)  # e.g. ADD COLUMN email_normalized
        backfill(
            "crm.customers",
            set="email_normalized = lower(email)",
            where="email_normalized IS NULL",
            batch_size=5000,
            validate_empty="SELECT id FROM crm.customers WHERE email_normalized IS NULL",
        )
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass

import pglast
from alembic import op
from alembic.runtime.migration import MigrationContext
from pglast import ast
from psycopg import sql as pgsql
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from migrator.errors import MigratorError
from migrator.events import BatchProgress, RetryScheduled
from migrator.revision import RevisionSource
from migrator.run import lock as locking
from migrator.run.history import CHECKPOINT_TABLE
from migrator.run.statements import EXECUTOR_ATTRIBUTE, Executor


class BackfillFailed(MigratorError):
    """A backfill's validation found offending rows, or a slice kept failing."""


@dataclass(frozen=True)
class _Table:
    schema: str
    name: str
    keys: tuple[str, ...]
    key_types: tuple[str, ...]

    @property
    def qualified(self) -> pgsql.Composable:
        return pgsql.Identifier(self.schema, self.name)


def backfill(
    table: str,
    *,
    set: str,  # named as the SQL it becomes: UPDATE ... SET <set>
    where: str = "true",
    batch_size: int = 5000,
    pause: float = 0.0,
    target_batch_ms: int | None = None,
    validate_empty: str | None = None,
    validate_count: str | None = None,
    name: str | None = None,
) -> int:
    """Update `table` in keyset batches: `SET <set> WHERE <where>`, `batch_size` keys a slice.

    `pause` sleeps between slices; `target_batch_ms` adapts the slice size to keep each under
    that duration. `validate_empty` is a query that must return no row once done;
    `validate_count` a `SELECT count(*) ...` whose result must be the same before and after.
    Returns the number of rows updated by this run.
    """
    caller = sys._getframe(1).f_globals
    source = RevisionSource.of(caller)
    context = op.get_context()
    if context.as_sql:
        # Offline SQL is applied by hand, in one go: the same change as one statement.
        context.impl.static_output(
            f"-- {source.revision}: `migrate up` runs this backfill in slices of {batch_size} "
            "keys with checkpoints; offline, it is one statement\n"
            f"UPDATE {table} SET {set} WHERE {where}{context.impl.command_terminator}"
        )
        return 0
    executor: Executor = context.config.attributes[EXECUTOR_ATTRIBUTE]
    executor.starting(source)
    job = name or table
    connection = context.connection
    executor.apply_timeouts(connection, source)
    target = _describe(connection, table)
    counted_before = _scalar(connection, validate_count) if validate_count else None
    with executor.outside_transaction(context):
        done = _run_slices(
            context, executor, source, job, target, set, where, batch_size, pause, target_batch_ms
        )
    connection = context.connection
    if validate_empty:
        offending = _scalar(connection, f"SELECT count(*) FROM ({validate_empty}) AS offending")
        if offending:
            raise BackfillFailed(
                f"revision {source.revision}: backfill of {table} left {offending} row(s) that "
                f"its validation rejects (`{validate_empty.strip()}`); fix the SET/WHERE and run "
                "`migrate up` again"
            )
    if validate_count:
        counted_after = _scalar(connection, validate_count)
        if counted_after != counted_before:
            raise BackfillFailed(
                f"revision {source.revision}: backfill of {table} changed `{validate_count}` "
                f"from {counted_before} to {counted_after}"
            )
    connection.exec_driver_sql(
        f"DELETE FROM {executor.schema_identifier}.{CHECKPOINT_TABLE} "
        "WHERE revision = %s AND name = %s",
        (source.revision, job),
    )
    return done


def _scalar(connection: Connection, query: str) -> int:
    return int(connection.exec_driver_sql(query).scalar() or 0)


def _describe(connection: Connection, table: str) -> _Table:
    """The table's schema, name and primary key columns (in key order) with their types."""
    try:
        [raw] = pglast.parse_sql(f"SELECT FROM {table}")
        relation = raw.stmt.fromClause[0]
        assert isinstance(relation, ast.RangeVar)
    except Exception as error:
        raise BackfillFailed(f"{table!r} is not a table name like schema.table") from error
    schema, name = relation.schemaname or "public", relation.relname
    rows = connection.exec_driver_sql(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_index i "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = to_regclass(%s) AND i.indisprimary "
        "ORDER BY array_position(i.indkey, a.attnum)",
        (pgsql.Identifier(schema, name).as_string(),),
    ).all()
    if not rows:
        raise BackfillFailed(f"{schema}.{name} has no primary key; backfill walks tables by it")
    return _Table(schema, name, tuple(r[0] for r in rows), tuple(r[1] for r in rows))


def _slice_statement(target: _Table, set_sql: str, where_sql: str, after: bool) -> str:
    """One slice: find the slice's last key through the primary key index, then update the
    key range up to it in one index range scan (no join)."""
    keys = [pgsql.Identifier(k) for k in target.keys]
    aliases = [pgsql.Identifier(f"migrator_key_{i}") for i in range(len(keys))]
    key_row = pgsql.SQL("({})").format(pgsql.SQL(", ").join(keys))
    alias_list = pgsql.SQL(", ").join(aliases)
    lower = (
        pgsql.SQL("{} > ({})").format(
            key_row,
            pgsql.SQL(", ").join(
                pgsql.SQL("%s::{}").format(pgsql.SQL(kind)) for kind in target.key_types
            ),
        )
        if after
        else pgsql.SQL("true")
    )
    statement = pgsql.SQL(
        "WITH migrator_bound AS ("
        "SELECT {alias_list} FROM ("
        "SELECT {picked} FROM {table} WHERE {lower} ORDER BY {keys} LIMIT %s"
        ") AS migrator_slice ORDER BY {aliases_desc} LIMIT 1), "
        "migrator_updated AS ("
        "UPDATE {table} SET {set} WHERE {lower} "
        "AND {key_row} <= (SELECT {alias_list} FROM migrator_bound) AND ({where}) RETURNING 1) "
        "SELECT (SELECT count(*) FROM migrator_updated), "
        "(SELECT json_build_array({alias_list}) FROM migrator_bound)"
    ).format(
        alias_list=alias_list,
        picked=pgsql.SQL(", ").join(
            pgsql.SQL("{} AS {}").format(k, a) for k, a in zip(keys, aliases, strict=True)
        ),
        table=target.qualified,
        lower=lower,
        keys=pgsql.SQL(", ").join(keys),
        aliases_desc=pgsql.SQL(", ").join(pgsql.SQL("{} DESC").format(a) for a in aliases),
        set=pgsql.SQL(set_sql.replace("%", "%%")),
        key_row=key_row,
        where=pgsql.SQL(where_sql.replace("%", "%%")),
    )
    return statement.as_string()


def _run_slices(
    context: MigrationContext,
    executor: Executor,
    source: RevisionSource,
    job: str,
    target: _Table,
    set_sql: str,
    where_sql: str,
    batch_size: int,
    pause: float,
    target_batch_ms: int | None,
) -> int:
    connection = context.connection.execution_options(no_parameters=False)
    checkpoints = f"{executor.schema_identifier}.{CHECKPOINT_TABLE}"
    row = connection.exec_driver_sql(
        f"SELECT last_key, rows_done FROM {checkpoints} WHERE revision = %s AND name = %s",
        (source.revision, job),
    ).first()
    last_key = json.loads(row[0]) if row and isinstance(row[0], str) else (row[0] if row else None)
    done_before = int(row[1]) if row else 0
    total = _scalar(
        connection, f"SELECT count(*) FROM {target.qualified.as_string()} WHERE ({where_sql})"
    )
    statements = {
        False: _slice_statement(target, set_sql, where_sql, after=False),
        True: _slice_statement(target, set_sql, where_sql, after=True),
    }
    size, done, started = batch_size, 0, time.monotonic()
    tries = source.lock_retries or executor.lock_retries
    while True:
        slice_started = time.monotonic()
        for attempt in range(1, tries + 1):
            try:
                connection.exec_driver_sql("BEGIN")
                # The slice and its checkpoint commit together: a crash can lose both, never
                # one, and the resumed run redoes the slice, so no need to wait for the disk.
                connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
                bound = tuple(last_key) if last_key is not None else ()
                updated, slice_last = connection.exec_driver_sql(
                    statements[last_key is not None], (*bound, size, *bound)
                ).one()
                if slice_last is not None:
                    connection.exec_driver_sql(
                        f"INSERT INTO {checkpoints} (revision, name, last_key, rows_done) "
                        "VALUES (%s, %s, %s, %s) ON CONFLICT (revision, name) DO UPDATE SET "
                        "last_key = EXCLUDED.last_key, rows_done = EXCLUDED.rows_done, "
                        "updated_at = now()",
                        (
                            source.revision,
                            job,
                            json.dumps(slice_last),
                            done_before + done + updated,
                        ),
                    )
                connection.exec_driver_sql("COMMIT")
                break
            except DBAPIError as error:
                connection.exec_driver_sql("ROLLBACK")
                sqlstate = getattr(error.orig, "sqlstate", None)
                if sqlstate != locking.LOCK_NOT_AVAILABLE or attempt == tries:
                    raise BackfillFailed(
                        f"revision {source.revision}: a slice of {target.schema}.{target.name} "
                        f"failed: {str(error.orig).strip().splitlines()[0]} [SQLSTATE {sqlstate}]"
                        "; `migrate up` continues after the last committed slice"
                    ) from error
                delay = locking.retry_delay_ms(attempt, executor.retry_backoff_ms)
                executor.events(
                    RetryScheduled(
                        source.revision,
                        attempt,
                        tries,
                        delay,
                        "a backfill slice waited too long for a lock",
                    )
                )
                time.sleep(delay / 1000)
        if slice_last is None:
            return done
        done += updated
        last_key = slice_last
        elapsed = time.monotonic() - started
        executor.events(
            BatchProgress(
                source.revision,
                f"{target.schema}.{target.name}",
                done_before + done,
                done_before + total,
                round(done / elapsed) if elapsed else 0,
                json.dumps(slice_last),
                size,
            )
        )
        if target_batch_ms:
            took = (time.monotonic() - slice_started) * 1000
            size = (
                max(100, int(size / 2))
                if took > target_batch_ms
                else (int(size * 1.5) if took < target_batch_ms / 2 else size)
            )
        if pause:
            time.sleep(pause)
