"""What `migrate fleet up` saves over a shell loop of `migrate up`, across many site databases.

Each round creates fresh databases for each side (100 by default, service inosec_edge) on
one server and brings them to head twice, the sides' order alternating:

  loop    a shell script running `migrate up --database-url URL --service inosec_edge` for
          each database, one after another (what an operator writes without fleets);
  fleet   one `migrate fleet up --targets-file FILE --parallel 8` over the same count.

It prints each side's wall seconds per round, median (min-max) per side, and the ratio
fleet/loop computed within each round. The aim is a ratio below 0.3.

    python bench/bench_fleet.py [--databases N] [--rounds K] [--parallel P]
"""

from __future__ import annotations

import argparse
import contextlib
import shlex
import tempfile
import time
from pathlib import Path

from common import BIN, PROJECT_ROOT, fresh_database, rotated, run_or_exit, server, spread, text_url
from common import tool_environment as environment


def _loop(urls: list[str], folder: Path) -> list[str]:
    script = folder / "loop.sh"
    lines = [
        f"{shlex.quote(str(BIN / 'migrate'))} up --project {shlex.quote(str(PROJECT_ROOT))} "
        f"--database-url {shlex.quote(url)} --service inosec_edge >/dev/null || exit 1"
        for url in urls
    ]
    script.write_text("set -e\n" + "\n".join(lines) + "\n")
    return ["sh", str(script)]


def _fleet(urls: list[str], folder: Path, parallel: int) -> list[str]:
    sites = folder / "sites.txt"
    sites.write_text("".join(f"site{i} {url} inosec_edge\n" for i, url in enumerate(urls)))
    return [
        str(BIN / "migrate"),
        "fleet",
        "up",
        "--project",
        str(PROJECT_ROOT),
        "--targets-file",
        str(sites),
        "--parallel",
        str(parallel),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=8)
    options = parser.parse_args()
    seconds: dict[str, list[float]] = {"loop": [], "fleet": []}
    ratios: list[float] = []
    with server() as running, tempfile.TemporaryDirectory(prefix="bench-fleet-") as folder:
        for number in range(options.rounds):
            done: dict[str, float] = {}
            for side in rotated(["loop", "fleet"], number):
                with contextlib.ExitStack() as databases:
                    urls = [
                        text_url(databases.enter_context(fresh_database(running.url)))
                        for _ in range(options.databases)
                    ]
                    command = (
                        _loop(urls, Path(folder))
                        if side == "loop"
                        else _fleet(urls, Path(folder), options.parallel)
                    )
                    started = time.perf_counter()
                    run_or_exit(command, env=environment())
                    done[side] = time.perf_counter() - started
                seconds[side].append(done[side])
            ratios.append(done["fleet"] / done["loop"])
            print(f"round {number + 1}: loop {done['loop']:.2f}s, fleet {done['fleet']:.2f}s")
    print(f"{options.databases} databases, fleet --parallel {options.parallel}:")
    for side, values in seconds.items():
        print(f"  {side:6} {spread(values)} s")
    print(f"  fleet/loop {spread(ratios)}")


if __name__ == "__main__":
    main()
