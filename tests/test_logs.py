"""Structured logs: one JSON object per event, with the fields operators filter on."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import (
    PROJECT_ROOT,
    add_revision,
    connection_to,
    head_of,
    migrate_process,
    url_text,
)
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from migrator.cli import app
from migrator.run.lock import migration_lock

COMMON = {"timestamp", "event", "run_id", "environment", "message"}


def _migrate_logged(log: Path, *args: str, url: URL, project: Path = PROJECT_ROOT) -> int:
    result = CliRunner().invoke(
        app,
        [
            "--log-format",
            "json",
            "--log-file",
            str(log),
            *args,
            "--project",
            str(project),
            "--database-url",
            url_text(url),
        ],
        catch_exceptions=False,
    )
    return result.exit_code


def _events(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_a_run_logs_its_start_each_revision_and_its_end(tmp_path: Path, database_url: URL) -> None:
    log = tmp_path / "migrate.jsonl"

    assert _migrate_logged(log, "up", "--service", "erp", url=database_url) == 0

    events = _events(log)
    names = [event["event"] for event in events]
    assert names[0] == "run_started" and "run_finished" in names
    # After the run, only the seeds' report: erp's seeds wait for the services not brought up.
    assert set(names[names.index("run_finished") + 1 :]) == {"seeds_skipped"}
    assert all(event.keys() >= COMMON for event in events)
    assert len({event["run_id"] for event in events}) == 1
    assert {event["environment"] for event in events} == {"development"}
    finished = [event for event in events if event["event"] == "step_finished"]
    assert [event["revision"] for event in finished][-1] == head_of("erp")
    assert all(
        event["service"] in ("auth", "erp") and event["duration_ms"] >= 0 for event in finished
    )
    assert names.count("step_started") == len(finished)
    assert events[names.index("run_finished")]["outcome"] == "succeeded"


def test_a_failure_logs_sqlstate_message_and_statement_without_the_password(
    project: Path, tmp_path: Path, database_url: URL
) -> None:
    add_revision(
        project,
        "erp",
        "20240601_001",
        down_revision=head_of("erp"),
        upgrade="\nSELECT 1 / 0;\n",
    )
    log = tmp_path / "migrate.jsonl"
    with_password = database_url.set(password="s3cret-pw")

    code = _migrate_logged(log, "up", "--service", "erp", url=with_password, project=project)

    assert code == 1
    text = log.read_text()
    assert "s3cret-pw" not in text
    [failed] = [event for event in _events(log) if event["event"] == "step_failed"]
    assert failed["sqlstate"] == "22012" and failed["revision"] == "20240601_001"
    assert failed["statement"] == "SELECT 1 / 0" and "division by zero" in failed["message"]
    assert failed["service"] == "erp"
    assert _events(log)[-1]["outcome"] == "failed"


def test_lock_waits_and_batch_checkpoints_are_logged(
    project: Path, tmp_path: Path, database_url: URL
) -> None:
    log = tmp_path / "migrate.jsonl"
    add_revision(
        project,
        "erp",
        "20240601_001",
        down_revision=head_of("erp"),
        upgrade="CREATE TABLE IF NOT EXISTS erp.tags (id bigint PRIMARY KEY, n int DEFAULT 0);"
        "INSERT INTO erp.tags (id) SELECT generate_series(1, 250);",
    )
    path = project / "services/erp/versions/20240601_002_erp_count_tags.py"
    path.write_text(
        '"""Count tags\n\nMigration: count tags\nService: erp-service\nAuthor: Tests '
        '<tests@inopsio.example>\nDate: 2024-06-01\nDependencies: []\n"""\n\n'
        "from migrator.revision import backfill\n\n"
        'revision = "20240601_002"\ndown_revision = "20240601_001"\nbranch_labels = ()\n'
        'depends_on = None\nUPGRADE = ""\nDOWNGRADE = ""\n\n\n'
        "def upgrade() -> None:\n"
        '    backfill("erp.tags", set="n = n + 1", batch_size=100)\n\n\n'
        "def downgrade() -> None:\n    pass\n"
    )
    with (
        connection_to(database_url) as holder,
        migration_lock(holder, "migrator", 1000, lambda event: None),
    ):
        waited = _migrate_logged(log, "up", "--lock-wait", "1s", url=database_url, project=project)
    applied = _migrate_logged(log, "up", "--service", "erp", url=database_url, project=project)

    events = _events(log)
    assert waited == 1 and applied == 0
    busy = [event for event in events if event["event"] == "lock_busy"]
    assert busy and "pid" in busy[0]["holder"]
    batches = [event for event in events if event["event"] == "batch_progress"]
    assert [event["rows_done"] for event in batches] == [100, 200, 250]
    assert batches[-1]["last_key"] == "[250]" and batches[-1]["service"] == "erp"


def test_text_format_without_a_log_file_writes_event_lines_to_standard_error(
    database_url: URL,
) -> None:
    command = migrate_process("up", "--version", "20240101_001", url=database_url)
    command[3:3] = ["--log-format", "text"]  # a global option, before the command

    completed = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    assert completed.returncode == 0, completed.stderr
    lines = [line.split() for line in completed.stderr.splitlines()]
    events = {words[2] for words in lines if len(words) > 2 and words[1] == "development"}
    assert {"run_started", "step_finished", "run_finished"} <= events
