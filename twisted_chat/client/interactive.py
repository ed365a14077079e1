"""Interactive mode: a :class:`~.terminal.ChatTerminal` wired to a reconnecting session, and
the raw-terminal runner that always gives the terminal back as it found it.

:class:`InteractiveClient` is the session's user interface: server lines are rendered above the
input, the prompt shows the user's room and nickname (:mod:`.current_room`), typed lines are
echoed (passwords masked) and sent, a lost connection is announced and retried with backoff, and
``/salir``, Ctrl-D and Ctrl-C end the program. :func:`run_on_terminal` puts the terminal in raw
mode, runs the reactor and restores the terminal's attributes, blocking mode and signal handler
on every way out.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import termios
import tty
from collections.abc import Callable
from typing import Any

from twisted.conch.insults.insults import ServerProtocol
from twisted.internet import stdio
from twisted.internet.base import DelayedCall
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure

from twisted_chat.client import render
from twisted_chat.client.connection import (
    ChatSession,
    is_quit,
    nickname_of,
    reconnecting_service,
)
from twisted_chat.client.current_room import RoomTracker, prompt_for
from twisted_chat.client.terminal import ChatTerminal

#: Commands whose arguments are passwords: masked in the echo, kept out of the history.
PASSWORD_COMMANDS = frozenset({"/registrar", "/register", "/password"})
#: Longest wait for the server to close after ``/salir``, in seconds.
GOODBYE_TIMEOUT = 3.0


def masked(line: str, *, logging_in: bool) -> tuple[str, bool]:
    """``line`` as it may be shown, and whether it carried a password.

    A nickname line ``NICK PASSWORD`` and the arguments of ``/registrar`` and ``/password``
    are replaced by ``***``.
    """
    words = line.split(maxsplit=1)
    if logging_in:
        if len(words) > 1:
            return f"{nickname_of(line)} ***", True
        return line, False
    if len(words) > 1 and words[0].casefold() in PASSWORD_COMMANDS:
        return f"{words[0]} ***", True
    return line, False


class InteractiveClient:
    """The session's UI on a terminal: what the user sees and what the keys do."""

    def __init__(
        self,
        reactor: Any,
        endpoint: IStreamClientEndpoint,
        address: str,
        login_line: str | None,
        *,
        colour: bool,
    ) -> None:
        self.reactor = reactor
        self.address = address
        self.colour = colour
        self.session = ChatSession(self, login_line)
        self.service = reconnecting_service(endpoint, self.session, reactor)
        self.terminal = ChatTerminal(self.user_line, self.quit)
        #: The user's room on this connection, shown in the prompt.
        self.rooms = RoomTracker()
        #: The process's exit status, and a message for stderr once the terminal is restored.
        self.exit_code = 0
        self.error: str | None = None
        self._stopped = False
        self._goodbye: DelayedCall | None = None

    def start(self) -> None:
        """Connect; if the very first attempt fails, stop with exit status 1."""
        self.service.startService()
        self.service.whenConnected(failAfterFailures=1).addErrback(self._first_attempt_failed)

    def _first_attempt_failed(self, reason: Failure) -> None:
        self.exit_code = 1
        self.error = f"cannot connect to {self.address}: {reason.getErrorMessage()}"
        self.stop()

    def local(self, text: str) -> None:
        """Show a line about the client itself."""
        self.terminal.show(render.render_local(text, colour=self.colour))

    # -- SessionUI --------------------------------------------------------------------------

    def connected(self, reconnected: bool) -> None:
        """Say where we are connected (and with which nickname, after a reconnect)."""
        self.rooms.reset()
        self._update_prompt()
        if not reconnected:
            self.local(f"connected to {self.address}")
            return
        nick = self.session.nickname
        again = f"; logging in again as {nick}" if nick and self.session.login_line else ""
        self.local(f"reconnected to {self.address}{again}")

    def server_line(self, line: str) -> None:
        """Render a server line above the input (unless it answers the client's own ``/sala``);
        after the welcome, ask for the room; keep the prompt up to date."""
        if self.rooms.shown(line):
            shown = render.render(
                render.classify(line), colour=self.colour, own_nick=self.session.nickname
            )
            self.terminal.show(shown)
        if self.session.logged_in and not self.rooms.asked:
            self.session.send(self.rooms.query())
        self._update_prompt()

    def _update_prompt(self) -> None:
        nick = self.session.nickname if self.session.logged_in else None
        self.terminal.set_prompt(prompt_for(self.rooms.room, nick))

    def disconnected(self, reason: Failure) -> None:
        """The end after ``/salir``; otherwise a clear line, and the service reconnects."""
        self.rooms.reset()
        self._update_prompt()
        if self.session.quitting:
            self.stop()
            return
        why = (
            "closed by the server"
            if reason.check(ConnectionDone)
            else reason.getErrorMessage().rstrip(".")
        )
        self.local(f"connection to {self.address} lost ({why}); reconnecting...")

    # -- from the terminal ------------------------------------------------------------------

    def user_line(self, line: str) -> None:
        """Echo the line (as others will see it, or masked) and send it."""
        if not line.strip(" \t"):
            return
        logging_in = not self.session.logged_in
        if logging_in and is_quit(line):
            self.quit(True)
            return
        if not self.session.connected:
            self.local("not connected: line not sent")
            return
        shown, secret = masked(line, logging_in=logging_in)
        if secret:
            self.terminal.forget_last_history()
        self._echo(shown, logging_in=logging_in)
        self.session.send(line)
        if self.session.quitting:
            self._await_goodbye()

    def _echo(self, line: str, *, logging_in: bool) -> None:
        nick = self.session.nickname
        if logging_in or line.startswith(("/", "#")) or nick is None:
            if not line.startswith("#") or logging_in:  # the server echoes private messages
                shown = render.escape(f"> {line}")
                self.terminal.show(f"{render.DIM}{shown}{render.RESET}" if self.colour else shown)
            return
        own = render.classify(f"<{nick}> {line}")
        self.terminal.show(render.render(own, colour=self.colour))

    def quit(self, graceful: bool) -> None:
        """Ctrl-D (graceful: ``/salir`` first, bounded wait) or Ctrl-C (at once)."""
        if graceful and self.session.connected and self.session.logged_in:
            self.session.quit()
            self._await_goodbye()
        else:
            self.stop()

    def _await_goodbye(self) -> None:
        if self._goodbye is None:
            self._goodbye = self.reactor.callLater(GOODBYE_TIMEOUT, self.stop)

    def stop(self) -> None:
        """Give the terminal back and stop the reactor (once)."""
        if self._stopped:
            return
        self._stopped = True
        if self._goodbye is not None and self._goodbye.active():
            self._goodbye.cancel()
        self.session.quitting = True
        self.terminal.finish()
        # Not from inside the service's own callbacks (it refuses to be stopped reentrantly).
        self.reactor.callLater(0, self._shutdown)

    def _shutdown(self) -> None:
        self.service.stopService()
        self.reactor.stop()


