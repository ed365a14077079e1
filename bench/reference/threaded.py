"""The original design, kept as a benchmark reference: a thread per client and one global lock.

What the chat looked like before Twisted, with its line framing fixed (lines are read until
``\\n`` through a buffered file, not one ``recv`` = one line) and its output in our wire format:

- ``socketserver.ThreadingTCPServer``: one thread per connection, blocking sockets;
- one global lock around the registry of users; every write to a client happens while holding
  it (so lines never interleave), broadcasts included: a ``for`` loop of ``sendall``;
- a blocking database write per login, before the welcome: ``INSERT ... ON DUPLICATE KEY
  UPDATE`` into table ``clientes`` through one shared MySQLdb connection (``--db
  mysql://USER[:PASSWORD]@HOST[:PORT][/DBNAME]``), or an SQLite upsert (``--db sqlite:PATH``);
- the original commands (``/listar``, ``/salir``, ``/username``, ``/ayuda``, ``/hora``),
  ``#NICK TEXT`` private messages, public messages as ``<NICK> TEXT``; no join/leave notices, no
  limits (the original had none).

Usage: ``python bench/reference/threaded.py --port PORT --db sqlite:/tmp/x.sqlite3``.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import socket
import socketserver
import sqlite3
import threading
import unicodedata
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

MAX_LINE = 1024
NICK_RE = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-z0-9À-ÖØ-öø-ÿ_-]{0,19}")

PROMPT = "* Bienvenido a twisted-chat. Elige un nickname:"
HELP = [
    "* /listar (/list): usuarios conectados",
    "* /salir (/quit): desconectarse",
    "* /username (/whoami): tu nickname",
    "* /ayuda (/help): esta ayuda",
    "* /hora (/time): hora del servidor",
    "* #nick texto: mensaje privado",
]


def line(text: str) -> bytes:
    """One server line: UTF-8 with CRLF."""
    return text.encode("utf-8") + b"\r\n"


class LoginStore:
    """One shared database connection behind its own lock; a blocking upsert per login."""

    def __init__(self, url: str) -> None:
        self.lock = threading.Lock()
        self.conn: Any
        if url.startswith("sqlite:"):
            self.paramstyle = "?"
            self.conn = sqlite3.connect(url[len("sqlite:") :], check_same_thread=False)
            self.conn.execute(
                "CREATE TABLE IF NOT EXISTS clientes (nick_key TEXT NOT NULL PRIMARY KEY,"
                " nickname TEXT NOT NULL, connected_at TEXT NOT NULL)"
            )
            self.conn.commit()
            self.upsert = (
                "INSERT INTO clientes (nick_key, nickname, connected_at) VALUES (?, ?, ?)"
                " ON CONFLICT(nick_key) DO UPDATE SET nickname = excluded.nickname,"
                " connected_at = excluded.connected_at"
            )
        elif url.startswith("mysql://"):
            import MySQLdb

            parts = urlsplit(url)
            database = parts.path.lstrip("/") or "redes"
            self.conn = MySQLdb.connect(
                host=parts.hostname or "127.0.0.1",
                port=parts.port or 3306,
                user=unquote(parts.username or "root"),
                password=unquote(parts.password or ""),
                charset="utf8mb4",
            )
            cursor = self.conn.cursor()
            cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{database}`")
            cursor.execute(f"USE `{database}`")
            cursor.execute(
                "CREATE TABLE IF NOT EXISTS clientes ("
                " nick_key VARCHAR(80) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,"
                " nickname VARCHAR(20) NOT NULL, connected_at DATETIME NOT NULL,"
                " PRIMARY KEY (nick_key)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
            )
            self.conn.commit()
            self.upsert = (
                "INSERT INTO clientes (nick_key, nickname, connected_at) VALUES (%s, %s, %s)"
                " ON DUPLICATE KEY UPDATE nickname = VALUES(nickname),"
                " connected_at = VALUES(connected_at)"
            )
        else:
            raise SystemExit(f"--db must be sqlite:PATH or mysql://..., not {url!r}")

    def record_login(self, nickname: str) -> None:
        """Insert or update the user's row and commit (blocking)."""
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        key = unicodedata.normalize("NFC", nickname).casefold()
        with self.lock:
            cursor = self.conn.cursor()
            cursor.execute(self.upsert, (key, nickname, now))
            self.conn.commit()


