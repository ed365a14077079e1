"""Reloading ``--config FILE`` on SIGHUP (:mod:`twisted_chat.reload`) in the real service tree
that ``makeService`` builds. In-process, not unit: the service opens a real database pool (SQLite
in memory), whose thread pool starts as soon as the reactor runs. The file's own rules are unit
tests in :mod:`tests.unit.test_config`."""

from __future__ import annotations

from pathlib import Path

from twisted.logger import formatEvent
from twisted.web.server import Site
from twisted.web.test.requesthelper import DummyRequest

from tests.support.logs import record_logs
from tests.support.options import ConfigFileTestCase
from twisted_chat.limits import Limits
from twisted_chat.logsetup import LogSetup
from twisted_chat.server import ChatServer
from twisted_chat.settings import LogSettings
from twisted_chat.tap import makeService
from twisted_chat.text import ENGLISH


class ReloadTests(ConfigFileTestCase):
    """A reload applies the live settings to the components that registered for them, names
    the ones needing a restart, and a bad file changes nothing."""

    def setUp(self) -> None:
        self.path = self.write('flood-rate = 10\nmax-per-ip = 16\nlang = "es"\n')
        self.options = self.parse(
            "--config", self.path, "--db", "sqlite::memory:", "--web", "tcp:0:interface=127.0.0.1"
        )
        self.server = makeService(self.options)
        store = self.server.store
        assert store is not None
        self.addCleanup(store.database.close)
        reloader = self.server.reloader
        assert reloader is not None
        self.reloader = reloader
        # The log follows the log section under twistd only (makeService registers it there).
        self.setup = LogSetup("info")
        reloader.register(LogSettings, lambda log: self.setup.set_level(log.level))
        self.events = record_logs(self)

    def lines(self) -> list[str]:
        return [formatEvent(e) for e in self.events.events if e.get("log_source") is self.reloader]

    def page(self) -> bytes:
        """The web client's page, as the ``--web`` site serves it now."""
        site = self.server.listeners()[1].factory
        assert isinstance(site, Site)
        request = DummyRequest([b""])
        page = site.getResourceFor(request)
        body = page.render(request)
        assert isinstance(body, bytes)
        return body

    def test_live_settings_change(self) -> None:
        factory: ChatServer = self.server.factory
        store = self.server.store
        assert store is not None
        Path(self.path).write_text(
            'flood-rate = 2\nmax-per-ip = 1\nlang = "en"\noperators = ["Ana"]\n'
            'log-level = "warn"\nport = ["tcp:9"]\ndb-queue = 7\n'
        )
        self.assertTrue(self.reloader.reload())
        self.assertEqual(factory.limits, Limits(flood_rate=2, max_per_ip=1))
        self.assertEqual(factory.counter.max_per_ip, 1)
        self.assertIs(self.server.parts.chat.language.texts, ENGLISH)
        self.assertEqual(self.server.chat.operators.keys, {"ana"})
        self.assertEqual(self.setup.level, "warn")
        self.assertEqual(store.queue_limit, 7)
        [reloaded, restart] = self.lines()
        self.assertIn("lang", reloaded)
        self.assertIn("flood-rate", reloaded)
        self.assertIn("port", restart)
        self.assertIn("restart", restart)
        # The port is still the running one: no warning again for the same file.
        self.assertTrue(self.reloader.reload())
        self.assertEqual(len(self.lines()), 4)
        self.assertIn("port", self.lines()[3])
        self.assertEqual(self.reloader.settings.listeners.ports, ("tcp:1234:interface=127.0.0.1",))

    def test_lang_changes_the_web_page_too(self) -> None:
        self.assertIn(b'<html lang="es">', self.page())
        Path(self.path).write_text('lang = "en"\n')
        self.assertTrue(self.reloader.reload())
        self.assertIn(b'<html lang="en">', self.page())
        self.assertNotIn(b'lang="es"', self.page())

    def test_bad_file_keeps_the_running_settings(self) -> None:
        before = self.server.factory.limits
        Path(self.path).write_text("flood-rate = \n")
        self.assertFalse(self.reloader.reload())
        Path(self.path).write_text("flood-rate = -3\n")
        self.assertFalse(self.reloader.reload())
        self.assertIs(self.server.factory.limits, before)
        lines = self.lines()
        self.assertEqual(len(lines), 2, lines)
        self.assertIn("not reloaded", lines[0])
        self.assertIn("TOML", lines[0])
        self.assertIn("'flood-rate'", lines[1])
        for line in lines:
            self.assertEqual(len(line.splitlines()), 1)
