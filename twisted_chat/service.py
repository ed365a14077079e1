"""The service tree of ``twistd chat``, made of Twisted's own services.

:class:`ChatService` is a ``MultiService``; its children start in this order:

- :class:`StorageService`: the login store (its pool, its outage queue) and what is loaded from
  the database at start-up (accounts, bans);
- :attr:`ChatService.serving`, a ``MultiService`` of what serves: the prune timer (a
  ``TimerService``), the cluster link (:class:`~twisted_chat.cluster.service.ClusterService`,
  with ``--redis``), and one :class:`ListenerService` (Twisted's
  ``StreamServerEndpointService``) per ``--port`` and ``--web``;
- the ``--metrics`` listener, last.

They stop in stages (:meth:`ChatService.stopService`): what serves first (stop accepting, leave
the cluster), then the connections are told and closed, then the database is flushed and
closed, and the metrics site last, so that ``/health`` answers 503 while the rest shuts down.

:func:`build_chat` builds the chat objects; :mod:`twisted_chat.tap` puts it all together.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twisted.application import internet, service
from twisted.internet import defer, threads
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IStreamServerEndpoint
from twisted.logger import Logger
from zope.interface import implementer

from twisted_chat.loading import LoadedFromStorage
from twisted_chat.process import OwnedProcess, raise_open_files_limit, tune_garbage_collector
from twisted_chat.storage import DatabaseMisconfigured, HistoryStore, LoginStore, RecadoStore

if TYPE_CHECKING:
    from twisted_chat.accounts import Accounts
    from twisted_chat.assembly import Chat
    from twisted_chat.bans import Bans
    from twisted_chat.chat import ChatCore
    from twisted_chat.cluster.room import ClusterRoom
    from twisted_chat.metrics import ChatMetrics
    from twisted_chat.reload import Reloader
    from twisted_chat.server import ChatServer
    from twisted_chat.settings import ChatSettings, Settings
    from twisted_chat.tcp import ChatTCPFactory

#: Longest wait for connections to close at shutdown before they are aborted, in seconds.
SHUTDOWN_CLOSE_TIMEOUT = 1.5
#: Longest wait for queued database writes at shutdown, in seconds.
SHUTDOWN_FLUSH_TIMEOUT = 2.5
#: Seconds between two prunes of the chat's memory (failed logins, bans, mutes).
PRUNE_INTERVAL = 60
#: Seconds between two retention purges of history and recados (``--history-days``,
#: ``--memo-days``); the first runs at start-up.
PURGE_INTERVAL = 300
#: The log of retention purges.
PURGE_LOG = Logger(namespace="twisted_chat.retention")


# -- the chat objects ------------------------------------------------------------------------
# Everything below up to the services builds and drives the chat itself: the one place to
# change when the chat's classes change.


@dataclass
class ChatParts:
    """The chat objects of one server, as :func:`build_chat` made them."""

    #: The chat itself, as :func:`twisted_chat.assembly.assemble` put it together.
    chat: Chat
    accounts: Accounts
    bans: Bans
    #: The factory of every ``--port`` listener (protocol v1 over TCP).
    tcp: ChatTCPFactory
    #: The clustered room, with ``--redis``.
    cluster: ClusterRoom | None = None
    #: Where public messages are stored (``None`` in tests that build a chat without it).
    history_store: HistoryStore | None = None
    #: Where recados are stored.
    recado_store: RecadoStore | None = None
    #: Whether a retention purge is running.
    purging: bool = False

    @property
    def core(self) -> ChatCore:
        """The chat core."""
        return self.chat.core

    @property
    def server(self) -> ChatServer:
        """Admits every transport's connections, and closes them at shutdown."""
        return self.chat.server

    def loaded_from_storage(self) -> list[LoadedFromStorage[Any]]:
        """What is read from the database at start-up."""
        topics = self.chat.topics
        return [self.accounts, self.bans, *([topics] if topics is not None else [])]

    def prune(self) -> None:
        """Forget old failed logins, expired bans and mutes that are over (every minute)."""
        self.accounts.prune()
        self.bans.prune()
        self.core.room.prune_mutes(self.core.clock.seconds())

    def purge(self) -> defer.Deferred[None] | None:
        """Delete the messages and recados past their retention, in small chunks (every few
        minutes), and drop them from the rooms' buffers; one purge at a time."""
        if self.purging:
            return None
        history_store, recado_store = self.history_store, self.recado_store
        if history_store is None or recado_store is None:
            return None
        self.purging = True
        now = self.core.events.now_ms()
        history = self.chat.history
        if history is not None:
            history.prune(now)

        @defer.inlineCallbacks
        def run() -> Any:
            try:
                messages = yield history_store.purge_expired(now)
                recados = yield recado_store.purge_expired(now)
            except Exception as e:
                PURGE_LOG.info("retention purge not done ({error}); next time", error=e)
                return
            finally:
                self.purging = False
            if messages or recados:
                PURGE_LOG.info(
                    "retention purge: {messages} messages and {recados} recados deleted",
                    messages=messages,
                    recados=recados,
                )

        done: defer.Deferred[None] = run()
        return done

    def flush_log_summaries(self) -> None:
        """Write the log summaries that are still counting (at shutdown)."""
        for summary in (self.core.disconnects, self.core.refusals, self.accounts.failed_logins):
            summary.flush()


