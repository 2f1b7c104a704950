"""The models say what the migrations build: Alembic's comparison finds nothing, per service."""

from __future__ import annotations

import pytest
from conftest import PROJECT_ROOT, connection_to, platform_graph, run_migrate
from sqlalchemy.engine import URL

from migrator.model import services
from migrator.model import tables as models


@pytest.fixture(scope="module")
def migrated(new_database_module: URL) -> URL:
    result = run_migrate("up", url=new_database_module)
    assert result.exit_code == 0, result.output
    return new_database_module


@pytest.mark.parametrize("service", services.SERVICES, ids=lambda s: s.name)
def test_models_agree_with_the_migrated_schema(migrated: URL, service: services.Service) -> None:
    if not (PROJECT_ROOT / "services" / service.name / "models.py").is_file():
        pytest.fail(f"services/{service.name}/models.py is missing")
    metadata = models.load(PROJECT_ROOT)
    with connection_to(migrated) as connection:
        found = models.differences(connection, metadata, service)
    assert found == []


def test_the_platform_is_more_than_a_table_per_service(migrated: URL) -> None:
    graph = platform_graph()
    with connection_to(migrated) as connection:
        tables = connection.exec_driver_sql(
            "SELECT count(*) FROM pg_tables WHERE schemaname = ANY(%s)",
            ([service.schema for service in services.SERVICES],),
        ).scalar()

    assert tables >= 35
    assert all(len(graph.branch(service)) >= 3 for service in services.SERVICES)
