"""`migrate status`: one row per service, as a table and as JSON."""

from __future__ import annotations

import getpass
import json
import socket

from conftest import PLATFORM_SERVICES, branch_of, platform_graph, run_migrate
from sqlalchemy.engine import URL

from migrator.model import services


def test_status_json_shows_current_head_and_pending_per_service(database_url: URL) -> None:
    run_migrate("up", "--service", "user", url=database_url)

    result = run_migrate("status", "--json", url=database_url)

    assert result.exit_code == 0, result.output
    rows = {row["service"]: row for row in json.loads(result.output)}
    assert len(rows) == 9
    auth = rows["auth"]
    # `up --service user` needs auth's first revision only; auth's later ones stay pending.
    first, *later = branch_of("auth")
    assert {key: auth[key] for key in ("current", "head", "pending", "pending_revisions")} == {
        "current": first,
        "head": later[-1] if later else first,
        "pending": len(later),
        "pending_revisions": later,
    }
    assert auth["last_action"] == "upgrade 20240101_001"
    assert auth["last_change_by"] == f"{getpass.getuser()}@{socket.gethostname()}"
    crm_revisions = platform_graph().branch(services.resolve("crm"))
    assert rows["crm"]["current"] is None and rows["crm"]["pending"] == len(crm_revisions)


def test_status_table_lists_the_nine_services(database_url: URL) -> None:
    run_migrate("up", url=database_url)

    result = run_migrate("status", url=database_url)

    assert result.exit_code == 0, result.output
    for service in PLATFORM_SERVICES:
        assert any(line.split()[:1] == [service] for line in result.output.splitlines())
    assert "pending" in result.output
