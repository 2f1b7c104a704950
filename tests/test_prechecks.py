"""Prechecks: before `up` runs a statement that adds a constraint over existing rows, it counts
the rows that would violate it, read-only, and stops naming them; `plan --check-data` shows the
same counts. The derivation is tested from SQL alone; the counting on a real PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import add_revision, applied_versions, connection_to, head_of, run_migrate
from sqlalchemy.engine import URL

from migrator.model import prechecks
from migrator.model.prechecks import Place, Precheck, Skipped
from migrator.model.sql import parse

REVISION = "20240701_001"
ORDERS = (
    "CREATE SCHEMA erp; "
    "CREATE TABLE erp.orders (id int PRIMARY KEY, amount numeric, note text, customer int); "
    "INSERT INTO erp.orders VALUES (1, 5, 'a', 1), (2, -1, NULL, 9), (3, -2, 'a', NULL); "
)


class Catalog:
    """A target in which every table exists with primary key `id`, and no column or
    constraint is known; the derivation needs no more of it."""

    def __init__(self, definitions: dict[str, str] | None = None) -> None:
        self.definitions = definitions or {}

    def exists(self, relation: str) -> bool:
        return True

    def has_column(self, relation: str, column: str) -> bool:
        return False

    def key_columns(self, relation: str) -> tuple[str, ...]:
        return ("id",)

    def constraint_definition(self, relation: str, name: str) -> str | None:
        return self.definitions.get(name)


def derived(body: str, catalog: Catalog | None = None) -> list[Precheck | Skipped]:
    statements = [(Place("r", "f.py", n), raw.stmt) for n, raw in enumerate(parse(body), 1)]
    return [found for _, found in prechecks.prechecks(statements, catalog or Catalog())]


def test_a_check_counts_the_rows_where_its_expression_is_false() -> None:
    [check] = derived("ALTER TABLE erp.orders ADD CONSTRAINT positive CHECK (amount >= 0);")
    assert isinstance(check, Precheck)
    assert check.description == "CHECK (amount >= 0) on erp.orders"
    assert check.count_query == 'SELECT count(*) FROM "erp"."orders" WHERE NOT (amount >= 0)'
    assert check.examples_query == (
        'SELECT "id" FROM "erp"."orders" WHERE NOT (amount >= 0) ORDER BY "id" LIMIT 5'
    )


def test_set_not_null_counts_the_nulls() -> None:
    [check] = derived("ALTER TABLE erp.orders ALTER COLUMN note SET NOT NULL;")
    assert (check.constraint_kind, check.description) == (
        "NOT NULL",
        "NOT NULL (note) on erp.orders",
    )
    assert isinstance(check, Precheck) and check.count_query.endswith('WHERE "note" IS NULL')


def test_a_not_null_column_without_a_default_counts_every_row() -> None:
    [check] = derived("ALTER TABLE erp.orders ADD COLUMN IF NOT EXISTS code text NOT NULL;")
    assert isinstance(check, Precheck) and check.count_query.endswith("WHERE true")


def test_a_not_null_column_with_a_default_has_no_precheck() -> None:
    assert derived("ALTER TABLE erp.orders ADD COLUMN code text NOT NULL DEFAULT 'x';") == []


def test_unique_counts_the_rows_that_share_their_key() -> None:
    [check] = derived("ALTER TABLE erp.orders ADD UNIQUE (note, customer);")
    assert check.description == "UNIQUE (note, customer) on erp.orders"
    assert isinstance(check, Precheck)
    assert "GROUP BY 1, 2 HAVING count(*) > 1" in check.count_query


def test_a_primary_key_counts_null_keys_too() -> None:
    [check] = derived("ALTER TABLE erp.orders ADD PRIMARY KEY (note);")
    assert isinstance(check, Precheck)
    assert check.count_query.startswith(
        'SELECT count(*) FROM "erp"."orders" WHERE ("note") IS NULL OR'
    )


def test_a_foreign_key_without_columns_references_the_primary_key() -> None:
    [check] = derived("ALTER TABLE erp.orders ADD FOREIGN KEY (customer) REFERENCES crm.customers;")
    assert check.description == "FOREIGN KEY (customer) REFERENCES crm.customers (id) on erp.orders"


def test_a_unique_index_keeps_its_expressions_and_its_predicate() -> None:
    [check] = derived("CREATE UNIQUE INDEX o ON erp.orders (lower(note)) WHERE amount > 0;")
    assert check.description == "UNIQUE INDEX o (lower(note)) on erp.orders"
    assert isinstance(check, Precheck)
    assert "SELECT lower(note) AS" in check.count_query and "WHERE amount > 0" in check.count_query


def test_validate_checks_what_not_valid_added_earlier_in_the_plan() -> None:
    body = (
        "ALTER TABLE erp.orders ADD CONSTRAINT positive CHECK (amount >= 0) NOT VALID;"
        "ALTER TABLE erp.orders VALIDATE CONSTRAINT positive;"
    )
    [check] = derived(body)
    assert check.description == "VALIDATE CONSTRAINT positive (CHECK (amount >= 0)) on erp.orders"


def test_validate_checks_the_definition_the_catalog_holds() -> None:
    catalog = Catalog({"positive": "CHECK ((amount >= (0)::numeric)) NOT VALID"})
    [check] = derived("ALTER TABLE erp.orders VALIDATE CONSTRAINT positive;", catalog)
    assert isinstance(check, Precheck)
    assert check.count_query.endswith("WHERE NOT (amount >= CAST(0 AS numeric))")


def test_a_constraint_added_not_valid_has_no_precheck() -> None:
    assert derived("ALTER TABLE erp.orders ADD CHECK (amount >= 0) NOT VALID;") == []


def test_a_table_the_plan_creates_first_is_skipped_as_new() -> None:
    body = "CREATE TABLE erp.lines (qty int); ALTER TABLE erp.lines ADD CHECK (qty > 0);"
    [check] = derived(body)
    assert isinstance(check, Skipped) and check.reason == prechecks.NEW_TABLE


def test_a_do_block_that_updates_the_table_counts_as_changing_its_rows() -> None:
    body = (
        "DO $$ BEGIN IF true THEN UPDATE erp.orders SET note = ''; END IF; END $$;"
        "ALTER TABLE erp.orders ALTER note SET NOT NULL;"
    )
    [check] = derived(body)
    assert isinstance(check, Skipped) and "changes the rows of erp.orders" in check.reason


def test_a_table_whose_rows_the_plan_changes_first_is_skipped() -> None:
    body = (
        "UPDATE erp.orders SET note = '' WHERE note IS NULL;"
        "ALTER TABLE erp.orders ALTER note SET NOT NULL;"
    )
    [check] = derived(body)
    assert isinstance(check, Skipped)
    assert check.reason == "the plan changes the rows of erp.orders first, at f.py:1"


def _prepared(url: URL, project: Path, setup: str, upgrade: str) -> None:
    """Rows in the target (outside any revision), and a revision of erp adding a constraint."""
    with connection_to(url) as connection:
        connection.exec_driver_sql(setup)
        connection.commit()
    add_revision(project, "erp", REVISION, down_revision=head_of("erp"), upgrade=upgrade)


def _unchanged(url: URL) -> bool:
    """Nothing of the run happened: no version row, no audit table, none of erp's tables."""
    with connection_to(url) as connection:
        created = connection.exec_driver_sql(
            "SELECT to_regclass('erp.products'), to_regclass('migrator.migration_history')"
        ).one()
    return applied_versions(url) == set() and created == (None, None)


