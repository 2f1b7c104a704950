"""A comparable snapshot of the services' schemas, read from PostgreSQL's catalog.

Two databases built by different paths (plain Alembic and `migrate`, offline SQL through psql,
an upgrade followed by a downgrade, a pg_dump restored) must be compared object by object; the
server's own renderings (`format_type`, `pg_get_constraintdef`, `pg_get_indexdef`) make that
comparison independent of how the SQL was written. The tool's own schema is left out.

The server's rendering is not quite enough: it reflects how the expression was parsed, not only
what it means. `status IN ('a', 'b')` on a varchar column is stored as
`(status)::text = ANY ((ARRAY['a'::varchar, 'b'::varchar])::text[])`; pg_dump writes that back
out, and the restored server parses it into `ARRAY[('a'::varchar)::text, ...]`, another tree
and another rendering of the same check; `a BETWEEN 1 AND 9 AND b > 0`, stored as an AND
nested in an AND, comes back as one flat AND. So constraint and index definitions are
normalised with PostgreSQL's own parser (pglast): casts that cannot change the result are
removed, nested AND/OR are flattened, and the parse tree is rendered again. Anything that
changes meaning (a different constant, operator or column, a cast with a length, a cast of a
char(n) column) still differs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pglast
from pglast import ast, enums
from pglast.parser import ParseError
from pglast.stream import RawStream
from sqlalchemy import Connection, text

Snapshot = dict[str, list[tuple[str, ...]]]

_VARCHAR_COLUMNS = """
        ARRAY(SELECT a.attname::text FROM pg_attribute a
              WHERE a.attrelid = {table} AND a.attnum > 0 AND NOT a.attisdropped
                AND a.atttypid = 'pg_catalog.varchar'::regtype)"""

# Where the definition sits in a row of each normalised kind.
_DEFINITION_AT = {"constraints": 4, "indexes": 2}

# Schemas are matched by pg_namespace.nspname: `regnamespace::text` quotes a name that needs
# it (`"user"`), which would never equal the service's schema name.
_QUERIES = {
    "schemas": """
        SELECT n.nspname FROM pg_namespace n WHERE n.nspname = ANY(:schemas)
    """,
    "columns": """
        SELECT n.nspname, c.relname, a.attname,
               format_type(a.atttypid, a.atttypmod), a.attnotnull::text,
               coalesce(pg_get_expr(d.adbin, d.adrelid), '')
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname = ANY(:schemas)
          AND c.relkind IN ('r', 'p', 'v', 'm') AND a.attnum > 0 AND NOT a.attisdropped
    """,
    # The last value of a constraint's and an index's row is not kept: it names the table's
    # varchar columns, which the normalisation needs (see normalised_definition).
    "constraints": f"""
        SELECT n.nspname, c.conrelid::regclass::text, c.conname,
               c.contype::text, pg_get_constraintdef(c.oid), c.convalidated::text,
               {_VARCHAR_COLUMNS.format(table="c.conrelid")}
        FROM pg_constraint c
        JOIN pg_namespace n ON n.oid = c.connamespace
        WHERE n.nspname = ANY(:schemas)
    """,
    "indexes": f"""
        SELECT n.nspname, i.relname, pg_get_indexdef(i.oid), x.indisvalid::text,
               {_VARCHAR_COLUMNS.format(table="x.indrelid")}
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
        rows = [tuple(row) for row in connection.execute(text(query), {"schemas": wanted})]
        if kind in _DEFINITION_AT:
            at = _DEFINITION_AT[kind]
            rows = [
                (
                    *row[:at],
                    normalised_definition(row[at], varchar_columns=row[-1]),
                    *row[at + 1 : -1],
                )
                for row in rows
            ]
        result[kind] = sorted(tuple(str(value) for value in row) for row in rows)
    return result


