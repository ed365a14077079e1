"""Loading what the chat keeps in memory from storage: at start-up with backoff, again on demand.

The accounts and the bans both live in memory and are read from the database when the server
starts; while the database is unavailable the read is retried with exponential backoff (warned
once, the retries at debug level), and logins wait. A :class:`StoredLoad` is that machinery; its
owner says how to read and what to do with what was read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

T = TypeVar("T")

#: Backoff between attempts to load while the database is unavailable, in seconds.
MAX_LOAD_BACKOFF = 30.0


class StoredLoad(Generic[T]):
    """Reads ``what`` (a plural noun, for the log) with ``read`` until it succeeds.

    ``take`` receives the first successful read and returns how many items are held now;
    ``retake`` receives every successful :meth:`reload`. Without ``read`` (no storage) there is
    nothing to load and :attr:`loaded` is true from the start.
    """

    def __init__(
        self,
        what: str,
        read: Callable[[], defer.Deferred[T]] | None,
        take: Callable[[T], int],
        retake: Callable[[T], None],
        clock: IReactorTime,
        log: Logger,
    ) -> None:
        self._what = what
        self._read = read
        self._take = take
        self._retake = retake
        self._clock = clock
        self._log = log
        self.loaded = read is None
        self._backoff = 0.0
        self._retry: IDelayedCall | None = None
        # Failed loads so far, and when the first failed (warned once, not once per retry).
        self._failures = 0
        self._failed_since = 0.0
        self._stopped = False

    def load(self) -> None:
        """Read from storage, retrying with backoff while it is unavailable."""
        self._retry = None
        if self._read is None or self.loaded or self._stopped:
            return
        self._read().addCallbacks(self._loaded, self._failed)

    def _loaded(self, value: T) -> None:
        count = self._take(value)
        self.loaded = True
        if self._failures:
            self._log.info(
                "{count} {what} loaded after {seconds:.1f}s ({attempts} failed attempts); "
                "logins are taken now",
                count=count,
                what=self._what,
                seconds=self._clock.seconds() - self._failed_since,
                attempts=self._failures,
            )
        else:
            self._log.info("{count} {what} loaded", count=count, what=self._what)

    def _failed(self, failure: Any) -> None:
        if self._stopped:
            return  # the server is stopping (the storage can never work, or shutdown)
        self._backoff = min(MAX_LOAD_BACKOFF, max(0.5, self._backoff * 2))
        self._failures += 1
        if self._failures == 1:  # once; the retries are at debug level
            self._failed_since = self._clock.seconds()
            self._log.warn(
                "{what} not loaded yet ({error}); retrying with backoff (at most {most:g}s). "
                "Until then logins are refused with a try-again line.",
                what=self._what.capitalize(),
                error=failure.value,
                most=MAX_LOAD_BACKOFF,
            )
        else:
            self._log.debug(
                "{what} still not loaded ({error}); retrying in {delay}s",
                what=self._what.capitalize(),
                error=failure.value,
                delay=self._backoff,
            )
        self._retry = self._clock.callLater(self._backoff, self.load)

    def stop(self) -> None:
        """Stop trying to load (the server is stopping): no more attempts, no more warnings."""
        self._stopped = True
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None

    def reload(self) -> None:
        """Read from storage again, once; what is held now stays until the read succeeds."""
        if self._read is None:
            return

        def reloaded(value: T) -> None:
            self._retake(value)
            self.loaded = True

        def failed(failure: Any) -> None:
            self._log.warn(
                "{what} not reloaded: {error}", what=self._what.capitalize(), error=failure.value
            )

        self._read().addCallbacks(reloaded, failed)
