"""End-to-end tests of ``twisted-chat-client`` against a real ``twistd chat``.

Interactive mode runs in a real pseudo-terminal (pexpect) of a known size, and what it writes is fed
to a ``pyte`` terminal emulator, so the tests look at the screen a user would see. Another user is a
plain socket (:class:`tests.support.processes.LineSocket`). The restore tests run the client under
``sh`` between two ``stty -g`` and compare. Piped mode runs with pipes. Every wait is bounded.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pyte
import pytest

from tests.support import processes
from tests.support.expected import PROMPT, conectados, goodbye, welcome
from tests.support.processes import LineSocket, Twistd, free_port, twistd_chat
from twisted_chat.client.render import stored_time

CLIENT = [sys.executable, "-m", "twisted_chat.client"]
COLUMNS, ROWS = 80, 24
#: Longest wait for the screen to show something, in seconds.
SCREEN_TIMEOUT = 10.0

#: ana's prompt once the client has learnt her room (the default one).
ANA = "[general] ana> "

UP = b"\x1b[A"
DOWN = b"\x1b[B"
CTRL_C = b"\x03"
CTRL_D = b"\x04"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Twistd]:
    """A real ``twistd chat`` on SQLite."""
    with twistd_chat(tmp_path, f"sqlite:{tmp_path / 'chat.sqlite3'}") as running:
        yield running


def client_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["TERM"] = "xterm"
    return env


class PtyClient:
    """The client (or ``sh -c SCRIPT`` around it) in a pseudo-terminal, with an emulated
    screen."""

    def __init__(self, command: str, args: list[str]) -> None:
        self.screen = pyte.Screen(COLUMNS, ROWS)
        self.stream = pyte.ByteStream(self.screen)
        self.raw = b""
        self.child = pexpect.spawn(
            command, args, dimensions=(ROWS, COLUMNS), env=client_env(), timeout=SCREEN_TIMEOUT
        )

    @classmethod
    def chat(cls, *args: str) -> PtyClient:
        return cls(CLIENT[0], [*CLIENT[1:], *args])

    def pump(self, timeout: float = 0.05) -> None:
        """Read whatever the program wrote (waiting at most ``timeout``) onto the screen."""
        try:
            while True:
                data = self.child.read_nonblocking(65536, timeout=timeout)
                self.raw += data
                self.stream.feed(data)
        except (pexpect.TIMEOUT, pexpect.EOF):
            pass

    def rows(self) -> list[str]:
        return [row.rstrip() for row in self.screen.display]

    def text(self) -> list[str]:
        return [row for row in self.rows() if row]

    def wait_for(self, check: Callable[[list[str]], bool], what: str) -> list[str]:
        """Pump until ``check(rows)`` holds; fail with the screen after SCREEN_TIMEOUT."""
        deadline = time.monotonic() + SCREEN_TIMEOUT
        while time.monotonic() < deadline:
            self.pump()
            if check(self.text()):
                return self.text()
        raise AssertionError(f"timed out waiting for {what}; screen:\n" + "\n".join(self.rows()))

    def wait_line(self, line: str) -> list[str]:
        return self.wait_for(lambda rows: line in rows, repr(line))

    def keys(self, data: bytes) -> None:
        self.child.send(data)

    def wait_exit(self) -> int:
        """Wait (bounded) for the process to end; its exit status."""
        deadline = time.monotonic() + SCREEN_TIMEOUT
        while self.child.isalive() and time.monotonic() < deadline:
            self.pump()
        self.pump()
        if self.child.isalive():
            self.child.terminate(force=True)
            raise AssertionError("client did not exit; screen:\n" + "\n".join(self.rows()))
        self.child.close()
        status: int = self.child.exitstatus if self.child.exitstatus is not None else -1
        return status

    def cursor(self) -> tuple[int, int]:
        return self.screen.cursor.y, self.screen.cursor.x

    def close(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)


def read_until(sock: LineSocket, wanted: str) -> list[str]:
    """Lines from ``sock`` up to and including ``wanted`` (each read bounded)."""
    seen = []
    while True:
        line = sock.line()
        seen.append(line)
        if line == wanted:
            return seen


def test_typing_while_messages_arrive(server: Twistd) -> None:
    """Lines from another user appear above the input; the half-typed line stays intact."""
    ana = PtyClient.chat(f"127.0.0.1:{server.port}", "--nick", "ana")
    bob = LineSocket(server.port)
    try:
        ana.wait_line(welcome("ana"))
        bob.login("bob")
        ana.wait_line("* bob se ha unido al chat.")
        ana.keys(b"hola mu")
        ana.wait_for(lambda rows: rows[-1] == f"{ANA}hola mu", "the half-typed line")
        for n in range(8):
            bob.say(f"mensaje {n}")
            if n == 3:
                ana.keys(b"n")
        rows = ana.wait_line("<bob> mensaje 7")
        assert rows[-1] == f"{ANA}hola mun", rows
        assert [r for r in rows if r.startswith("<bob>")] == [
            f"<bob> mensaje {n}" for n in range(8)
        ]
        assert ana.cursor() == (len(rows) - 1, len(f"{ANA}hola mun"))
        ana.keys(b"do\r")
        assert "<ana> hola mundo" in read_until(bob, "<ana> hola mundo")
        rows = ana.wait_line("<ana> hola mundo")
        assert rows[-1] == ANA.rstrip()
    finally:
        ana.close()
        bob.close()


def test_history(server: Twistd) -> None:
    """Up and Down walk the lines sent before."""
    ana = PtyClient.chat(f"127.0.0.1:{server.port}", "--nick", "ana")
    try:
        ana.wait_line(welcome("ana"))
        ana.keys(b"/username\r")
        ana.wait_line("* Tu nickname es ana.")
        ana.keys(b"/hora\r")
        ana.wait_for(lambda rows: rows[-2].startswith("* Hora del servidor:"), "the time")
        ana.keys(UP)
        ana.wait_for(lambda rows: rows[-1] == f"{ANA}/hora", "the last line again")
        ana.keys(UP)
        ana.wait_for(lambda rows: rows[-1] == f"{ANA}/username", "the line before")
        ana.keys(UP)  # the client's own /sala is not in the history
        ana.wait_for(lambda rows: rows[-1] == f"{ANA}/username", "still the first line")
        ana.keys(DOWN)
        ana.wait_for(lambda rows: rows[-1] == f"{ANA}/hora", "the last line")
        ana.keys(UP + b"\r")
        ana.wait_for(
            lambda rows: rows.count("* Tu nickname es ana.") == 2, "the second /username reply"
        )
    finally:
        ana.close()


def test_prompt_shows_the_room(server: Twistd) -> None:
    """The prompt names ana's room: the default one after login (the answer to the client's own
    /sala is not shown), then the one /unirse takes her to; an error leaves it; /sala typed by
    her is answered on screen."""
    ana = PtyClient.chat(f"127.0.0.1:{server.port}", "--nick", "ana")
    try:
        ana.wait_line(welcome("ana"))
        ana.wait_for(lambda rows: rows[-1] == ANA.rstrip(), "the default room in the prompt")
        assert not any(row.startswith("* Sala ") for row in ana.text())
        ana.keys(b"/unirse juegos\r")
        ana.wait_line("* Sala juegos (1): @ana")
        ana.wait_for(lambda rows: rows[-1] == "[juegos] ana>", "the new room in the prompt")
        ana.keys(b"/unirse no.vale\r")
        ana.wait_for(
            lambda rows: any(r.startswith("! Nombre de sala no válido") for r in rows), "an error"
        )
        assert ana.text()[-1] == "[juegos] ana>"
        ana.keys(b"/tema dados\r/sala\r")
        ana.wait_line("* Tema: dados")
        ana.wait_for(
            lambda rows: rows[-3:] == ["* Sala juegos (1): @ana", "* Tema: dados", "[juegos] ana>"],
            "the answer to /sala",
        )
        ana.keys(b"/unirse General\r")
        ana.wait_for(lambda rows: rows[-1] == ANA.rstrip(), "back in the default room")
    finally:
        ana.close()


def test_prompt_shows_the_room_in_english(tmp_path: Path) -> None:
    """An English server with another default room: the client assumes no room name."""
    db = f"sqlite:{tmp_path / 'chat.sqlite3'}"
    extra = ["--lang", "en", "--default-room", "lobby"]
    with twistd_chat(tmp_path, db, extra=extra, any_language=True) as english:
        ana = PtyClient.chat(f"127.0.0.1:{english.port}", "--nick", "ana")
        try:
            ana.wait_for(
                lambda rows: rows[-1:] == ["[lobby] ana>"], "the default room in the prompt"
            )
            assert not any(row.startswith("* Room ") for row in ana.text())
            ana.keys(b"/join games\r")
            ana.wait_line("* Room games (1): @ana")
            ana.wait_for(lambda rows: rows[-1] == "[games] ana>", "the new room in the prompt")
        finally:
            ana.close()


def run_between_stty(tmp_path: Path, *args: str) -> tuple[PtyClient, Path]:
    """``sh``: save ``stty -g``, run the client, record its status and ``stty -g`` again."""
    script = (
        'stty -g > "$1/before"; "$2" -m twisted_chat.client "$3" --nick ana;'
        ' echo $? > "$1/status"; stty -g > "$1/after"; sleep 0.5'
    )
    return PtyClient("/bin/sh", ["-c", script, "sh", str(tmp_path), sys.executable, *args]), (
        tmp_path
    )


def assert_restored(pty: PtyClient, where: Path, status: int) -> None:
    pty.wait_exit()
    assert (where / "status").read_text().strip() == str(status)
    before = (where / "before").read_text()
    assert before.strip()
    assert (where / "after").read_text() == before
    assert b"\x1b[0m" in pty.raw  # colours reset on the way out


@pytest.mark.parametrize(
    "how",
    [
        pytest.param(CTRL_D, id="ctrl-d"),
        pytest.param(CTRL_C, id="ctrl-c"),
        pytest.param(b"/salir\r", id="salir"),
    ],
)
def test_terminal_restored_at_exit(server: Twistd, tmp_path: Path, how: bytes) -> None:
    """Ctrl-D, Ctrl-C and /salir all exit 0 and leave the terminal's settings as they were."""
    pty, where = run_between_stty(tmp_path, f"127.0.0.1:{server.port}")
    try:
        pty.wait_line(welcome("ana"))
        pty.keys(b"half a line" if how == CTRL_C else b"")
        pty.keys(how)
        assert_restored(pty, where, 0)
        assert not any(row.endswith("> half a line") for row in pty.text())  # erased at exit
        if how != CTRL_C:
            assert goodbye("ana") in pty.text()
    finally:
        pty.close()


