"""The service tree that ``makeService`` builds from parsed options (:mod:`twisted_chat.service`):
its shape, the chat and its operators, one listener per ``--port`` and ``--web``, and the stages of
a shutdown (the children's stops are stand-ins the test fires; nothing listens). In-process, not
unit: the service opens a real database pool (SQLite in memory), whose thread pool starts as soon
as the reactor runs."""

from __future__ import annotations

from typing import Any

from twisted.application.internet import TimerService
from twisted.application.service import MultiService
from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.server import Site

from tests.support.logs import record_logs
from tests.support.options import parse
from twisted_chat.service import (
    SHUTDOWN_CLOSE_TIMEOUT,
    ChatService,
    ListenerService,
    StorageService,
)
from twisted_chat.tap import makeService


def build(*args: str) -> ChatService:
    """The service of ``twistd chat ARGS`` (on an in-memory database), never started."""
    return makeService(parse("--db", "sqlite::memory:", *args))


class TreeTests(SynchronousTestCase):
    """The children, in the order they start."""

    def test_shape(self) -> None:
        server = build("--web", "tcp:0", "--metrics", "tcp:0")
        self.addCleanup(server.store.database.close)  # type: ignore[union-attr]
        storage, serving, metrics = list(server)
        self.assertIsInstance(storage, StorageService)
        self.assertIsInstance(serving, MultiService)
        self.assertIs(metrics, server.metrics_listener)
        prune, purge, port, web = list(serving)
        self.assertIsInstance(prune, TimerService)
        self.assertIsInstance(purge, TimerService)  # the retention purge of history and recados
        self.assertEqual(server.listeners(), [port, web])
        self.assertIsInstance(metrics, ListenerService)


class OperatorServiceTests(SynchronousTestCase):
    """``--operator`` reaches the chat core."""

    def test_the_chat_knows_them(self) -> None:
        service = makeService(parse("--db", "sqlite::memory:", "--operator", "Ana"))
        self.assertEqual(service.chat.operators.keys, frozenset({"ana"}))
        self.assertIsNotNone(service.chat.bans)
        service.store.database.close()  # type: ignore[union-attr]


class WebServiceTests(SynchronousTestCase):
    """``makeService`` adds one listener per ``--web``, serving a ``Site``."""

    def test_web_listeners(self) -> None:
        options = parse("--web", "tcp:0:interface=127.0.0.1", "--db", "sqlite::memory:")
        service = makeService(options)
        listeners = service.listeners()
        self.assertEqual(len(listeners), 2)
        self.assertNotIsInstance(listeners[0].factory, Site)
        self.assertIsInstance(listeners[1].factory, Site)


class StopTests(SynchronousTestCase):
    """Each stage of a shutdown waits for the one before, and the metrics stop last."""

    def test_stages(self) -> None:
        server = build("--metrics", "tcp:0")
        self.addCleanup(server.store.database.close)  # type: ignore[union-attr]
        storage, metrics = server.storage, server.metrics_listener
        assert storage is not None and metrics is not None
        for child in (server, server.serving, storage, metrics):
            child.running = True  # as if started, without listening
        order: list[str] = []
        pending: dict[str, Deferred[None]] = {}
        timeouts: list[float] = []

        def stage(name: str) -> Any:
            def stop(*args: Any) -> Deferred[None]:
                order.append(name)
                timeouts.extend(args)
                pending[name] = Deferred()
                return pending[name]

            return stop

        self.patch(server.serving, "stopService", stage("serving"))
        self.patch(server.factory, "shutdown", stage("connections"))
        self.patch(storage, "stopService", stage("storage"))
        self.patch(metrics, "stopService", stage("metrics"))
        events = record_logs(self)
        stopped = server.stopService()
        self.assertTrue(server.factory.shutting_down)  # newcomers refused, /health says 503
        for name, then in [
            ("serving", "connections"),
            ("connections", "storage"),
            ("storage", "metrics"),
        ]:
            self.assertEqual(order[-1], name)
            self.assertNoResult(stopped)
            pending[name].callback(None)
            self.assertEqual(order[-1], then)
        self.assertEqual(timeouts, [SHUTDOWN_CLOSE_TIMEOUT])
        self.assertNoResult(stopped)
        pending["metrics"].callback(None)
        self.successResultOf(stopped)
        self.assertIn("twisted-chat stopped", str(events.events[-1].get("log_format")))
