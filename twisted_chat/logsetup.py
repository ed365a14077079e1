"""``--log-level`` and ``--log-format``: what reaches twistd's log observer, and in what form.

``twistd`` builds its observer itself, from its own options (``--logfile``, ``--syslog``,
``-n`` for stdout), after the plugin's ``makeService`` and before the services start, and hands
it to :data:`twisted.logger.globalLogBeginner`'s ``beginLoggingTo``. :meth:`LogSetup.install`
wraps that one call, so whichever observer twistd chose is put behind a
``FilteringLogObserver`` with a :class:`~twisted.logger.LogLevelFilterPredicate` (whose level
:meth:`LogSetup.set_level` changes while running, on a configuration reload), and, for
``json``, writes each event as one JSON object per line (``twisted.logger.eventAsJSON``, no
record separator), for a log shipper. Events logged before logging began (the start-up lines)
are replayed through the same filter.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from twisted.logger import (
    FileLogObserver,
    FilteringLogObserver,
    ILogObserver,
    LogBeginner,
    LogEvent,
    Logger,
    LogLevel,
    LogLevelFilterPredicate,
    eventAsJSON,
    globalLogBeginner,
)

#: ``--log-level`` values and the lowest level each lets through.
LEVELS = {
    "debug": LogLevel.debug,
    "info": LogLevel.info,
    "warn": LogLevel.warn,
    "error": LogLevel.error,
}
#: ``--log-format`` values.
FORMATS = ("text", "json")


def json_line(event: LogEvent) -> str:
    """``event`` as one line of JSON Lines: Twisted's own JSON for events, then a newline."""
    return eventAsJSON(event) + "\n"


class LogSetup:
    """The level filter and line format of the process's log (run by ``twistd``)."""

    log = Logger()

    def __init__(self, level: str = "info", log_format: str = "text") -> None:
        self.predicate = LogLevelFilterPredicate(LEVELS[level])
        self.level = level
        self.format = log_format
        self._installed = False

    def set_level(self, level: str) -> None:
        """Let events at ``level`` and above through from now on."""
        self.level = level
        self.predicate.setLogLevelForNamespace("", LEVELS[level])

    def wrap(self, observer: ILogObserver) -> ILogObserver:
        """``observer`` behind the level filter, writing JSON lines if so configured."""
        if self.format == "json":
            if isinstance(observer, FileLogObserver):
                observer.formatEvent = json_line
            else:  # syslog: it has its own format
                self.log.warn("--log-format json applies to log files and stdout only")
        filtered: ILogObserver = FilteringLogObserver(observer, [self.predicate])
        return filtered

    def install(self, beginner: LogBeginner = globalLogBeginner) -> None:
        """Filter (and format) the observers that will be given to ``beginner``.

        To be called before logging begins (``makeService``, under ``twistd``); a second call
        does nothing.
        """
        if self._installed:
            return
        self._installed = True
        begin = beginner.beginLoggingTo

        def begin_logging_to(observers: Iterable[ILogObserver], *args: Any, **kw: Any) -> None:
            begin([self.wrap(observer) for observer in observers], *args, **kw)

        beginner.beginLoggingTo = begin_logging_to  # type: ignore[method-assign]
