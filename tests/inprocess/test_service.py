"""``makeService`` builds the real service tree from parsed options: the chat and its operators,
one listener per ``--port`` and ``--web``. In-process, not unit: the service opens a real
database pool (SQLite in memory), whose thread pool starts when the reactor runs."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase
from twisted.web.server import Site

from tests.unit.test_options import parse
from twisted_chat.service import makeService


class OperatorServiceTests(SynchronousTestCase):
    """``--operator`` reaches the chat core."""

    def test_the_chat_knows_them(self) -> None:
        service = makeService(parse("--db", "sqlite::memory:", "--operator", "Ana"))
        self.assertEqual(service.chat.operators, frozenset({"ana"}))
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
