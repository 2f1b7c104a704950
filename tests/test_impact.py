"""What `plan` says a revision does to live tables: the lock each statement takes (as
PostgreSQL's documentation lists them), whether it rewrites, scans, builds or only changes the
catalog, how large the tables are, how long the work should take here, and a verdict per
revision."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pglast
import psycopg
import pytest
from conftest import add_revision, copy_project, run_migrate
from sqlalchemy.engine import URL

from migrator import urls
from migrator.checks.impact import LiveCatalog, throughput_path
from migrator.model.impact import StatementImpact, TypeTarget, impacts

AE, SRE, SUE = "ACCESS EXCLUSIVE", "SHARE ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE"

# statement -> (locks by table, work), offline: from the parse tree alone.
LOCK_TABLE = [
    ("ALTER TABLE s.t ADD COLUMN n int", {"s.t": AE}, "catalog"),
    ("ALTER TABLE s.t ADD COLUMN n int DEFAULT 0", {"s.t": AE}, "catalog"),
    ("ALTER TABLE s.t ADD COLUMN n timestamptz NOT NULL DEFAULT now()", {"s.t": AE}, "catalog"),
    (
        "ALTER TABLE s.t ADD COLUMN n uuid NOT NULL DEFAULT gen_random_uuid()",
        {"s.t": AE},
        "rewrite",
    ),
    ("ALTER TABLE s.t ADD COLUMN n bigserial", {"s.t": AE}, "rewrite"),
    ("ALTER TABLE s.t ADD COLUMN n int GENERATED ALWAYS AS (a * 2) STORED", {"s.t": AE}, "rewrite"),
    ("ALTER TABLE s.t ADD COLUMN n int NOT NULL", {"s.t": AE}, "scan"),
    ("ALTER TABLE s.t DROP COLUMN c", {"s.t": AE}, "catalog"),
    ("ALTER TABLE s.t ALTER COLUMN a SET DEFAULT 1", {"s.t": AE}, "catalog"),
    ("ALTER TABLE s.t ALTER COLUMN a SET NOT NULL", {"s.t": AE}, "scan"),
    ("ALTER TABLE s.t ALTER COLUMN a DROP NOT NULL", {"s.t": AE}, "catalog"),
    ("ALTER TABLE s.t ALTER COLUMN a SET STATISTICS 100", {"s.t": SUE}, "catalog"),
    ("ALTER TABLE s.t ALTER COLUMN a SET (n_distinct = 10)", {"s.t": SUE}, "catalog"),
    ("ALTER TABLE s.t ALTER COLUMN c SET STORAGE EXTERNAL", {"s.t": AE}, "catalog"),
    ("ALTER TABLE s.t ALTER COLUMN a TYPE bigint USING a::bigint", {"s.t": AE}, "rewrite"),
    ("ALTER TABLE s.t ADD CONSTRAINT c CHECK (a > 0)", {"s.t": AE}, "scan"),
    ("ALTER TABLE s.t ADD CONSTRAINT c CHECK (a > 0) NOT VALID", {"s.t": AE}, "catalog"),
    ("ALTER TABLE s.t ADD FOREIGN KEY (p) REFERENCES s.p", {"s.t": SRE, "s.p": SRE}, "scan"),
    (
        "ALTER TABLE s.t ADD FOREIGN KEY (p) REFERENCES s.p NOT VALID",
        {"s.t": SRE, "s.p": SRE},
        "catalog",
    ),
    ("ALTER TABLE s.t ADD CONSTRAINT u UNIQUE (a)", {"s.t": AE}, "build"),
    ("ALTER TABLE s.t ADD PRIMARY KEY USING INDEX t_pk", {"s.t": AE}, "catalog"),
    ("ALTER TABLE s.t VALIDATE CONSTRAINT c", {"s.t": SUE}, "scan"),
    ("ALTER TABLE s.t DROP CONSTRAINT c", {"s.t": AE}, "catalog"),
    ("ALTER TABLE s.t ALTER CONSTRAINT f DEFERRABLE", {"s.t": AE}, "catalog"),
    ("ALTER TABLE s.t SET (fillfactor = 70)", {"s.t": SUE}, "catalog"),
    ("ALTER TABLE s.t SET (autovacuum_enabled = false)", {"s.t": SUE}, "catalog"),
    ("ALTER TABLE s.t SET (user_catalog_table = true)", {"s.t": AE}, "catalog"),
    ("ALTER TABLE s.t CLUSTER ON t_a", {"s.t": SUE}, "catalog"),
    ("ALTER TABLE s.t SET UNLOGGED", {"s.t": AE}, "rewrite"),
    ("ALTER TABLE s.t SET TABLESPACE pg_default", {"s.t": AE}, "rewrite"),
    ("ALTER TABLE s.t DISABLE TRIGGER tr", {"s.t": SRE}, "catalog"),
    ("ALTER TABLE s.t ENABLE ROW LEVEL SECURITY", {"s.t": AE}, "catalog"),
    ("ALTER TABLE s.t REPLICA IDENTITY FULL", {"s.t": AE}, "catalog"),
    ("ALTER TABLE s.t OWNER TO someone", {"s.t": AE}, "catalog"),
    ("ALTER TABLE s.t INHERIT s.parent", {"s.t": AE, "s.parent": SUE}, "catalog"),
    (
        "ALTER TABLE s.part ATTACH PARTITION s.p1 FOR VALUES IN (1)",
        {"s.part": SUE, "s.p1": AE},
        "scan",
    ),
    ("ALTER TABLE s.part DETACH PARTITION s.p2", {"s.part": AE, "s.p2": AE}, "catalog"),
    (
        "ALTER TABLE s.part DETACH PARTITION s.p2 CONCURRENTLY",
        {"s.part": SUE, "s.p2": SUE},
        "catalog",
    ),
    ("ALTER TABLE s.t RENAME TO u", {"s.t": AE}, "catalog"),
    ("ALTER TABLE s.t RENAME COLUMN a TO b", {"s.t": AE}, "catalog"),
    ("ALTER INDEX s.t_a RENAME TO t_b", {"s.t_a": SUE}, "catalog"),
    ("ALTER TABLE s.t SET SCHEMA u", {"s.t": AE}, "catalog"),
    ("CREATE INDEX ON s.t (b)", {"s.t": "SHARE"}, "build"),
    ("CREATE UNIQUE INDEX ON s.t (b)", {"s.t": "SHARE"}, "build"),
    ("CREATE INDEX CONCURRENTLY ON s.t (b)", {"s.t": SUE}, "build"),
    ("DROP INDEX s.t_a", {"s.t_a": AE}, "catalog"),
    ("DROP INDEX CONCURRENTLY s.t_a", {"s.t_a": SUE}, "catalog"),
    ("REINDEX TABLE s.t", {"s.t": "SHARE"}, "build"),
    ("REINDEX TABLE CONCURRENTLY s.t", {"s.t": SUE}, "build"),
    (
        "CREATE TRIGGER tr AFTER UPDATE ON s.t FOR EACH ROW EXECUTE FUNCTION s.f()",
        {"s.t": SRE},
        "catalog",
    ),
    ("DROP TRIGGER tr ON s.t", {"s.t": AE}, "catalog"),
    ("CREATE POLICY pol ON s.t USING (true)", {"s.t": AE}, "catalog"),
    ("CREATE RULE r AS ON INSERT TO s.t DO ALSO NOTHING", {"s.t": AE}, "catalog"),
    ("REFRESH MATERIALIZED VIEW s.mv", {"s.mv": AE}, "rewrite"),
    ("REFRESH MATERIALIZED VIEW CONCURRENTLY s.mv", {"s.mv": "EXCLUSIVE"}, "rewrite"),
    ("TRUNCATE s.t", {"s.t": AE}, "catalog"),
    ("CLUSTER s.t USING t_a", {"s.t": AE}, "rewrite"),
    ("VACUUM s.t", {"s.t": SUE}, "scan"),
    ("VACUUM (FULL) s.t", {"s.t": AE}, "rewrite"),
    ("ANALYZE s.t", {"s.t": SUE}, "scan"),
    ("COMMENT ON TABLE s.t IS 'x'", {"s.t": SUE}, "catalog"),
    ("COMMENT ON COLUMN s.t.a IS 'x'", {"s.t": SUE}, "catalog"),
    ("GRANT SELECT ON s.t TO someone", {}, "catalog"),
    ("CREATE TABLE s.n (id int REFERENCES s.p (id))", {"s.p": SRE}, "catalog"),
    ("CREATE TABLE s.p3 PARTITION OF s.part FOR VALUES IN (3)", {"s.part": AE}, "catalog"),
    ("CREATE TABLE s.ch () INHERITS (s.t)", {"s.t": SUE}, "catalog"),
    ("CREATE VIEW s.v AS SELECT * FROM s.t", {"s.t": "ACCESS SHARE"}, "catalog"),
    ("DROP TABLE s.t", {"s.t": AE}, "catalog"),
    ("INSERT INTO s.t (id) VALUES (1)", {"s.t": "ROW EXCLUSIVE"}, "catalog"),
    ("UPDATE s.t SET a = 1", {"s.t": "ROW EXCLUSIVE"}, "scan"),
    ("DELETE FROM s.t", {"s.t": "ROW EXCLUSIVE"}, "scan"),
    ("LOCK TABLE s.t IN SHARE MODE", {"s.t": "SHARE"}, "catalog"),
    ("CREATE SCHEMA s2", {}, "catalog"),
    ("DO $$ BEGIN PERFORM 1; END $$", {}, "unknown"),
]


def _offline(sql: str) -> list[StatementImpact]:
    return impacts([raw.stmt for raw in pglast.parse_sql(sql)])


@pytest.mark.parametrize(("sql", "locks", "work"), LOCK_TABLE, ids=[row[0] for row in LOCK_TABLE])
def test_each_statement_kind_takes_its_documented_lock_and_work(
    sql: str, locks: dict[str, str], work: str
) -> None:
    [found] = _offline(sql)
    assert ({lock.table: lock.mode for lock in found.locks}, found.work) == (locks, work)


def test_work_on_a_table_created_earlier_in_the_plan_is_catalog_only() -> None:
    _, added = _offline(
        "CREATE TABLE s.n (id int); ALTER TABLE s.n ADD COLUMN k uuid DEFAULT gen_random_uuid()"
    )
    assert (added.work, added.worked_tables) == ("catalog", ())


def test_a_default_calling_a_function_unknown_offline_is_unknown() -> None:
    [found] = _offline("ALTER TABLE s.t ADD COLUMN n int DEFAULT s.next_number()")
    assert found.work == "unknown"


def test_a_column_type_change_is_unknown_offline() -> None:
    [found] = _offline("ALTER TABLE s.t ALTER COLUMN a TYPE bigint")
    assert (found.work, found.locks[0].mode) == ("unknown", AE)


# --- against the live catalog -------------------------------------------------------------------

BEFORE = "20240412_003"  # crm.customers exists; the concurrent index and NOT VALID come after
CONCURRENT_INDEX = "20240412_004"
NOT_VALID_THEN_VALIDATE = "20261128_003"
ROWS = 20_000
NEW = {
    "20990101_001": "ALTER TABLE crm.customers ADD COLUMN token uuid NOT NULL "
    "DEFAULT gen_random_uuid();",
    "20990101_002": "CREATE INDEX idx_customers_phone ON crm.customers (phone);",
    "20990101_003": "ALTER TABLE crm.customers ADD CONSTRAINT customers_assigned_fk "
    'FOREIGN KEY (assigned_to) REFERENCES "user".profiles (user_id);',
    "20990101_004": "ALTER TABLE crm.customers ADD COLUMN note text;\n"
    "CREATE INDEX idx_customers_note ON crm.customers (note);",
    "20990101_005": "CREATE INDEX idx_activities_kind ON crm.activities (kind);",
}


@pytest.fixture(scope="module")
def loaded(new_database_module: URL, tmp_path_factory: pytest.TempPathFactory) -> tuple[URL, Path]:
    """crm.customers with 20,000 rows, and a project with four revisions on top of crm."""
    project = copy_project(tmp_path_factory.mktemp("impact") / "project")
    parent = NOT_VALID_THEN_VALIDATE
    for revision, sql in NEW.items():
        add_revision(project, "crm", revision, down_revision=parent, upgrade=sql)
        parent = revision
    assert run_migrate("up", "--version", BEFORE, url=new_database_module).exit_code == 0
    with psycopg.connect(urls.libpq_dsn(new_database_module), autocommit=True) as connection:
        connection.execute(
            "INSERT INTO auth.users (email, password_hash) VALUES ('owner@example.com', 'x')"
        )
        connection.execute(
            "INSERT INTO crm.customers (owner_id, legal_name, email, phone) "
            "SELECT (SELECT id FROM auth.users), 'Customer ' || g, 'c' || g || '@example.com', "
            "'+1 555 ' || g FROM generate_series(1, %s) g",
            (ROWS,),
        )
        connection.execute("ANALYZE crm.customers")
    return new_database_module, project


@pytest.fixture(scope="module")
def planned(loaded: tuple[URL, Path]) -> dict[str, dict]:
    url, project = loaded
    result = run_migrate("plan", "--json", "--version", "20990101_005", url=url, project=project)
    assert result.exit_code == 0, result.output
    return {found["revision"]: found for found in json.loads(result.output)["impact"]}


def _locks(found: dict) -> list[dict[str, str]]:
    return [lock for s in found["statements"] for lock in s["impact"]["locks"]]


def test_a_volatile_default_on_a_live_table_rewrites_it_under_access_exclusive(
    planned: dict[str, dict],
) -> None:
    found = planned["20990101_001"]
    [statement] = found["statements"]
    assert (found["verdict"], found["strongest_lock"], statement["impact"]["work"]) == (
        "blocks reads and writes",
        AE,
        "rewrite",
    )


def test_a_plain_index_build_blocks_writes_under_share(planned: dict[str, dict]) -> None:
    found = planned["20990101_002"]
    assert (found["verdict"], _locks(found)) == (
        "blocks writes",
        [{"table": "crm.customers", "mode": "SHARE"}],
    )


def test_a_validated_foreign_key_blocks_writes_on_both_tables(planned: dict[str, dict]) -> None:
    found = planned["20990101_003"]
    assert (found["verdict"], _locks(found)) == (
        "blocks writes",
        [{"table": "crm.customers", "mode": SRE}, {"table": "user.profiles", "mode": SRE}],
    )


def test_a_brief_catalog_lock_is_held_through_the_work_that_follows_in_its_transaction(
    planned: dict[str, dict],
) -> None:
    assert planned["20990101_004"]["verdict"] == "blocks reads and writes"


def test_a_write_blocking_lock_on_a_table_of_a_few_rows_is_a_brief_lock(
    planned: dict[str, dict],
) -> None:
    assert planned["20990101_005"]["verdict"] == "brief lock"


def test_the_platforms_concurrent_index_is_online(planned: dict[str, dict]) -> None:
    found = planned[CONCURRENT_INDEX]
    assert (found["verdict"], found["statements"][0]["impact"]["kind"]) == (
        "online",
        "CREATE INDEX CONCURRENTLY",
    )


def test_the_platforms_not_valid_then_validate_is_online(planned: dict[str, dict]) -> None:
    assert planned[NOT_VALID_THEN_VALIDATE]["verdict"] == "online"


def test_plan_json_gives_each_worked_table_its_size_rows_and_an_estimate(
    planned: dict[str, dict],
) -> None:
    [statement] = planned["20990101_002"]["statements"]
    [size] = statement["sizes"]
    assert (size["table"], size["rows"], size["bytes"] > 0, statement["seconds"] > 0) == (
        "crm.customers",
        ROWS,
        True,
        True,
    )


def test_the_throughput_is_cached_per_server_in_the_project_and_leaves_no_schema(
    loaded: tuple[URL, Path], planned: dict[str, dict]
) -> None:
    url, project = loaded
    with psycopg.connect(urls.libpq_dsn(url), autocommit=True) as connection:
        leftover = connection.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'migrator_calibration'"
        ).fetchone()
    cached = json.loads(throughput_path(project).read_text())
    assert (len(cached), leftover) == (1, (0,))


def test_plan_markdown_gives_each_revision_its_verdict(loaded: tuple[URL, Path]) -> None:
    url, project = loaded
    result = run_migrate(
        "plan", "--format", "markdown", "--version", "20990101_002", url=url, project=project
    )
    assert "Impact: **blocks writes: strongest lock SHARE" in result.output


def test_plan_text_names_the_lock_and_the_work_of_each_statement(
    loaded: tuple[URL, Path],
) -> None:
    url, project = loaded
    result = run_migrate("plan", "--version", CONCURRENT_INDEX, url=url, project=project)
    flat = " ".join(result.output.split())
    assert "CREATE INDEX CONCURRENTLY: SHARE UPDATE EXCLUSIVE on crm.customers; build of" in flat


@pytest.fixture(scope="module")
def catalog(loaded: tuple[URL, Path]) -> Iterator[Callable[[], LiveCatalog]]:
    url, _ = loaded
    connection = psycopg.connect(urls.libpq_dsn(url), autocommit=True)
    yield lambda: LiveCatalog(connection)
    connection.close()


def test_set_not_null_skips_the_scan_when_a_validated_check_exists(
    loaded: tuple[URL, Path], catalog: Callable[[], LiveCatalog]
) -> None:
    url, _ = loaded
    with psycopg.connect(urls.libpq_dsn(url), autocommit=True) as connection:
        connection.execute(
            "ALTER TABLE crm.customers ADD CONSTRAINT legal_name_present "
            "CHECK (legal_name IS NOT NULL)"
        )
    [found] = impacts(
        [pglast.parse_sql("ALTER TABLE crm.customers ALTER legal_name SET NOT NULL")[0].stmt],
        catalog(),
    )
    assert found.work == "catalog"


@pytest.mark.parametrize(
    ("column", "target", "coercible"),
    [
        ("email", TypeTarget("varchar", (300,)), True),
        ("email", TypeTarget("text", ()), True),
        ("status", TypeTarget("varchar", (10,)), False),
        ("created_at", TypeTarget("date", ()), False),
    ],
)
def test_a_column_type_change_rewrites_unless_binary_coercible(
    catalog: Callable[[], LiveCatalog], column: str, target: TypeTarget, coercible: bool
) -> None:
    assert catalog().binary_coercible("crm.customers", column, target) is coercible
