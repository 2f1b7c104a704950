"""A comparable snapshot of the services' schemas, read from PostgreSQL's catalog.

Two databases built by different paths (plain Alembic and `migrate`, offline SQL through psql,
an upgrade followed by a downgrade) must be compared object by object; the server's own
renderings (`format_type`, `pg_get_constraintdef`, `pg_get_indexdef`) make that comparison
independent of how the SQL was written. The tool's own schema is left out.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, text

Snapshot = dict[str, list[tuple[str, ...]]]

_QUERIES = {
    "schemas": """
        SELECT n.nspname FROM pg_namespace n WHERE n.nspname = ANY(:schemas)
    """,
    "columns": """
        SELECT c.relnamespace::regnamespace::text, c.relname, a.attname,
               format_type(a.atttypid, a.atttypmod), a.attnotnull::text,
               coalesce(pg_get_expr(d.adbin, d.adrelid), '')
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.relnamespace::regnamespace::text = ANY(:schemas)
          AND c.relkind IN ('r', 'p', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped
    """,
    "constraints": """
        SELECT c.connamespace::regnamespace::text, c.conrelid::regclass::text, c.conname,
               c.contype::text, pg_get_constraintdef(c.oid), c.convalidated::text
        FROM pg_constraint c
        WHERE c.connamespace::regnamespace::text = ANY(:schemas)
    """,
    "indexes": """
        SELECT n.nspname, i.relname, pg_get_indexdef(i.oid), x.indisvalid::text
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_namespace n ON n.oid = i.relnamespace
        WHERE n.nspname = ANY(:schemas)
    """,
}


def snapshot(connection: Connection, schemas: Iterable[str]) -> Snapshot:
    """Every schema, column, constraint and index of the given schemas, sorted."""
    wanted = list(schemas)
    result: Snapshot = {}
    for kind, query in _QUERIES.items():
        rows = connection.execute(text(query), {"schemas": wanted}).all()
        result[kind] = sorted(tuple(str(value) for value in row) for row in rows)
    return result


def differences(before: Snapshot, after: Snapshot) -> list[str]:
    """One line per object present in one snapshot and not (or not so) in the other."""
    lines = []
    for kind in _QUERIES:
        old, new = set(before.get(kind, [])), set(after.get(kind, []))
        lines += [f"{kind}: only in the first: {' '.join(row)}" for row in sorted(old - new)]
        lines += [f"{kind}: only in the second: {' '.join(row)}" for row in sorted(new - old)]
    return lines
