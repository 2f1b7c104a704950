"""Bad input of every kind gets one `error:` line, the house exit code, and nothing else.

People mistype options, paste URLs with unescaped passwords, break revision files and point
settings at folders that do not exist. Each row below is one such mistake; every row holds the
same promises: the exit code of the house convention (2 for wrong input, 1 for work that could
not be done), a first `error:` line that says what was wrong, no Python traceback, no part of a
password anywhere in the output, and the database exactly as it was before (its catalog, the
tool's schema included, and the rows of the version table).

Rows that only read share one migrated database; a row whose command would write if its check
were missing gets a copy of it (or an empty database) of its own, so a broken check shows up as
a changed fingerprint here instead of as damage to the rows that follow.
"""

from __future__ import annotations

import ast
import contextlib
import os
import shlex
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    PROJECT_ROOT,
    add_revision,
    connection_to,
    head_of,
    migrate_process,
    run_migrate,
    url_text,
)
from pytest_postgresql.janitor import DatabaseJanitor
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from migrator.cli import app
from migrator.model import cache

# Which database a row runs against.
SHARED = "shared"  # the module's migrated database: for rows that cannot write
COPY = "copy"  # a fresh copy of the migrated database: for rows that would write
EMPTY = "empty"  # a fresh, empty database: for rows that would migrate it from nothing

ERP_FILE = "services/erp/versions/20240101_004_erp_create_products.py"
CRM_BACKFILL_FILE = "services/crm/versions/20240420_001_crm_backfill_customers_email_normalized.py"
# Variables a developer's shell may carry, which would change what a row tests.
_AMBIENT = ("DATABASE_URL", "MIGRATOR_PROJECT", "MIGRATE_LOG_FORMAT", "MIGRATE_LOG_FILE")


@dataclass(frozen=True)
class Bench:
    """What a row's setup and its command line may refer to."""

    project: Path  # a copy of the project, the row may change it
    scratch: Path  # an empty folder for files the row points at
    url: URL  # the database the row runs against
    role: str  # a LOGIN role with no privileges at all

    def fill(self, text: str) -> str:
        return text.format(scratch=self.scratch, project=self.project, role=self.role)


@dataclass(frozen=True)
class BadInput:
    """One mistake: the command line, what must come out, and how to set the scene."""

    args: tuple[str, ...]
    exit_code: int
    words: tuple[str, ...]  # each must be in the first `error:` line ({role} etc. filled in)
    database: str = SHARED
    prepare: Callable[[Bench], None] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    # The --database-url given: the row's database by default, None for commands without
    # the option (or for rows that give DATABASE_URL), else built from the bench.
    url: Callable[[Bench], str] | None = lambda bench: url_text(bench.url)
    secrets: tuple[str, ...] = ()  # text that must appear nowhere in the output
    in_subprocess: bool = False  # run `python -m migrator` where the entry point matters
    project_option: bool = True  # append --project (rows about finding the project do not)


# -- setting the scene -------------------------------------------------------------------------


def edit(relative: str, old: str, new: str) -> Callable[[Bench], None]:
    """Replace text in a file of the project copy (the text must be there)."""

    def prepare(bench: Bench) -> None:
        path = bench.project / relative
        text = path.read_text()
        assert old in text, f"{old!r} is not in {relative}"
        path.write_text(text.replace(old, new, 1))

    return prepare


def write(relative: str, text: str) -> Callable[[Bench], None]:
    """Write a file into the project copy (or, with {scratch}, into the scratch folder)."""

    def prepare(bench: Bench) -> None:
        path = Path(bench.fill(relative))
        path = path if path.is_absolute() else bench.project / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    return prepare


SETTING_ANCHOR = 'embedded_database = "inopsio_db"\n'
# The line of pyproject.toml that `setting` adds.
SETTING_LINE = (PROJECT_ROOT / "pyproject.toml").read_text().split(SETTING_ANCHOR)[0].count(
    "\n"
) + 2


def setting(line: str) -> Callable[[Bench], None]:
    """Add a line ({scratch} filled in) to [tool.migrator] in the copy's pyproject.toml."""

    def prepare(bench: Bench) -> None:
        edit("pyproject.toml", SETTING_ANCHOR, f"{SETTING_ANCHOR}{bench.fill(line)}\n")(bench)

    return prepare


def pyproject_table(text: str) -> Callable[[Bench], None]:
    """Append a table (e.g. an environment's policy) to the copy's pyproject.toml."""

    def prepare(bench: Bench) -> None:
        path = bench.project / "pyproject.toml"
        path.write_text(path.read_text() + "\n" + text + "\n")

    return prepare


def revision(
    service: str = "crm",
    rev: str = "20250101_001",
    *,
    down_revision: str | None = "head",
    upgrade: str = "CREATE TABLE IF NOT EXISTS crm.bad_input_probe (id int);",
    downgrade: str = "DROP TABLE IF EXISTS crm.bad_input_probe;",
    depends_on: tuple[str, ...] = (),
) -> Callable[[Bench], None]:
    """Add a revision to the copy; by default a harmless pending one after crm's head."""

    def prepare(bench: Bench) -> None:
        add_revision(
            bench.project,
            service,
            rev,
            down_revision=head_of(service) if down_revision == "head" else down_revision,
            upgrade=upgrade,
            downgrade=downgrade,
            depends_on=depends_on,
        )

    return prepare


