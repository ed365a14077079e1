"""irctest's controller for twisted-chat's IRC listener (``--irc``).

irctest (github progval/irctest) is run from a checkout of its own, outside this repository,
with ``make irctest IRCTEST=DIR``, which puts this directory on ``PYTHONPATH`` and passes
``--controller twisted_chat_controller``. This module imports irctest, so it is neither part of
the package nor of our pytest run (``testpaths = ["tests"]``) nor of mypy's ``files``.

Each test gets its own server: ``twistd -n chat --irc`` on the port irctest chose (on the
loopback when irctest says ``0.0.0.0``), a
line listener on a free loopback port for :meth:`TwistedChatController.registerUser` (accounts
are made the way users make them, ``/registrar PASSWORD`` over that listener), a fresh SQLite
database and log in a temporary directory, and no flood, per-address or login-time limits
(irctest opens many connections from one address, sends quickly, and waits before
registering). The server runs in its own session, and only that process group is ever signalled.
``--operator operuser``, whose account (password ``operpassword``) is registered at start, is
the operator of irctest's ``OPER operuser operpassword``. A test with a server password
(``PasswordedConnectionRegistrationTestCase``) gets it as ``--irc-password``, through
``$CHAT_IRC_PASSWORD``.
"""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path
from typing import IO, Any

from irctest import patma
from irctest.basecontrollers import BaseServerController, DirectoryBasedController
from irctest.runner import NotImplementedByController
from irctest.specifications import Capabilities

from twisted_chat import nicknames, roomnames
from twisted_chat.text import CATALOGUES

#: The repository this module lives in; its virtualenv runs the server unless
#: ``TWISTED_CHAT_VENV`` names another one.
REPOSITORY = Path(__file__).resolve().parent.parent
#: What twisted logs when the line listener (``--port tcp:0``) is listening; the port is ours
#: only once the server says which.
LINE_PORT_LOGGED = re.compile(rb"ChatTCPFactory starting on (\d+)")
#: What the server logs once logins are taken: registered nicknames and bans loaded.
LOADED_LOGGED = (re.compile(rb"registered nicknames loaded"), re.compile(rb"bans loaded"))
#: Seconds to wait for the server's line port, and for one registration's replies.
START_TIMEOUT = 30.0
REGISTER_TIMEOUT = 10.0
#: The operator irctest's ``OPER operuser operpassword`` names: an ``--operator`` nickname whose
#: account each server registers as it starts.
OPER_NAME = "operuser"
OPER_PASSWORD = "operpassword"


def twistd() -> Path:
    """The ``twistd`` of the virtualenv that runs the server."""
    venv = os.environ.get("TWISTED_CHAT_VENV") or str(REPOSITORY / ".venv")
    return Path(venv) / "bin" / "twistd"


class RegistrationFailed(Exception):
    """``/registrar`` did not register the nickname; the message is the server's answer."""


