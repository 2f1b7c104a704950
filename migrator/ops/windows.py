"""Maintenance windows: when a migration that blocks writes on a large table may run.

A window is written as an operator says it, `Sat 02:00-04:00 UTC` or `daily 23:30-00:30
Europe/Paris`: a day (Mon..Sun, or daily), a start and an end in the zone's wall-clock time (an
end before the start crosses midnight), and a time zone by name. Times are compared in UTC, so
a window keeps its wall-clock hours across a change to or from summer time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from migrator import units
from migrator.errors import UsageError

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DAILY = "daily"
# The verdicts (of the plan's impact) that need a window when their table is large enough.
BLOCKING_VERDICTS = ("blocks writes", "blocks reads and writes")
_EXAMPLE = 'write it like "Sat 02:00-04:00 UTC" or "daily 23:00-01:00 Europe/Paris"'


@dataclass(frozen=True)
class Window:
    """One weekly (or daily) window, as written in the settings."""

    text: str
    days: frozenset[int]  # date.weekday() numbers: 0 is Monday
    start: time
    end: time  # at or before `start`: the window ends the next day
    zone: ZoneInfo

    def opening(self, day: date) -> tuple[datetime, datetime] | None:
        """When the window that starts on `day` (in its zone) opens and closes, in UTC; None
        when it does not start on that day."""
        if day.weekday() not in self.days:
            return None
        opens = datetime.combine(day, self.start, self.zone)
        closing_day = day + timedelta(days=1) if self.end <= self.start else day
        closes = datetime.combine(closing_day, self.end, self.zone)
        return opens.astimezone(UTC), closes.astimezone(UTC)


def _clock(text: str) -> time | None:
    hours, colon, minutes = text.partition(":")
    if not (colon and hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        return None
    if int(hours) == 24 and int(minutes) == 0:
        return time(0, 0)
    if int(hours) > 23 or int(minutes) > 59:
        return None
    return time(int(hours), int(minutes))


def parse(text: object, setting: str) -> Window:
    """A window from its text; anything else is a configuration error naming `setting`."""
    words = text.split() if isinstance(text, str) else []
    if len(words) != 3:
        raise UsageError(f"{setting}: {text!r} is not a window; {_EXAMPLE}")
    day, span, zone_name = words
    first, dash, last = span.partition("-")
    start, end = _clock(first), _clock(last)
    if not dash or start is None or end is None:
        raise UsageError(f"{setting}: {text!r} has no HH:MM-HH:MM span of time; {_EXAMPLE}")
    if start == end:
        raise UsageError(f"{setting}: {text!r} starts when it ends; give it a length")
    known = {name.lower(): number for number, name in enumerate(DAYS)}
    if day.lower() != DAILY and day.lower() not in known:
        raise UsageError(
            f"{setting}: {text!r} names no day; use one of {', '.join(DAYS)} or {DAILY}"
        )
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise UsageError(
            f"{setting}: {text!r} names an unknown time zone {zone_name!r}; use a name like "
            "UTC or Europe/Paris"
        ) from error
    days = frozenset(range(7)) if day.lower() == DAILY else frozenset({known[day.lower()]})
    return Window(text, days, start, end, zone)


def parse_all(values: object, setting: str) -> tuple[Window, ...]:
    """The windows of a setting, which must be a list of window texts."""
    if isinstance(values, str) or not isinstance(values, list):
        raise UsageError(f'{setting} must be a list of windows, e.g. ["Sat 02:00-04:00 UTC"]')
    return tuple(parse(value, setting) for value in values)


def _openings(
    windows: Iterable[Window], now: datetime
) -> Iterable[tuple[Window, datetime, datetime]]:
    """Every opening that has not closed before `now`, from the day before (a window crossing
    midnight) to a week ahead, in each window's zone."""
    for window in windows:
        today = now.astimezone(window.zone).date()
        for offset in range(-1, 8):
            times = window.opening(today + timedelta(days=offset))
            if times is not None and times[1] > now:
                yield window, *times


def inside(windows: Sequence[Window], now: datetime) -> Window | None:
    """The window `now` falls in, if any."""
    return next((window for window, opens, _ in _openings(windows, now) if opens <= now), None)


def next_opening(windows: Sequence[Window], now: datetime) -> tuple[Window, datetime] | None:
    """The window that opens next after `now`, and when (UTC); None without windows."""
    ahead = [(opens, window) for window, opens, _ in _openings(windows, now) if opens > now]
    if not ahead:
        return None
    opens, window = min(ahead, key=lambda pair: pair[0])
    return window, opens


def describe_opening(window: Window, opens: datetime) -> str:
    """`Sat 02:00-04:00 Europe/Paris, opening Sat 2026-12-05 02:00 CET (2026-12-05 01:00
    UTC)`; the UTC time is left out when it is the same wall-clock time."""
    local = opens.astimezone(window.zone)
    in_utc = f" ({opens:%Y-%m-%d %H:%M} UTC)" if local.utcoffset() else ""
    return f"{window.text}, opening {local:%a %Y-%m-%d %H:%M %Z}{in_utc}"


class Impact(Protocol):
    """What the decision needs to know of one revision's impact on the live database."""

    @property
    def revision(self) -> str: ...
    @property
    def verdict(self) -> str: ...
    @property
    def largest_table_bytes(self) -> int: ...
    @property
    def longest_lock_seconds(self) -> float | None: ...


def why_window(impact: Impact, threshold_bytes: int, lock_seconds: float | None) -> str | None:
    """Why a revision may run only inside a window (None when it may run at any time): it
    blocks writes on a table above the threshold, or is estimated to hold its lock longer
    than the lock threshold."""
    if impact.verdict in BLOCKING_VERDICTS and impact.largest_table_bytes > threshold_bytes:
        return (
            f"{impact.revision} {impact.verdict} on a table of "
            f"{units.size(impact.largest_table_bytes)} (above {units.size(threshold_bytes)})"
        )
    seconds = impact.longest_lock_seconds
    if lock_seconds is not None and seconds is not None and seconds > lock_seconds:
        return (
            f"{impact.revision} holds a lock for about {units.duration(seconds * 1000)} "
            f"(above {units.duration(lock_seconds * 1000)})"
        )
    return None
