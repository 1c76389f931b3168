"""The server's clock, learned from `Date` headers. Windows, resets and sync bounds are the server's times:
a client whose own clock is off must not wait too little or move a cursor past what the server has."""

from __future__ import annotations

import email.utils
import threading
import time
from datetime import date, datetime, timezone


class ServerClock:
    """Estimates server time as local time plus an offset.

    `Date` has whole-second resolution and is stamped before the response travels, so each header gives a lower
    bound of the true offset; the largest bound seen is the tightest. Being low errs towards waiting a little
    longer for a rate window and towards an earlier (safer) sync bound.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset: float | None = None

    def observe(self, date_header: str | None, received_at: float | None = None) -> None:
        if not date_header:
            return
        try:
            stamped = email.utils.parsedate_to_datetime(date_header).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return
        offset = stamped - (time.time() if received_at is None else received_at)
        with self._lock:
            if self._offset is None or offset > self._offset:
                self._offset = offset

    @property
    def known(self) -> bool:
        return self._offset is not None

    @property
    def offset(self) -> float:
        return self._offset or 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def seconds_until(self, server_timestamp: float) -> float:
        return server_timestamp - self.now()


def format_utc(timestamp: float, suffix: str = " UTC", fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A server timestamp for a person, in UTC (the server's clock, not this machine's zone): the one way the kit
    writes one. The server's times are whole seconds, so the value is rounded, not truncated."""
    return time.strftime(fmt, time.gmtime(round(timestamp))) + suffix


def day_start_utc(day: date) -> int:
    """A calendar day's first second in UTC, as the unix seconds Accelo's date filters take."""
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())
