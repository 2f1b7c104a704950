"""`migrate drift` after `backup` and `restore`: the same schema, rendered differently.

pg_dump writes a CHECK or an index predicate as the server renders it; the restored server
parses that text into another tree (`ARRAY[('a'::varchar)::text, ...]` where the migration
built `(ARRAY['a'::varchar, ...])::text[]`, nested ANDs flattened). Drift compares what a
definition means, so a faithful restore shows none, and a real change made by hand still shows.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import add_revision, connection_to, head_of, run_migrate
from sqlalchemy.engine import URL

from migrator.checks.catalog import normalised_definition

_DEFINITIONS = """
    SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c
    WHERE c.contype = 'c' AND c.connamespace::regnamespace::text <> 'migrator'
    UNION ALL
    SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
    WHERE i.relnamespace::regnamespace::text NOT IN ('migrator', 'pg_catalog', 'pg_toast')
"""


def _server_renderings(url: URL) -> dict[str, str]:
    with connection_to(url) as connection:
        return dict(connection.exec_driver_sql(_DEFINITIONS).all())


def _sql(url: URL, *statements: str) -> None:
    with connection_to(url) as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)
        connection.commit()


# A table of the test's own, whatever the platform's revisions come to hold: a varchar IN list,
# a NOT IN list, a BETWEEN nested in an AND, and a partial index on an IN list; each of these
# the server renders differently after a restore.
SHIPMENTS = """
CREATE TABLE IF NOT EXISTS erp.shipments (
    id           bigint      PRIMARY KEY,
    carrier      varchar(20) NOT NULL,
    state        varchar(20) NOT NULL DEFAULT 'packed',
    weight_grams integer,
    CONSTRAINT shipments_state_valid CHECK (state IN ('packed', 'sent', 'delivered')),
    CONSTRAINT shipments_carrier_known CHECK (carrier NOT IN ('unknown', 'none')),
    CONSTRAINT shipments_weight_range
        CHECK (weight_grams BETWEEN 1 AND 30000 AND weight_grams <> 13)
);
CREATE INDEX IF NOT EXISTS idx_shipments_open ON erp.shipments (id)
    WHERE state IN ('packed', 'sent');