def regular_file(relative: str) -> Callable[[Bench], None]:
    """A regular file in the scratch folder, where a folder is expected below it."""

    def prepare(bench: Bench) -> None:
        (bench.scratch / relative).write_text("not a folder\n")

    return prepare


def together(*steps: Callable[[Bench], None]) -> Callable[[Bench], None]:
    """Several changes to the scene, in order."""

    def prepare(bench: Bench) -> None:
        for step in steps:
            step(bench)

    return prepare


def closed_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on (it was free a moment ago)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def literal(url: str) -> Callable[[Bench], str]:
    return lambda bench: url


def as_role(bench: Bench) -> str:
    return url_text(bench.url.set(username=bench.role, password=None))


def on_test_server(**changes: Any) -> Callable[[Bench], str]:
    return lambda bench: url_text(bench.url.set(**changes))


def row(id: str, command: str, exit_code: int, *words: str, **scene: Any) -> Any:
    """One mistake: the command line as a person types it (split like a shell does; {scratch}
    and {project} filled in), the exit code, the words the first `error:` line must hold, and
    the scene (BadInput's other fields)."""
    bad = BadInput(tuple(shlex.split(command)), exit_code, words, **scene)
    return pytest.param(bad, id=id)


# -- the table ---------------------------------------------------------------------------------

UNKNOWN_SERVICE = ("unknown service 'billing'", "valid services are")
UNKNOWN_REVISION = ("no revision '20991231_001'", "migrate status")
UNKNOWN_ENVIRONMENT = ("unknown environment 'qa'", "development, staging, production")
NOT_A_DURATION = ("is not a duration", "500ms")
TOO_LONG = ("longer than PostgreSQL accepts", "at most 2147483647ms")
BAD_PORT = ("port is not a number from 1 to 65535",)
UNESCAPED_AT = ("more than one unescaped @", "%40")
NOT_POSTGRESQL = ("only PostgreSQL is supported",)
NO_URL = None
# A pending revision, so that a row whose check failed would have something to apply.
PENDING = revision()
# Lines that make the ERP revision something other than a revision.
ERP_IMPORT = "from migrator.revision import run_sql"
ERP_SETTINGS = "depends_on = None"
ERP_UPGRADE_CALL = "    run_sql(UPGRADE)"
ERP_FIRST_STATEMENT = "CREATE SCHEMA IF NOT EXISTS erp;"


def erp_setting(line: str) -> Callable[[Bench], None]:
    """A module-level setting added to the ERP revision."""
    return edit(ERP_FILE, ERP_SETTINGS, f"{ERP_SETTINGS}\n{line}")


