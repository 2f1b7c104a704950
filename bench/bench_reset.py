"""How much the template cache saves on `dev reset`, on a long history.

With the same 1,000-revision synthetic history as bench_history.py, it measures in one run a
`dev reset` that replays every revision (the cache is dropped first) against one that clones
the cached template (`CREATE DATABASE ... TEMPLATE`). The aim is a ratio below 0.25.

    python bench/bench_reset.py [--revisions N] [--repeat K]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import psycopg
from bench_history import BIN, median_of, server, timed, write_history
from sqlalchemy.engine import URL

from migrator import urls
from migrator.ops import devdb


def _drop_templates(server_url: URL) -> None:
    with psycopg.connect(urls.libpq_dsn(server_url), autocommit=True) as connection:
        names = connection.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)",
            (devdb.TEMPLATE_PREFIX,),
        ).fetchall()
        for (name,) in names:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--revisions", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the median counts")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-reset-") as folder, server() as server_url:
        project = Path(folder)
        write_history(project, arguments.revisions)
        url = server_url.set(database="bench_reset_target")
        reset = [
            str(BIN / "migrate"),
            "dev",
            "reset",
            "--yes",
            "--project",
            str(project),
            "--database-url",
            url.render_as_string(hide_password=False),
        ]

        def replaying() -> float:
            _drop_templates(server_url)
            return timed(reset)

        replay_seconds = median_of(arguments.repeat, replaying)
        timed(reset)  # the template exists after a replaying reset; make sure of it
        cached_seconds = median_of(arguments.repeat, lambda: timed(reset))
        _drop_templates(server_url)

    print(f"history: {arguments.revisions} revisions, median of {arguments.repeat} runs each")
    print(f"dev reset, replaying every revision {replay_seconds:8.2f} s")
    print(f"dev reset, cloning the template     {cached_seconds:8.2f} s")
    print(f"cached/replaying = {cached_seconds / replay_seconds:.3f} (aim: below 0.25)")


if __name__ == "__main__":
    main()
