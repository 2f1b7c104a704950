"""Splitting and classifying SQL with PostgreSQL's parser."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.model import sql


def test_semicolons_inside_strings_and_function_bodies_do_not_split() -> None:
    body = """
    INSERT INTO t VALUES ('a;b');
    CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$;
    """

    statements = sql.split(body)

    assert [s.first_line for s in statements] == [
        "INSERT INTO t VALUES ('a;b')",
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$",
    ]


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE INDEX CONCURRENTLY i ON t (a)",
        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON s.t (a)",
        "DROP INDEX CONCURRENTLY IF EXISTS s.i",
        "REINDEX INDEX CONCURRENTLY s.i",
        "VACUUM s.t",
        "ALTER TABLE p DETACH PARTITION c CONCURRENTLY",
        "CREATE DATABASE x",
        "ALTER SYSTEM SET work_mem = '8MB'",
    ],
)
def test_statements_postgresql_refuses_in_a_transaction_run_outside_one(statement: str) -> None:
    assert sql.split(statement)[0].transactional is False


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE INDEX i ON t (a)",
        "ANALYZE t",
        "REINDEX TABLE t",
        "REFRESH MATERIALIZED VIEW CONCURRENTLY m",
        "ALTER TABLE p DETACH PARTITION c",
        "-- CREATE INDEX CONCURRENTLY in a comment\nCREATE INDEX i ON t (a)",
    ],
)
def test_ordinary_statements_stay_in_the_transaction(statement: str) -> None:
    assert sql.split(statement)[0].transactional is True


@pytest.mark.parametrize("control", ["BEGIN", "COMMIT", "ROLLBACK", "START TRANSACTION"])
def test_transaction_control_in_a_body_is_refused(control: str) -> None:
    with pytest.raises(sql.SqlError, match="controls transactions"):
        sql.split(f"SELECT 1;\n{control};")


def test_a_syntax_error_names_its_line() -> None:
    with pytest.raises(sql.SqlError, match="line 3: SQL does not parse"):
        sql.split("SELECT 1;\n\nSELEC 2;")


# Any text a UTF-8 revision file can hold: no lone surrogates, no NUL, no closing quote.
LITERAL_CHARACTERS = st.characters(blacklist_categories=("Cs",), blacklist_characters="'\x00")


@given(st.lists(st.text(alphabet=LITERAL_CHARACTERS, max_size=20), max_size=8))
def test_any_string_literals_split_into_one_statement_each(literals: list[str]) -> None:
    body = ";\n".join(f"SELECT '{literal}'" for literal in literals)

    statements = sql.split(body)

    assert [s.text for s in statements] == [f"SELECT '{literal}'" for literal in literals]