def build_chat(
    settings: Settings,
    reactor: Any,
    store: LoginStore,
    reloader: Reloader,
    on_fatal: Callable[[str], None],
) -> ChatParts:
    """The accounts, the bans, the room (clustered with ``--redis``), the chat core and the
    connection server of ``settings``, following the reloaded limits, language and operators.

    ``on_fatal`` is called with a message when the cluster finds a configuration that can
    never work.
    """
    from twisted_chat.accounts import Accounts
    from twisted_chat.assembly import RoomPlan, assemble, local_room
    from twisted_chat.bans import Bans
    from twisted_chat.history import HistoryPlan
    from twisted_chat.limits import Limits
    from twisted_chat.settings import ChatSettings
    from twisted_chat.storage import AccountStore, BanStore, DepartureStore, TopicStore
    from twisted_chat.tcp import ChatTCPFactory
    from twisted_chat.text import CATALOGUES

    accounts = Accounts(
        AccountStore(store.database),
        reactor,
        functools.partial(threads.deferToThreadPool, reactor, reactor.getThreadPool()),
    )
    bans = Bans(BanStore(store.database), reactor)
    room: Any = local_room
    if settings.cluster is not None:  # only now: without --redis no Redis code is imported
        from twisted_chat.cluster.room import ClusterConfig, ClusterRoom

        cluster = settings.cluster
        config = ClusterConfig(cluster.url, cluster.node_id, cluster.ttl, cluster.prefix)
        room = functools.partial(ClusterRoom, config=config, clock=reactor, on_fatal=on_fatal)
    kept = settings.history
    history_store = HistoryStore(store.database, reactor, kept.days, settings.database.queue)
    recado_store = RecadoStore(store.database, kept.memo_days)
    chat = assemble(
        CATALOGUES[settings.chat.lang],
        reactor,
        limits=settings.limits,
        logins=store,
        accounts=accounts,
        bans=bans,
        operators=settings.chat.operators,
        room=room,
        rooms=RoomPlan(settings.chat.default_room, settings.chat.rooms, settings.chat.max_rooms),
        topics=TopicStore(store.database),
        history=history_store,
        history_plan=HistoryPlan(kept.replay, kept.replay_hours),
        departures=DepartureStore(store.database),
        recados=recado_store,
        gather_notices=True,
        batch_writes=True,
    )
    parts = ChatParts(chat, accounts, bans, ChatTCPFactory(chat.server, chat.lines))
    parts.history_store, parts.recado_store = history_store, recado_store
    if settings.cluster is not None:
        parts.cluster = chat.room  # type: ignore[assignment]
        batcher = chat.server.batcher
        gather_output = batcher.gather if batcher is not None else None
        chat.room.attach(accounts, bans, gather_output)  # type: ignore[attr-defined]

    def use_chat_settings(section: ChatSettings) -> None:
        chat.language.use(CATALOGUES[section.lang])
        chat.operators.use(section.operators)

    reloader.register(Limits, chat.server.use_limits)
    reloader.register(ChatSettings, use_chat_settings)
    return parts


# -- the services ----------------------------------------------------------------------------


@implementer(IStreamServerEndpoint)
class _ReportingEndpoint:
    """An endpoint whose ``listen`` result goes through its :class:`ListenerService` first."""

    def __init__(self, endpoint: IStreamServerEndpoint, listener: ListenerService) -> None:
        self.endpoint = endpoint
        self.listener = listener

    def listen(self, factory: IProtocolFactory) -> Any:
        """Listen on the real endpoint; the listener logs the outcome."""
        listener = self.listener
        return self.endpoint.listen(factory).addCallbacks(listener._listening, listener._failed)


