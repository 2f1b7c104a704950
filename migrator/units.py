"""Numbers as people read them: sizes in kB, MB, GB and durations in ms, s, min.

Raw byte counts and milliseconds are exact but make a reader count digits; the `--json`
output keeps the exact figures, what a person reads gets these."""

from __future__ import annotations

_SIZE_UNITS = ("B", "kB", "MB", "GB", "TB")


def size(count: int) -> str:
    """`8437095` -> `8.0 MB` (binary steps of 1024, as `du -h` and pg_size_pretty count)."""
    if abs(count) < 1024:
        return f"{count} B"
    value = count / 1024
    for unit in _SIZE_UNITS[1:-1]:
        if abs(value) < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} {_SIZE_UNITS[-1]}"


def duration(milliseconds: float) -> str:
    """`4` -> `4 ms`, `1530` -> `1.5 s`, `192000` -> `3.2 min`, `7560000` -> `2.1 h`."""
    if round(milliseconds) < 1000:
        return f"{milliseconds:.0f} ms"
    seconds = milliseconds / 1000
    if round(seconds, 1) < 60:
        return f"{seconds:.1f} s"
    if round(seconds / 60, 1) < 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
