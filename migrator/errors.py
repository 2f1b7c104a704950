"""The errors the tool reports to people, each carrying its exit code.

The command line turns these into one line and an exit code; anything else that escapes is a
bug. The codes follow the house convention: 1 when the work failed or a check found problems,
2 when the user's input was wrong.
"""

from __future__ import annotations


class MigratorError(Exception):
    """A failure the user can act on: the message says what was wrong and what to do."""

    exit_code = 1


class UsageError(MigratorError):
    """The user's input was wrong (an unknown service, a bad URL, a missing flag)."""

    exit_code = 2


class CheckFailed(MigratorError):
    """A check ran and found problems; each problem is one line of `problems`."""

    def __init__(self, summary: str, problems: list[str]) -> None:
        super().__init__(summary)
        self.problems = problems
