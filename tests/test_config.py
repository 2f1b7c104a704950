"""Where the engine's settings come from: flag > environment variable > pyproject > default."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_migrate

from migrator.config import load_settings


def _pyproject_with(project: Path, text: str) -> None:
    path = project / "pyproject.toml"
    path.write_text(path.read_text() + "\n" + text)


def test_defaults_are_two_seconds_of_lock_wait_and_no_statement_limit(project: Path) -> None:
    engine = load_settings(project=project).engine

    assert (engine.lock_timeout_ms, engine.statement_timeout_ms, engine.lock_retries) == (
        2000,
        0,
        5,
    )


def test_an_environment_overrides_pyproject_and_a_flag_overrides_both(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _pyproject_with(
        project,
        '[tool.migrator.environments.production]\nstatement_timeout = "5min"\n'
        'lock_timeout = "1s"\n',
    )
    monkeypatch.setenv("MIGRATE_ENV", "production")
    monkeypatch.setenv("MIGRATE_LOCK_TIMEOUT", "3s")

    engine = load_settings(project=project, engine_flags={"lock_retries": 2}).engine

    assert engine.statement_timeout_ms == 300_000
    assert engine.lock_timeout_ms == 3000
    assert engine.lock_retries == 2


def test_a_duration_that_does_not_parse_is_refused_before_connecting(project: Path) -> None:
    result = run_migrate("up", "--lock-timeout", "2 parsecs", project=project)

    assert result.exit_code == 2
    assert "lock_timeout = '2 parsecs' is not a duration" in result.output


def test_an_access_exclusive_wait_is_under_half_a_second_unless_configured(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = load_settings(project=project).engine.exclusive_lock_timeout_ms
    _pyproject_with(project, '[tool.migrator.environments.staging]\nexclusive_lock_timeout = "1s"')
    staging = load_settings(project=project, environment="staging").engine
    monkeypatch.setenv("MIGRATE_EXCLUSIVE_LOCK_TIMEOUT", "250ms")
    from_environment = load_settings(project=project).engine

    assert default == 400
    assert staging.exclusive_lock_timeout_ms == 1000
    assert from_environment.exclusive_lock_timeout_ms == 250


def test_replica_lag_is_ten_seconds_unless_pyproject_the_environment_or_a_flag_says_otherwise(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = load_settings(project=project).engine.max_replica_lag_ms
    path = project / "pyproject.toml"
    path.write_text(
        path.read_text().replace("[tool.migrator]\n", '[tool.migrator]\nmax_replica_lag = "30s"\n')
    )
    configured = load_settings(project=project).engine.max_replica_lag_ms
    monkeypatch.setenv("MIGRATE_MAX_REPLICA_LAG", "off")
    switched_off = load_settings(project=project).engine.max_replica_lag_ms
    flagged = load_settings(project=project, engine_flags={"max_replica_lag": "2s"}).engine

    assert (default, configured, switched_off, flagged.max_replica_lag_ms) == (
        10_000,
        30_000,
        0,
        2000,
    )


def test_a_max_replica_lag_flag_that_does_not_parse_is_refused(project: Path) -> None:
    result = run_migrate("up", "--max-replica-lag", "soon", project=project)

    assert result.exit_code == 2
    assert "max_replica_lag = 'soon' is not a duration" in result.output
