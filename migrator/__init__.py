"""The migration engine of the Inopsio platform."""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"


def ensure_up_to_date(
    service: str, database_url: str | None = None, project: Path | None = None
) -> list[str]:
    """Bring `service` (and what it depends on) to head at start-up, in development.

    Imported lazily so that `import migrator` stays cheap for services that never call it.
    """
    from migrator.commands.writing import ensure_up_to_date as ensure

    return ensure(service, database_url, project)