class ListenerService(internet.StreamServerEndpointService):
    """Twisted's ``StreamServerEndpointService``, saying where it listens, and ending the
    process when it cannot.

    A failure to listen is logged as one critical line (``Cannot listen on ...``). Twisted's
    own endpoints listen synchronously, so under ``twistd`` a port in use is found in
    :meth:`privilegedStartService`, before the reactor starts: that raises ``SystemExit``, and
    ``twistd`` exits with status 1 and a one-line message. A later failure stops the reactor.
    """

    log = Logger()

    def __init__(
        self, endpoint: IStreamServerEndpoint, factory: IProtocolFactory, description: str
    ) -> None:
        super().__init__(_ReportingEndpoint(endpoint, self), factory)
        #: The endpoint string, for the log.
        self.description = description
        #: The listening port while it listens.
        self.port: IListeningPort | None = None
        #: Fires with the port once listening (``None`` if that failed).
        self.listening: defer.Deferred[IListeningPort | None] | None = None
        self._failure: BaseException | None = None

    def privilegedStartService(self) -> None:
        """Listen before privileges are dropped (``twistd`` calls this first); a failure to
        listen ends the process."""
        self._listen()
        if self.port is None and self._failure is not None:
            raise SystemExit(f"twistd chat: cannot listen on {self.description}: {self._failure}")

    def startService(self) -> None:
        """Start listening, unless :meth:`privilegedStartService` already did (a failure here
        is logged and stops the reactor, as a later one does)."""
        if self.listening is None:
            self._listen()
        super().startService()

    def _listen(self) -> None:
        self._failure = None
        self.listening = defer.Deferred()
        super().privilegedStartService()

    def _listening(self, port: IListeningPort) -> IListeningPort:
        self.port = port
        self.log.info("Listening on {address}", address=port.getHost())
        if self.listening is not None:
            self.listening.callback(port)
        return port

    def _failed(self, failure: Any) -> None:
        from twisted.internet import reactor

        if self.listening is not None and failure.check(defer.CancelledError):
            self.listening.callback(None)  # stopped before it listened: nothing went wrong
            return
        self._failure = failure.value
        self.log.critical(
            "Cannot listen on {description}: {error}",
            description=self.description,
            error=failure.value,
        )
        # A listener that fails later than synchronously stops the whole server too.
        reactor.callWhenRunning(reactor.stop)
        if self.listening is not None:
            self.listening.callback(None)

    def stopService(self) -> defer.Deferred[None]:
        """Stop accepting connections."""
        self.port = None
        stopped: defer.Deferred[None] = super().stopService()
        return stopped


class StorageService(service.Service):
    """The login store, and what the chat loads from the database, while the server runs."""

    log = Logger()

    def __init__(
        self,
        store: LoginStore,
        loaded: Sequence[LoadedFromStorage[Any]],
        on_misconfigured: Callable[[DatabaseMisconfigured], None],
    ) -> None:
        self.store = store
        self.loaded = list(loaded)
        self.on_misconfigured = on_misconfigured
        #: Other stores that write in batches (history), flushed with the logins at shutdown.
        self.writers: list[HistoryStore] = []

    def startService(self) -> None:
        """Start writing logins (in the background) and loading accounts and bans."""
        super().startService()
        self.store.database.on_misconfigured = self.on_misconfigured
        self.store.start()
        for item in self.loaded:
            item.load()

    def stop_loading(self) -> None:
        """No more attempts to load (the server is stopping)."""
        for item in self.loaded:
            item.stop()

    def use_queue_bound(self, queue: int) -> None:
        """Keep at most ``queue`` login records while the database is down (``--db-queue``)."""
        self.store.queue_limit = max(1, queue)

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        """Write what the database still owes (within :data:`SHUTDOWN_FLUSH_TIMEOUT`), then
        close the pool."""
        super().stopService()
        self.stop_loading()
        flushing = [w.flush(SHUTDOWN_FLUSH_TIMEOUT) for w in self.writers]
        left = yield self.store.flush(SHUTDOWN_FLUSH_TIMEOUT)
        self.store.stop()
        if left:
            self.log.warn("{count} login records could not be written", count=left)
        for writer, flushed in zip(self.writers, flushing, strict=True):
            unwritten = yield flushed
            writer.stop()
            if unwritten:
                self.log.warn("{count} history messages could not be written", count=unwritten)
        self.store.database.close()


