"""Service names: every form people type resolves to one service."""

from __future__ import annotations

import pytest

from migrator.errors import UsageError
from migrator.model import services


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("crm", "crm"),
        ("crm-service", "crm"),
        ("CRM", "crm"),
        ("inosec-core", "inosec_core"),
        ("inosec_core", "inosec_core"),
        ("inosec-edge", "inosec_edge"),
        ("user-service", "user"),
    ],
)
def test_aliases_resolve_to_the_service(typed: str, expected: str) -> None:
    assert services.resolve(typed).name == expected


def test_an_unknown_service_lists_the_valid_ones() -> None:
    with pytest.raises(UsageError) as raised:
        services.resolve("billing")

    assert "unknown service 'billing'" in str(raised.value)
    assert "auth, user, crm, erp, email, ai, workflow, inosec_core, inosec_edge" in str(
        raised.value
    )