def test_up_stops_before_any_lock_when_rows_violate_a_new_check(
    database_url: URL, project: Path
) -> None:
    upgrade = "ALTER TABLE erp.orders ADD CONSTRAINT positive CHECK (amount >= 0);"
    _prepared(database_url, project, ORDERS, upgrade)
    result = run_migrate("up", url=database_url, project=project)
    assert result.exit_code == 1
    assert (
        f"error: revision {REVISION} (services/erp/versions/{REVISION}_erp_test.py:17): CHECK "
        "(amount >= 0) on erp.orders would fail: 2 row(s) violate it, e.g. id=2, id=3; fix the "
        "rows or add the constraint NOT VALID and VALIDATE it after cleaning\n"
    ) in result.output
    assert _unchanged(database_url)


@pytest.mark.parametrize(
    ("setup", "upgrade", "found"),
    [
        (
            "",
            "ALTER TABLE erp.orders ALTER COLUMN note SET NOT NULL;",
            "1 row(s) violate it, e.g. id=2;",
        ),
        ("", "ALTER TABLE erp.orders ADD UNIQUE (note);", "2 row(s) violate it, e.g. id=1, id=3;"),
        (
            "ALTER TABLE erp.orders DROP CONSTRAINT orders_pkey;",
            "ALTER TABLE erp.orders ADD PRIMARY KEY (note);",
            "3 row(s) violate it, e.g. ctid=(0,1), ctid=(0,2), ctid=(0,3);",
        ),
        (
            "CREATE TABLE erp.customers (id int PRIMARY KEY); INSERT INTO erp.customers SELECT 1;",
            "ALTER TABLE erp.orders ADD FOREIGN KEY (customer) REFERENCES erp.customers;",
            "1 row(s) violate it, e.g. id=2;",
        ),
        (
            "ALTER TABLE erp.orders ADD CONSTRAINT positive CHECK (amount >= 0) NOT VALID;",
            "ALTER TABLE erp.orders VALIDATE CONSTRAINT positive;",
            "2 row(s) violate it, e.g. id=2, id=3; fix the rows, then VALIDATE it again",
        ),
        ("", "CREATE UNIQUE INDEX CONCURRENTLY o ON erp.orders (lower(note));", "2 row(s)"),
    ],
    ids=["set-not-null", "unique", "primary-key", "foreign-key", "validate", "index"],
)
def test_up_stops_when_rows_violate_the_constraint(
    database_url: URL, project: Path, setup: str, upgrade: str, found: str
) -> None:
    _prepared(database_url, project, ORDERS + setup, upgrade)
    result = run_migrate("up", url=database_url, project=project)
    assert result.exit_code == 1
    assert found in result.output.replace("\n", " ")
    assert _unchanged(database_url)


