"""Ctrl-C and SIGTERM end a run the same way: the statement under way is cancelled, the try
is rolled back and recorded as interrupted, and the command exits 130 (SIGINT) or 143
(SIGTERM) with one line. Python raises KeyboardInterrupt for SIGINT by itself; SIGTERM would
kill the process without a word, so it is turned into an exception of the same kind."""

from __future__ import annotations

import signal
import threading
from types import FrameType


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (a deploy stopping the job, `kill`): unwinds like Ctrl-C does, and is a
    KeyboardInterrupt so that the driver cancels the statement under way, as it does for
    Ctrl-C, instead of leaving it running on the server."""


class Interrupted(BaseException):
    """A run was interrupted; its try is rolled back and recorded as interrupted."""

    def __init__(self, signal_name: str, exit_code: int, revision: str | None) -> None:
        where = (
            f"{revision} was rolled back and its try recorded as interrupted; " if revision else ""
        )
        super().__init__(
            f"interrupted by {signal_name}: {where}revisions finished before stay applied. Run "
            "the command again to go on"
        )
        self.exit_code = exit_code
        self.signal_name = signal_name


def raise_on_sigterm() -> None:
    """Let SIGTERM unwind the main thread as an exception, so cleanups and records run."""
    if threading.current_thread() is not threading.main_thread():
        return

    def terminate(number: int, frame: FrameType | None) -> None:
        raise Terminated()

    signal.signal(signal.SIGTERM, terminate)


def as_interrupted(error: BaseException, revision: str | None) -> Interrupted:
    """The interruption `error` (KeyboardInterrupt or Terminated) as the run reports it."""
    if isinstance(error, Interrupted):
        return error
    if isinstance(error, Terminated):
        return Interrupted("SIGTERM", 143, revision)
    return Interrupted("SIGINT", 130, revision)
