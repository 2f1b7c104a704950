"""The two statements every try of a revision writes, prepared once per run.

A try opens with its `running` history row and, when it succeeds, ends with one statement that
moves the version table and closes that row, in the revision's own transaction, so the version
table and the history can never disagree. Both are the same for every revision of a run but for
a few values, so they are prepared on the server when the run starts (`PREPARE`) and each try
sends only `EXECUTE` with its values. That keeps a try's text short enough to go to the server
with the revision's statements as one batch, and spares the server planning the same insert a
thousand times. Both take their times from the server's clock, the one that saw the try's
statements run. What is the same for the whole run (its id, who runs it, the note) is written
into the prepared text; the rest is quoted by libpq (`PQescapeLiteral`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable

from migrator.run import history, version_table
from migrator.run.history import Attempt, Identity

# Quotes one value as an SQL literal, as the connection's libpq does.
Quote = Callable[[str], str]


class TryRows:
    """The prepared statements of one run, on one session."""

    def __init__(
        self, schema: str, run_id: uuid.UUID, who: Identity, note: str | None, quote: Quote
    ) -> None:
        self.schema = schema
        self.quote = quote
        self.name = f"migrator_{run_id.hex[:12]}"
        table = f'"{schema}".{history.HISTORY_TABLE}'
        constants = {
            "run_id": f"{quote(str(run_id))}::uuid",
            "os_user": quote(who.os_user),
            "host": quote(who.host),
            "tool_version": quote(who.tool_version),
            "environment": quote(who.environment),
            "note": quote(note) if note is not None else "NULL",
        }
        self._prepare = [
            f"PREPARE {self.name}_open (text, text, text, integer, text) AS "
            f"INSERT INTO {table} (revision, service, direction, started_at, finished_at, "
            f"duration_ms, outcome, attempt, checksum, {', '.join(constants)}) "
            "VALUES ($1, $2, $3, clock_timestamp(), clock_timestamp(), 0, 'running', $4, $5, "
            f"{', '.join(constants.values())})",
            f"PREPARE {self.name}_finish (varchar[], varchar[], text, integer) AS "
            f"WITH {version_table.moves('$1', '$2', schema)} "
            f"UPDATE {table} SET finished_at = clock_timestamp(), outcome = 'success', "
            "duration_ms = round(extract(epoch FROM clock_timestamp() - started_at) * 1000) "
            f"WHERE run_id = {constants['run_id']} AND revision = $3 AND attempt = $4 "
            "AND outcome = 'running'",
        ]

    def prepare(self) -> list[str]:
        return list(self._prepare)

    def deallocate(self) -> list[str]:
        return [f"DEALLOCATE {self.name}_open", f"DEALLOCATE {self.name}_finish"]

    def opening(self, attempt: Attempt) -> str:
        """The try's `running` row."""
        values = (
            self._text(attempt.revision),
            self._text(attempt.service),
            self._text(attempt.direction),
            str(int(attempt.attempt)),
            self._text(attempt.checksum),
        )
        return f"EXECUTE {self.name}_open ({', '.join(values)})"

    def finishing(self, attempt: Attempt, gone: Iterable[str], come: Iterable[str]) -> str:
        """The version table moved and the try's row closed as a success."""
        values = (
            self._array(gone),
            self._array(come),
            self._text(attempt.revision),
            str(int(attempt.attempt)),
        )
        return f"EXECUTE {self.name}_finish ({', '.join(values)})"

    def _text(self, value: str | None) -> str:
        return "NULL" if value is None else self.quote(value)

    def _array(self, values: Iterable[str]) -> str:
        return f"ARRAY[{', '.join(self.quote(value) for value in values)}]::varchar[]"