ROWS = [
    # Names that do not exist.
    row("up-unknown-service", "up --service billing", 2, *UNKNOWN_SERVICE),
    row("plan-unknown-service", "plan --service billing", 2, *UNKNOWN_SERVICE),
    row("down-unknown-service", "down --service billing", 2, *UNKNOWN_SERVICE, database=COPY),
    row("history-unknown-service", "history --service billing", 2, *UNKNOWN_SERVICE),
    row("lint-unknown-service", "lint --service billing", 2, *UNKNOWN_SERVICE),
    row("new-unknown-service", "new --service billing -m 'add things'", 2, *UNKNOWN_SERVICE),
    row("up-unknown-revision", "up --version 20991231_001", 2, *UNKNOWN_REVISION),
    row(
        "down-unknown-revision",
        "down --version 20991231_001",
        2,
        *UNKNOWN_REVISION,
        database=COPY,
    ),
    row("plan-unknown-revision", "plan --version 20991231_001", 2, *UNKNOWN_REVISION),
    row(
        "repair-unknown-revision",
        "repair --version 20991231_001",
        2,
        *UNKNOWN_REVISION,
        database=COPY,
    ),
    row("verify-unknown-revision", "verify --version 20991231_001", 2, *UNKNOWN_REVISION),
    row(
        "new-depends-on-unknown-revision",
        "new --service crm -m 'add things' --depends-on 20991231_001",
        2,
        *UNKNOWN_REVISION,
    ),
    row("up-unknown-phase", "up --phase sideways", 2, "--phase 'sideways'", "expand or contract"),
    row("plan-unknown-phase", "plan --phase sideways", 2, "--phase 'sideways'"),
    row("up-unknown-environment", "up --env qa", 2, *UNKNOWN_ENVIRONMENT),
    row("plan-unknown-environment", "plan --env qa", 2, *UNKNOWN_ENVIRONMENT),
    row("backup-unknown-environment", "backup --env qa", 2, *UNKNOWN_ENVIRONMENT, database=COPY),
    row(
        "status-unknown-environment-from-MIGRATE_ENV",
        "status",
        2,
        *UNKNOWN_ENVIRONMENT,
        env={"MIGRATE_ENV": "qa"},
    ),
    # Values out of range.
    row("lock-timeout-1e30s", "up --lock-timeout 1e30s", 2, "lock_timeout = '1e30s'", *TOO_LONG),
    row("lock-timeout-abc", "up --lock-timeout abc", 2, "lock_timeout = 'abc'", *NOT_A_DURATION),
    row("lock-timeout-inf", "up --lock-timeout inf", 2, "lock_timeout = 'inf'", *NOT_A_DURATION),
    row("lock-timeout-nan", "up --lock-timeout nan", 2, "lock_timeout = 'nan'", *NOT_A_DURATION),
    row("lock-timeout-negative", "up --lock-timeout -5s", 2, "'-5s'", *NOT_A_DURATION),
    row(
        "lock-timeout-below-a-millisecond",
        "up --lock-timeout 0.1ms",
        2,
        "lock_timeout = '0.1ms'",
        "at least 1ms",
    ),
    row("statement-timeout-in-days", "up --statement-timeout 25days", 2, *NOT_A_DURATION),
    row("lock-wait-beyond-postgresql", "up --lock-wait 600000h", 2, "lock_wait", *TOO_LONG),
    row("lock-retries-0", "up --lock-retries 0", 2, "lock_retries = 0", "at least 1"),
    row("history-limit-negative", "history --limit -1", 2, "--limit -1", "0 or more"),
    row(
        "health-long-transaction-soon",
        "health --long-transaction soon",
        2,
        "'soon' is not a duration",
    ),
    # Files and folders.
    row(
        "lint-missing-file",
        "lint /no/such/file.py",
        2,
        "no such revision file",
        "/no/such/file.py",
    ),
    row(
        "lint-file-outside-the-revisions",
        "lint {project}/not-a-revision.py",
        2,
        "none of the given files",
        prepare=write("not-a-revision.py", "x = 1\n"),
    ),
    row(
        "export-sql-into-existing-file",
        "export-sql {scratch}/existing.sql",
        2,
        "exists and is not an empty folder",
        prepare=write("{scratch}/existing.sql", "SELECT 1;\n"),
        url=NO_URL,
    ),
    row(
        "export-sql-below-a-regular-file",
        "export-sql {scratch}/a-file/out",
        2,
        "a-file is a file, not a folder",
        prepare=regular_file("a-file"),
        url=NO_URL,
    ),
    row(
        "import-sql-missing-file",
        "import-sql /no/such/migration.sql --service crm",
        2,
        "no such file or folder: /no/such/migration.sql",
        url=NO_URL,
    ),
    row(
        "import-sql-empty-folder",
        "import-sql {scratch} --service crm",
        2,
        "no .sql files",
        url=NO_URL,
    ),
    row(
        "log-file-in-missing-folder",
        "--log-file {scratch}/missing/migrate.jsonl status",
        2,
        "--log-file",
        "missing does not exist",
    ),
    row("log-file-is-a-folder", "--log-file {scratch} status", 2, "--log-file", "is a folder"),
    row(
        "log-file-in-missing-folder-refused-before-up-runs",
        "--log-file {scratch}/missing/migrate.jsonl up",
        2,
        "--log-file",
        "does not exist",
        database=COPY,
        prepare=PENDING,
    ),
    row(
        "MIGRATE_LOG_FILE-in-missing-folder",
        "status",
        2,
        "MIGRATE_LOG_FILE",
        "does not exist",
        env={"MIGRATE_LOG_FILE": "{scratch}/missing/migrate.jsonl"},
    ),
    row(
        "log-format-xml",
        "--log-format xml status",
        2,
        "--log-format 'xml'",
        "text or json",
    ),
    row("history-limit-abc", "history --limit abc", 2, "--limit"),
    row("lock-retries-many", "up --lock-retries many", 2, "--lock-retries"),
    row("unknown-option", "status --no-such-option", 2, "--no-such-option"),
    row(
        "metrics-textfile-in-missing-folder",
        "metrics --textfile {scratch}/missing/migrator.prom",
        2,
        "--textfile",
        "does not exist",
    ),
    row(
        "metrics-textfile-is-a-folder",
        "metrics --textfile {scratch}",
        2,
        "--textfile",
        "is a folder",
    ),
    row(
        "restore-missing-backup",
        "restore {scratch}/no-such.dump --yes",
        2,
        "no backup at",
        database=COPY,
    ),
    row(
        "restore-a-file-that-is-not-a-backup",
        "restore {scratch}/not-a.dump --yes",
        1,
        "pg_restore failed",
        "nothing was changed",
        database=COPY,
        prepare=write("{scratch}/not-a.dump", "this is not a dump\n"),
    ),
    row(
        "project-without-alembic-ini",
        "status --project {scratch}",
        2,
        "holds no alembic.ini",
        "--project",
        project_option=False,
    ),
    row(
        "MIGRATOR_PROJECT-pointing-nowhere",
        "status",
        2,
        "holds no alembic.ini",
        project_option=False,
        env={"MIGRATOR_PROJECT": "{scratch}/nowhere"},
    ),
    # Options that contradict each other or the database.
    row("plan-down-with-phase", "plan --down --phase expand", 2, "leave it out with --down"),
    row(
        "down-with-nothing-applied",
        "down",
        1,
        "no migration is applied",
        "nothing to roll back",
        database=EMPTY,
    ),
    row(
        "down-service-with-nothing-applied",
        "down --service crm",
        1,
        "no migration of crm is applied",
        database=EMPTY,
    ),
    row(
        "up-service-and-version-disagree",
        "up --service auth --version 20240101_004",
        2,
        "20240101_004 belongs to erp, not auth",
    ),
    row(
        "down-service-and-version-disagree",
        "down --service auth --version 20240101_003",
        2,
        "20240101_003 belongs to crm, not auth",
        database=COPY,
    ),
    row(
        "plan-service-and-version-disagree",
        "plan --service crm --version 20240101_001",
        2,
        "20240101_001 belongs to auth, not crm",
    ),
    row(
        "down-revision-with-dependents-without-cascade",
        "down --version 20240101_001",
        1,
        "depend on 20240101_001",
        "--cascade",
        database=COPY,
    ),
    row(
        "new-depends-on-own-service",
        "new --service crm -m x --depends-on 20240101_003",
        2,
        "--depends-on names revisions of other services",
    ),
    row(
        "dev-reset-in-production",
        "dev reset --env production",
        1,
        "dev reset is not allowed in production",
        database=COPY,
    ),
    row(
        "production-up-without-approval",
        "up --env production",
        1,
        "production runs only approved plans",
        database=COPY,
        prepare=PENDING,
    ),
    row(
        "production-up-with-a-stale-approval",
        "up --env production --approve 000000000000",
        1,
        "approved plan 000000000000 is not the plan now",
        database=COPY,
        prepare=PENDING,
    ),
    # `migrate new -m`: messages that cannot name a revision.
    row("new-empty-message", "new --service crm -m ''", 2, "-m has no words"),
    row("new-blank-message", "new --service crm -m '   '", 2, "-m has no words"),
    row("new-punctuation-only-message", "new --service crm -m '?!.,;'", 2, "-m has no words"),
    row("new-message-on-two-lines", "new --service crm -m 'two\nlines'", 2, "-m", "one line"),
    # Environment variables.
    row(
        "MIGRATE_LOCK_TIMEOUT-bad",
        "up",
        2,
        "lock_timeout = 'bad'",
        *NOT_A_DURATION,
        env={"MIGRATE_LOCK_TIMEOUT": "bad"},
        in_subprocess=True,
    ),
    row(
        "MIGRATE_LOCK_TIMEOUT-1e30s",
        "up",
        2,
        "lock_timeout = '1e30s'",
        *TOO_LONG,
        env={"MIGRATE_LOCK_TIMEOUT": "1e30s"},
    ),
    row(
        "MIGRATE_LOCK_RETRIES-many",
        "up",
        2,
        "lock_retries = 'many'",
        env={"MIGRATE_LOCK_RETRIES": "many"},
    ),
    row(
        "MIGRATE_STATEMENT_TIMEOUT-forever",
        "up",
        2,
        "statement_timeout = 'forever'",
        env={"MIGRATE_STATEMENT_TIMEOUT": "forever"},
    ),
    row(
        "MIGRATE_RETRY_BACKOFF-negative",
        "up",
        2,
        "retry_backoff = '-1s'",
        env={"MIGRATE_RETRY_BACKOFF": "-1s"},
    ),
    row("MIGRATE_LOCK_WAIT-nan", "up", 2, "lock_wait = 'nan'", env={"MIGRATE_LOCK_WAIT": "nan"}),
    row(
        "MIGRATE_ENV-qa",
        "up",
        2,
        *UNKNOWN_ENVIRONMENT,
        env={"MIGRATE_ENV": "qa"},
        in_subprocess=True,
    ),
    row(
        "DATABASE_URL-not-a-url",
        "status",
        2,
        "the database URL does not parse",
        url=NO_URL,
        env={"DATABASE_URL": "not a url"},
        in_subprocess=True,
    ),
    row(
        "DATABASE_URL-mysql",
        "status",
        2,
        *NOT_POSTGRESQL,
        url=NO_URL,
        env={"DATABASE_URL": "mysql://root:Hedgehog42@localhost/db"},
        secrets=("Hedgehog42",),
    ),
    row(
        "DATABASE_URL-port-abc",
        "status",
        2,
        *BAD_PORT,
        url=NO_URL,
        env={"DATABASE_URL": "postgresql://app@127.0.0.1:abc/db"},
    ),
    row(
        "DATABASE_URL-password-with-unescaped-at",
        "status",
        2,
        *UNESCAPED_AT,
        url=NO_URL,
        env={"DATABASE_URL": "postgresql://app:Tr0ub4dor@xyzzy@127.0.0.1/db"},
        secrets=("Tr0ub4dor", "xyzzy"),
        in_subprocess=True,
    ),
    # Database URLs given with --database-url.
    row("url-port-abc", "status", 2, *BAD_PORT, url=literal("postgresql://app@127.0.0.1:abc/db")),
    row("url-port-99999", "status", 2, *BAD_PORT, url=literal("postgresql://a@127.0.0.1:99999/d")),
    row("url-port-0", "status", 2, *BAD_PORT, url=literal("postgresql://app@127.0.0.1:0/db")),
    row("url-port-empty", "status", 2, *BAD_PORT, url=literal("postgresql://app@127.0.0.1:/db")),
    row(
        "url-port-abc-in-query",
        "status",
        2,
        *BAD_PORT,
        url=literal("postgresql:///db?host=/tmp&port=abc"),
    ),
    row(
        "url-unknown-query-parameter",
        "status",
        2,
        "unknown connection parameter 'foo'",
        url=literal("postgresql://app@127.0.0.1/db?foo=bar"),
    ),
    row(
        "url-misspelt-query-parameter",
        "status",
        2,
        "unknown connection parameter 'sslmod'",
        "did you mean 'sslmode'?",
        url=literal("postgresql://app@127.0.0.1/db?sslmod=require"),
    ),
    row(
        "url-mysql",
        "status",
        2,
        "'mysql'",
        *NOT_POSTGRESQL,
        url=literal("mysql://root:Hedgehog42@localhost/db"),
        secrets=("Hedgehog42",),
    ),
    row("url-http", "status", 2, *NOT_POSTGRESQL, url=literal("http://example.com/db")),
    row("url-sqlite", "status", 2, *NOT_POSTGRESQL, url=literal("sqlite:///x.db")),
    row(
        "url-without-database",
        "status",
        2,
        "names no database",
        url=literal("postgresql://app@127.0.0.1"),
    ),
    row(
        "url-with-empty-database",
        "status",
        2,
        "names no database",
        url=literal("postgresql://app@127.0.0.1:5432/"),
    ),
    row("url-not-a-url", "status", 2, "does not parse", url=literal("not a url")),
    row("url-empty", "status", 2, "--database-url is empty", url=literal("")),
    row(
        "url-password-with-unescaped-at",
        "status",
        2,
        *UNESCAPED_AT,
        url=literal("postgresql://u:p@ss@127.0.0.1/db"),
        secrets=("p@ss", "ss@"),
    ),
    row(
        "url-password-with-unescaped-at-and-port",
        "status",
        2,
        *UNESCAPED_AT,
        url=literal("postgresql://app:Tr0ub4dor@xyzzy@127.0.0.1:5432/db"),
        secrets=("Tr0ub4dor", "xyzzy"),
    ),
    row(
        "url-password-with-slash-and-hash-refused-connection",
        "status",
        1,
        "postgresql://app:***@127.0.0.1",
        "Connection refused",
        url=lambda bench: f"postgresql://app:Tr0ub/4#dor@127.0.0.1:{closed_port()}/db",
        secrets=("Tr0ub", "4#dor"),
    ),
    row(
        "url-refused-connection-keeps-the-reason",
        "status",
        1,
        "cannot connect",
        "Connection refused",
        url=lambda bench: f"postgresql://app:Wombat7Secret@127.0.0.1:{closed_port()}/db",
        secrets=("Wombat7Secret",),
    ),
    row(
        "url-refused-connection-password-in-query",
        "status",
        1,
        "cannot connect",
        "?password=***",
        "Connection refused",
        url=lambda bench: f"postgresql://app@127.0.0.1:{closed_port()}/db?password=Zebra9Quartz",
        secrets=("Zebra9Quartz",),
    ),
    row(
        "url-database-that-does-not-exist",
        "status",
        1,
        "cannot connect",
        'database "no_such_database_x" does not exist',
        url=on_test_server(database="no_such_database_x"),
    ),
    row(
        "url-role-that-does-not-exist",
        "status",
        1,
        "cannot connect",
        'role "no_such_role_x" does not exist',
        url=on_test_server(username="no_such_role_x"),
    ),
    row(
        "url-sslmode-sometimes",
        "status",
        1,
        "cannot connect",
        'invalid sslmode value: "sometimes"',
        url=lambda bench: url_text(bench.url.update_query_dict({"sslmode": "sometimes"})),
    ),
    # Revision files in the project copy.
    row(
        "revision-python-syntax-error",
        "up",
        1,
        ERP_FILE,
        "does not parse as Python",
        database=EMPTY,
        prepare=edit(ERP_FILE, "def upgrade() -> None:", "def upgrade() -> None"),
    ),
    row(
        "revision-imports-os",
        "up",
        1,
        ERP_FILE,
        "found `import os`",
        database=EMPTY,
        prepare=edit(ERP_FILE, ERP_IMPORT, f"import os\n{ERP_IMPORT}"),
    ),
    row(
        "revision-imports-alembic-op",
        "up",
        1,
        ERP_FILE,
        "found `from alembic import op`",
        database=EMPTY,
        prepare=edit(ERP_FILE, ERP_IMPORT, f"{ERP_IMPORT}\nfrom alembic import op"),
    ),
    row(
        "revision-imports-os-refused-by-status",
        "status",
        1,
        ERP_FILE,
        "found `import os`",
        prepare=edit(ERP_FILE, ERP_IMPORT, f"import os\n{ERP_IMPORT}"),
    ),
    row(
        "revision-upgrade-calls-print",
        "up",
        1,
        ERP_FILE,
        "may only call run_sql",
        database=EMPTY,
        prepare=edit(ERP_FILE, ERP_UPGRADE_CALL, "    print(UPGRADE)"),
    ),
    row(
        "revision-upgrade-runs-a-shell",
        "up",
        1,
        ERP_FILE,
        "may only call run_sql",
        database=EMPTY,
        prepare=edit(
            ERP_FILE, ERP_UPGRADE_CALL, f"{ERP_UPGRADE_CALL}\n    __import__('os').system('true')"
        ),
    ),
    row(
        "revision-lock-retries-many",
        "up",
        1,
        ERP_FILE,
        "lock_retries = 'many'",
        database=EMPTY,
        prepare=erp_setting('lock_retries = "many"'),
    ),
    row(
        "revision-lock-timeout-soon",
        "up",
        1,
        ERP_FILE,
        "lock_timeout = 'soon' is not a duration",
        database=EMPTY,
        prepare=erp_setting('lock_timeout = "soon"'),
    ),
    row(
        "revision-lock-timeout-1e30s",
        "up",
        1,
        ERP_FILE,
        "lock_timeout = '1e30s'",
        *TOO_LONG,
        database=EMPTY,
        prepare=erp_setting('lock_timeout = "1e30s"'),
    ),
    row(
        "revision-non-literal-setting",
        "up",
        1,
        ERP_FILE,
        "`str(5)` is not a literal",
        database=EMPTY,
        prepare=erp_setting("lock_timeout = str(5)"),
    ),
    row(
        "revision-non-literal-id",
        "up",
        1,
        ERP_FILE,
        "is not a literal",
        database=EMPTY,
        prepare=edit(ERP_FILE, 'revision = "20240101_004"', 'revision = "20240101_" + "004"'),
    ),
    row(
        "revision-unknown-phase",
        "up",
        1,
        ERP_FILE,
        "phase = 'sideways'",
        database=EMPTY,
        prepare=erp_setting('phase = "sideways"'),
    ),
    row(
        "revision-duplicate-id",
        "up",
        1,
        "20240420_001 is used by two files",
        CRM_BACKFILL_FILE,
        "services/erp/versions/20240420_001_erp_test.py",
        database=EMPTY,
        prepare=revision("erp", "20240420_001", upgrade="SELECT 1;"),
    ),
    row(
        "revision-down-revision-names-nothing",
        "up",
        1,
        "names 20991231_001 in its down_revision",
        "fix down_revision",
        database=EMPTY,
        prepare=revision(down_revision="20991231_001"),
    ),
    row(
        "revision-depends-on-names-nothing",
        "up",
        1,
        "names 20991231_001 in its depends_on",
        database=EMPTY,
        prepare=revision(depends_on=("20991231_001",)),
    ),
    row(
        "revision-body-with-begin-and-commit",
        "up",
        1,
        ERP_FILE,
        "controls transactions",
        database=EMPTY,
        prepare=edit(ERP_FILE, ERP_FIRST_STATEMENT, f"BEGIN;\n{ERP_FIRST_STATEMENT}\nCOMMIT;"),
    ),
    row(
        "revision-sql-that-does-not-parse",
        "up",
        1,
        ERP_FILE,
        'syntax error at or near "SCHEMER"',
        database=EMPTY,
        prepare=edit(ERP_FILE, ERP_FIRST_STATEMENT, "CREATE SCHEMER IF NOT EXISTS erp;"),
    ),
    row(
        "revision-pending-sql-that-does-not-parse",
        "up",
        1,
        "revision 20250101_001",
        "does not parse",
        database=COPY,
        prepare=revision(upgrade="ALTER TABLE crm.customers ADD COLUMN (;"),
    ),
    row(
        "revision-without-upgrade",
        "up",
        1,
        ERP_FILE,
        "defines no upgrade() function",
        database=EMPTY,
        prepare=edit(ERP_FILE, f"def upgrade() -> None:\n{ERP_UPGRADE_CALL}\n", ""),
    ),
    row(
        "revision-in-a-folder-of-no-service",
        "up",
        1,
        "services/billing/versions",
        "not a service's versions folder",
        database=EMPTY,
        prepare=write(
            "services/billing/versions/20250101_001_billing_x.py",
            '"""x"""\n\nrevision = "20250101_001"\n',
        ),
    ),
    # pyproject.toml settings in the project copy.
    row(
        "pyproject-backup-keep-0",
        "status",
        2,
        "backup_keep = 0",
        "at least 1",
        prepare=setting("backup_keep = 0"),
    ),
    row(
        "pyproject-backup-keep-true",
        "status",
        2,
        "backup_keep = True",
        "at least 1",
        prepare=setting("backup_keep = true"),
    ),
    row(
        "pyproject-backup-reserve-lots",
        "status",
        2,
        "backup_reserve = 'lots' is not a size",
        prepare=setting('backup_reserve = "lots"'),
    ),
    row(
        "pyproject-backup-reserve-nan",
        "status",
        2,
        "backup_reserve = 'nanMB' is not a size",
        prepare=setting('backup_reserve = "nanMB"'),
    ),
    row(
        "pyproject-lock-timeout-soon",
        "status",
        2,
        "lock_timeout = 'soon'",
        *NOT_A_DURATION,
        prepare=setting('lock_timeout = "soon"'),
    ),
    row(
        "pyproject-environment-lock-retries-0",
        "up",
        2,
        "lock_retries = 0",
        prepare=pyproject_table("[tool.migrator.environments.development]\nlock_retries = 0"),
    ),
    row(
        "pyproject-environment-backup-sometimes",
        "up --env staging",
        2,
        "backup = 'sometimes'",
        "never, before_changes, mandatory",
        database=COPY,
        prepare=together(
            PENDING,
            pyproject_table('[tool.migrator.environments.staging]\nbackup = "sometimes"'),
        ),
    ),
    row(
        "pyproject-not-toml",
        "status",
        2,
        "pyproject.toml is not valid TOML",
        f"line {SETTING_LINE}",
        prepare=setting('lock_timeout = "2s'),
    ),
    row(
        "pyproject-backup-dir-below-a-regular-file",
        "backup",
        2,
        "cannot create the backup folder",
        "a-file",
        database=COPY,
        prepare=together(
            regular_file("a-file"), setting('backup_dir = "{scratch}/a-file/backups"')
        ),
    ),
    # migration-dependencies.yml.
    row(
        "deps-yaml-malformed",
        "deps check",
        1,
        "migration-dependencies.yml is not in the expected format",
        url=NO_URL,
        prepare=write("migration-dependencies.yml", "migrations: [\n"),
    ),
    row(
        "deps-yaml-a-list",
        "deps check",
        1,
        "migration-dependencies.yml is not in the expected format",
        url=NO_URL,
        prepare=write("migration-dependencies.yml", "- one\n- two\n"),
    ),
    row(
        "deps-yaml-missing",
        "deps check",
        1,
        "migration-dependencies.yml is missing",
        url=NO_URL,
        prepare=lambda bench: (bench.project / "migration-dependencies.yml").unlink(),
    ),
    # A role that may log in and nothing else.
    row(
        "role-without-privileges-status",
        "status",
        1,
        "permission denied for schema migrator",
        "lacks USAGE on schema migrator",
        "`GRANT USAGE ON SCHEMA migrator TO {role}`",
        url=as_role,
    ),
    row(
        "role-without-privileges-history",
        "history",
        1,
        "permission denied for schema migrator",
        "`GRANT USAGE ON SCHEMA migrator TO {role}`",
        url=as_role,
    ),
    row(
        "role-without-privileges-up",
        "up",
        1,
        "permission denied for database",
        "lacks CREATE on database",
        "GRANT CREATE ON DATABASE",
        url=as_role,
        database=EMPTY,
    ),
    # Backup folders that cannot be created.
    row(
        "backup-dir-below-a-regular-file",
        "backup",
        2,
        "cannot create the backup folder",
        "a-file",
        "MIGRATE_BACKUP_DIR",
        database=COPY,
        prepare=regular_file("a-file"),
        env={"MIGRATE_BACKUP_DIR": "{scratch}/a-file/backups"},
    ),
    row(
        "staging-up-with-a-backup-dir-below-a-regular-file",
        "up --env staging",
        2,
        "cannot create the backup folder",
        "a-file",
        database=COPY,
        prepare=together(regular_file("a-file"), PENDING),
        env={"MIGRATE_BACKUP_DIR": "{scratch}/a-file/backups"},
    ),
]


