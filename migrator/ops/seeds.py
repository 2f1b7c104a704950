"""Seed data per environment: `services/<service>/seeds/<environment>.sql`.

Seeds give a developer (or a staging tester) a platform with something in it. They run after
migrations, service by service, each file in one transaction and only for services whose
branch is at head, so a seed never meets a table its revision has not created yet, and whose
dependencies' branches are at head too, so that the seeds a seed refers to (crm's customers
name auth's users) ran before it. Seed files must be idempotent (`INSERT ... ON CONFLICT DO
NOTHING`), because they run after every `up`. Those left out are reported, not silently
passed over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection

from migrator.errors import MigratorError
from migrator.model import services, sql


class SeedFailed(MigratorError):
    """A seed file failed; its transaction rolled back, the migrations stay applied."""


def seed_files(project_root: Path, which: str) -> list[Path]:
    paths = [
        project_root / "services" / s.name / "seeds" / f"{which}.sql" for s in services.SERVICES
    ]
    return [path for path in paths if path.is_file()]


@dataclass
class Seeding:
    """What a load did: the files run, and the services whose seeds were left out."""

    ran: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def load(connection: Connection, project_root: Path, which: str, at_head: set[str]) -> Seeding:
    """Run the `which` seeds of the services in `at_head`; the others are left out."""
    seeding = Seeding()
    for path in seed_files(project_root, which):
        service = path.parent.parent.name
        if service not in at_head:
            seeding.skipped.append(service)
            continue
        try:
            statements = sql.split(path.read_text())
        except sql.SqlError as error:
            raise SeedFailed(f"{path.name} of {path.parent.parent.name}: {error}") from error
        try:
            for statement in statements:
                connection.execution_options(no_parameters=True).exec_driver_sql(statement.text)
            connection.commit()
        except Exception as error:
            connection.rollback()
            raise SeedFailed(
                f"seed {path.parent.parent.name}/seeds/{path.name} failed: "
                f"{str(getattr(error, 'orig', error)).strip().splitlines()[0]}; fix the seed file "
                "(the migrations stay applied)"
            ) from error
        seeding.ran.append(path)
    return seeding