"""
REWRITTEN_BY_A_RESTORE = {
    "shipments_state_valid",
    "shipments_carrier_known",
    "shipments_weight_range",
    "idx_shipments_open",
}


def _up(project: Path, url: URL) -> None:
    """Apply every revision of the platform, and erp.shipments."""
    add_revision(
        project,
        "erp",
        "20240601_001",
        down_revision=head_of("erp"),
        upgrade=SHIPMENTS,
        downgrade="DROP TABLE IF EXISTS erp.shipments;",
    )
    applied = run_migrate("up", project=project, url=url)
    assert applied.exit_code == 0, applied.output


def _up_backup_restore(project: Path, url: URL) -> dict[str, str]:
    """Apply everything, back it up and restore it; the server's renderings before the
    restore."""
    _up(project, url)
    rendered_before = _server_renderings(url)
    made = run_migrate("backup", project=project, url=url)
    assert made.exit_code == 0, made.output
    [dump] = (project / "backups").glob("*.dump")
    restored = run_migrate("restore", str(dump), "--yes", project=project, url=url)
    assert restored.exit_code == 0, restored.output
    return rendered_before


def test_no_drift_after_a_backup_is_restored_although_the_server_renders_checks_anew(
    project: Path, database_url: URL
) -> None:
    rendered_before = _up_backup_restore(project, database_url)
    rendered_after = _server_renderings(database_url)

    result = run_migrate("drift", project=project, url=database_url)

    # The restore really changed the server's text (else this test would prove nothing) ...
    rewritten = {name for name in rendered_before if rendered_before[name] != rendered_after[name]}
    assert rewritten >= REWRITTEN_BY_A_RESTORE
    # ... and drift sees through it.
    assert result.exit_code == 0, result.output
    assert "no drift" in result.output


def test_an_index_created_by_hand_after_a_restore_is_still_drift(
    project: Path, database_url: URL
) -> None:
    _up_backup_restore(project, database_url)
    _sql(
        database_url,
        "CREATE INDEX idx_shipments_sent ON erp.shipments (carrier) WHERE state IN ('sent')",
    )

    result = run_migrate("drift", project=project, url=database_url)

    assert result.exit_code == 1
    assert "index erp.idx_shipments_sent: only in the live database" in result.output
    assert "1 difference(s)" in result.output


def test_a_check_altered_by_hand_after_a_restore_is_still_drift(
    project: Path, database_url: URL
) -> None:
    _up_backup_restore(project, database_url)
    _sql(
        database_url,
        "ALTER TABLE erp.shipments DROP CONSTRAINT shipments_state_valid",
        "ALTER TABLE erp.shipments ADD CONSTRAINT shipments_state_valid "
        "CHECK (state IN ('packed', 'sent', 'delivered', 'lost'))",
    )

    result = run_migrate("drift", project=project, url=database_url)

    assert result.exit_code == 1
    assert "constraint erp.shipments.shipments_state_valid: definition" in result.output
    assert "'lost'" in result.output
    assert "1 difference(s)" in result.output


def test_a_check_rewritten_by_hand_with_the_same_meaning_is_not_drift(
    project: Path, database_url: URL
) -> None:
    _up(project, database_url)
    _sql(
        database_url,
        "ALTER TABLE erp.shipments DROP CONSTRAINT shipments_state_valid",
        "ALTER TABLE erp.shipments ADD CONSTRAINT shipments_state_valid "
        "CHECK (state::text = ANY (ARRAY['packed', 'sent', 'delivered']::text[]))",
    )

    result = run_migrate("drift", project=project, url=database_url)

    assert result.exit_code == 0, result.output


STATUS = ("status",)


@pytest.mark.parametrize(
    ("written", "restored", "varchar_columns"),
    [
        (
            "CHECK (((status)::text = ANY ((ARRAY['a'::character varying, "
            "'b'::character varying])::text[])))",
            "CHECK (((status)::text = ANY (ARRAY[('a'::character varying)::text, "
            "('b'::character varying)::text])))",
            STATUS,
        ),
        (
            "CHECK ((((a >= 1) AND (a <= 9)) AND ((b >= a) AND (b <= 9))))",
            "CHECK (((a >= 1) AND (a <= 9) AND ((b >= a) AND (b <= 9))))",
            (),
        ),
        (
            "CHECK (((status)::text = 'a'::text))",
            "CHECK (((status)::character varying = 'a'::character varying))",
            STATUS,
        ),
    ],
    ids=["in-list-on-varchar", "nested-and", "cast-of-a-varchar-column"],
)
def test_renderings_that_mean_the_same_normalise_to_the_same_text(
    written: str, restored: str, varchar_columns: tuple[str, ...]
) -> None:
    assert normalised_definition(written, varchar_columns) == normalised_definition(
        restored, varchar_columns
    )


@pytest.mark.parametrize(
    ("one", "other", "varchar_columns"),
    [
        # another value in the list
        (
            "CHECK (((status)::text = ANY ((ARRAY['a'::character varying])::text[])))",
            "CHECK (((status)::text = ANY ((ARRAY['b'::character varying])::text[])))",
            STATUS,
        ),
        # = ANY against <> ALL
        (
            "CHECK (((status)::text = ANY ((ARRAY['a'::character varying])::text[])))",
            "CHECK (((status)::text <> ALL ((ARRAY['a'::character varying])::text[])))",
            STATUS,
        ),
        # a cast with a length truncates: 'abc'::varchar(2) is 'ab'
        (
            "CHECK (((status)::text = ('abc'::character varying(2))::text))",
            "CHECK (((status)::text = 'abc'::text))",
            STATUS,
        ),
        # char(n) compared as text ignores no trailing blanks; as bpchar it does
        (
            "CHECK (((code)::text = 'a'::text))",
            "CHECK ((code = 'a'::bpchar))",
            STATUS,
        ),
        # AND and OR do not merge
        (
            "CHECK (((a > 1) AND ((b > 1) OR (c > 1))))",
            "CHECK (((a > 1) AND (b > 1) OR (c > 1)))",
            (),
        ),
        (
            "CREATE INDEX i ON s.t USING btree (a) WHERE ((status)::text = 'a'::text)",
            "CREATE INDEX i ON s.t USING btree (a) WHERE ((status)::text = 'b'::text)",
            STATUS,
        ),
    ],
    ids=[
        "another-value",
        "any-against-all",
        "cast-with-a-length",
        "char-column",
        "and-or-precedence",
        "index-predicate-value",
    ],
)
def test_renderings_that_mean_something_else_stay_different(
    one: str, other: str, varchar_columns: tuple[str, ...]
) -> None:
    assert normalised_definition(one, varchar_columns) != normalised_definition(
        other, varchar_columns
    )