# -- the databases and the role ----------------------------------------------------------------


@pytest.fixture(scope="module")
def migrated(new_database_module: URL) -> URL:
    """The module's shared database, with every revision applied."""
    result = run_migrate("up", url=new_database_module)
    assert result.exit_code == 0, result.output
    return new_database_module


@contextlib.contextmanager
def copy_of(template: URL) -> Iterator[URL]:
    """A new database cloned from `template` (CREATE DATABASE ... TEMPLATE), dropped on exit:
    far quicker than migrating another one."""
    name = f"migrator_test_{uuid.uuid4().hex[:12]}"
    with DatabaseJanitor(
        user=template.username or "postgres",
        password=template.password,
        host=template.host or str(template.query["host"]),
        port=template.port or 5432,
        dbname=name,
        template_dbname=template.database,
        maintenance_dbname="postgres",
    ):
        yield template.set(database=name)


@pytest.fixture(scope="module")
def role_without_privileges(server_url: URL) -> Iterator[str]:
    """A role that may log in and do nothing else (PUBLIC's defaults aside)."""
    name = f"migrator_no_privileges_{uuid.uuid4().hex[:8]}"
    with connection_to(server_url) as connection:
        connection.exec_driver_sql(f"CREATE ROLE {name} LOGIN")
        connection.commit()
    yield name
    with connection_to(server_url) as connection:
        connection.exec_driver_sql(f"DROP ROLE IF EXISTS {name}")
        connection.commit()


