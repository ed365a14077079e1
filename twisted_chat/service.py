"""``twistd chat``'s service tree: listeners, the chat and its database, metrics.

:mod:`twisted_chat.tap` builds it from the settings (``makeService``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
from typing import TYPE_CHECKING, Any

from twisted.application import service
from twisted.internet import defer, task
from twisted.internet import error as error_
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IStreamServerEndpoint
from twisted.logger import Logger

from twisted_chat.chat import ChatCore
from twisted_chat.limits import Limits
from twisted_chat.protocol import ChatFactory
from twisted_chat.storage import DatabaseMisconfigured, LoginStore

if TYPE_CHECKING:
    from twisted_chat.metrics import ChatMetrics
    from twisted_chat.reload import Reloader
    from twisted_chat.web.resources import ChatSite

#: Longest wait for connections to close at shutdown before they are aborted, in seconds.
SHUTDOWN_CLOSE_TIMEOUT = 1.5
#: Longest wait for queued database writes at shutdown, in seconds.
SHUTDOWN_FLUSH_TIMEOUT = 2.5
#: File descriptors kept for the listeners, the database and logs.
RESERVED_FILES = 32


class ListenerService(service.Service):
    """Listens on one endpoint while running; ``port`` is the listening port once started."""

    log = Logger()

    def __init__(
        self, endpoint: IStreamServerEndpoint, factory: IProtocolFactory, description: str
    ) -> None:
        self.endpoint = endpoint
        self.factory = factory
        self.description = description
        self.port: IListeningPort | None = None
        self.listening: defer.Deferred[IListeningPort] | None = None
        self._failure: BaseException | None = None

    def privilegedStartService(self) -> None:
        """Listen before privileges are dropped; a failure to listen ends the process.

        Twisted's own endpoints listen synchronously, so a port in use is reported here, before
        the reactor starts, and ``twistd`` exits with status 1 and a one-line message.
        """
        super().privilegedStartService()
        self._listen()
        if self.listening is not None and self.port is None and self._failure is not None:
            raise SystemExit(f"twistd chat: cannot listen on {self.description}: {self._failure}")

    def startService(self) -> None:
        """Start listening, unless :meth:`privilegedStartService` already did."""
        super().startService()
        if self.listening is None:
            self._listen()

    def _listen(self) -> None:
        from twisted.internet import reactor

        self._failure = None

        def listening(port: IListeningPort) -> IListeningPort:
            self.port = port
            self.log.info("Listening on {address}", address=port.getHost())
            return port

        def failed(failure: Any) -> Any:
            self._failure = failure.value
            self.log.critical(
                "Cannot listen on {description}: {error}",
                description=self.description,
                error=failure.value,
            )
            # A listener that fails later than synchronously stops the whole server too.
            reactor.callWhenRunning(reactor.stop)
            return failure

        self.listening = self.endpoint.listen(self.factory).addCallbacks(listening, failed)
        self.listening.addErrback(lambda _: None)

    def stopService(self) -> defer.Deferred[None] | None:
        """Stop accepting connections."""
        super().stopService()
        if self.port is not None:
            port, self.port = self.port, None
            stopped = port.stopListening()
            return stopped if isinstance(stopped, defer.Deferred) else None
        return None


class ChatService(service.MultiService):
    """The whole server: the chat core, its stores, and one listener per ``--port``."""

    log = Logger()

    def __init__(
        self,
        chat: ChatCore,
        store: LoginStore | None,
        db_description: str,
        limits: Limits | None = None,
        exit_process: bool = False,
    ) -> None:
        super().__init__()
        self.chat = chat
        self.store = store
        self.factory = ChatFactory(chat, limits, batch_writes=True)
        self.db_description = db_description
        self._prune: task.LoopingCall | None = None
        #: Whether this service owns the process (run by ``twistd``): a database that can never
        #: work then stops the reactor, and the process exits with :attr:`exit_status`.
        self.exit_process = exit_process
        #: 1 once the database turned out to be misconfigured, else 0.
        self.exit_status = 0
        #: Reloads the ``--config`` file (on SIGHUP when this service owns the process; set
        #: with ``--config``).
        self.reloader: Reloader | None = None
        self._previous_sighup: Any = None
        #: The ``--metrics`` listener: not a child service, so that it stops last and
        #: ``/health`` answers 503 while the connections close.
        self.metrics_listener: ListenerService | None = None
        #: The metrics of ``--metrics`` (``None`` without it).
        self.metrics: ChatMetrics | None = None

    def add_listener(self, endpoint: IStreamServerEndpoint, description: str) -> ListenerService:
        """Listen on ``endpoint`` while the service runs."""
        listener = ListenerService(endpoint, self.factory, description)
        listener.setServiceParent(self)
        return listener

    def add_web_listener(
        self,
        endpoint: IStreamServerEndpoint,
        description: str,
        origins: list[str] | None = None,
        ping_interval: float = 30.0,
    ) -> ChatSite:
        """Serve the web client and its WebSocket on ``endpoint`` while the service runs (its
        sessions admitted and shut down by the same factory as the TCP ones); the site."""
        from twisted_chat.web.resources import make_site

        site = make_site(self.factory, self.chat.texts.lang, origins or [], ping_interval)
        listener = ListenerService(endpoint, site, description)
        listener.setServiceParent(self)
        return site

    def add_metrics_listener(
        self, endpoint: IStreamServerEndpoint, description: str, cluster: Any = None
    ) -> ListenerService:
        """Serve ``/metrics`` and ``/health`` on ``endpoint`` while the service runs (and while
        it shuts down); ``cluster``: the clustered room, for the Redis metrics."""
        from twisted_chat.metrics import ChatMetrics, make_metrics_site

        metrics = ChatMetrics(self.factory, self.store, cluster)
        metrics.install()
        self.metrics = metrics
        listener = ListenerService(endpoint, make_metrics_site(metrics), description)
        self.metrics_listener = listener
        return listener

    def privilegedStartService(self) -> None:
        """Listen on every endpoint (the metrics one too) before privileges are dropped."""
        super().privilegedStartService()
        if self.metrics_listener is not None:
            self.metrics_listener.privilegedStartService()

    def listeners(self) -> list[ListenerService]:
        """The listener services, in ``--port`` order."""
        return [s for s in self if isinstance(s, ListenerService)]

    def startService(self) -> None:
        """Start the database work in the background (schema, accounts), then listen."""
        limits = self.factory.limits
        self.log.info(
            "twisted-chat starting (database {db}, language {lang}, max {clients} clients)",
            db=self.db_description,
            lang=self.chat.texts.lang,
            clients=limits.max_clients or "unlimited",
        )
        raise_open_files_limit(limits.max_clients)
        tune_garbage_collector()
        if self.exit_process:
            atexit.register(self._exit_with_status)
            if self.reloader is not None and hasattr(signal, "SIGHUP"):
                self._previous_sighup = signal.signal(signal.SIGHUP, self._sighup)
        if self.store is not None:
            self.store.database.on_misconfigured = self._database_misconfigured
            self.store.start()
        accounts = self.chat.accounts
        if accounts is not None:
            accounts.load()
        if self.chat.bans is not None:
            self.chat.bans.load()
        self._prune = task.LoopingCall(self.prune)
        self._prune.clock = self.chat.clock
        self._prune.start(60, now=False)
        super().startService()
        if self.metrics_listener is not None and not self.metrics_listener.running:
            self.metrics_listener.startService()

    def prune(self) -> None:
        """Every minute: forget old failed logins, expired bans and mutes that are over."""
        chat = self.chat
        if chat.accounts is not None:
            chat.accounts.prune()
        if chat.bans is not None:
            chat.bans.prune()
        chat.room.prune_mutes(chat.clock.seconds())

    def _sighup(self, signum: int, frame: Any) -> None:
        """SIGHUP: reload the configuration file, from the reactor (not in the handler)."""
        from twisted.internet import reactor as _reactor

        reactor: Any = _reactor
        if self.reloader is not None:
            reactor.callFromThread(self.reloader.reload)

    def _database_misconfigured(self, error: DatabaseMisconfigured) -> None:
        """The database can never work as configured: say so in one line, and stop.

        Called once by the database, before the stores see the error (so they stay quiet). The
        server has not taken a login yet (none is taken before the accounts are loaded), so
        nothing is lost. Under ``twistd`` the reactor stops (the usual graceful shutdown) and the
        process then exits with status 1.
        """
        if self.chat.accounts is not None:
            self.chat.accounts.stop()
        if self.chat.bans is not None:
            self.chat.bans.stop()
        self.stop_with_error(f"bad --db: {error}")

    def stop_with_error(self, message: str) -> None:
        """A configuration that can never work, found while running (a database, a Redis that
        refuses the credentials, a node id in use): log ``message`` once, without a
        traceback, and stop; under ``twistd`` the process then exits with status 1."""
        if self.exit_status:
            return  # stopping already
        self.exit_status = 1
        if not self.exit_process:
            self.log.critical("{message}", message=message)
            return
        self.log.critical("{message}; exiting with status 1", message=message)
        from twisted.internet import reactor

        with contextlib.suppress(error_.ReactorNotRunning):  # stopping already
            reactor.stop()

    def _exit_with_status(self) -> None:
        """At interpreter exit (after ``twistd`` has shut down and logged its last line), exit
        with :attr:`exit_status` if it is not 0.

        ``twistd`` has no way to end with a status of our choosing once the reactor has run
        (``ListenerService`` can raise ``SystemExit`` only because it fails before), so this
        flushes the output and ends the process with ``os._exit``. Registered at start-up, it
        runs after the exit handlers registered later.
        """
        if not self.exit_status:
            return
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    stream.flush()
        os._exit(self.exit_status)

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        """Graceful shutdown, bounded to a few seconds in all.

        Stop accepting, tell every connection (logged in or not) that the server is shutting
        down and close it, write what the database still owes, close the pool.
        """
        if self._prune is not None and self._prune.running:
            self._prune.stop()
        if self._previous_sighup is not None:
            signal.signal(signal.SIGHUP, self._previous_sighup)
            self._previous_sighup = None
        if self.chat.accounts is not None:
            self.chat.accounts.stop()
        if self.chat.bans is not None:
            self.chat.bans.stop()
        # A SIGTERM/SIGINT shutdown is a normal, graceful stop: exit 0. (twistd would otherwise
        # re-raise the signal after shutting down, and the process would die of it.)
        from twisted.internet import reactor

        if getattr(reactor, "_exitSignal", None) is not None:
            reactor._exitSignal = None  # type: ignore[attr-defined]
        self.factory.shutting_down = True  # refuse newcomers, /health says 503 from now on
        yield super().stopService()
        yield self.factory.shutdown(SHUTDOWN_CLOSE_TIMEOUT)
        if self.store is not None:
            left = yield self.store.flush(SHUTDOWN_FLUSH_TIMEOUT)
            self.store.stop()
            if left:
                self.log.warn("{count} login records could not be written", count=left)
            self.store.database.close()
        for summary in (self.chat.disconnects, self.chat.refusals):
            summary.flush()
        if self.chat.accounts is not None:
            self.chat.accounts.failed_logins.flush()
        if self.metrics_listener is not None and self.metrics_listener.running:
            yield self.metrics_listener.stopService()
        self.log.info("twisted-chat stopped: {stats}", stats=dict(self.factory.stats))


#: Garbage-collector thresholds while serving (CPython's defaults are 700, 10, 10).
GC_THRESHOLDS = (50_000, 20, 100)


def tune_garbage_collector() -> None:
    """Collect cyclic garbage less often, as Synapse does (its ``gc_thresholds``).

    With CPython's defaults a server that allocates a few objects per delivery runs a young
    collection every few hundred messages and a full one (which walks every connection's
    objects) often enough to show as latency spikes: in the 1000-client fan-out benchmark the
    worst delivery latency fell from 54-63 ms to 27-30 ms with these thresholds.
    """
    import gc

    gc.set_threshold(*GC_THRESHOLDS)


def raise_open_files_limit(wanted_clients: int) -> int:
    """Raise the soft open-files limit as far as the hard limit allows; log how many clients fit.

    Returns the new soft limit (or -1 where ``resource`` is unavailable).
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    room = soft - RESERVED_FILES
    log = Logger(namespace="twisted_chat.service")
    log.info("Open-files limit {soft}: room for about {room} clients", soft=soft, room=max(room, 0))
    if wanted_clients and room < wanted_clients:
        log.warn(
            "--max-clients {wanted} is above what the open-files limit allows ({room})",
            wanted=wanted_clients,
            room=room,
        )
    return int(soft)