class TwistedChatController(BaseServerController, DirectoryBasedController):
    """Starts ``twistd chat --irc`` for one test and registers its accounts."""

    software_name = "twisted-chat"
    supported_sasl_mechanisms = {"PLAIN"}
    supports_sts = False
    #: Capabilities we offer: a test that asks for one and gets NAK fails instead of skipping.
    capabilities = frozenset(
        {
            Capabilities.BATCH,
            Capabilities.ECHO_MESSAGE,
            Capabilities.LABELED_RESPONSE,
            Capabilities.MESSAGE_TAGS,
            Capabilities.MULTI_PREFIX,
            Capabilities.SERVER_TIME,
        }
    )
    #: The ``005`` tokens ``isupport.py``'s ``testValues`` checks (docs/IRC.md, "Registration").
    isupport = {
        "CASEMAPPING": "ascii",
        "CHANNELLEN": patma.ANYSTR,
        "CHANTYPES": "#",
        "NICKLEN": str(nicknames.MAX_NICKNAME_LENGTH),
        "PREFIX": "(ov)@+",
        "TARGMAX": patma.ANYSTR,
        "TOPICLEN": str(roomnames.MAX_TOPIC_LENGTH),
        "UTF8ONLY": None,
    }

    def run(
        self,
        hostname: str,
        port: int,
        *,
        password: str | None,
        ssl: bool,
        run_services: bool,
        faketime: str | None,
        websocket_hostname: str | None = None,
        websocket_port: int | None = None,
    ) -> None:
        """Start the server on ``hostname:port``; what we cannot serve raises irctest's skip."""
        if ssl:
            raise NotImplementedByController("TLS (no certificate set up by this controller)")
        if faketime is not None:
            raise NotImplementedByController("faketime")
        if websocket_hostname is not None or websocket_port is not None:
            raise NotImplementedByController("IRC over WebSocket")
        self.hostname = hostname
        self.port = port
        # irctest asks for 0.0.0.0 and connects to it, which Linux takes for this host: listen
        # on the loopback only.
        interface = "127.0.0.1" if hostname in ("", "0.0.0.0") else hostname
        self.line_port: int | None = None
        self.create_config()
        assert self.directory is not None
        self.log_path = self.directory / "twistd.log"
        # run_services needs nothing more: accounts and SASL are the server's own.
        self.proc = self.execute(
            [
                twistd(),
                "-n",
                "--pidfile=",
                "--logfile",
                self.log_path,
                "chat",
                "--irc",
                f"tcp:{port}:interface={interface}",
                "--port",
                "tcp:0:interface=127.0.0.1",
                "--db",
                f"sqlite:{self.directory / 'chat.sqlite3'}",
                "--server-name",
                "My.Little.Server",
                "--flood-rate",
                "0",
                "--max-strikes",
                "0",
                "--max-per-ip",
                "0",
                "--login-timeout",
                "0",
                "--operator",
                OPER_NAME,
            ],
            proc_name="twisted-chat",
            cwd=self.directory,
            env=self._environment(password),
        )
        self.registerUser(None, OPER_NAME, OPER_PASSWORD)

    @staticmethod
    def _environment(password: str | None) -> dict[str, str]:
        """The server's environment: ours, with irctest's server password (if the test has
        one) in ``$CHAT_IRC_PASSWORD``, as an operator would keep it out of the process list
        (``--irc-password``'s other source), and no stray one of ours otherwise."""
        env = dict(os.environ)
        env.pop("CHAT_IRC_PASSWORD", None)
        if password is not None:
            env["CHAT_IRC_PASSWORD"] = password
        return env

    def wait_for_port(self) -> None:
        """The IRC port answers, and the server has loaded its registered nicknames and bans
        (until then every login is refused with a try-again line, which irctest's clients do
        not retry)."""
        super().wait_for_port()
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            self.check_is_alive()
            log = self.log_path.read_bytes() if self.log_path.exists() else b""
            if all(pattern.search(log) for pattern in LOADED_LOGGED):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"nicknames and bans not loaded after {START_TIMEOUT}s")
            time.sleep(0.05)

    def wait_for_services(self) -> None:
        """Our accounts are the server's own: services are up when its port is."""
        self.wait_for_port()

    def _wait_line_port(self) -> int:
        """The line listener's port, read from the server's log (bounded wait)."""
        deadline = time.monotonic() + START_TIMEOUT
        while self.line_port is None:
            self.check_is_alive()
            if self.log_path.exists():
                found = LINE_PORT_LOGGED.search(self.log_path.read_bytes())
                if found:
                    self.line_port = int(found.group(1))
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"no line port in {self.log_path} after {START_TIMEOUT}s")
            time.sleep(0.05)
        return self.line_port

    def registerUser(self, case: Any, username: str, password: str | None = None) -> None:
        """Register ``username`` with ``password`` as a user would: log in over the line
        listener, ``/registrar PASSWORD``, ``/salir``, and wait until the server closes the
        connection, so that the nickname is free again for the test's IRC client."""
        if password is None:
            raise NotImplementedByController("an account without a password")
        self.wait_for_port()
        port = self._wait_line_port()
        welcome = {c.welcome.format(nick=username).encode("utf-8") for c in CATALOGUES.values()}
        registered = {
            c.registered.format(nick=username).encode("utf-8") for c in CATALOGUES.values()
        }
        with socket.create_connection(("127.0.0.1", port), timeout=REGISTER_TIMEOUT) as sock:
            lines = sock.makefile("rb")
            lines.readline()  # the prompt for a nickname
            # Each step waits for its answer: lines sent while a login is being checked are not
            # commands yet.
            starting = {c.starting_up.encode("utf-8") for c in CATALOGUES.values()}
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                sock.sendall(username.encode("utf-8") + b"\r\n")
                try:
                    _answer(lines, welcome, f"the login of {username!r}")
                    break
                except RegistrationFailed as refused:
                    # the line port listens before the registered nicknames are loaded: the
                    # server says to try again in a moment
                    if time.monotonic() > deadline or not any(
                        text.decode("utf-8") in str(refused) for text in starting
                    ):
                        raise
                    time.sleep(0.05)
            sock.sendall(b"/registrar " + password.encode("utf-8") + b"\r\n")
            _answer(lines, registered, f"/registrar for {username!r}")
            sock.sendall(b"/salir\r\n")
            while lines.readline():
                pass
            # EOF: the session is gone, and its nickname with it.


def _answer(lines: IO[bytes], success: set[bytes], what: str) -> None:
    """Read lines until one holds a ``success`` text; an error line (``! ...``) or the end of
    the connection raises :class:`RegistrationFailed` naming ``what``."""
    while line := lines.readline():
        if any(text in line for text in success):
            return
        if line.startswith(b"! "):
            raise RegistrationFailed(f"{what}: {line.decode('utf-8', 'replace').rstrip()}")
    raise RegistrationFailed(f"{what}: the server closed the connection")


def get_irctest_controller_class() -> type[TwistedChatController]:
    """The hook irctest's ``--controller`` looks up."""
    return TwistedChatController
