"""What a new revision file says: its id, its author and the template's arguments.

Engineers write a migration every week; the tool writes the boilerplate, for `migrate new`,
`import-sql` and autogenerate alike.
"""

from __future__ import annotations

import datetime
import getpass
import json
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from migrator.errors import UsageError
from migrator.model import services


def next_revision_id(existing: Iterable[str], today: datetime.date) -> str:
    """`YYYYMMDD_NNN`: today's date and the next number free among today's ids (of any
    service: ids are one namespace)."""
    prefix = f"{today:%Y%m%d}_"
    numbers = [
        int(rev[len(prefix) :])
        for rev in existing
        if rev.startswith(prefix) and rev[len(prefix) :].isdigit()
    ]
    number = max(numbers, default=0) + 1
    if number > 999:
        raise UsageError(f"999 revisions already carry the date {today:%Y-%m-%d}; try tomorrow")
    return f"{prefix}{number:03d}"


def author(project_root: Path) -> str:
    """`Name <email>` from git config, as the header's Author; the login name without git."""

    def git(key: str) -> str:
        try:
            result = subprocess.run(
                ["git", "config", key],
                cwd=project_root,
                capture_output=True,
                text=True,
                check=False,
            )
        except OSError:
            return ""
        return result.stdout.strip()

    name, email = git("user.name"), git("user.email")
    if name and email:
        return f"{name} <{email}>"
    return name or email or getpass.getuser()


def arguments(
    project_root: Path,
    service: services.Service,
    title: str,
    depends_on: Iterable[str],
    upgrade_sql: str | None = None,
    downgrade_sql: str | None = None,
) -> dict[str, Any]:
    return {
        "title": title,
        "service_display_name": service.display_name,
        "author": author(project_root),
        "dependencies": json.dumps(sorted(depends_on)),
        "upgrade_sql": upgrade_sql,
        "downgrade_sql": downgrade_sql,
    }


def render(
    project_root: Path,
    *,
    revision: str,
    service: services.Service,
    title: str,
    down_revision: str | None,
    branch_labels: tuple[str, ...],
    depends_on: tuple[str, ...],
    upgrade_sql: str,
    downgrade_sql: str,
) -> str:
    """A revision file's text from the project's template, as Alembic renders it for `migrate
    new`, for a file the tool writes whole (a squash)."""
    from mako.template import Template

    script = Template(filename=str(project_root / "script.py.mako"))
    return script.render_unicode(
        up_revision=revision,
        down_revision=down_revision,
        branch_labels=branch_labels,
        depends_on=depends_on or None,
        create_date=datetime.datetime.now(),
        message=title,
        **arguments(project_root, service, title, depends_on, upgrade_sql, downgrade_sql),
    )
