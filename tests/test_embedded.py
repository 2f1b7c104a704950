"""The embedded default: no database configured, and the tool still works at once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_migrate

from migrator.ops import embedded


@pytest.fixture
def unconfigured_project(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project copy with no DATABASE_URL anywhere, whose embedded server is stopped after."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    yield project
    embedded.stop(embedded.data_dir(project))


def test_up_without_a_database_url_starts_the_embedded_server(unconfigured_project: Path) -> None:
    applied = run_migrate("up", project=unconfigured_project)
    status = run_migrate("status", "--json", project=unconfigured_project)

    assert applied.exit_code == 0, applied.output
    assert embedded.running_url(embedded.data_dir(unconfigured_project)) is not None
    rows = json.loads(status.output)
    assert len(rows) == 9 and all(row["pending"] == 0 for row in rows)


def test_db_start_url_and_stop_manage_the_embedded_server(unconfigured_project: Path) -> None:
    pgdata = embedded.data_dir(unconfigured_project)

    started = run_migrate("db", "start", project=unconfigured_project)
    url = run_migrate("db", "url", project=unconfigured_project)
    stopped = run_migrate("db", "stop", project=unconfigured_project)
    stopped_again = run_migrate("db", "stop", project=unconfigured_project)

    assert started.exit_code == 0, started.output
    assert url.output.startswith("postgresql://inopsio_user@127.0.0.1:")
    assert stopped.exit_code == 0 and "stopped" in stopped.output
    assert embedded.running_url(pgdata) is None
    assert "was not running" in stopped_again.output


def test_db_start_refuses_when_a_database_url_is_configured(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://someone:secret@db.example:5432/app")

    result = run_migrate("db", "start", project=project)

    assert result.exit_code == 2
    assert "DATABASE_URL is set" in result.output
    assert not embedded.data_dir(project).exists()
    assert "secret" not in result.output
