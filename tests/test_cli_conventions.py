"""The command line people expect: completion, flags that read as flags, help that flows at
any width, `--json` on the commands that report, numbers in human units, and the tables
readable in 80 columns with nothing essential cut."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from conftest import PROJECT_ROOT, connection_to, head_of, migrate_process, run_migrate, url_text
from rich.cells import cell_len
from sqlalchemy.engine import URL
from test_terminal import TerminalRun
from typer.testing import CliRunner

from migrator.cli import app

MIGRATE = str(Path(sys.executable).parent / "migrate")
LONG_HOST = "ci-runner-0123.build.example.internal"


def _command_paths(command: typer.core.TyperGroup, path: tuple[str, ...] = ()) -> list[tuple]:
    """Every command and group of `migrate`, as the words that name it."""
    found = [path]
    for name, sub in getattr(command, "commands", {}).items():
        found += _command_paths(sub, (*path, name))
    return found


COMMANDS = _command_paths(typer.main.get_command(app))


def _name(path: tuple[str, ...]) -> str:
    return " ".join(("migrate", *path))


def _help(path: tuple[str, ...], width: int, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("COLUMNS", str(width))
    result = CliRunner().invoke(app, [*path, "--help"], prog_name="migrate")
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def _broken_lines(lines: list[str]) -> list[str]:
    """Lines of a help panel that end although the first word of the line continuing them
    would have fitted: text that kept its source's line breaks. A continuation line starts in
    the description column (a new row starts at the panel's edge); typer's own `[default:
    ...]` and `[env var: ...]` lines start a line on purpose."""
    broken = []
    for line, following in itertools.pairwise(lines):
        if not (line.startswith("│") and following.startswith("│")):
            continue
        text, continued = line[1:-1].rstrip(), following[1:-1]
        words = continued.split()
        new_row = len(continued) - len(continued.lstrip()) <= 4
        if not text.strip() or not words or new_row or words[0].startswith("["):
            continue
        room = len(continued) - 2  # the column's right edge, less its padding
        if len(text) + 1 + len(words[0]) < room:
            broken.append(line)
    return broken


def _run(arguments: list[str], **environment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        arguments,
        capture_output=True,
        text=True,
        env={**os.environ, **environment},
        timeout=60,
        check=False,
    )


def test_completion_offers_the_subcommands_of_a_group() -> None:
    completed = _run(
        [MIGRATE], _MIGRATE_COMPLETE="complete_bash", COMP_WORDS="migrate deps ", COMP_CWORD="2"
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["check", "sync"]


def test_show_completion_prints_a_bash_script() -> None:
    # From a bash, as a person types it (the script is for the shell it is asked from).
    completed = _run(["bash", "-c", f'"{MIGRATE}" --show-completion bash; exit $?'])

    assert completed.returncode == 0, completed.stderr
    assert "complete -o default -F _migrate_completion migrate" in completed.stdout


def test_install_completion_adds_the_script_to_the_shell_of_the_user(tmp_path: Path) -> None:
    completed = _run(
        ["bash", "-c", f'"{MIGRATE}" --install-completion; exit $?'], HOME=str(tmp_path)
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "_migrate_completion" in (tmp_path / ".bash_completions" / "migrate.sh").read_text()
    assert ".bash_completions/migrate.sh" in (tmp_path / ".bashrc").read_text()


@pytest.mark.parametrize("path", COMMANDS, ids=_name)
def test_yes_or_no_options_are_shown_as_one_flag(
    path: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = "\n".join(_help(path, 120, monkeypatch))

    assert "--no-" not in shown and "<bool>" not in shown


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("path", COMMANDS, ids=_name)
def test_help_fits_the_width_and_flows_without_broken_lines(
    path: tuple[str, ...], width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = _help(path, width, monkeypatch)

    assert [line for line in lines if cell_len(line) > width] == []
    assert _broken_lines(lines) == []


def test_deps_check_json_lists_no_problem_when_the_yaml_agrees() -> None:
    result = run_migrate("deps", "check", "--json")

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["problems"] == [] and document["revisions"] > 0


def test_deps_check_json_lists_each_disagreement_and_exits_1(project: Path) -> None:
    yaml_file = project / "migration-dependencies.yml"
    yaml_file.write_text(yaml_file.read_text().replace(", '20240101_002']", "]", 1))

    result = run_migrate("deps", "check", "--json", project=project)

    assert result.exit_code == 1
    [problem] = json.loads(result.stdout)["problems"]
    assert problem.startswith("20240101_003: depends_on")


def test_drift_json_reports_the_differences_as_a_list(database_url: URL) -> None:
    result = run_migrate("drift", "--json", url=database_url)

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"differences": []}


def test_verify_json_reports_the_plan_and_its_differences(database_url: URL) -> None:
    result = run_migrate("verify", "--version", "20240101_001", "--json", url=database_url)

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["revisions"] == ["20240101_001"] and document["differences"] == []
    assert len(document["hash"]) == 12


def test_backup_list_shows_sizes_in_human_units_and_json_keeps_bytes(project: Path) -> None:
    backups = project / "backups"
    backups.mkdir()
    (backups / "development_20260101T120000000000Z_manual.dump").write_bytes(b"\0" * 3 * 1024**2)

    result = run_migrate("backup", "list", project=project)
    listed = json.loads(run_migrate("backup", "list", "--json", project=project).stdout)

    assert result.exit_code == 0, result.output
    assert "3.0 MB" in result.output and "3145728" not in result.output
    assert [item["bytes"] for item in listed] == [3 * 1024**2]


@pytest.fixture(scope="module")
def migrated_by_a_long_host(new_database_module: URL) -> URL:
    """auth, user and crm applied, their history rows written by a user on a host with a long
    name, as CI runners have: the widest `by` a table meets."""
    result = run_migrate("up", "--service", "crm", url=new_database_module)
    assert result.exit_code == 0, result.output
    with connection_to(new_database_module) as connection:
        connection.exec_driver_sql(
            f"UPDATE migrator.migration_history SET host = '{LONG_HOST}', os_user = 'jenkins'"
        )
        connection.commit()
    return new_database_module


def _in_80_columns(url: URL, *arguments: str) -> subprocess.CompletedProcess[str]:
    """The command as a CI log records it: no terminal, 80 columns (judged as
    test_terminal judges a terminal's lines)."""
    return _run(migrate_process(*arguments, url=url), COLUMNS="80")


def test_status_in_80_columns_keeps_every_revision_id_whole(migrated_by_a_long_host: URL) -> None:
    completed = _in_80_columns(migrated_by_a_long_host, "status")

    lines = completed.stdout.splitlines()
    assert completed.returncode == 0, completed.stderr
    assert TerminalRun(completed.returncode, completed.stdout).too_wide == []
    crm = next(line.split() for line in lines if line.split()[:1] == ["crm"])
    assert crm[1:4] == [head_of("crm"), head_of("crm"), "0"]


def test_history_has_a_header_and_durations_in_human_units(migrated_by_a_long_host: URL) -> None:
    completed = _in_80_columns(migrated_by_a_long_host, "history")

    header, *rows = completed.stdout.splitlines()
    assert completed.returncode == 0, completed.stderr
    assert header.split() == ["when", "revision", "service", "direction", "outcome", "took", "by"]
    newest = rows[0].split()
    assert newest[2] == head_of("crm") and newest[7] in ("ms", "s")
    assert TerminalRun(completed.returncode, completed.stdout).too_wide == []
    assert f"jenkins@{LONG_HOST}" in completed.stdout  # wrapped onto its own line, not cut


def test_health_in_80_columns_wraps_instead_of_cutting(migrated_by_a_long_host: URL) -> None:
    completed = _in_80_columns(migrated_by_a_long_host, "health", "--service", "crm")

    lines = completed.stdout.splitlines()
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert TerminalRun(completed.returncode, completed.stdout).too_wide == []
    assert next(line.split()[:2] for line in lines if line.startswith("ok")) == [
        "ok",
        "connectivity",
    ]


def test_alembic_sh_runs_readme_plain_alembic_examples(database_url: URL) -> None:
    def alembic_sh(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["./alembic.sh", *arguments],
            cwd=PROJECT_ROOT,
            env={**os.environ, "DATABASE_URL": url_text(database_url)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    upgraded = alembic_sh("upgrade", "heads")
    downgraded = alembic_sh("downgrade", "crm@base")

    assert upgraded.returncode == 0 and downgraded.returncode == 0, downgraded.stderr
    statuses = json.loads(run_migrate("status", "--json", url=database_url).stdout)
    current = {row["service"]: row["current"] for row in statuses}
    assert current["crm"] is None and current["auth"] == head_of("auth")
