"""Capturing the events of the global Twisted log publisher in tests.

:class:`LogEvents` is an observer that keeps the events it is shown (all of them, or those its
``keep`` predicate accepts); :func:`capture` installs one for a ``with`` block (or a fixture),
:func:`record_logs` for the rest of a trial test. Its queries pick out what the tests look for:
events of one level, of the login store, its "database available again" recoveries, tracebacks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from twisted.logger import ILogObserver, LogEvent, LogLevel, formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

#: The namespace of the login store's log events.
LOGIN_STORE_NAMESPACE = "twisted_chat.storage.logins"

ObserverT = TypeVar("ObserverT", bound="LogEvents")


def is_error(event: LogEvent) -> bool:
    """Whether ``event`` is at level error or critical, or carries a failure (a traceback)."""
    level = event.get("log_level")
    return level in (LogLevel.error, LogLevel.critical) or "log_failure" in event


def describe(event: LogEvent) -> str:
    """``event`` as text, followed by the traceback of its failure if it carries one.

    Legacy events (``twisted.python.log.err``, as ``adbapi`` uses) carry ``failure``; new ones
    ``log_failure``.
    """
    text = formatEvent(event)
    failure = event.get("log_failure") or event.get("failure")
    if failure is not None and "Traceback" not in text:
        text += "\n" + failure.getTraceback()
    return text


@implementer(ILogObserver)
class LogEvents:
    """A log observer keeping every event it is shown, or those ``keep`` accepts."""

    def __init__(self, keep: Callable[[LogEvent], bool] | None = None) -> None:
        self.events: list[LogEvent] = []
        self._keep = keep

    def keeps(self, event: LogEvent) -> bool:
        """Whether to keep ``event`` (``keep``'s answer; every event without one)."""
        return self._keep is None or self._keep(event)

    def __call__(self, event: LogEvent) -> None:
        """Keep ``event`` if :meth:`keeps` says so."""
        if self.keeps(event):
            self.events.append(event)

    def at(self, level: LogLevel) -> list[LogEvent]:
        """The kept events at ``level``."""
        return [e for e in self.events if e.get("log_level") is level]

    def of_store(self, store: object) -> list[LogEvent]:
        """The kept events of the login store ``store`` (``twisted_chat.storage.logins``)."""
        return [
            e
            for e in self.events
            if e.get("log_source") is store
            and str(e.get("log_namespace", "")).startswith(LOGIN_STORE_NAMESPACE)
        ]

    def recoveries(self) -> list[LogEvent]:
        """The kept "Database available again" events (at level info)."""
        return [
            e
            for e in self.at(LogLevel.info)
            if str(e.get("log_format", "")).startswith("Database available again")
        ]

    def tracebacks(self) -> list[str]:
        """The kept events at level critical or carrying a failure (a traceback), as text."""
        return [
            describe(event)
            for event in self.events
            if (event.get("log_failure") or event.get("failure")) is not None
            or event.get("log_level") is LogLevel.critical
        ]

    def describe(self) -> list[str]:
        """Every kept event as text, with its traceback (see :func:`describe`)."""
        return [describe(event) for event in self.events]


@contextmanager
def capture(observer: ObserverT) -> Iterator[ObserverT]:
    """Add ``observer`` to the global log publisher while the block runs, then remove it."""
    globalLogPublisher.addObserver(observer)
    try:
        yield observer
    finally:
        globalLogPublisher.removeObserver(observer)


def record_logs(case: SynchronousTestCase) -> LogEvents:
    """Every log event from now until the end of the trial test ``case`` (removed on cleanup)."""
    events = LogEvents()
    globalLogPublisher.addObserver(events)
    case.addCleanup(globalLogPublisher.removeObserver, events)
    return events
