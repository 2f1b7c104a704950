"""Seeds leave every service's data valid: what the revisions' own validations and the
schemas' constraints demand of a table holds for the rows the seeds put in it.

Seeds load after every `up`, after the backfills: a seed row the backfill never saw must
already look the way the backfill would have left it. The validations are read from the
revision model, as the runner reads them, so a new backfill is checked here without a change.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import PROJECT_ROOT, SERVICE_SCHEMAS, connection_to, run_migrate
from sqlalchemy import Connection
from sqlalchemy.engine import URL

from migrator.model import services
from migrator.model.graph import RevisionGraph
from migrator.model.revision import BackfillStep
from migrator.ops import seeds

ENVIRONMENTS = ("development", "staging")
# The services whose data staging needs: roles and the smoke-test account, the product
# catalogue, the email templates, the workflow definitions and the baseline security policy.
STAGING_SEEDED = ("auth", "erp", "email", "workflow", "inosec_core")

_CHECKS = """
    SELECT c.conrelid::regclass::text, c.conname, pg_get_expr(c.conbin, c.conrelid)
    FROM pg_constraint c
    WHERE c.contype = 'c' AND c.connamespace::regnamespace::text = ANY(%(schemas)s)
    ORDER BY 1, 2
"""
_NOT_VALID = """
    SELECT c.conrelid::regclass::text, quote_ident(c.conname)
    FROM pg_constraint c
    WHERE NOT c.convalidated AND c.connamespace::regnamespace::text = ANY(%(schemas)s)
    ORDER BY 1, 2
"""


def _backfills() -> list[tuple[str, BackfillStep]]:
    """Every backfill any revision's upgrade declares, with its revision's id."""
    graph = RevisionGraph.load(PROJECT_ROOT)
    return [
        (revision.id, step)
        for revision in graph.revisions.values()
        for step in revision.upgrade
        if isinstance(step, BackfillStep)
    ]


def _seeded_services(environment: str) -> list[str]:
    return [path.parent.parent.name for path in seeds.seed_files(PROJECT_ROOT, environment)]


def _seeded(project: Path, url: URL, environment: str) -> None:
    result = run_migrate("up", "--env", environment, project=project, url=url)
    assert result.exit_code == 0, result.output
    # Every seed file of the environment loads on a database at head.
    loaded = ", ".join(_seeded_services(environment))
    assert f"seeds ({environment}) loaded for {loaded}\n" in result.output


def _verbatim(connection: Connection) -> Connection:
    """SQL sent as written: a `%` in a regular expression is no parameter."""
    return connection.execution_options(no_parameters=True)


def _rows_the_validations_reject(connection: Connection) -> list[str]:
    """One line per `validate_empty` that finds rows and per `validate_count` that the
    backfill's UPDATE, run again over the seeded rows, would change (rolled back)."""
    rejected = []
    verbatim = _verbatim(connection)
    for revision, step in _backfills():
        if step.validate_empty:
            offending = verbatim.exec_driver_sql(
                f"SELECT count(*) FROM ({step.validate_empty}) AS offending"
            ).scalar()
            if offending:
                rejected.append(f"{revision}: {offending} row(s) for {step.validate_empty}")
        if step.validate_count:
            with connection.begin_nested() as savepoint:
                before = verbatim.exec_driver_sql(step.validate_count).scalar()
                [update] = step.statements
                verbatim.exec_driver_sql(update.text)
                after = verbatim.exec_driver_sql(step.validate_count).scalar()
                savepoint.rollback()
            if before != after:
                rejected.append(f"{revision}: {step.validate_count} from {before} to {after}")
    return rejected


def _rows_the_checks_reject(connection: Connection) -> list[str]:
    """One line per CHECK constraint that a row fails (NULL passes, as in PostgreSQL)."""
    rejected = []
    checks = connection.exec_driver_sql(_CHECKS, {"schemas": SERVICE_SCHEMAS}).all()
    for table, name, expression in checks:
        failing = (
            _verbatim(connection)
            .exec_driver_sql(f"SELECT count(*) FROM {table} WHERE NOT ({expression})")
            .scalar()
        )
        if failing:
            rejected.append(f"{table}.{name}: {failing} row(s)")
    return rejected


