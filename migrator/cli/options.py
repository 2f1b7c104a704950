"""The options the commands share, typed once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="PostgreSQL URL; defaults to $DATABASE_URL, else the embedded server.",
        show_default=False,
    ),
]
Project = Annotated[
    Path | None,
    typer.Option(
        "--project", help="The migrations project (folder of alembic.ini).", show_default=False
    ),
]
ServiceName = Annotated[
    str | None,
    typer.Option(
        "--service", "-s", help="A service: crm, crm-service, inosec-core, inosec_core..."
    ),
]
Version = Annotated[
    str | None, typer.Option("--version", "-v", help="A revision id, e.g. 20240101_001.")
]
AsSql = Annotated[bool, typer.Option("--sql", help="Print the SQL instead of running it.")]
LockTimeout = Annotated[
    str | None,
    typer.Option(help="How long a statement may wait for a lock (2s; MIGRATE_LOCK_TIMEOUT)."),
]
StatementTimeout = Annotated[
    str | None,
    typer.Option(help="How long a statement may run (off; MIGRATE_STATEMENT_TIMEOUT)."),
]
LockRetries = Annotated[
    int | None,
    typer.Option(help="Tries of a revision that hits lock_timeout (5; MIGRATE_LOCK_RETRIES)."),
]
LockWait = Annotated[
    str | None,
    typer.Option(help="How long to wait for another migrator to finish (120s; MIGRATE_LOCK_WAIT)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
Environment = Annotated[
    str | None,
    typer.Option(
        "--env",
        help="development, staging or production (MIGRATE_ENV; default development).",
        show_default=False,
    ),
]
Approve = Annotated[
    str | None,
    typer.Option(help="The hash of the plan you reviewed (`migrate plan`); production needs it."),
]
Phase = Annotated[
    str | None,
    typer.Option(
        help="expand: stop each branch before its first contract revision; contract: the rest."
    ),
]

Cascade = Annotated[
    bool, typer.Option("--cascade", help="Also roll back the revisions that depend on it.")
]
Yes = Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")]
