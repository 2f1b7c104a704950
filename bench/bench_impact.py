"""How close `plan`'s estimated durations come to the measured ones.

A table shaped like crm.customers (a uuid key, an owner, an optional assignee, e-mail, phone,
status, two timestamps and a legal name; its primary key, a unique pair and one more index) is
filled with `--rows` rows, vacuumed and analysed, in a fresh database. Each round then:

  calibrate  measures this server's throughput as `plan` does on first use (the figure `plan`
             keeps per server in .migrator/throughput.json);
  estimate   reads each statement below as `plan` does (parse tree, live catalog, sizes) and
             estimates its seconds from that round's throughput;
  measure    runs each statement in a transaction that is rolled back, timed, after a
             CHECKPOINT, so that every round finds the same table:

  index      CREATE INDEX ON crm.customers (phone)                     (build)
  rewrite    ALTER TABLE crm.customers ADD COLUMN token uuid NOT NULL
             DEFAULT gen_random_uuid()                                 (rewrite)
  validate   ALTER TABLE crm.customers VALIDATE CONSTRAINT
             customers_email_present (a CHECK added NOT VALID)         (scan)

It prints per round, then per statement as median (min-max): the estimated and measured
seconds and the within-round ratio estimated/measured. Aim: ratios between 0.5 and 2.

    python bench/bench_impact.py [--rows N] [--rounds R]
"""

from __future__ import annotations

import argparse
import time

import pglast
import psycopg
from common import checkpoint, fresh_database, server, spread

from migrator import urls
from migrator.checks.impact import LiveCatalog, estimate, measure
from migrator.model.impact import Reader

TABLE = """
CREATE SCHEMA crm;
CREATE TABLE crm.customers (
    id          uuid         PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id    uuid         NOT NULL,
    assigned_to uuid,
    email       varchar(255),
    phone       varchar(40),
    status      varchar(20)  NOT NULL DEFAULT 'lead',
    created_at  timestamptz  NOT NULL DEFAULT now(),
    updated_at  timestamptz  NOT NULL DEFAULT now(),
    legal_name  varchar(200) NOT NULL,
    CONSTRAINT customers_owner_email_key UNIQUE (owner_id, email)
);
CREATE INDEX idx_customers_assigned_to ON crm.customers (assigned_to);
"""
FILL = """
INSERT INTO crm.customers (owner_id, assigned_to, email, phone, legal_name)
SELECT owners.id, CASE WHEN g %% 3 = 0 THEN NULL ELSE gen_random_uuid() END,
       'customer' || g || '@example.com', '+1 555 ' || lpad((random() * 1e7)::int::text, 7, '0'),
       'Customer ' || g
FROM generate_series(1, %s) g, (SELECT gen_random_uuid() AS id) owners
"""
CHECK = (
    "ALTER TABLE crm.customers ADD CONSTRAINT customers_email_present "
    "CHECK (email IS NOT NULL) NOT VALID"
)
STATEMENTS = {
    "index": "CREATE INDEX ON crm.customers (phone)",
    "rewrite": "ALTER TABLE crm.customers ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid()",
    "validate": "ALTER TABLE crm.customers VALIDATE CONSTRAINT customers_email_present",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    estimated: dict[str, list[float]] = {key: [] for key in STATEMENTS}
    measured: dict[str, list[float]] = {key: [] for key in STATEMENTS}
    with server() as running, fresh_database(running.url) as url:
        dsn = urls.libpq_dsn(url)
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(TABLE)
            connection.execute(FILL, (args.rows,))
            connection.execute(CHECK)
            connection.execute("VACUUM ANALYZE crm.customers")
            size = connection.execute("SELECT pg_total_relation_size('crm.customers')")
            print(f"crm.customers: {args.rows:,} rows, {size.fetchone()[0] / 2**20:.0f} MB")
            for number in range(1, args.rounds + 1):
                throughput = measure(connection)
                catalog = LiveCatalog(connection)
                parts = []
                for key, sql in STATEMENTS.items():
                    impact = Reader(catalog).impact(pglast.parse_sql(sql)[0].stmt)
                    seconds = estimate(impact, catalog, throughput).seconds
                    assert seconds is not None, f"{key}: no estimate ({impact.reason})"
                    checkpoint(url)
                    took = _timed(connection, sql)
                    estimated[key].append(seconds)
                    measured[key].append(took)
                    parts.append(f"{key} est {seconds:.2f} s, ran {took:.2f} s")
                print(f"round {number}: " + "  ".join(parts))
    print(f"{'':10} {'estimated s':>20} {'measured s':>20} {'estimated/measured':>22}")
    for key in STATEMENTS:
        ratios = [e / m for e, m in zip(estimated[key], measured[key], strict=True)]
        print(
            f"{key:10} {spread(estimated[key]):>20} {spread(measured[key]):>20} "
            f"{spread(ratios):>22}"
        )


def _timed(connection: psycopg.Connection, sql: str) -> float:
    """The statement's seconds, in a transaction rolled back so that the next round finds the
    same table."""
    with connection.transaction(force_rollback=True):
        started = time.perf_counter()
        connection.execute(sql)
        return time.perf_counter() - started


if __name__ == "__main__":
    main()