# One row per object of every schema but the system's: (kind, schema, name, definition, more).
_CATALOG = """
WITH spaces AS (
    SELECT oid, nspname, nspacl FROM pg_namespace
    WHERE nspname !~ '^pg_' AND nspname <> 'information_schema'
)
SELECT 'schema', s.nspname, '', '', coalesce(s.nspacl::text, '') FROM spaces s
UNION ALL
SELECT 'relation', s.nspname, c.relname, c.relkind::text, coalesce(c.relacl::text, '')
FROM pg_class c JOIN spaces s ON s.oid = c.relnamespace
UNION ALL
SELECT 'column', s.nspname, c.relname || '.' || a.attname,
       format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
       coalesce(pg_get_expr(d.adbin, d.adrelid), '')
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN spaces s ON s.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'constraint', s.nspname, k.conrelid::regclass::text || '.' || k.conname,
       pg_get_constraintdef(k.oid), k.convalidated::text
FROM pg_constraint k JOIN spaces s ON s.oid = k.connamespace
UNION ALL
SELECT 'index', s.nspname, i.relname, pg_get_indexdef(i.oid), x.indisvalid::text
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN spaces s ON s.oid = i.relnamespace
UNION ALL
SELECT 'view', s.nspname, c.relname, pg_get_viewdef(c.oid), ''
FROM pg_class c JOIN spaces s ON s.oid = c.relnamespace WHERE c.relkind IN ('v', 'm')
UNION ALL
SELECT 'function', s.nspname, p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       md5(p.prosrc), coalesce(p.proacl::text, '')
FROM pg_proc p JOIN spaces s ON s.oid = p.pronamespace
UNION ALL
SELECT 'trigger', s.nspname, c.relname || '.' || t.tgname, pg_get_triggerdef(t.oid), ''
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN spaces s ON s.oid = c.relnamespace
WHERE NOT t.tgisinternal
"""


