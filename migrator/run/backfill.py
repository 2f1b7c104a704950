"""Batched backfills: the run of a revision's `backfill(...)` step.

One `UPDATE` of a large table holds its row locks, and any lock the revision took, for as long
as it runs; every writer of those rows waits. A backfill walks the table by primary key
(keyset, composite keys too) and updates one slice per short transaction, which also records a
checkpoint, so a killed or failed run continues after the last committed slice, and nothing
is done twice. Each slice runs under the revision's lock_timeout and is retried after a lock
timeout. The revision is recorded as applied only after the last slice and the validation the
revision declares. What a revision file writes is in `migrator.revision.backfill`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from psycopg import sql as pgsql
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from migrator.errors import MigratorError
from migrator.events import BatchProgress, EventSink, RetryScheduled
from migrator.model.revision import BackfillStep, Revision
from migrator.run import lock as locking
from migrator.run.history import CHECKPOINT_TABLE
from migrator.run.replicas import Watcher
from migrator.run.statements import StatementRunner


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


@dataclass(frozen=True)
class Retries:
    """How often a slice is tried after a lock timeout, and the pause's base."""

    tries: int
    backoff_ms: int


def run_backfill(
    connection: Connection,
    runner: StatementRunner,
    revision: Revision,
    step: BackfillStep,
    retries: Retries,
    events: EventSink,
    replicas: Watcher,
) -> int:
    """Update the step's table in keyset slices; returns the rows updated by this run.
    Between slices it waits while a streaming replica lags more than the run allows."""
    job = step.name or step.table
    runner.apply_timeouts(connection.exec_driver_sql, revision)
    target = _describe(connection, step.table)
    counted_before = _scalar(connection, step.validate_count) if step.validate_count else None
    with runner.outside_transaction(connection):
        done = _run_slices(
            connection, runner, revision, job, target, step, retries, events, replicas
        )
    where = f"revision {revision.id} ({revision.at(step.line)})"
    if step.validate_empty:
        offending = _scalar(
            connection, f"SELECT count(*) FROM ({step.validate_empty}) AS offending"
        )
        if offending:
            raise BackfillFailed(
                f"{where}: backfill of {step.table} left {offending} row(s) that its "
                f"validation rejects (`{step.validate_empty.strip()}`); fix the SET/WHERE and "
                "run `migrate up` again"
            )
    if step.validate_count:
        counted_after = _scalar(connection, step.validate_count)
        if counted_after != counted_before:
            raise BackfillFailed(
                f"{where}: backfill of {step.table} changed `{step.validate_count}` "
                f"from {counted_before} to {counted_after}"
            )
    connection.exec_driver_sql(
        f"DELETE FROM {runner.schema_identifier}.{CHECKPOINT_TABLE} "
        "WHERE revision = %s AND name = %s",
        (revision.id, job),
    )
    return done


def _scalar(connection: Connection, query: str) -> int:
    return int(connection.exec_driver_sql(query).scalar() or 0)


def _describe(connection: Connection, table: str) -> _Table:
    """The table's schema, name and primary key columns (in key order) with their types."""
    import pglast  # only a run with a backfill needs the parser
    from pglast import ast

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
    connection: Connection,
    runner: StatementRunner,
    revision: Revision,
    job: str,
    target: _Table,
    step: BackfillStep,
    retries: Retries,
    events: EventSink,
    replicas: Watcher,
) -> int:
    connection = connection.execution_options(no_parameters=False)
    checkpoints = f"{runner.schema_identifier}.{CHECKPOINT_TABLE}"
    row = connection.exec_driver_sql(
        f"SELECT last_key, rows_done FROM {checkpoints} WHERE revision = %s AND name = %s",
        (revision.id, job),
    ).first()
    last_key = json.loads(row[0]) if row and isinstance(row[0], str) else (row[0] if row else None)
    done_before = int(row[1]) if row else 0
    total = _scalar(
        connection, f"SELECT count(*) FROM {target.qualified.as_string()} WHERE ({step.where})"
    )
    statements = {
        False: _slice_statement(target, step.set, step.where, after=False),
        True: _slice_statement(target, step.set, step.where, after=True),
    }
    size, done, started = step.batch_size, 0, time.monotonic()
    tries = retries.tries
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
                            revision.id,
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
                        f"revision {revision.id} ({revision.at(step.line)}): a slice of "
                        f"{target.schema}.{target.name} "
                        f"failed: {str(error.orig).strip().splitlines()[0]} [SQLSTATE {sqlstate}]"
                        "; `migrate up` continues after the last committed slice"
                    ) from error
                delay = locking.retry_delay_ms(attempt, retries.backoff_ms)
                events(
                    RetryScheduled(
                        revision.id,
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
        events(
            BatchProgress(
                revision.id,
                f"{target.schema}.{target.name}",
                done_before + done,
                done_before + total,
                round(done / elapsed) if elapsed else 0,
                json.dumps(slice_last),
                size,
            )
        )
        if step.target_batch_ms:
            took = (time.monotonic() - slice_started) * 1000
            size = (
                max(100, int(size / 2))
                if took > step.target_batch_ms
                else (int(size * 1.5) if took < step.target_batch_ms / 2 else size)
            )
        if step.pause:
            time.sleep(step.pause)
        replicas.wait(connection, events, revision.id)
