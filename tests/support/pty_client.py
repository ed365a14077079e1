"""Real terminal programs in a pseudo-terminal, for the end-to-end tests of real IRC clients
(irssi, WeeChat: ``tests/e2e/test_irc_clients.py``).

:class:`PtyProgram` starts a program with a pseudo-terminal as its standard input, output and
error, in an environment of its own (``HOME`` a throwaway directory, ``TERM=xterm``, a UTF-8
locale, nothing else of ours), types lines into it as a user would, and drains everything it
writes in a thread of its own, so that the program never blocks on a full terminal. What it
wrote can be rendered as the screen a user would see (:meth:`PtyProgram.screen`, with ``pyte``),
for the messages of failing tests; the tests assert on the clients' own log files, written into
the throwaway directory (:func:`wait_for_match`), which do not depend on the layout of a screen.

Every wait is bounded, and :meth:`PtyProgram.stop` kills the program by its own PID only.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import shutil
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pyte

from tests.support.needs import missing

#: Longest wait for a program to show the effect of a line typed into it, in seconds.
CLIENT_TIMEOUT = 10.0
#: Longest wait for a program to start and do what its command line says, in seconds.
CLIENT_STARTUP = 20.0
#: The most a program's output kept in memory, in bytes (the end of it is kept).
MAX_OUTPUT = 4 * 1024 * 1024
#: The terminal's size.
ROWS, COLUMNS = 50, 160


def program_environment(home: Path) -> dict[str, str]:
    """The whole environment of a program under test: ``HOME`` is ``home`` (nothing of the
    user's own configuration is read or written), a UTF-8 locale, an xterm."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TERM": "xterm",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }


class PtyProgram:
    """A program running in a pseudo-terminal of ``ROWS`` x ``COLUMNS``."""

    def __init__(self, argv: Sequence[str], *, home: Path) -> None:
        """Start ``argv`` in ``home`` (also its ``HOME``), its terminal a new pseudo-terminal."""
        self.argv = list(argv)
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        try:
            self.process = subprocess.Popen(
                self.argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                cwd=home,
                env=program_environment(home),
                start_new_session=True,  # its own session: no signal of our terminal reaches it
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        self._master = master
        self._output = bytearray()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._reader = threading.Thread(target=self._drain, name=f"pty {argv[0]}", daemon=True)
        self._reader.start()

    def __repr__(self) -> str:
        return f"<PtyProgram {self.argv[0]} pid={self.process.pid}>"

    def _drain(self) -> None:
        """Read the terminal until the program is gone (EOF or EIO) or :meth:`stop` is called."""
        while not self._stopping.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.1)
            if not ready:
                continue
            try:
                data = os.read(self._master, 65536)
            except OSError:  # EIO: the program closed its side of the terminal
                return
            if not data:
                return
            with self._lock:
                self._output += data
                if len(self._output) > MAX_OUTPUT:
                    del self._output[: len(self._output) - MAX_OUTPUT]

    def type(self, line: str) -> None:
        """Type ``line`` and Enter."""
        assert "\n" not in line and "\r" not in line, line
        os.write(self._master, line.encode("utf-8") + b"\r")

    def output(self) -> bytes:
        """Everything the program wrote to its terminal so far (the last :data:`MAX_OUTPUT`
        bytes)."""
        with self._lock:
            return bytes(self._output)

    def screen(self) -> str:
        """The screen a user of this terminal would see now, as text (one line per row)."""
        screen = pyte.Screen(COLUMNS, ROWS)
        pyte.ByteStream(screen).feed(self.output())
        return "\n".join(row.rstrip() for row in screen.display).strip("\n")

    def wait_exit(self, timeout: float = CLIENT_TIMEOUT) -> int:
        """Wait (bounded) until the program exits; its exit status."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self} did not exit within {timeout}s; its screen:\n{self.screen()}"
            ) from None

    def stop(self) -> None:
        """Kill the program (by its PID) if it still runs, and close the terminal."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=CLIENT_TIMEOUT)
        self._stopping.set()
        self._reader.join(timeout=CLIENT_TIMEOUT)
        os.close(self._master)


@contextmanager
def pty_program(argv: Sequence[str], *, home: Path) -> Iterator[PtyProgram]:
    """:class:`PtyProgram` ``argv`` in ``home``, stopped at the end (see
    :meth:`PtyProgram.stop`)."""
    program = PtyProgram(argv, home=home)
    try:
        yield program
    finally:
        program.stop()


def require_program(name: str) -> str:
    """The path of the program ``name``; skip loudly without it (fail under ``CI=true``)."""
    path = shutil.which(name)
    if path is None:
        missing(f"{name.upper()} TESTS", f"{name} is not installed (scripts/system-deps)")
    return path


def wait_for_match(
    read: Callable[[], str],
    pattern: str,
    what: str,
    *,
    timeout: float = CLIENT_TIMEOUT,
    diagnostics: Callable[[], str] = lambda: "",
) -> re.Match[str]:
    """Poll ``read()`` (a log file's text, say) until the regex ``pattern`` matches a line of it
    (``re.MULTILINE``); the match. Fail after ``timeout`` seconds with ``what``, the text read
    and ``diagnostics()`` (the program's screen, say)."""
    regex = re.compile(pattern, re.MULTILINE)
    deadline = time.monotonic() + timeout
    while True:
        text = read()
        found = regex.search(text)
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what} ({pattern!r}) in:\n{text}\n"
                f"{diagnostics()}"
            )
        time.sleep(0.05)


def file_text(path: Path) -> Callable[[], str]:
    """A reader of ``path``'s text for :func:`wait_for_match` (empty while it does not exist)."""

    def read() -> str:
        try:
            return path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    return read