def test_lost_connection_reconnects_and_logs_in_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server goes away: a clear line; it comes back on the same port: the client logs in
    again as ana; then Ctrl-C still restores the terminal."""
    port = free_port()
    monkeypatch.setattr(processes, "free_port", lambda: port)
    db = f"sqlite:{tmp_path / 'chat.sqlite3'}"
    first_dir, second_dir = tmp_path / "one", tmp_path / "two"
    first_dir.mkdir()
    second_dir.mkdir()
    pty: PtyClient | None = None
    try:
        with twistd_chat(first_dir, db) as first:
            pty, where = run_between_stty(tmp_path, f"127.0.0.1:{port}")
            pty.wait_line(welcome("ana"))
            first.process.kill()
            first.process.wait(timeout=10)
        pty.wait_for(
            lambda rows: any(
                r.startswith(f"*** connection to 127.0.0.1:{port} lost") for r in rows
            ),
            "the lost-connection line",
        )
        with twistd_chat(second_dir, db) as second:
            pty.wait_for(lambda rows: rows.count(welcome("ana")) == 2, "the second welcome")
            assert f"*** reconnected to 127.0.0.1:{port}; logging in again as ana" in pty.text()
            bob = LineSocket(second.port)
            try:
                bob.login("bob")
                bob.say("/listar")
                assert conectados("ana", "bob") in read_until(bob, conectados("ana", "bob"))
            finally:
                bob.close()
            pty.keys(CTRL_C)
            assert_restored(pty, where, 0)
    finally:
        if pty is not None:
            pty.close()


def hostile_server(lines: list[bytes]) -> tuple[int, threading.Thread]:
    """A one-connection server that sends the prompt, reads a nickname, then sends ``lines``."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(SCREEN_TIMEOUT)
    port: int = listener.getsockname()[1]

    def serve() -> None:
        with listener:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(SCREEN_TIMEOUT)
                conn.sendall(f"{PROMPT}\r\n".encode())
                conn.recv(100)
                conn.sendall(f"{welcome('ana')}\r\n".encode() + b"".join(lines))
                while conn.recv(100):  # until the client goes (it sends /sala first)
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return port, thread


