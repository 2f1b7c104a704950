"""Alembic's version table, kept by the tool's own loop exactly as Alembic keeps it.

The table holds the heads of what is applied: a revision replaces the parents it builds on
(its down_revision and its depends_on) and, when rolled back, gives way to those of its parents
nothing else applied still needs. `migrate` applies revisions itself, one transaction each, so
it writes the table itself, in the same transaction as the revision and its history row, with
one prepared statement (`try_rows`); plain `alembic` reaches the same code through env.py, so
both leave the same rows. The table is created as Alembic creates it, so each tool reads what
the other wrote.
"""

from __future__ import annotations

from migrator.database import VERSION_TABLE
from migrator.model.graph import RevisionGraph


def create_sql(schema: str) -> str:
    """Alembic's own definition of its table (`MigrationContext._ensure_version_table`)."""
    return (
        f'CREATE TABLE IF NOT EXISTS "{schema}".{VERSION_TABLE} (version_num VARCHAR(32) NOT NULL, '
        f"CONSTRAINT {VERSION_TABLE}_pkc PRIMARY KEY (version_num))"
    )


class Heads:
    """The version table's rows as the run moves them, and what it has applied."""

    def __init__(self, graph: RevisionGraph, heads: tuple[str, ...]) -> None:
        self.graph = graph
        self.heads = set(heads)
        self.applied = graph.ancestors(heads)

    def after(self, revision: str, direction: str) -> tuple[list[str], list[str]]:
        """The rows that go and the rows that come when `revision` is applied or rolled
        back; the run's view moves with them."""
        parents = self.graph[revision].parents
        if direction == "upgrade":
            gone = sorted(self.heads.intersection(parents))
            come = [revision]
            self.applied.add(revision)
        else:
            self.applied.discard(revision)
            gone = [revision] if revision in self.heads else []
            come = sorted(
                parent
                for parent in set(parents)
                if parent in self.applied
                and not self.graph.children(parent) & self.applied
                and parent not in self.heads
            )
        self.heads.difference_update(gone)
        self.heads.update(come)
        return gone, come

    def undo(self, revision: str, direction: str, moved: tuple[list[str], list[str]]) -> None:
        """Take back `after`: the revision's transaction rolled back."""
        gone, come = moved
        self.heads.difference_update(come)
        self.heads.update(gone)
        if direction == "upgrade":
            self.applied.discard(revision)
        else:
            self.applied.add(revision)


def moves(gone: str, come: str, schema: str) -> str:
    """The two common table expressions that take the rows `gone` (an array of versions)
    out of the table and put the rows `come` in; the statement they open does the rest."""
    table = f'"{schema}".{VERSION_TABLE}'
    return (
        f"gone AS (DELETE FROM {table} WHERE version_num = ANY({gone})), "
        f"came AS (INSERT INTO {table} (version_num) SELECT unnest({come}))"
    )
