"""Unit tests of the ``--web`` options of ``twistd chat`` (the service they build:
:mod:`tests.inprocess.test_service`)."""

from __future__ import annotations

from twisted.internet.endpoints import TCP4ServerEndpoint

from tests.support.options import endpoints, parse
from tests.unit.test_options import OptionsTestCase
from twisted_chat.settings import server_endpoint


class WebOptionsTests(OptionsTestCase):
    """``--web``, ``--web-origin`` and ``--web-ping``."""

    def test_no_web_listener_by_default(self) -> None:
        options = parse()
        self.assertEqual(options["web"], [])
        self.assertEqual(options.settings.web.listeners, ())
        self.assertEqual(options.settings.web.ping, 30.0)

    def test_repeatable_and_beside_the_line_port(self) -> None:
        options = parse("--web", "tcp:8080:interface=127.0.0.1", "--web", "tcp:8081")
        web = options.settings.web.listeners
        self.assertEqual(len(web), 2)
        self.assertIsInstance(server_endpoint(web[0], 1024, "web"), TCP4ServerEndpoint)
        self.assertEqual(len(endpoints(options)), 1)  # --port keeps its default

    def test_bad_endpoint(self) -> None:
        message = self.assertUsageError("--web", "tcp:99999")
        self.assertIn("--web", message)
        self.assertIn("99999", message)
        self.assertUsageError("--web", "nonsense:1")

    def test_origins(self) -> None:
        options = parse("--web-origin", "https://chat.example.org/", "--web-origin", "null")
        self.assertEqual(options.settings.web.origins, ("https://chat.example.org", "null"))
        for bad in ("chat.example.org", "ftp://x", "https://"):
            self.assertIn("--web-origin", self.assertUsageError("--web-origin", bad))

    def test_ping(self) -> None:
        self.assertEqual(parse("--web-ping", "0").settings.web.ping, 0.0)
        self.assertIn("--web-ping", self.assertUsageError("--web-ping", "-1"))
