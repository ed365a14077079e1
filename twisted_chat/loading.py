"""Loading what the chat keeps in memory from storage: at start-up with backoff, again on demand.

The accounts and the bans both live in memory and are read from the database when the server
starts; while the database is unavailable the read is retried with exponential backoff (warned
once, the retries at debug level), and logins wait. :class:`LoadedFromStorage` is that
machinery; a subclass says how to read and what to do with what was read.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

T = TypeVar("T")

#: Backoff between attempts to load while the database is unavailable, in seconds.
MAX_LOAD_BACKOFF = 30.0


class LoadedFromStorage(Generic[T]):
    """Base of what is held in memory and read from storage: :meth:`load` at start-up, with
    backoff, and :meth:`reload` on demand.

    A subclass names :attr:`what` (a plural noun, for the log) and says how to :meth:`_read`
    and what to do with the first read (:meth:`_take`) and with a reload (:meth:`_retake`).
    Without storage there is nothing to load and :attr:`loaded` is true from the start.
    """

    #: What is loaded, for the log ("bans").
    what: str
    #: Whether logins wait for it (they wait for the accounts and bans, not for topics).
    blocks_logins = True
    log = Logger()

    def __init__(self, clock: IReactorTime, *, stored: bool) -> None:
        self._clock = clock
        self._stored = stored
        #: Whether the first read succeeded (always, without storage).
        self.loaded = not stored
        self._load_backoff = 0.0
        self._load_retry: IDelayedCall | None = None
        # Failed loads so far, and when the first failed (warned once, not once per retry).
        self._load_failures = 0
        self._load_failed_since = 0.0
        self._stopped = False

    def _read(self) -> defer.Deferred[T]:
        """Read everything from storage (only called with storage)."""
        raise NotImplementedError

    def _take(self, value: T) -> int:
        """Take the first successful read; return how many items are held now."""
        raise NotImplementedError

    def _retake(self, value: T) -> None:
        """Take a successful :meth:`reload`."""
        raise NotImplementedError

    def load(self) -> None:
        """Read from storage, retrying with backoff while it is unavailable."""
        self._load_retry = None
        if not self._stored or self.loaded or self._stopped:
            return
        self._read().addCallbacks(self._loaded, self._load_failed)

    def _loaded(self, value: T) -> None:
        count = self._take(value)
        self.loaded = True
        if self._load_failures:
            self.log.info(
                "{count} {what} loaded after {seconds:.1f}s ({attempts} failed attempts)"
                + ("; logins are taken now" if self.blocks_logins else ""),
                count=count,
                what=self.what,
                seconds=self._clock.seconds() - self._load_failed_since,
                attempts=self._load_failures,
            )
        else:
            self.log.info("{count} {what} loaded", count=count, what=self.what)

    def _load_failed(self, failure: Any) -> None:
        if self._stopped:
            return  # the server is stopping (the storage can never work, or shutdown)
        self._load_backoff = min(MAX_LOAD_BACKOFF, max(0.5, self._load_backoff * 2))
        self._load_failures += 1
        if self._load_failures == 1:  # once; the retries are at debug level
            self._load_failed_since = self._clock.seconds()
            self.log.warn(
                "{what} not loaded yet ({error}); retrying with backoff (at most {most:g}s)."
                "{consequence}",
                what=self.what.capitalize(),
                error=failure.value,
                most=MAX_LOAD_BACKOFF,
                consequence=(
                    " Until then logins are refused with a try-again line."
                    if self.blocks_logins
                    else ""
                ),
            )
        else:
            self.log.debug(
                "{what} still not loaded ({error}); retrying in {delay}s",
                what=self.what.capitalize(),
                error=failure.value,
                delay=self._load_backoff,
            )
        self._load_retry = self._clock.callLater(self._load_backoff, self.load)

    def stop(self) -> None:
        """Stop trying to load (the server is stopping): no more attempts, no more warnings."""
        self._stopped = True
        if self._load_retry is not None and self._load_retry.active():
            self._load_retry.cancel()
        self._load_retry = None

    def reload(self) -> None:
        """Read from storage again, once (after a cluster outage: changes made on other nodes
        meanwhile); what is held now stays until the read succeeds."""
        if not self._stored:
            return

        def reloaded(value: T) -> None:
            self._retake(value)
            self.loaded = True

        def failed(failure: Any) -> None:
            self.log.warn(
                "{what} not reloaded: {error}", what=self.what.capitalize(), error=failure.value
            )

        self._read().addCallbacks(reloaded, failed)