def fingerprint(url: URL) -> tuple[list[tuple[str, ...]], list[str]]:
    """What a refused command must leave as it was: every schema of the database (the tool's
    own included) as the catalog describes it, with privileges, and the versions the version
    table records."""
    with connection_to(url) as connection:
        objects = sorted(tuple(row) for row in connection.exec_driver_sql(_CATALOG))
        versions: list[str] = []
        if connection.exec_driver_sql(
            "SELECT to_regclass('migrator.alembic_version') IS NOT NULL"
        ).scalar():
            versions = sorted(
                row[0]
                for row in connection.exec_driver_sql(
                    "SELECT version_num FROM migrator.alembic_version"
                )
            )
        return objects, versions


def project_files(project: Path) -> dict[str, bytes]:
    """The project copy's files, so that a refused `new` or `import-sql` is seen to write
    nothing (caches of what was read do not count)."""
    caches = {"__pycache__", cache.FOLDER}
    return {
        str(path.relative_to(project)): path.read_bytes()
        for path in sorted(project.rglob("*"))
        if path.is_file() and not caches & set(path.parts)
    }


# -- running a row -----------------------------------------------------------------------------


def run(bad: BadInput, bench: Bench) -> tuple[int, str]:
    """The row's command, in-process like `run_migrate` (a traceback fails the test), or as
    `python -m migrator` when the row says so; returns the exit code and all output."""
    args = [bench.fill(arg) for arg in bad.args]
    env = {name: bench.fill(value) for name, value in bad.env.items()}
    url = bad.url(bench) if bad.url is not None else None
    if bad.in_subprocess:
        if url is not None:
            command = migrate_process(*args, url=bench.url, project=bench.project)
            command[command.index("--database-url") + 1] = url
        else:
            command = [sys.executable, "-m", "migrator", *args, "--project", str(bench.project)]
        clean = {
            k: v
            for k, v in os.environ.items()
            if k not in _AMBIENT and not k.startswith("MIGRATE_")
        }
        done = subprocess.run(
            command, env={**clean, **env}, capture_output=True, text=True, timeout=120, check=False
        )
        return done.returncode, done.stdout + done.stderr
    options = ["--project", str(bench.project)] if bad.project_option else []
    if url is not None:
        options += ["--database-url", url]
    unset: dict[str, str | None] = {name: None for name in _AMBIENT}
    unset |= {name: None for name in os.environ if name.startswith("MIGRATE_")}
    result = CliRunner().invoke(
        app, [*args, *options], env={**unset, **env}, catch_exceptions=False
    )
    return result.exit_code, result.output


