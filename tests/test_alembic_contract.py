"""Alembic's own API and CLI on the project, with the connection a caller hands over.

Alembic's cookbook and the testing tools built on Alembic (pytest-alembic) put an Engine or a
Connection in `config.attributes["connection"]` and call `alembic.command`; env.py works
through it, on a brand-new database too.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from conftest import (
    PROJECT_ROOT,
    applied_versions,
    head_of,
    history_rows,
    run_migrate,
    schema_of,
    url_text,
)
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

HEADS = set(ScriptDirectory.from_config(Config(str(PROJECT_ROOT / "alembic.ini"))).get_heads())


def _config(connectable: object, project: Path = PROJECT_ROOT) -> Config:
    """The project's Config as a caller builds it, output kept for the test to read."""
    config = Config(str(project / "alembic.ini"), stdout=io.StringIO())
    config.attributes["connection"] = connectable
    return config


def _output(config: Config) -> list[str]:
    assert isinstance(config.stdout, io.StringIO)
    return config.stdout.getvalue().splitlines()


@pytest.fixture
def engine(database_url: URL) -> Iterator[Engine]:
    """A caller's Engine on a fresh, empty database."""
    created = create_engine(database_url, poolclass=NullPool)
    yield created
    created.dispose()


@pytest.fixture(scope="module")
def at_head(new_database_module: URL) -> URL:
    """A database every service's revisions built, which the tests below only read."""
    assert run_migrate("up", url=new_database_module).exit_code == 0
    return new_database_module


def test_upgrade_through_a_callers_engine_applies_every_service_on_a_fresh_database(
    engine: Engine, database_url: URL
) -> None:
    command.upgrade(_config(engine), "heads")

    assert applied_versions(database_url) == HEADS
    assert {row["outcome"] for row in history_rows(database_url)} == {"success"}


def test_upgrade_through_a_callers_connection_leaves_it_open_outside_a_transaction(
    engine: Engine, database_url: URL
) -> None:
    with engine.connect() as connection:
        command.upgrade(_config(connection), "auth@head")

        assert not connection.closed
        assert not connection.in_transaction()
        version = connection.exec_driver_sql("SELECT version_num FROM migrator.alembic_version")
        assert version.scalar() == head_of("auth")


def test_current_through_a_callers_engine_on_a_fresh_database_shows_none_and_creates_nothing(
    engine: Engine, database_url: URL
) -> None:
    config = _config(engine)

    command.current(config)

    assert _output(config) == []
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT to_regnamespace('migrator')").scalar() is None


def test_check_on_a_fresh_database_says_it_is_not_up_to_date(engine: Engine) -> None:
    with pytest.raises(CommandError, match="Target database is not up to date"):
        command.check(_config(engine))


def test_stamp_through_a_callers_engine_records_the_heads_without_running_them(
    engine: Engine, database_url: URL
) -> None:
    command.stamp(_config(engine), "heads")

    assert applied_versions(database_url) == HEADS
    assert schema_of(database_url)["schemas"] == []


def test_check_passes_when_every_services_models_match_the_database(at_head: URL) -> None:
    engine = create_engine(at_head, poolclass=NullPool)
    config = _config(engine)

    command.check(config)

    assert _output(config) == ["No new upgrade operations detected."]


def test_alembic_check_exits_non_zero_naming_a_table_only_the_models_have(
    at_head: URL, project: Path
) -> None:
    models = project / "services" / "crm" / "models.py"
    models.write_text(
        models.read_text()
        + '\nTable("deal_forecasts", metadata, Column("id", Integer, primary_key=True), '
        'schema="crm")\n'
    )

    result = subprocess.run(
        [sys.executable, "-m", "alembic", "check"],
        cwd=project,
        env={**os.environ, "DATABASE_URL": url_text(at_head)},
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode != 0
    assert "New upgrade operations detected" in result.stderr
    assert "deal_forecasts" in result.stderr
    assert "Traceback" not in result.stderr


def test_current_runs_inside_the_callers_transaction_and_leaves_it_open(at_head: URL) -> None:
    engine = create_engine(at_head, poolclass=NullPool)
    with engine.begin() as connection:
        config = _config(connection)

        command.current(config)

        assert {line.split()[0] for line in _output(config)} == HEADS
        assert connection.in_transaction()


@pytest.mark.parametrize(
    ("writing", "revision"),
    [(command.upgrade, "heads"), (command.downgrade, "base"), (command.stamp, "heads")],
)
def test_writing_refuses_a_connection_inside_the_callers_transaction_and_leaves_it_theirs(
    engine: Engine, database_url: URL, writing: Callable[[Config, str], None], revision: str
) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE public.callers_own (id integer)")

        with pytest.raises(CommandError, match=r"inside a transaction.*engine\.connect\(\)"):
            writing(_config(connection), revision)

        assert connection.in_transaction()

    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT to_regclass('public.callers_own')").scalar()
    assert applied_versions(database_url) == set()
