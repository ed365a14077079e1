"""Counts of noisy events, logged as one line every few seconds instead of one line each.

A connection storm, a flood of bad clients or a password-guessing run would otherwise write a
log line per client. :class:`LogSummary` counts such events by cause and logs one info line such
as ``disconnects in the last 5s: flood=3 sendq=1`` at most every :data:`SUMMARY_INTERVAL`
seconds. Its timer is scheduled by the first event of a window, so nothing runs while nothing
happens. The detail of each event can still be logged at debug level by the caller.
"""

from __future__ import annotations

from collections import Counter

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

#: Seconds between two summary lines of one kind, at most one line per window.
SUMMARY_INTERVAL = 5.0


class LogSummary:
    """Events of one kind (``what``: "disconnects", "failed logins"...) counted by cause."""

    log = Logger()

    def __init__(self, what: str, clock: IReactorTime, interval: float = SUMMARY_INTERVAL) -> None:
        self.what = what
        self.interval = interval
        self._clock = clock
        self._counts: Counter[str] = Counter()
        self._call: IDelayedCall | None = None

    def count(self, cause: str) -> None:
        """One more event of ``cause``; the first of a window schedules the summary line."""
        self._counts[cause] += 1
        if self._call is None:
            self._call = self._clock.callLater(self.interval, self._emit)

    @property
    def pending(self) -> dict[str, int]:
        """The counts not logged yet, by cause."""
        return dict(self._counts)

    def _emit(self) -> None:
        self._call = None
        self.flush()

    def flush(self) -> None:
        """Log what has been counted now (nothing if nothing was) and cancel the timer."""
        if self._call is not None:
            if self._call.active():
                self._call.cancel()
            self._call = None
        if not self._counts:
            return
        counts, self._counts = self._counts, Counter()
        self.log.info(
            "{what} in the last {seconds:g}s: {summary}",
            what=self.what,
            seconds=self.interval,
            summary=" ".join(f"{cause}={n}" for cause, n in sorted(counts.items())),
            counts=dict(counts),
        )
