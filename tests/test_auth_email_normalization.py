"""auth's data migration 20240410_003: emails lower-cased and trimmed, and given back on down."""

from __future__ import annotations

from conftest import applied_versions, connection_to, run_migrate
from sqlalchemy.engine import URL

BEFORE, NORMALIZE = "20240410_002", "20240410_003"


def _insert_users(url: URL, *emails: str) -> None:
    with connection_to(url) as connection:
        for number, email in enumerate(emails):
            connection.exec_driver_sql(
                "INSERT INTO auth.users (email, password_hash) VALUES (%s, %s)",
                (email, f"hash-{number}"),
            )
        connection.commit()


def _emails(url: URL) -> list[str]:
    """The emails of the users inserted above, in their order (seeds add others at head)."""
    with connection_to(url) as connection:
        rows = connection.exec_driver_sql(
            "SELECT email FROM auth.users WHERE starts_with(password_hash, 'hash-')"
            " ORDER BY password_hash"
        )
        return rows.scalars().all()


def _side_table_exists(url: URL) -> bool:
    with connection_to(url) as connection:
        return connection.exec_driver_sql(
            "SELECT to_regclass('auth.email_normalization_originals') IS NOT NULL"
        ).scalar()


def test_emails_are_normalized_and_the_downgrade_restores_them(database_url: URL) -> None:
    run_migrate("up", "--version", BEFORE, url=database_url)
    _insert_users(database_url, "Alice.Martin@Example.COM", "bob@example.com", "CAROL@example.org")
    originals = _emails(database_url)

    up = run_migrate("up", "--version", NORMALIZE, url=database_url)
    normalized = _emails(database_url)
    down = run_migrate("down", "--version", NORMALIZE, url=database_url)

    assert up.exit_code == 0, up.output
    assert normalized == [email.lower() for email in originals]
    assert down.exit_code == 0, down.output
    assert _emails(database_url) == originals
    assert not _side_table_exists(database_url)


def test_emails_that_collide_once_normalized_stop_the_upgrade_and_change_nothing(
    database_url: URL,
) -> None:
    run_migrate("up", "--version", BEFORE, url=database_url)
    _insert_users(database_url, "Dana@example.com", "dana@example.com", "Eve@Example.com")
    originals = _emails(database_url)

    result = run_migrate("up", "--version", NORMALIZE, url=database_url)

    assert result.exit_code == 1
    assert "several accounts share" in result.output and "dana@example.com" in result.output
    assert "23505" in result.output
    assert _emails(database_url) == originals
    assert NORMALIZE not in applied_versions(database_url)
    assert not _side_table_exists(database_url)
