"""A service's tables and foreign keys, read from the live catalog and drawn as an entity
relationship diagram (Mermaid `erDiagram` or Graphviz DOT).

The revisions say how a schema was built; what it is now is in the catalog, so the diagram is
read from there. The catalog snapshot (`catalog.py`) keeps each constraint as the server renders
it, which suits comparing two databases; a diagram needs the structure instead (which columns
of which table reference which), so the two queries here ask for that directly. A foreign key
to another service's table is drawn too, that table shown as external with its service's name
and only the columns referenced, since its service's own diagram shows the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from migrator.model import services
from migrator.model.picture import dot_string, mermaid_id

# The service's own tables (partitions are drawn as the table they belong to).
_TABLES = """
    SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p') AND NOT c.relispartition
"""

_FOREIGN_KEYS = f"""
    SELECT cn.nspname::text, c.relname::text, pn.nspname::text, p.relname::text,
           ARRAY(SELECT a.attname::text FROM unnest(f.conkey) WITH ORDINALITY k(num, i)
                 JOIN pg_attribute a ON a.attrelid = f.conrelid AND a.attnum = k.num
                 ORDER BY k.i)
    FROM pg_constraint f
    JOIN pg_class c ON c.oid = f.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace
    JOIN pg_class p ON p.oid = f.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace
    WHERE f.contype = 'f' AND f.conrelid IN ({_TABLES})
    ORDER BY c.relname, f.conname
"""

# Every column of the service's tables, and the referenced columns of other schemas' tables.
# The short type is the type's own name (`varchar`, `timestamptz`, `int8[]`): Mermaid takes no
# spaces or parentheses there; the full type goes in the attribute's comment.
_COLUMNS = f"""
    SELECT n.nspname::text, c.relname::text, a.attname::text,
           format_type(a.atttypid, a.atttypmod),
           CASE WHEN t.typcategory = 'A' THEN e.typname || '[]' ELSE t.typname::text END,
           a.attnotnull,
           coalesce(a.attnum = ANY(pk.conkey), false),
           c.oid IN ({_TABLES})
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_type t ON t.oid = a.atttypid
    LEFT JOIN pg_type e ON e.oid = t.typelem
    LEFT JOIN pg_constraint pk ON pk.conrelid = c.oid AND pk.contype = 'p'
    WHERE a.attnum > 0 AND NOT a.attisdropped
      AND (c.oid IN ({_TABLES})
           OR EXISTS (SELECT FROM pg_constraint f
                      WHERE f.contype = 'f' AND f.confrelid = c.oid
                        AND a.attnum = ANY(f.confkey) AND f.conrelid IN ({_TABLES})))
    ORDER BY 8 DESC, 1, 2, a.attnum
"""


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # as the server formats it: character varying(255)
    short_type: str  # the type's own name: varchar
    not_null: bool
    primary_key: bool


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    columns: tuple[Column, ...]
    external: bool  # another schema's table, shown for a foreign key to it

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class ForeignKey:
    table: str  # schema.table
    columns: tuple[str, ...]
    target: str  # schema.table


@dataclass(frozen=True)
class Diagram:
    tables: tuple[Table, ...]
    foreign_keys: tuple[ForeignKey, ...]

    def table(self, qualified: str) -> Table:
        return next(table for table in self.tables if table.qualified == qualified)


def read(connection: psycopg.Connection, schema: str) -> Diagram:
    """The schema's tables with their columns, and its foreign keys with the tables they
    reference, from the catalog."""
    wanted = {"schema": schema}
    foreign_keys = tuple(
        ForeignKey(f"{s}.{t}", tuple(cols), f"{ps}.{pt}")
        for s, t, ps, pt, cols in connection.execute(_FOREIGN_KEYS, wanted)
    )
    tables: dict[tuple[str, str, bool], list[Column]] = {}
    for table_schema, table, column, full, short, not_null, key, own in connection.execute(
        _COLUMNS, wanted
    ):
        tables.setdefault((table_schema, table, not own), []).append(
            Column(column, full, short, not_null, key)
        )
    return Diagram(
        tuple(
            Table(s, t, tuple(columns), external) for (s, t, external), columns in tables.items()
        ),
        foreign_keys,
    )


def _service_of(schema: str) -> str:
    """`auth-service` for a service's schema; the schema itself for any other."""
    return next((s.display_name for s in services.SERVICES if s.schema == schema), schema)


