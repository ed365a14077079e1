"""``twistd chat``'s options in tests: parsed as ``twistd`` parses them, the endpoints the service
builds from them, and a base for tests that write a ``--config`` file."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from twisted_chat.settings import server_endpoint
from twisted_chat.tap import Options


def parse(*args: str) -> Options:
    """Options parsed from ``args`` as ``twistd chat`` would."""
    options = Options()
    options.parseOptions(list(args))
    return options


def endpoints(options: Options) -> list[Any]:
    """The endpoints of the ``--port`` values of ``options``, as the service builds them."""
    listeners = options.settings.listeners
    return [server_endpoint(port, listeners.backlog) for port in listeners.ports]


class ConfigFileTestCase(SynchronousTestCase):
    """Base: write a configuration file, parse options with it."""

    def write(self, text: str, name: str = "chat.toml") -> str:
        """A file holding ``text`` in a temporary directory of this test; its path."""
        directory = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, directory, True)
        path = directory / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    def parse(self, *args: str) -> Options:
        """Options parsed from ``args`` (see :func:`parse`)."""
        return parse(*args)

    def assertUsageError(self, text: str, *args: str) -> tuple[str, str]:
        """Parsing with a file holding ``text`` is a usage error; its message and the path."""
        path = self.write(text)
        with self.assertRaises(UsageError) as caught:
            self.parse("--config", path, *args)
        message = str(caught.exception)
        self.assertIn(path, message)
        self.assertNotIn("Traceback", message)
        return message, path
