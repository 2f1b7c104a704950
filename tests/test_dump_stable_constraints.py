"""The services' CHECK constraints and index predicates read the same after pg_dump and
pg_restore as the revisions built them, as text, not only in meaning.

Early revisions wrote value lists on varchar columns as `col IN ('a', 'b')`: PostgreSQL stores
`(col)::text = ANY ((ARRAY['a'::varchar, ...])::text[])`, and a restore reads that back as
`ARRAY[('a'::varchar)::text, ...]`. The 20261128 revisions rewrote each one as
`col::text IN (...)` (and policy_rules_port_range as one flat AND), whose stored form a dump
keeps. These tests hold that, and that those revisions roll back to the original forms.

`schema_of` (catalog.snapshot) compares definitions normalised for meaning, so it agrees
with or without the rewrite, and so does `migrate verify`; the per-object comparisons read
the server's own text (`pg_get_constraintdef`, `pg_get_indexdef`), which is what changed.
"""

from __future__ import annotations

from pathlib import Path

from conftest import SERVICE_SCHEMAS, connection_to, head_of, platform_graph, run_migrate, schema_of
from sqlalchemy.engine import URL

from migrator.checks import catalog
from migrator.model import services

# The revision of each service that made its checks dump-stable; erp and workflow wrote theirs
# as `col::text IN (...)` from the start.
DUMP_STABLE_REVISIONS = {
    "auth": "20261128_001",
    "user": "20261128_002",
    "crm": "20261128_003",
    "email": "20261128_004",
    "ai": "20261128_005",
    "inosec_core": "20261128_006",
    "inosec_edge": "20261128_007",
}
# Objects that a dump and restore did rewrite before those revisions (about one per kind of
# rewrite): if they were left out of the comparison, the comparison would prove nothing.
ONCE_REWRITTEN = {
    'constraint "user".addresses.addresses_kind',
    "constraint crm.customers.customers_status_valid",
    "constraint email.delivery_events.delivery_events_bounce_type",
    "constraint ai.training_runs.training_runs_finished_when_done",
    "constraint inosec_core.policy_rules.policy_rules_port_range",
    "index ai.idx_training_runs_active",
    "index inosec_core.idx_alerts_open_detected_at",
}

# Every constraint and index of the services' schemas, as the server renders it: the text
# pg_dump writes, with none of the normalisation that catalog.snapshot applies. Schemas are
# matched by pg_namespace.nspname: `regnamespace::text` quotes "user".
_RENDERINGS = """
    SELECT 'constraint ' || c.conrelid::regclass::text || '.' || c.conname,
           pg_get_constraintdef(c.oid)
    FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
    WHERE n.nspname = ANY(%(schemas)s)
    UNION ALL
    SELECT 'index ' || i.relnamespace::regnamespace::text || '.' || i.relname,
           pg_get_indexdef(i.oid)
    FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_namespace n ON n.oid = i.relnamespace
    WHERE n.nspname = ANY(%(schemas)s)
"""


def _renderings(url: URL) -> dict[str, str]:
    with connection_to(url) as connection:
        rows = connection.exec_driver_sql(_RENDERINGS, {"schemas": SERVICE_SCHEMAS}).all()
    return dict(rows)


def _changed(before: dict[str, str], after: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Each object whose text differs, or that only one side has, by name."""
    return {
        name: (before.get(name, "(missing)"), after.get(name, "(missing)"))
        for name in sorted(before.keys() | after.keys())
        if before.get(name) != after.get(name)
    }


def _backup_and_restore(project: Path, url: URL) -> None:
    made = run_migrate("backup", project=project, url=url)
    assert made.exit_code == 0, made.output
    [dump] = (project / "backups").glob("*.dump")
    restored = run_migrate("restore", str(dump), "--yes", project=project, url=url)
    assert restored.exit_code == 0, restored.output


def _previous_heads() -> list[str]:
    """Each service's head before its dump-stable revision (the head, for erp and workflow)."""
    graph = platform_graph()
    return [
        graph[DUMP_STABLE_REVISIONS[service.name]].down_revisions[0]
        if service.name in DUMP_STABLE_REVISIONS
        else head_of(service.name)
        for service in services.SERVICES
    ]


def _at_previous_heads(url: URL) -> None:
    for revision in _previous_heads():
        result = run_migrate("up", "--version", revision, url=url)
        assert result.exit_code == 0, result.output


def test_the_catalog_is_the_same_after_a_backup_is_restored(
    project: Path, database_url: URL
) -> None:
    assert run_migrate("up", project=project, url=database_url).exit_code == 0
    before = schema_of(database_url)

    _backup_and_restore(project, database_url)
    after = schema_of(database_url)

    assert catalog.differences(before, after, "the migrated database", "the restored one") == []
    assert after == before


def test_every_constraint_and_index_reads_the_same_after_a_backup_is_restored(
    project: Path, database_url: URL
) -> None:
    assert run_migrate("up", project=project, url=database_url).exit_code == 0
    before = _renderings(database_url)

    _backup_and_restore(project, database_url)
    after = _renderings(database_url)

    assert before.keys() >= ONCE_REWRITTEN
    assert sum(definition.startswith("CHECK") for definition in before.values()) > 100
    assert _changed(before, after) == {}


def test_no_check_or_index_keeps_a_varchar_array_that_a_restore_would_rewrite(
    database_url: URL,
) -> None:
    assert run_migrate("up", url=database_url).exit_code == 0

    rewritable = {
        name: definition
        for name, definition in _renderings(database_url).items()
        if "::character varying, " in definition or "::character varying])" in definition
    }

    assert rewritable == {}


def test_the_dump_stable_revisions_roll_back_cleanly(database_url: URL) -> None:
    _at_previous_heads(database_url)

    result = run_migrate("verify", url=database_url)

    assert result.exit_code == 0, result.output
    assert "rolls back to the same schema and applies again identically" in result.output


def test_the_dump_stable_revisions_roll_back_to_the_original_text(database_url: URL) -> None:
    _at_previous_heads(database_url)
    before = (schema_of(database_url), _renderings(database_url))

    assert run_migrate("up", url=database_url).exit_code == 0
    changed_by_up = _changed(before[1], _renderings(database_url))
    for revision in DUMP_STABLE_REVISIONS.values():
        result = run_migrate("down", "--version", revision, url=database_url)
        assert result.exit_code == 0, result.output

    assert changed_by_up.keys() >= ONCE_REWRITTEN
    assert _changed(before[1], _renderings(database_url)) == {}
    assert schema_of(database_url) == before[0]