def test_control_characters_shown_escaped() -> None:
    """An ESC, a BEL and a bidi override from the server are shown as text, never sent to the
    terminal, in the lines and in the prompt (a room name)."""
    port, thread = hostile_server(
        [
            b"<eve> \x1b[2J\x1b]0;owned\x07 hi\r\n",
            "<eve> abc\u202edef\r\n".encode(),
            "* Sala \x1b[2Jx\u202e (1): ana\r\n".encode(),
        ]
    )
    ana = PtyClient.chat(f"127.0.0.1:{port}", "--nick", "ana")
    try:
        rows = ana.wait_line("<eve> \\x1b[2J\\x1b]0;owned\\x07 hi")
        rows = ana.wait_line("<eve> abc\\u202edef")
        rows = ana.wait_for(lambda rows: rows[-1] == "[\\x1b[2Jx\\u202e] ana>", "the prompt")
        assert rows[0] == "*** connected to 127.0.0.1:" + str(port)  # nothing was cleared
        assert b"\x1b]0;owned" not in ana.raw
        assert b"\x1b[2J" not in ana.raw
        assert "\u202e".encode() not in ana.raw
        ana.keys(CTRL_C)
        ana.wait_exit()
    finally:
        ana.close()
        thread.join(timeout=SCREEN_TIMEOUT)