class _TerminalWriter:
    """The transport ``insults`` writes to: straight to the terminal, waiting until written.

    Writing synchronously means nothing drawn is still buffered when the reactor stops, so the
    last redraw (the erased input line) always reaches the terminal before it is restored.
    """

    def __init__(self, fd: int, stdio_transport: Any) -> None:
        self.fd = fd
        self.stdio_transport = stdio_transport

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.fd, view) :]
            except BlockingIOError:
                select.select([], [self.fd], [], 1.0)

    def writeSequence(self, data: list[bytes]) -> None:
        self.write(b"".join(data))

    def loseConnection(self) -> None:
        self.stdio_transport.loseConnection()

    def getPeer(self) -> Any:
        return self.stdio_transport.getPeer()

    def getHost(self) -> Any:
        return self.stdio_transport.getHost()


class _TerminalIO(Protocol):
    """Standard input's protocol: bytes to ``insults``, whose output goes to the writer."""

    def __init__(self, terminal_protocol: ServerProtocol, out_fd: int) -> None:
        self.terminal_protocol = terminal_protocol
        self.out_fd = out_fd

    def connectionMade(self) -> None:
        self.terminal_protocol.makeConnection(_TerminalWriter(self.out_fd, self.transport))

    def dataReceived(self, data: bytes) -> None:
        self.terminal_protocol.dataReceived(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.terminal_protocol.connectionLost(reason)


def run_on_terminal(reactor: Any, client: InteractiveClient) -> int:
    """Run ``client`` on the terminal in raw mode; restore the terminal however it ends.

    Raw mode turns off the terminal's own echo, line editing and signals: Ctrl-C arrives as a
    byte (the terminal protocol quits on it), so the only ways out are the client's own stop, an
    exception, or a signal the reactor handles (SIGTERM), and each passes through ``finally``.
    """
    in_fd, out_fd = 0, 1  # StandardIO's
    saved = termios.tcgetattr(in_fd)
    previous_winch: Callable[..., Any] | int | None = signal.getsignal(signal.SIGWINCH)

    def resize() -> None:
        columns, lines = os.get_terminal_size(out_fd)
        client.terminal.terminalSize(columns, lines)

    try:
        tty.setraw(in_fd, termios.TCSANOW)
        server_protocol = ServerProtocol(lambda: client.terminal)
        stdio.StandardIO(_TerminalIO(server_protocol, out_fd))
        columns, lines = os.get_terminal_size(out_fd)
        client.terminal.width, client.terminal.height = columns, lines
        client.terminal.redraw()
        signal.signal(signal.SIGWINCH, lambda signum, frame: reactor.callFromThread(resize))
        reactor.callWhenRunning(client.start)
        reactor.run()
    finally:
        with contextlib.suppress(Exception):  # the terminal is restored whatever happened
            client.terminal.finish()
        termios.tcsetattr(in_fd, termios.TCSADRAIN, saved)
        os.set_blocking(in_fd, True)
        os.set_blocking(out_fd, True)
        signal.signal(signal.SIGWINCH, previous_winch)
    return client.exit_code