class ChatServer(socketserver.ThreadingTCPServer):
    """The listening socket, the registry and its one lock."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], store: LoginStore) -> None:
        super().__init__(address, ClientHandler)
        self.store = store
        self.lock = threading.Lock()
        self.clients: dict[str, ClientHandler] = {}


class ClientHandler(socketserver.StreamRequestHandler):
    """One client, in its own thread."""

    server: ChatServer
    nickname: str | None = None

    def send(self, data: bytes) -> None:
        """Write to this client (under the global lock, as every write is)."""
        with self.server.lock:
            self._send(data)

    def _send(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            self.request.sendall(data)

    def handle(self) -> None:
        """Prompt, read lines until the client goes, clean up."""
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.send(line(PROMPT))
        try:
            while True:
                raw = self.rfile.readline(MAX_LINE + 2)
                if not raw:
                    return
                if not raw.endswith(b"\n"):
                    if len(raw) < MAX_LINE + 2:
                        return  # end of stream in the middle of a line
                    while raw and not raw.endswith(b"\n"):  # discard up to the newline
                        raw = self.rfile.readline(65536)
                    self.send(line(f"! Línea demasiado larga (máximo {MAX_LINE} bytes)."))
                    continue
                raw = raw[:-1]
                if raw.endswith(b"\r"):
                    raw = raw[:-1]
                if len(raw) > MAX_LINE:
                    self.send(line(f"! Línea demasiado larga (máximo {MAX_LINE} bytes)."))
                    continue
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    self.send(line("! Texto UTF-8 no válido."))
                    continue
                if self.nickname is None:
                    self.login(text)
                elif not self.command(text):
                    return
        except OSError:
            return
        finally:
            if self.nickname is not None:
                with self.server.lock:
                    key = self.nickname.casefold()
                    if self.server.clients.get(key) is self:
                        del self.server.clients[key]

    def login(self, text: str) -> None:
        """Take a nickname: validate, register, persist (blocking), welcome."""
        nickname = unicodedata.normalize("NFC", text.strip(" \t"))
        if not NICK_RE.fullmatch(nickname):
            self.send(line("! Nickname no válido. Elige otro nickname:"))
            return
        key = nickname.casefold()
        with self.server.lock:
            taken = key in self.server.clients
            if not taken:
                self.server.clients[key] = self
        if taken:
            self.send(line(f"! El nickname {nickname} ya está en uso. Elige otro nickname:"))
            return
        self.nickname = nickname
        try:
            self.server.store.record_login(nickname)
        except Exception as e:
            print(f"login of {nickname} not recorded: {e}", flush=True)
        self.send(line(f"* Bienvenido, {nickname}. Escribe /ayuda para ver los comandos."))

    def command(self, text: str) -> bool:
        """One line after login; ``False`` to end the connection."""
        if not text.strip(" \t"):
            return True
        if text.startswith("/"):
            word = text[1:].split(" ", 1)[0].lower()
            if word in ("salir", "quit"):
                self.send(line(f"* Hasta pronto, {self.nickname}."))
                return False
            if word in ("listar", "list"):
                with self.server.lock:
                    names = sorted(
                        (c.nickname or "" for c in self.server.clients.values()), key=str.casefold
                    )
                    self._send(line(f"* Conectados ({len(names)}): {', '.join(names)}"))
            elif word in ("username", "whoami"):
                self.send(line(f"* Tu nickname es {self.nickname}."))
            elif word in ("ayuda", "help"):
                self.send(b"".join(line(h) for h in HELP))
            elif word in ("hora", "time"):
                now = datetime.now().astimezone().isoformat(timespec="seconds")
                self.send(line(f"* Hora del servidor: {now}"))
            else:
                self.send(line(f"! Comando desconocido: /{word}"))
            return True
        if text.startswith("#"):
            target, _, message = text[1:].partition(" ")
            with self.server.lock:
                recipient = self.server.clients.get(unicodedata.normalize("NFC", target).casefold())
                if recipient is None or recipient is self or not message.strip(" \t"):
                    self._send(line(f"! No se puede enviar a {target}."))
                else:
                    recipient._send(line(f"*{self.nickname}* {message}"))
                    self._send(line(f"-> *{recipient.nickname}* {message}"))
            return True
        data = line(f"<{self.nickname}> {text}")
        with self.server.lock:
            for client in self.server.clients.values():
                if client is not self:
                    client._send(data)
        return True


def main() -> None:
    """Parse the options and serve forever."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=1234)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--db", default="sqlite:chat.sqlite3")
    args = parser.parse_args()
    server = ChatServer((args.host, args.port), LoginStore(args.db))
    with server:
        server.serve_forever()


if __name__ == "__main__":
    main()