def run_piped(stdin: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*CLIENT, *args], input=stdin, capture_output=True, timeout=30, check=False
    )


def test_piped_mode(server: Twistd) -> None:
    """The README's example: the prompt, the welcome, the list and the goodbye; exit 0."""
    result = run_piped(b"ana\n/listar\n/salir\n", f"127.0.0.1:{server.port}")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().split("\n")
    assert lines[:2] == [PROMPT, welcome("ana")]
    assert conectados("ana") in lines
    assert lines[-2:] == [goodbye("ana"), ""]
    assert "\x1b" not in result.stdout.decode()
    assert result.stderr == b""


def test_piped_nick_and_linger(server: Twistd) -> None:
    """``--nick`` is the first line; with no ``/salir`` the client closes after ``--linger``."""
    started = time.monotonic()
    result = run_piped(b"/username", f":{server.port}", "--nick", "bea", "--linger", "0.5")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 15
    lines = result.stdout.decode().splitlines()
    assert lines[:2] == [PROMPT, welcome("bea")]
    assert "* Tu nickname es bea." in lines


def test_piped_cannot_connect() -> None:
    """Nothing listening: exit 1 with a message on stderr."""
    port = free_port()
    result = run_piped(b"ana\n", f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert result.stdout == b""
    assert f"cannot connect to 127.0.0.1:{port}" in result.stderr.decode()


def test_interactive_cannot_connect(tmp_path: Path) -> None:
    """The same on a terminal, and the terminal is restored."""
    pty, where = run_between_stty(tmp_path, f"127.0.0.1:{free_port()}")
    try:
        assert_restored(pty, where, 1)
        assert b"cannot connect to 127.0.0.1:" in pty.raw
    finally:
        pty.close()


STORED = re.compile(r"\* \[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\] <bob> (.*)")


def test_history_replayed_dim_with_its_time(server: Twistd) -> None:
    """The room's history at login (protocol v1.1): on the terminal with its local time and
    dim; in piped mode as the server sent it."""
    bob = LineSocket(server.port)
    try:
        bob.login("bob")
        bob.say("primero")
        bob.say("segundo \x1b")  # refused by the server: control characters never get stored
        bob.say("/username")
        read_until(bob, "* Tu nickname es bob.")
        piped = run_piped(b"carol\n/salir\n", f"127.0.0.1:{server.port}")
        assert piped.returncode == 0, piped.stderr
        [stored] = [line for line in piped.stdout.decode().splitlines() if STORED.fullmatch(line)]
        match = STORED.fullmatch(stored)
        assert match is not None and match.group(2) == "primero"
        when = stored_time(match.group(1))  # in this process's time zone, the client's too
        ana = PtyClient.chat(f"127.0.0.1:{server.port}", "--nick", "ana")
        try:
            ana.wait_line(f"[{when}] <bob> primero")
            assert f"\x1b[2m[{when}] <bob> primero\x1b[0m".encode() in ana.raw
            ana.keys(CTRL_C)
            ana.wait_exit()
        finally:
            ana.close()
    finally:
        bob.close()
