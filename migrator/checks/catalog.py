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
    "views": """
        SELECT schemaname, viewname, definition FROM pg_views WHERE schemaname = ANY(:schemas)
        UNION ALL
        SELECT schemaname, matviewname, definition FROM pg_matviews
        WHERE schemaname = ANY(:schemas)
    """,
    "functions": """
        SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid),
               pg_get_functiondef(p.oid)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = ANY(:schemas) AND p.prokind IN ('f', 'p')
    """,
    "triggers": """
        SELECT n.nspname, c.relname, t.tgname, pg_get_triggerdef(t.oid)
        FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY(:schemas) AND NOT t.tgisinternal
    """,
    "sequences": """
        SELECT schemaname, sequencename, data_type::text, increment_by::text, cycle::text
        FROM pg_sequences WHERE schemaname = ANY(:schemas)
    """,
}


def snapshot(connection: Connection, schemas: Iterable[str]) -> Snapshot:
    """Every schema, column, constraint, index, view, function, trigger and sequence of the
    given schemas, sorted."""
    wanted = list(schemas)
    result: Snapshot = {}
    for kind, query in _QUERIES.items():
        rows = connection.execute(text(query), {"schemas": wanted}).all()
        result[kind] = sorted(tuple(str(value) for value in row) for row in rows)
    return result


def differences(
    before: Snapshot, after: Snapshot, first: str = "the first", second: str = "the second"
) -> list[str]:
    """One line per object present in one snapshot and not (or not so) in the other."""
    lines = []
    for kind in _QUERIES:
        old, new = set(before.get(kind, [])), set(after.get(kind, []))
        lines += [f"{kind}: only in {first}: {' '.join(row)}" for row in sorted(old - new)]
        lines += [f"{kind}: only in {second}: {' '.join(row)}" for row in sorted(new - old)]
    return lines


# How each kind of row splits into the object's name (its first `width` values, shown from
# `shown`: a constraint's table already names its schema) and what is compared about it.
_SHAPES: dict[str, tuple[str, int, int, tuple[str, ...]]] = {
    "schemas": ("schema", 1, 0, ()),
    "columns": ("column", 3, 0, ("type", "not null", "default")),
    "constraints": ("constraint", 3, 1, ("kind", "definition", "validated")),
    "indexes": ("index", 2, 0, ("definition", "valid")),
    "views": ("view", 2, 0, ("definition",)),
    "functions": ("function", 3, 0, ("definition",)),
    "triggers": ("trigger", 3, 0, ("definition",)),
    "sequences": ("sequence", 2, 0, ("type", "increment", "cycle")),
}


def object_differences(
    expected: Snapshot, actual: Snapshot, expected_name: str, actual_name: str
) -> list[str]:
    """One line per object that differs: which object, and what about it."""
    lines = []
    for kind, (label, width, shown, fields) in _SHAPES.items():
        left = {row[:width]: row[width:] for row in expected.get(kind, [])}
        right = {row[:width]: row[width:] for row in actual.get(kind, [])}
        for key in sorted(left.keys() | right.keys()):
            name = ".".join(part for part in key[shown:] if part)
            if key not in right:
                lines.append(f"{label} {name}: only in {expected_name}")
            elif key not in left:
                lines.append(f"{label} {name}: only in {actual_name}")
            elif left[key] != right[key]:
                changed = [
                    f"{field} {' '.join(str(a).split())!r} in {expected_name}, "
                    f"{' '.join(str(b).split())!r} in {actual_name}"
                    for field, a, b in zip(fields, left[key], right[key], strict=True)
                    if a != b
                ]
                lines.append(f"{label} {name}: {'; '.join(changed)}")
    return lines