def test_up_applies_a_constraint_that_every_row_satisfies(database_url: URL, project: Path) -> None:
    upgrade = "ALTER TABLE erp.orders ADD CONSTRAINT known CHECK (id > 0);"
    _prepared(database_url, project, ORDERS, upgrade)
    result = run_migrate("up", "--service", "erp", url=database_url, project=project)
    assert result.exit_code == 0, result.output
    assert REVISION in applied_versions(database_url)


def test_skip_data_checks_leaves_the_constraint_to_postgresql(
    database_url: URL, project: Path
) -> None:
    upgrade = "ALTER TABLE erp.orders ADD CONSTRAINT positive CHECK (amount >= 0);"
    _prepared(database_url, project, ORDERS, upgrade)
    result = run_migrate(
        "up", "--skip-data-checks", "--service", "erp", url=database_url, project=project
    )
    assert result.exit_code == 1
    assert "23514" in result.output  # check_violation, from the run itself
    assert head_of("erp") in applied_versions(database_url)


def test_a_precheck_runs_read_only(database_url: URL, project: Path) -> None:
    setup = (
        "CREATE FUNCTION erp.noisy(numeric) RETURNS boolean LANGUAGE sql AS "
        "$$ INSERT INTO erp.orders VALUES (99, 0, 'x', 1); SELECT $1 >= 0 $$;"
    )
    upgrade = "ALTER TABLE erp.orders ADD CONSTRAINT positive CHECK (erp.noisy(amount));"
    _prepared(database_url, project, ORDERS + setup, upgrade)
    result = run_migrate("up", url=database_url, project=project)
    assert result.exit_code == 1
    assert "cannot execute INSERT in a read-only transaction" in result.output.replace("\n", " ")
    assert _unchanged(database_url)


def test_a_precheck_stops_at_the_statement_timeout(database_url: URL, project: Path) -> None:
    upgrade = "ALTER TABLE erp.orders ADD CHECK (amount >= 0 OR pg_sleep(1) IS NULL);"
    _prepared(database_url, project, ORDERS, upgrade)
    result = run_migrate("up", "--statement-timeout", "50ms", url=database_url, project=project)
    assert result.exit_code == 1
    assert "canceling statement due to statement timeout" in result.output.replace("\n", " ")
    assert _unchanged(database_url)


def test_plan_check_data_reports_the_count_and_exits_1(database_url: URL, project: Path) -> None:
    upgrade = "ALTER TABLE erp.orders ADD CONSTRAINT positive CHECK (amount >= 0);"
    _prepared(database_url, project, ORDERS, upgrade)
    result = run_migrate(
        "plan", "--check-data", "--json", "--service", "erp", url=database_url, project=project
    )
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["prechecks"] == [
        {
            "revision": REVISION,
            "file": f"services/erp/versions/{REVISION}_erp_test.py",
            "line": 17,
            "table": "erp.orders",
            "kind": "CHECK",
            "constraint": "CHECK (amount >= 0) on erp.orders",
            "violations": 2,
            "examples": ["id=2", "id=3"],
            "skipped": None,
        }
    ]


def test_plan_check_data_skips_a_check_on_a_column_the_plan_adds_first(
    database_url: URL, project: Path
) -> None:
    upgrade = (
        "ALTER TABLE erp.orders ADD COLUMN IF NOT EXISTS qty int DEFAULT 1;"
        "ALTER TABLE erp.orders ADD CHECK (qty > 0);"
    )
    _prepared(database_url, project, ORDERS, upgrade)
    result = run_migrate(
        "plan", "--check-data", "--service", "erp", url=database_url, project=project
    )
    assert result.exit_code == 0, result.output
    assert (
        "CHECK (qty > 0) on erp.orders: not checked, it refers to what the plan creates first "
        '(column "qty" does not exist)'
    ) in " ".join(result.output.split())