class ChatService(service.MultiService):
    """The whole server: storage, what serves (listeners, cluster, prune timer), metrics."""

    log = Logger()

    def __init__(
        self,
        chat: ChatParts,
        store: LoginStore | None,
        db_description: str,
        process: OwnedProcess | None = None,
        on_sighup: Callable[[], object] | None = None,
    ) -> None:
        super().__init__()
        self.parts = chat
        self.chat = chat.core
        self.factory = chat.server
        self.store = store
        self.db_description = db_description
        #: The process, when this service owns it (run by ``twistd``): a configuration that
        #: can never work then stops the reactor, and the process exits with status 1.
        self.process = process
        #: Called on SIGHUP when this service owns the process.
        self.on_sighup = on_sighup
        #: Applies reloaded settings to the components that follow them (set by
        #: ``makeService``).
        self.reloader: Reloader | None = None
        #: 1 once a configuration turned out never to work, else 0.
        self.exit_status = 0
        self.storage: StorageService | None = None
        if store is not None:
            self.storage = StorageService(
                store, chat.loaded_from_storage(), self._database_misconfigured
            )
            if chat.history_store is not None:
                self.storage.writers.append(chat.history_store)
            self.storage.setServiceParent(self)
        #: What serves: stopped first, all together.
        self.serving = service.MultiService()
        self.serving.setServiceParent(self)
        prune = internet.TimerService(PRUNE_INTERVAL, chat.prune)
        prune.clock = chat.core.clock
        prune.setServiceParent(self.serving)
        purge = internet.TimerService(PURGE_INTERVAL, chat.purge)
        purge.clock = chat.core.clock
        purge.setServiceParent(self.serving)
        #: The ``--metrics`` listener: the last child, which stops last.
        self.metrics_listener: ListenerService | None = None
        #: The metrics of ``--metrics`` (``None`` without it).
        self.metrics: ChatMetrics | None = None

    def add_serving(self, child: service.IService) -> None:
        """Run ``child`` with the listeners (it stops first, with them)."""
        child.setServiceParent(self.serving)

    def add_listener(
        self, endpoint: IStreamServerEndpoint, factory: IProtocolFactory, description: str
    ) -> ListenerService:
        """Listen on ``endpoint`` with ``factory`` while the service runs."""
        listener = ListenerService(endpoint, factory, description)
        self.add_serving(listener)
        return listener

    def add_metrics_listener(self, endpoint: IStreamServerEndpoint, description: str) -> None:
        """Serve ``/metrics`` and ``/health`` on ``endpoint`` while the service runs (and while
        it shuts down)."""
        from twisted_chat.metrics import ChatMetrics, make_metrics_site

        metrics = ChatMetrics(
            self.factory, self.store, self.parts.cluster, self.parts.history_store
        )
        metrics.install()
        self.metrics = metrics
        self.metrics_listener = ListenerService(endpoint, make_metrics_site(metrics), description)
        self.metrics_listener.setServiceParent(self)

    def listeners(self) -> list[ListenerService]:
        """The listener services of ``--port`` and ``--web``, in that order."""
        return [s for s in self.serving if isinstance(s, ListenerService)]

    def startService(self) -> None:
        """Tune the process, then start the children: the database work in the background
        (schema, accounts, bans), the prune timer, the cluster, the listeners, the metrics."""
        limits = self.factory.limits
        self.log.info(
            "twisted-chat starting (database {db}, language {lang}, max {clients} clients)",
            db=self.db_description,
            lang=self.parts.chat.language.lang,
            clients=limits.max_clients or "unlimited",
        )
        raise_open_files_limit(limits.max_clients)
        tune_garbage_collector()
        if self.process is not None:
            self.process.started(self.on_sighup)
        super().startService()

    def _database_misconfigured(self, error: DatabaseMisconfigured) -> None:
        """The database can never work as configured: say so in one line, and stop.

        Called once by the database, before the stores see the error (so they stay quiet). The
        server has not taken a login yet (none is taken before the accounts are loaded), so
        nothing is lost. Under ``twistd`` the reactor stops (the usual graceful shutdown) and the
        process then exits with status 1.
        """
        if self.storage is not None:
            self.storage.stop_loading()
        self.stop_with_error(f"bad --db: {error}")

    def stop_with_error(self, message: str) -> None:
        """A configuration that can never work, found while running (a database, a Redis that
        refuses the credentials, a node id in use): log ``message`` once, without a
        traceback, and stop; under ``twistd`` the process then exits with status 1."""
        if self.exit_status:
            return  # stopping already
        self.exit_status = 1
        if self.process is None:
            self.log.critical("{message}", message=message)
            return
        self.log.critical("{message}; exiting with status 1", message=message)
        self.process.fail(1)

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        """Graceful shutdown, bounded to a few seconds in all, in stages.

        Stop accepting (and leave the cluster), tell every connection (logged in or not) that
        the server is shutting down and close it (aborting those still open after
        :data:`SHUTDOWN_CLOSE_TIMEOUT`), write what the database still owes and close the pool,
        and stop the metrics site last.
        """
        service.Service.stopService(self)
        if self.process is not None:
            self.process.stopping()
        if self.storage is not None:
            self.storage.stop_loading()
        self.factory.shutting_down = True  # refuse newcomers, /health says 503 from now on
        if self.serving.running:
            yield self.serving.stopService()
        yield self.factory.shutdown(SHUTDOWN_CLOSE_TIMEOUT)
        if self.storage is not None and self.storage.running:
            yield self.storage.stopService()
        self.parts.flush_log_summaries()
        if self.metrics_listener is not None and self.metrics_listener.running:
            yield self.metrics_listener.stopService()
        self.log.info("twisted-chat stopped: {stats}", stats=dict(self.factory.stats))