def _not_valid_constraints_that_fail(connection: Connection) -> list[str]:
    """One line per NOT VALID constraint that VALIDATE CONSTRAINT would refuse; every
    validation is rolled back, so the schema stays as the migrations left it."""
    failing = []
    constraints = connection.exec_driver_sql(_NOT_VALID, {"schemas": SERVICE_SCHEMAS}).all()
    for table, name in constraints:
        savepoint = connection.begin_nested()
        try:
            connection.exec_driver_sql(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")
        except Exception as error:  # any refusal is the finding
            failing.append(f"{table}.{name}: {str(getattr(error, 'orig', error)).splitlines()[0]}")
        finally:
            savepoint.rollback()
    return failing


def test_every_service_has_development_seeds() -> None:
    assert _seeded_services("development") == [service.name for service in services.SERVICES]


def test_the_services_staging_needs_have_staging_seeds() -> None:
    assert sorted(_seeded_services("staging")) == sorted(STAGING_SEEDED)


def test_up_of_one_service_says_which_seeds_it_skipped_and_why(
    project: Path, database_url: URL
) -> None:
    result = run_migrate("up", "--service", "crm", project=project, url=database_url)

    assert result.exit_code == 0, result.output
    assert (
        f"seeds (development) skipped for {', '.join(_seeded_services('development'))}: their "
        "branches, or those of the services they need, are not at head; `migrate up` brings "
        "every service to head and loads them"
    ) in " ".join(result.output.split())


def test_the_platform_declares_a_backfill_validation_for_this_test_to_hold() -> None:
    assert any(step.validate_empty or step.validate_count for _, step in _backfills())


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_seeded_rows_pass_every_backfill_validation(
    project: Path, database_url: URL, environment: str
) -> None:
    _seeded(project, database_url, environment)

    with connection_to(database_url) as connection:
        assert _rows_the_validations_reject(connection) == []


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_seeded_rows_pass_every_check_and_not_valid_constraint(
    project: Path, database_url: URL, environment: str
) -> None:
    _seeded(project, database_url, environment)

    with connection_to(database_url) as connection:
        assert _rows_the_checks_reject(connection) == []
        assert _not_valid_constraints_that_fail(connection) == []


def test_seeds_correct_customers_an_earlier_seed_left_without_email_normalized(
    project: Path, database_url: URL
) -> None:
    _seeded(project, database_url, "development")
    with connection_to(database_url) as connection:
        connection.exec_driver_sql("UPDATE crm.customers SET email_normalized = NULL")
        connection.commit()

    _seeded(project, database_url, "development")

    with connection_to(database_url) as connection:
        assert _rows_the_validations_reject(connection) == []
        normalized = connection.exec_driver_sql(
            "SELECT count(*) FROM crm.customers WHERE email_normalized IS NOT NULL"
        ).scalar()
    assert normalized == 2


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_seeding_twice_changes_no_row(project: Path, database_url: URL, environment: str) -> None:
    _seeded(project, database_url, environment)
    first = _seeded_rows(database_url)

    _seeded(project, database_url, environment)

    assert _seeded_rows(database_url) == first


def _seeded_rows(url: URL) -> dict[str, list[tuple]]:
    """Every row of every service table, ordered, timestamps of the row included: a seed
    that rewrote a row on its second run would change its xmin."""
    with connection_to(url) as connection:
        tables = connection.exec_driver_sql(
            "SELECT c.oid::regclass::text FROM pg_class c "
            "WHERE c.relkind = 'r' AND c.relnamespace::regnamespace::text = ANY(%(schemas)s) "
            "ORDER BY 1",
            {"schemas": SERVICE_SCHEMAS},
        ).scalars()
        return {
            table: sorted(
                map(
                    tuple,
                    connection.exec_driver_sql(f"SELECT xmin::text, * FROM {table}").all(),
                ),
                key=repr,
            )
            for table in list(tables)
        }
