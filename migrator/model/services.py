"""The registry of the platform's nine services.

A service's short name is at once its Alembic branch label, its folder under `services/` and its
PostgreSQL schema, so that nothing has to be mapped by hand. People type the names they know
from the platform's repositories (`crm-service`, `inosec-core`), so every alias resolves here and
nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from migrator.errors import UsageError


@dataclass(frozen=True)
class Service:
    """One service: its branch label, schema and folder are all `name`."""

    name: str
    display_name: str

    @property
    def schema(self) -> str:
        return self.name

    @property
    def branch_label(self) -> str:
        return self.name

    def versions_dir(self, project_root: Path) -> Path:
        return project_root / "services" / self.name / "versions"


SERVICES: tuple[Service, ...] = (
    Service("auth", "auth-service"),
    Service("user", "user-service"),
    Service("crm", "crm-service"),
    Service("erp", "erp-service"),
    Service("email", "email-service"),
    Service("ai", "ai-service"),
    Service("workflow", "workflow-service"),
    Service("inosec_core", "inosec-core"),
    Service("inosec_edge", "inosec-edge"),
)

_BY_NAME = {service.name: service for service in SERVICES}


def _canonical(name: str) -> str:
    key = name.strip().lower().replace("-", "_")
    return key.removesuffix("_service")


def resolve(name: str) -> Service:
    """Find a service by any of the names people use for it, or say which names exist."""
    service = _BY_NAME.get(_canonical(name))
    if service is None:
        valid = ", ".join(s.name for s in SERVICES)
        raise UsageError(
            f"unknown service {name!r}; valid services are: {valid} "
            "(the forms crm-service and inosec-core are accepted too)"
        )
    return service


def service_of_versions_dir(path: Path) -> Service | None:
    """The service whose `versions` folder holds `path`, if any."""
    folder = path.parent
    if folder.name != "versions":
        return None
    return _BY_NAME.get(folder.parent.name)
