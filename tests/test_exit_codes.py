"""One table of exit codes for every command, as README shows it: the codes the tool returns
are the codes README lists, and each means what the table says."""

from __future__ import annotations

import re

from conftest import PROJECT_ROOT, run_migrate
from sqlalchemy.engine import URL

from migrator.errors import CheckFailed, MigratorError, UsageError
from migrator.interrupts import Terminated, as_interrupted


def _readme_table() -> dict[int, str]:
    text = (PROJECT_ROOT / "README.md").read_text()
    section = text.split("### Exit codes", 1)[1].split("\n#", 1)[0]
    return {
        int(code): meaning for code, meaning in re.findall(r"^\| (\d+) \| (.+) \|$", section, re.M)
    }


def test_readme_lists_exactly_the_codes_the_tool_returns() -> None:
    returned = {
        0,
        MigratorError.exit_code,
        CheckFailed.exit_code,
        UsageError.exit_code,
        as_interrupted(KeyboardInterrupt(), None).exit_code,
        as_interrupted(Terminated(), None).exit_code,
    }

    assert set(_readme_table()) == returned == {0, 1, 2, 130, 143}


def test_each_code_means_what_the_table_says(database_url: URL) -> None:
    done = run_migrate("status", url=database_url)
    bad_input = run_migrate("up", "--service", "nope", url=database_url)
    unknown_revision = run_migrate("down", "--version", "20991231_001", url=database_url)
    check_found_problems = run_migrate("health", url=database_url)  # nothing applied: failing

    assert done.exit_code == 0
    assert bad_input.exit_code == 2 and "unknown service 'nope'" in bad_input.output
    assert unknown_revision.exit_code == 2
    assert check_found_problems.exit_code == 1
