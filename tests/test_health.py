"""`migrate health` and `migrate drift`, each state made real in the database."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

from conftest import (
    MIGRATOR_WAITS,
    add_revision,
    connection_to,
    head_of,
    migrate_process,
    run_migrate,
    wait_for_server,
)
from sqlalchemy.engine import URL


def _health(url: URL, *arguments: str, project: Path | None = None) -> tuple[int, dict]:
    options = {"project": project} if project else {}
    result = run_migrate("health", "--json", *arguments, url=url, **options)
    return result.exit_code, {check["name"]: check for check in json.loads(result.stdout)}


def _sql(url: URL, *statements: str) -> None:
    with connection_to(url) as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)
        connection.commit()


def test_a_migrated_database_is_healthy(database_url: URL) -> None:
    run_migrate("up", url=database_url)

    code, checks = _health(database_url)

    assert code == 0
    assert {check["status"] for check in checks.values()} == {"ok"}
    assert checks["connectivity"]["figures"]["round_trip_ms"] >= 0
    assert checks["disk"]["figures"]["database_bytes"] > 0


def test_a_pending_revision_fails_and_a_probe_of_another_service_passes(database_url: URL) -> None:
    run_migrate("up", "--service", "erp", url=database_url)

    code, checks = _health(database_url)
    erp_code, erp_checks = _health(database_url, "--service", "erp-service")

    assert code == 1 and checks["at-head"]["status"] == "failing"
    assert any("20240101_003 (crm)" in line for line in checks["at-head"]["details"])
    assert erp_code == 0 and erp_checks["at-head"]["status"] == "ok"


def test_an_edited_revision_fails(project: Path, database_url: URL) -> None:
    run_migrate("up", project=project, url=database_url)
    path = project / "services/erp/versions/20240101_004_erp_create_products.py"
    path.write_text(path.read_text().replace("varchar(200)", "varchar(250)"))

    code, checks = _health(database_url, project=project)

    assert code == 1 and checks["checksums"]["status"] == "failing"
    assert "20240101_004" in checks["checksums"]["details"][0]


def test_an_invalid_index_fails(database_url: URL) -> None:
    run_migrate("up", url=database_url)
    _sql(
        database_url,
        "INSERT INTO erp.products (sku, name, unit_price)"
        " VALUES ('A', 'twin', 1), ('B', 'twin', 1)",
        " VALUES ('A', 'twin', 1), ('B', 'twin', 1)",
    )
    with connection_to(database_url) as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        try:
            connection.exec_driver_sql(
                "CREATE UNIQUE INDEX CONCURRENTLY idx_products_name ON erp.products (name)"
            )
        except Exception as error:  # the duplicate leaves the index INVALID, as intended
            assert "could not create unique index" in str(error)

    code, checks = _health(database_url)

    assert code == 1 and checks["invalid-indexes"]["details"] == ["erp.idx_products_name"]


def test_a_not_valid_constraint_warns_and_fails_only_when_strict(database_url: URL) -> None:
    run_migrate("up", url=database_url)
    _sql(
        database_url,
        "ALTER TABLE erp.products ADD CONSTRAINT products_name_short "
        "CHECK (length(name) < 100) NOT VALID",
    )

    code, checks = _health(database_url)
    strict_code, _ = _health(database_url, "--strict")

    assert checks["unvalidated-constraints"]["status"] == "warning"
    assert "erp.products products_name_short" in checks["unvalidated-constraints"]["details"]
    assert (code, strict_code) == (0, 1)


def test_a_long_open_transaction_and_its_lock_wait_are_reported(database_url: URL) -> None:
    run_migrate("up", url=database_url)
    holder = connection_to(database_url)
    holder.exec_driver_sql("LOCK TABLE erp.products IN ACCESS EXCLUSIVE MODE")
    waiter_started = threading.Event()

    def wait_for_the_lock() -> None:
        with connection_to(database_url) as waiter:
            waiter_started.set()
            waiter.exec_driver_sql("SELECT count(*) FROM erp.products").scalar()

    waiter = threading.Thread(target=wait_for_the_lock)
    waiter.start()
    waiter_started.wait(5)
    wait_for_server(  # the holder's transaction is older than the 1s threshold
        database_url,
        "SELECT count(*) FROM pg_stat_activity WHERE now() - xact_start > interval '1.5 s' "
        "AND datname = current_database() AND pid <> pg_backend_pid()",
    )
    try:
        code, checks = _health(database_url, "--long-transaction", "1s")
    finally:
        holder.rollback()
        holder.close()
        waiter.join()

    assert code == 0  # warnings only
    assert checks["long-transactions"]["status"] == "warning"
    assert checks["lock-waits"]["status"] == "warning"
    assert "erp.products" in checks["lock-waits"]["details"][0]


def test_a_running_migration_shows_its_statement_what_it_waits_for_and_whom_it_blocks(
    project: Path, database_url: URL
) -> None:
    add_revision(
        project,
        "auth",
        "20240601_001",
        down_revision=head_of("auth"),
        upgrade="ALTER TABLE auth.users ADD COLUMN nickname text;",
        settings='lock_timeout = "30s"\n',  # waits, rather than retrying, while we look
    )
    run_migrate("up", "--version", head_of("auth"), project=project, url=database_url)
    holder = connection_to(database_url)
    holder_pid = holder.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    holder.exec_driver_sql("SELECT count(*) FROM auth.users").scalar()  # ACCESS SHARE, held
    migration = subprocess.Popen(
        migrate_process("up", "--service", "auth", project=project, url=database_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    reader_pid: list[int] = []

    def read_behind_the_migration() -> None:
        with connection_to(database_url) as reader:
            reader_pid.append(reader.exec_driver_sql("SELECT pg_backend_pid()").scalar())
            reader.exec_driver_sql("SELECT count(*) FROM auth.users").scalar()

    reader = threading.Thread(target=read_behind_the_migration)
    try:
        wait_for_server(database_url, MIGRATOR_WAITS)
        reader.start()
        wait_for_server(
            database_url,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name <> 'inopsio-migrator' "
            "AND cardinality(pg_blocking_pids(pid)) > 0",
        )
        _, checks = _health(database_url, project=project)  # 1: the revision is pending
    finally:
        holder.rollback()
        holder.close()
        output = migration.communicate(timeout=60)[0].decode()
        reader.join()

    assert migration.returncode == 0, output
    running = checks["running-migration"]
    assert running["status"] == "warning"
    [found] = running["figures"]["running"]
    assert (found["revision"], found["service"]) == ("20240601_001", "auth")
    assert found["statement"] == "ALTER TABLE auth.users ADD COLUMN nickname text"
    assert (found["wait_event_type"], found["waits_for"]) == ("Lock", [holder_pid])
    assert [blocked["pid"] for blocked in found["blocks"]] == reader_pid
    assert f"waits for Lock/relation held by pid {holder_pid}" in running["details"][0]


def test_drift_names_a_column_an_index_and_a_constraint_changed_by_hand(
    database_url: URL,
) -> None:
    run_migrate("up", url=database_url)
    _sql(
        database_url,
        "ALTER TABLE erp.products ADD COLUMN weight_grams bigint",
        "CREATE INDEX idx_products_name ON erp.products (name)",
        "ALTER TABLE erp.products DROP CONSTRAINT products_unit_price_not_negative",
    )

    result = run_migrate("drift", url=database_url)

    assert result.exit_code == 1
    assert "column erp.products.weight_grams: only in the live database" in result.output
    assert "index erp.idx_products_name: only in the live database" in result.output
    assert "products_unit_price_not_negative: only in the migrations" in result.output
    assert "3 difference(s)" in result.output


def test_no_drift_on_a_database_built_by_its_migrations(database_url: URL) -> None:
    run_migrate("up", url=database_url)

    result = run_migrate("drift", url=database_url)

    assert result.exit_code == 0 and "no drift" in result.output