@pytest.mark.parametrize("bad", ROWS)
def test_bad_input_is_one_error_line_with_the_exit_code_and_changes_nothing(
    bad: BadInput,
    project: Path,
    tmp_path: Path,
    migrated: URL,
    new_database: Callable[[], URL],
    role_without_privileges: str,
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with contextlib.ExitStack() as cleanup:
        if bad.database == COPY:
            url = cleanup.enter_context(copy_of(migrated))
        elif bad.database == EMPTY:
            url = new_database()
        else:
            url = migrated
        bench = Bench(project, scratch, url, role_without_privileges)
        if bad.prepare is not None:
            bad.prepare(bench)
        database_before, files_before = fingerprint(url), project_files(project)

        exit_code, output = run(bad, bench)

        errors = [line for line in output.splitlines() if line.startswith("error:")]
        assert errors, f"no `error:` line in:\n{output}"
        assert "Traceback" not in output, output
        for words in bad.words:
            assert bench.fill(words) in errors[0], output
        assert exit_code == bad.exit_code, output
        for secret in bad.secrets:
            assert secret not in output, output
        assert fingerprint(url) == database_before
        assert project_files(project) == files_before


def test_a_message_with_triple_quotes_is_written_safely_and_runs_no_code(
    project: Path, tmp_path: Path, database_url: URL
) -> None:
    """A message that closes the docstring would make the rest of it code that Alembic runs
    when it imports the file; escaped, it stays text and reads back unchanged."""
    marker = tmp_path / "injected"
    message = f'x""" + __import__("pathlib").Path("{marker}").touch() + """ \\N end'

    written = run_migrate("new", "--service", "crm", "-m", message, project=project)
    applied = run_migrate("up", url=database_url, project=project)

    assert written.exit_code == 0, written.output
    assert applied.exit_code == 0, applied.output
    assert not marker.exists()
    [path] = (project / "services/crm/versions").glob(f"{date.today():%Y%m%d}_*_crm_x_*.py")
    docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert f"Migration: {message}" in docstring.splitlines()