def _title(table: Table) -> str:
    if table.external:
        return f"{table.qualified} ({_service_of(table.schema)})"
    return table.qualified


def _keys(diagram: Diagram, table: Table, column: Column) -> list[str]:
    keys = ["PK"] if column.primary_key else []
    if any(
        fk.table == table.qualified and column.name in fk.columns for fk in diagram.foreign_keys
    ):
        keys.append("FK")
    return keys


def _plain(text: str) -> str:
    """Text for a quoted string in an erDiagram, which knows no escapes."""
    return text.replace('"', "'")


def _mermaid_type(column: Column) -> str:
    """The short type as an erDiagram word: letters, digits, `_`, `-` and `[]`, a letter first."""
    word = "".join(
        c if c.isascii() and (c.isalnum() or c in "_-[]") else "_" for c in column.short_type
    )
    return word if word[:1].isalpha() else f"t{word}"


def _comment(column: Column) -> str:
    """What the short type leaves out: the full type where it differs, and whether null is
    allowed."""
    parts = [column.type] if column.type != column.short_type else []
    if not column.not_null:
        parts.append("nullable")
    return ", ".join(parts)


def mermaid(diagram: Diagram) -> str:
    """The diagram as a Mermaid erDiagram. A relationship is identifying (solid) when the
    foreign key's columns are part of the table's primary key, and the referenced row is
    optional (`|o`) when a foreign key column may be null."""
    lines = ["erDiagram"]
    for table in diagram.tables:
        name = mermaid_id("", f"{table.schema}_{table.name}")
        lines.append(f'    {name}["{_plain(_title(table))}"] {{')
        for column in table.columns:
            keys = ", ".join(_keys(diagram, table, column))
            entry = f"{_mermaid_type(column)} {mermaid_id('', column.name)}"
            entry += f" {keys}" if keys else ""
            comment = _comment(column)
            lines.append(f'        {entry} "{_plain(comment)}"' if comment else f"        {entry}")
        lines.append("    }")
    for fk in diagram.foreign_keys:
        child = diagram.table(fk.table)
        columns = {column.name: column for column in child.columns}
        optional = any(not columns[name].not_null for name in fk.columns)
        identifying = all(columns[name].primary_key for name in fk.columns)
        parent_name = mermaid_id("", fk.target.replace(".", "_"))
        child_name = mermaid_id("", fk.table.replace(".", "_"))
        line = ("|o" if optional else "||") + ("--" if identifying else "..") + "o{"
        label = _plain(", ".join(fk.columns))
        lines.append(f'    {parent_name} {line} {child_name} : "{label}"')
    return "\n".join(lines) + "\n"


def dot(diagram: Diagram) -> str:
    """The diagram as a Graphviz digraph: a box per table listing its columns, external tables
    dashed, an arrow per foreign key from the referencing table to the referenced one."""
    lines = [
        "digraph erd {",
        "    rankdir=LR;",
        '    node [shape=box, fontname="Helvetica", fontsize=10];',
        '    edge [fontname="Helvetica", fontsize=9];',
    ]
    for table in diagram.tables:
        rows = [_title(table), ""]
        for column in table.columns:
            keys = " ".join(_keys(diagram, table, column))
            rows.append(f"{column.name}: {column.type}{' ' + keys if keys else ''}")
        label = dot_string("\n".join(rows) + "\n", line_end="\\l")
        style = ", style=dashed" if table.external else ""
        lines.append(f"    {dot_string(table.qualified)} [label={label}{style}];")
    for fk in diagram.foreign_keys:
        label = dot_string(", ".join(fk.columns))
        lines.append(f"    {dot_string(fk.table)} -> {dot_string(fk.target)} [label={label}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