def normalised_definition(definition: str, varchar_columns: Sequence[str] = ()) -> str:
    """What a constraint (`pg_get_constraintdef`) or an index (`pg_get_indexdef`) means, as
    one text: parsed, stripped of casts that cannot change the result, nested AND/OR
    flattened, and rendered again by pglast. `varchar_columns` are the table's varchar
    columns, whose `::text` cast in a comparison with string constants changes nothing.

    A definition that does not parse (a form newer than pglast) is kept as the server wrote
    it: both sides of a comparison then still agree when they are written the same."""
    try:
        if definition.startswith("CREATE "):
            [raw] = pglast.parse_sql(definition)
            node: ast.Node = raw.stmt
        else:
            [raw] = pglast.parse_sql(f"ALTER TABLE t ADD {definition}")
            node = raw.stmt.cmds[0].def_
    except (ParseError, ValueError, AttributeError, IndexError):
        return definition
    return RawStream()(_simplified(node, frozenset(varchar_columns)))


# Types whose cast of a string constant yields the same string (without a length: varchar(3)
# truncates), spelled as the parser names them.
_STRING_TYPES = {("text",), ("pg_catalog", "text"), ("varchar",), ("pg_catalog", "varchar")}


def _string_type(type_name: ast.TypeName) -> tuple[bool, bool]:
    """(a plain varchar or text, an array of one): casts to these keep a string's value."""
    names = tuple(part.sval for part in type_name.names or ())
    plain = names in _STRING_TYPES and not type_name.typmods and not type_name.setof
    bounds = type_name.arrayBounds or ()
    return plain and not bounds, plain and len(bounds) == 1


def _is_string_constant(node: object) -> bool:
    return isinstance(node, ast.A_Const) and isinstance(node.val, ast.String)


def _are_string_constants(node: object) -> bool:
    """A string constant, or an ARRAY[...] of them: what an `IN` list becomes."""
    if isinstance(node, ast.A_ArrayExpr):
        return all(_is_string_constant(element) for element in node.elements or ())
    return _is_string_constant(node)


def _varchar_column(node: object, varchar_columns: frozenset[str]) -> bool:
    """`x::text` where x is a varchar column: the same value, compared the same way."""
    if not (isinstance(node, ast.TypeCast) and isinstance(node.arg, ast.ColumnRef)):
        return False
    scalar, _ = _string_type(node.typeName)
    field = (node.arg.fields or ())[-1]
    return scalar and isinstance(field, ast.String) and field.sval in varchar_columns


def _simplified(node: ast.Node, varchar_columns: frozenset[str]) -> ast.Node:
    """The node with its children simplified first, then itself: a cast of a constant to
    varchar and then to text loses both, and an ARRAY cast is judged on constants already
    bare."""
    for name in node:
        value = getattr(node, name)
        if isinstance(value, ast.Node):
            setattr(node, name, _simplified(value, varchar_columns))
        elif isinstance(value, tuple):
            setattr(
                node,
                name,
                tuple(
                    _simplified(item, varchar_columns) if isinstance(item, ast.Node) else item
                    for item in value
                ),
            )
    if isinstance(node, ast.TypeCast):
        scalar, array = _string_type(node.typeName)
        if (scalar and _is_string_constant(node.arg)) or (
            array and isinstance(node.arg, ast.A_ArrayExpr) and _are_string_constants(node.arg)
        ):
            return node.arg
    elif isinstance(node, ast.BoolExpr) and node.boolop != enums.BoolExprType.NOT_EXPR:
        flattened: list[ast.Node] = []
        for argument in node.args or ():
            if isinstance(argument, ast.BoolExpr) and argument.boolop == node.boolop:
                flattened.extend(argument.args or ())
            else:
                flattened.append(argument)
        node.args = tuple(flattened)
    elif isinstance(node, ast.A_Expr):
        if _varchar_column(node.lexpr, varchar_columns) and _are_string_constants(node.rexpr):
            node.lexpr = node.lexpr.arg
        elif _varchar_column(node.rexpr, varchar_columns) and _are_string_constants(node.lexpr):
            node.rexpr = node.rexpr.arg
    elif isinstance(node, ast.Constraint):
        node.conname = None  # the row names the constraint already
    return node


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
