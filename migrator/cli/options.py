"""The options the commands share, typed once."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

R = TypeVar("R")

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


def flag(name: str, help: str) -> Any:
    """A yes-or-no option, named once: typer gives a bool option without a name of its own
    a `--no-` twin and prints both in the help (`--strict/--no-strict`); named, it is the one
    flag people type."""
    return Annotated[bool, typer.Option(name, help=help)]


AsSql = flag("--sql", "Print the SQL instead of running it.")


def _engine_setting(kind: type, help: str) -> Any:
    """An engine setting's option: unset unless given (then it beats the environment and
    pyproject)."""
    return Annotated[kind | None, typer.Option(help=help)]


LockTimeout = _engine_setting(
    str, "How long a statement may wait for a lock (2s; MIGRATE_LOCK_TIMEOUT)."
)
StatementTimeout = _engine_setting(
    str, "How long a statement may run (off; MIGRATE_STATEMENT_TIMEOUT)."
)
LockRetries = _engine_setting(
    int, "Tries of a revision that hits lock_timeout (5; MIGRATE_LOCK_RETRIES)."
)
LockWait = _engine_setting(
    str, "How long to wait for another migrator to finish (120s; MIGRATE_LOCK_WAIT)."
)
MaxReplicaLag = _engine_setting(
    str,
    "How far a streaming replica may lag before backfills pause (10s; off; "
    "MIGRATE_MAX_REPLICA_LAG).",
)
AsJson = flag("--json", "Machine-readable output.")
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

Cascade = flag("--cascade", "Also roll back the revisions that depend on it.")
Yes = flag("--yes", "Do not ask for confirmation.")


@dataclass(frozen=True)
class Target:
    """Where a command works, as given on its command line: the project, the database, the
    environment, the engine settings, and the service or revision it aims at (each None or
    absent unless given)."""

    project: Path | None = None
    database_url: str | None = None
    environment: str | None = None
    engine_flags: dict[str, Any] = field(default_factory=dict)
    service: str | None = None
    version: str | None = None


_SELECTION = {"service": ServiceName, "version": Version}
_DATABASE = {"database_url": DatabaseUrl}
_ENVIRONMENT = {"environment": Environment}
_ENGINE = {
    "lock_timeout": LockTimeout,
    "statement_timeout": StatementTimeout,
    "lock_retries": LockRetries,
    "lock_wait": LockWait,
    "max_replica_lag": MaxReplicaLag,
}


def target_options(
    *,
    database: bool = True,
    environment: bool = False,
    engine: bool = False,
    selection: bool = False,
) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """Give a command the shared options (`--project` always; `--service` and `--version`,
    `--database-url`, `--env` and the engine settings as asked), handed to it as one
    `target: Target` argument, so that commands declare only their own options."""
    shared: dict[str, Any] = {
        **(_SELECTION if selection else {}),
        **(_DATABASE if database else {}),
        **(_ENVIRONMENT if environment else {}),
        **(_ENGINE if engine else {}),
        "project": Project,
    }

    def decorate(command: Callable[..., R]) -> Callable[..., R]:
        own = [
            parameter
            for parameter in inspect.signature(command, eval_str=True).parameters.values()
            if parameter.name != "target"
        ]
        added = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=kind)
            for name, kind in shared.items()
        ]

        @functools.wraps(command)
        def with_target(**arguments: Any) -> R:
            given = {name: arguments.pop(name) for name in shared}
            target = Target(
                project=given.get("project"),
                database_url=given.get("database_url"),
                environment=given.get("environment"),
                engine_flags={
                    name: value for name in _ENGINE if (value := given.get(name)) is not None
                },
                service=given.get("service"),
                version=given.get("version"),
            )
            return command(**arguments, target=target)

        with_target.__signature__ = inspect.Signature(own + added)  # type: ignore[attr-defined]
        with_target.__annotations__ = {
            **{p.name: p.annotation for p in own},
            **shared,
        }
        return with_target

    return decorate
