"""The embedded PostgreSQL a new user gets when no database is configured: start, url, stop."""

from __future__ import annotations

from sqlalchemy.engine import URL

from migrator.context import Context
from migrator.errors import UsageError
from migrator.ops import embedded


def _refuse_unless_embedded(ctx: Context) -> None:
    if not ctx.settings.uses_embedded_server:
        raise UsageError(
            "DATABASE_URL is set, so the embedded server is not used; unset it to manage the "
            "embedded server"
        )


def start(ctx: Context) -> URL:
    """Start the embedded server (if it is not running) and create its database; returns the
    URL people and services use: the application login on 127.0.0.1."""
    _refuse_unless_embedded(ctx)
    database = str(ctx.url.database)  # starting the server and creating it if needed
    return embedded.app_url(embedded.data_dir(ctx.settings.project_root), database)


def stop(ctx: Context) -> bool:
    """Stop the embedded server (its data stays); False when it was not running."""
    _refuse_unless_embedded(ctx)
    return embedded.stop(embedded.data_dir(ctx.settings.project_root))
