"""Alembic's entry point: hands over to the migrator, so `alembic` and `migrate` behave alike."""

from migrator.alembic_env import run

run()
