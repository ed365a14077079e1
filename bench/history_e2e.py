"""Issue 15's history figures end to end, through the real server (``twistd -n chat``).

``throughput``: how many public messages per second the server stores, sustained. The server
runs on a fresh SQLite file (on disk, in ``--dir``) or a fresh MariaDB database (``--db
mysql://...``: a scratch database created for the run and dropped afterwards), history at its
default (on). ``--senders`` clients and one monitor log in; the senders send public messages
for ``--seconds``, at ``--rate`` messages/s in all (as the fixed-rate fan-out row), or with
``--rate 0`` as fast as they can, each keeping ``--window`` in flight (counted by the monitor,
as the saturated fan-out row does). Meanwhile the rows of ``mensajes`` are counted twice a
second from another connection. When the senders stop, the run waits (bounded) until every
message is stored, then stops the server gracefully (SIGTERM: it flushes history at shutdown)
and reads every row back: each message sent (sender and sequence number, from its text) must
be there exactly once. Printed: messages/s sent, messages/s stored during the sending window
and until the last was stored, rows present/expected, missing and duplicated.

``seed``: fill a database with ``--messages`` public messages fast (multi-row inserts straight
into ``mensajes``, in the shape the server writes: ids of the event model, the room and nick
keys, times in ms over the last 29 days; SQLite's triggers fill the FTS5 index, InnoDB its
FULLTEXT index). Half the messages are in ``general``, the rest in nine other rooms, from 400
senders; the words are drawn from a vocabulary of :data:`VOCABULARY` words with a Zipf
distribution (a few very common words, a long tail of rare ones), so searches find some
messages but not all.

``latency``: ``/historial`` and ``/buscar`` through the running server over a socket, against
a seeded database (``--seed N`` seeds a fresh one first and drops it afterwards; without it
``--db`` must name one already seeded). One client at a time issues the command and reads until
the reply ends (the header, the lines it announces, and the "older messages" line when the page
is full); latency is from writing the command to the last line. Measured, in ms (p50/p95/p99):

- ``/historial 50`` on the newest page (the room's in-memory buffer), then ``--pages`` pages
  back following the cursors (``/historial 50 antes CURSOR``: older than the buffer, so the
  database is read), then ``--jumps`` pages at cursors of random messages of the whole room;
- ``/historial 500`` (the buffer holds 100: read from the database) and ``--big-pages`` more
  following its cursors;
- ``/buscar WORD``: ``--searches`` searches, each by a different user (``--searches`` users log
  in once each before; the server allows one search per 3 s per user), one at a time, of words
  from every part of the vocabulary: common, middling, rare, two words, and one word that is in
  no message.

Every run prints its figures; it asserts nothing (the CI test checks that the lines are there).

    .venv/bin/python -m bench.history_e2e throughput --seconds 10
    .venv/bin/python -m bench.history_e2e throughput --db mysql://root@127.0.0.1:3306
    .venv/bin/python -m bench.history_e2e latency --seed 1000000
    .venv/bin/python -m bench.history_e2e latency --seed 1000000 --db mysql://root@127.0.0.1:3306
    .venv/bin/python -m bench.history_e2e seed --db sqlite:/tmp/h.sqlite3 --messages 1000000
    .venv/bin/python -m bench.history_e2e latency --db sqlite:/tmp/h.sqlite3   # seeded before
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import random
import re
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import servers
from bench.loadgen import Row, RowSpec, monotonic_ns, new_loop_factory
from twisted_chat import nicknames
from twisted_chat.history import make_cursor
from twisted_chat.ids import run_prefix
from twisted_chat.storage.engines import schema_statements

#: Words in the seeded vocabulary.
VOCABULARY = 4000
#: The Zipf exponent of the seeded words.
ZIPF = 1.05
#: Rooms of the seeded messages besides ``general`` (which gets half of them).
OTHER_ROOMS = 9
#: Seeded senders.
SENDERS = 400
#: Seeded messages span this many days before now (inside the default 30 of retention).
SPAN_DAYS = 29
#: Rows per seeding ``INSERT`` statement, and per seeding transaction.
SEED_ROWS_PER_STATEMENT = 500
SEED_ROWS_PER_COMMIT = 20_000
#: The server's history page and search limit in this benchmark.
PAGE, BIG_PAGE = 50, 500


def _words(text: str) -> list[str]:
    return text.split()


#: Common Spanish chat words, most frequent first (the head of the Zipf distribution).
BASE_WORDS = _words(
    "que de no la el y a en es lo me un por se los con te para una pero si mi ya eso "
    "bien hola esta todo como más muy hay sí ahora tu le cuando qué jaja bueno vale "
    "gracias también hoy mañana tarde noche casa trabajo día semana nada algo alguien "
    "gente partido fútbol película música canción serie libro café cerveza comida cena "
    "playa verano invierno lluvia calor frío ciudad pueblo coche tren avión viaje "
    "vacaciones fiesta cumpleaños amigo amiga familia madre padre hermano hermana perro "
    "gato examen clase profesor universidad oficina jefe reunión proyecto servidor "
    "mensaje teléfono ordenador internet juego equipo liga entrada concierto tienda "
    "precio dinero euro mercado restaurante paella tortilla jamón queso vino agua leche "
    "pan fruta naranja manzana montaña río mar barco bici correr nadar dormir cansado "
    "contento triste genial increíble horrible raro normal fácil difícil rápido lento "
    "nuevo viejo grande pequeño primero último siempre nunca quizás seguro claro"
)

_SYLLABLES = _words(
    "ba be bi bo bu ca co cu da de di do du fa fe fi fo la le li lo lu ma me mi mo mu na "
    "ne ni no nu pa pe pi po pu ra re ri ro ru sa se si so su ta te ti to tu va ve vi vo "
    "za zo cha che chi cho tra tre tri tro bra bre bro gra gre gro pla ple pli"
)


def vocabulary(size: int = VOCABULARY) -> list[str]:
    """:data:`BASE_WORDS`, then made-up words of three or four syllables (each distinct and
    made of letters only), most frequent first."""
    words = list(dict.fromkeys(BASE_WORDS))
    seen = set(words)
    rng = random.Random(15)
    while len(words) < size:
        word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((3, 3, 4))))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words[:size]


def zipf_cumulative(size: int, exponent: float = ZIPF) -> list[float]:
    """The cumulative Zipf weights of ranks 1..size."""
    return list(itertools.accumulate(1.0 / (rank**exponent) for rank in range(1, size + 1)))


Row6 = tuple[str, str, int, str, str, str]


def seed_rows(count: int, now_ms: int, seed: int = 15) -> Iterator[list[Row6]]:
    """``count`` messages as ``mensajes`` rows (id, room key, time, nickname, nick key, text),
    oldest first, in lists of :data:`SEED_ROWS_PER_COMMIT`."""
    rng = random.Random(seed)
    words = vocabulary()
    cumulative = zipf_cumulative(len(words))
    total = cumulative[-1]
    rooms = ["general"] * OTHER_ROOMS + [f"sala-{k}" for k in range(1, OTHER_ROOMS + 1)]
    names = [f"{rng.choice(BASE_WORDS[60:])[:8].capitalize()}{k}" for k in range(SENDERS)]
    people = [(name, nicknames.key(name)) for name in names]
    span = SPAN_DAYS * 86_400_000
    start = now_ms - span
    prefix, counter = "", 0
    batch: list[Row6] = []
    for n in range(count):
        if n % 100_000 == 0:  # a server run: a new id prefix, its counter from 1
            prefix, counter = run_prefix((start + span * n // max(1, count)) / 1000), 0
        counter += 1
        length = rng.randint(3, 14)
        picks = [words[bisect.bisect_left(cumulative, rng.random() * total)] for _ in range(length)]
        name, key = people[rng.randrange(SENDERS)]
        sent_at = start + span * n // max(1, count) + rng.randrange(3)
        batch.append(
            (f"{prefix}{counter:#x}", rng.choice(rooms), sent_at, name, key, " ".join(picks))
        )
        if len(batch) == SEED_ROWS_PER_COMMIT:
            yield batch
            batch = []
    if batch:
        yield batch


# -- databases -------------------------------------------------------------------------------


@dataclass
class Target:
    """The database a run uses: its ``--db`` URL for the server, and how to reach it here."""

    url: str
    sqlite_path: str | None = None  # SQLite: the file
    mysql_server: str | None = None  # MySQL: mysql://USER@HOST:PORT without a database
    mysql_database: str | None = None

    @property
    def kind(self) -> str:
        """``sqlite`` or ``mysql``."""
        return "sqlite" if self.sqlite_path else "mysql"

    def connect(self) -> Any:
        """A new DB-API connection (autocommit for MySQL)."""
        if self.sqlite_path:
            return sqlite3.connect(self.sqlite_path, timeout=30)
        assert self.mysql_server is not None
        return servers._mysql_connect(self.mysql_server, self.mysql_database)

    def mark(self) -> str:
        """The parameter mark of this backend."""
        return "?" if self.sqlite_path else "%s"

    def count(self, table: str = "mensajes") -> int:
        """Rows in ``table`` (-1 if it cannot be read yet)."""
        try:
            conn = self.connect()
        except Exception:
            return -1
        try:
            cursor = conn.cursor()
            cursor.execute(f"SELECT COUNT(*) FROM {table}")
            return int(cursor.fetchone()[0])
        except Exception:
            return -1
        finally:
            conn.close()


def target_for(db: str, directory: str) -> Target:
    """The target a ``--db`` names: ``sqlite`` (a new file in ``directory``), ``sqlite:PATH``,
    ``mysql://USER@HOST:PORT`` (a new scratch database) or ``mysql://USER@HOST:PORT/NAME``."""
    if db == "sqlite":
        path = str(Path(directory) / "chat.sqlite3")
        return Target(f"sqlite:{path}", sqlite_path=path)
    if db.startswith("sqlite:"):
        return Target(db, sqlite_path=db.removeprefix("sqlite:"))
    parts = urlsplit(db)
    server = f"{parts.scheme}://{parts.netloc}"
    name = parts.path.strip("/") or f"chat_bench_hist_{uuid.uuid4().hex[:10]}"
    return Target(servers.with_database(server, name), None, server, name)


@contextmanager
def scratch(db: str, directory: str, drop: bool) -> Iterator[Target]:
    """The target of ``db``; a MySQL database the run made (none named), or any with ``drop``,
    is dropped afterwards."""
    target = target_for(db, directory)
    made = target.kind == "mysql" and not urlsplit(db).path.strip("/")
    try:
        yield target
    finally:
        if target.kind == "mysql" and (made or drop):
            assert target.mysql_server is not None
            conn = servers._mysql_connect(target.mysql_server)
            try:
                conn.cursor().execute(f"DROP DATABASE IF EXISTS `{target.mysql_database}`")
            finally:
                conn.close()
            print(f"dropped database {target.mysql_database}", file=sys.stderr)


def create_schema(target: Target) -> None:
    """The server's schema (``sql/sqlite.sql`` or ``sql/mysql.sql``), as the server makes it."""
    if target.kind == "mysql":
        assert target.mysql_server is not None
        conn = servers._mysql_connect(target.mysql_server)
        try:
            conn.cursor().execute(
                f"CREATE DATABASE IF NOT EXISTS `{target.mysql_database}` "
                "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
        finally:
            conn.close()
    conn = target.connect()
    try:
        cursor = conn.cursor()
        if target.kind == "sqlite":
            cursor.execute("PRAGMA journal_mode=WAL")
        for statement in schema_statements(f"{target.kind}.sql"):
            cursor.execute(statement)
        conn.commit()
    finally:
        conn.close()


def seed(target: Target, count: int) -> float:
    """Create the schema and insert ``count`` messages (see :func:`seed_rows`); seconds taken."""
    create_schema(target)
    started = time.perf_counter()
    mark = target.mark()
    values = "(" + ", ".join([mark] * 6) + ")"
    sql = "INSERT INTO mensajes (id, room_key, sent_at, nickname, nick_key, text) VALUES "
    conn = target.connect()
    try:
        cursor = conn.cursor()
        if target.kind == "mysql":
            cursor.execute("SET autocommit = 0")
        done = 0
        for batch in seed_rows(count, int(time.time() * 1000) - 60_000):
            for at in range(0, len(batch), SEED_ROWS_PER_STATEMENT):
                chunk = batch[at : at + SEED_ROWS_PER_STATEMENT]
                cursor.execute(
                    sql + ", ".join([values] * len(chunk)), [v for row in chunk for v in row]
                )
            conn.commit()
            done += len(batch)
            if done % 200_000 < SEED_ROWS_PER_COMMIT:
                print(f"  seeded {done:,}", file=sys.stderr, flush=True)
    finally:
        conn.close()
    return time.perf_counter() - started


# -- throughput ------------------------------------------------------------------------------


class StoreRow(Row):
    """The saturated fan-out row, counting the stored rows as it goes and waiting, after the
    senders stop, until every message sent is stored (bounded)."""

    def __init__(self, spec: RowSpec, group: servers.ServerGroup, target: Target) -> None:
        super().__init__(spec, group, None)
        self.target = target
        self.samples: list[tuple[int, int]] = []  # (monotonic ns, rows)
        self.window: list[int] = []  # [start, end] of the sending, monotonic ns
        self.caught_up: int | None = None
        self._polling = True

    def mark(self) -> tuple[dict[str, float], float, int]:
        """The sending starts: note when."""
        self.window = [monotonic_ns()]
        return super().mark()

    async def wait_deliveries(self, expected: int, timeout: float) -> None:
        """The sending ended: note when, then wait for the deliveries as the row does."""
        self.window.append(monotonic_ns())
        await super().wait_deliveries(expected, timeout)

    async def poll(self) -> None:
        """Count the rows twice a second until told to stop."""
        while self._polling:
            rows = await self.loop.run_in_executor(None, self.target.count)
            self.samples.append((monotonic_ns(), rows))
            await asyncio.sleep(0.5)

    async def fanout(self) -> None:
        """The row, the poller beside it, then wait (60 s at most) until every message sent is
        stored."""
        poller = asyncio.ensure_future(self.poll())
        try:
            await super().fanout()
            deadline = self.loop.time() + 60
            while self.loop.time() < deadline:
                if self.samples and self.samples[-1][1] >= self.result.sent:
                    self.caught_up = self.samples[-1][0]
                    break
                await asyncio.sleep(0.1)
        finally:
            self._polling = False
            await poller

    def rows_at(self, when: int) -> float:
        """The rows stored at ``when`` (monotonic ns), interpolated between samples."""
        before = [(t, n) for t, n in self.samples if t <= when and n >= 0]
        after = [(t, n) for t, n in self.samples if t >= when and n >= 0]
        if not before:
            return 0.0
        if not after:
            return float(before[-1][1])
        (t0, n0), (t1, n1) = before[-1], after[0]
        return float(n0) if t1 == t0 else n0 + (n1 - n0) * (when - t0) / (t1 - t0)


def verify(target: Target, sent: dict[str, int]) -> tuple[int, int, int, int]:
    """Read every row back: (rows, expected, missing, duplicated) against ``sent`` (messages
    by sender nickname, numbered 1..N in their text's second word)."""
    conn = target.connect()
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT nickname, text FROM mensajes")
        seen = Counter((str(nick), int(str(text).split(" ", 2)[1])) for nick, text in cursor)
    finally:
        conn.close()
    expected = {(nick, n) for nick, count in sent.items() for n in range(1, count + 1)}
    missing = len(expected - seen.keys())
    duplicated = sum(c - 1 for c in seen.values() if c > 1)
    return sum(seen.values()), len(expected), missing, duplicated


def throughput(args: argparse.Namespace) -> int:
    """Run the throughput measurement; print the figures."""
    with (
        tempfile.TemporaryDirectory(prefix="chat-hist-", dir=args.dir) as tmp,
        scratch(args.db, tmp, drop=True) as target,
    ):
        group = servers.start_group("ours", Path(tmp), target.url)
        spec = RowSpec(
            "fanout",
            "ours",
            clients=args.senders + 1,
            senders=args.senders,
            saturate=not args.rate,
            rate=args.rate or 50.0,
            window=args.window,
            seconds=args.seconds,
            login_timeout=60,
        )
        row: StoreRow | None = None

        async def go() -> Any:
            nonlocal row
            row = StoreRow(spec, group, target)
            return await row.run()  # stops the server with SIGTERM, waiting (15 s at most)

        try:
            with asyncio.Runner(loop_factory=new_loop_factory()) as runner:
                result = runner.run(go())
        finally:
            code = group.stop()
        assert row is not None
        if result.error:
            print(f"ERROR: {result.error}")
            return 1
        start, end = row.window[0], row.window[-1]
        seconds = (end - start) / 1e9
        sent = {c.nick.decode(): c.sent for c in row.clients if c.logged_in and c.sent}
        total = sum(sent.values())
        stored_in_window = row.rows_at(end) - row.rows_at(start)
        rows, expected, missing, duplicated = verify(target, sent)
        load = f"{args.rate:g} msgs/s offered" if args.rate else f"{args.window} in flight each"
        print(f"{target.kind} ({target.url}), {args.senders} senders, {load}:")
        print(
            f"  sent      {total:,} public messages in {seconds:.2f}s = "
            f"{total / seconds:,.0f} msgs/s"
        )
        print(
            f"  stored    {stored_in_window:,.0f} during the sending = "
            f"{stored_in_window / seconds:,.0f} msgs/s"
        )
        if row.caught_up is not None:
            lag = (row.caught_up - end) / 1e9
            whole = (row.caught_up - start) / 1e9
            print(
                f"  all {total:,} stored {lag:.2f}s after the last send (polled every 0.5 s): "
                f"{total / whole:,.0f} msgs/s from the first send to the last row"
            )
        else:
            print(f"  NOT all stored within 60 s of the last send ({row.samples[-1][1]:,} rows)")
        verdict = "ok" if missing == duplicated == 0 and rows == expected else "MISMATCH"
        print(
            f"  after a graceful stop (exit {code}): rows {rows:,}/{expected:,} expected, "
            f"{missing} missing, {duplicated} duplicated: {verdict}"
        )
        print(
            f"  server CPU {result.server_cpu_pct:.0f}%, generator {result.gen_cpu_pct:.0f}%; "
            f"deliveries {result.delivery_ratio:.4f} of expected"
        )
        return 0 if verdict == "ok" else 1


# -- latency ---------------------------------------------------------------------------------

HEADER_RE = re.compile(r"^\* Últimos (\d+) mensajes de ")
MORE_RE = re.compile(r"^\* Mensajes anteriores: /historial (\d+) antes (\S+)$")
SEARCH_RE = re.compile(r"^\* (\d+) mensajes? de .* con «")
NO_RESULTS = "* Ningún mensaje de "
STORED = "* ["


class LineClient:
    """One chat user over a socket: reads lines, writes commands."""

    def __init__(self, nick: str) -> None:
        self.nick = nick
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def login(self, port: int) -> None:
        """Connect, log in, and read until the connection is quiet (the welcome, the retention
        line, the replay), with ``/username`` as the barrier."""
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port, limit=2**20)
        await self.line()  # the prompt
        self.send(self.nick)
        welcome = await self.line()
        if not welcome.startswith("* "):
            raise RuntimeError(f"{self.nick} not logged in: {welcome}")
        self.send("/username")
        while not (await self.line()).startswith("* Tu nickname es "):
            pass
        await self.quiet()

    async def quiet(self, seconds: float = 0.2) -> None:
        """Read and forget lines until none came for ``seconds``."""
        while True:
            try:
                await asyncio.wait_for(self.line(), seconds)
            except TimeoutError:
                return

    def send(self, text: str) -> None:
        """Write one line."""
        assert self.writer is not None
        self.writer.write(text.encode() + b"\r\n")

    async def line(self) -> str:
        """The next line (without its end)."""
        assert self.reader is not None
        raw = await self.reader.readline()
        if not raw:
            raise ConnectionError(f"{self.nick}: connection closed")
        return raw.decode().rstrip("\r\n")

    async def page(self, command: str, limit: int) -> tuple[float, int, str | None]:
        """Send a ``/historial`` command and read its reply: (ms, messages, next cursor)."""
        started = time.perf_counter()
        self.send(command)
        while True:
            line = await asyncio.wait_for(self.line(), 30)
            header = HEADER_RE.match(line)
            if header:
                break
            if line.startswith("! "):
                raise RuntimeError(f"{command}: {line}")
        count = int(header.group(1))
        for _ in range(count):
            line = await asyncio.wait_for(self.line(), 30)
            if not line.startswith(STORED):
                raise RuntimeError(f"{command}: not a stored line: {line}")
        cursor = None
        if count == limit:
            try:
                more = MORE_RE.match(await asyncio.wait_for(self.line(), 2))
                cursor = more.group(2) if more else None
            except TimeoutError:
                pass
        return (time.perf_counter() - started) * 1000, count, cursor

    async def search(self, words: str) -> tuple[float, int]:
        """Send ``/buscar WORDS`` and read its reply: (ms, messages found)."""
        started = time.perf_counter()
        self.send(f"/buscar {words}")
        while True:
            line = await asyncio.wait_for(self.line(), 30)
            if line.startswith(NO_RESULTS):
                return (time.perf_counter() - started) * 1000, 0
            header = SEARCH_RE.match(line)
            if header:
                break
            if line.startswith("! "):
                raise RuntimeError(f"/buscar {words}: {line}")
        count = int(header.group(1))
        for _ in range(count):
            await asyncio.wait_for(self.line(), 30)
        return (time.perf_counter() - started) * 1000, count

    def close(self) -> None:
        """Hang up."""
        if self.writer is not None:
            self.writer.close()


@dataclass
class Timings:
    """Latencies of one kind of command (ms) and what their replies held."""

    name: str
    ms: list[float] = field(default_factory=list)
    found: list[int] = field(default_factory=list)

    def line(self) -> str:
        """p50/p95/p99/max and the replies' sizes, in a line."""
        if not self.ms:
            return f"  {self.name}: none measured"
        ordered = sorted(self.ms)

        def pct(p: float) -> float:
            return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

        found = f"; messages per reply {min(self.found)}-{max(self.found)}" if self.found else ""
        return (
            f"  {self.name}: n={len(ordered)} p50 {pct(50):.1f} ms, p95 {pct(95):.1f} ms, "
            f"p99 {pct(99):.1f} ms, max {ordered[-1]:.1f} ms{found}"
        )


def random_cursors(target: Target, count: int, seed: int = 15) -> list[str]:
    """Cursors of ``count`` random messages of ``general`` (made as the server makes them)."""
    conn = target.connect()
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT MAX(n) FROM mensajes")
        top = int(cursor.fetchone()[0] or 0)
        rng = random.Random(seed)
        found: list[str] = []
        mark = target.mark()
        attempts = 0
        while len(found) < count and attempts < count * 20:
            attempts += 1
            cursor.execute(
                f"SELECT sent_at, id FROM mensajes WHERE n = {mark} AND room_key = 'general'",
                (rng.randint(1, max(1, top)),),
            )
            row = cursor.fetchone()
            if row:
                found.append(make_cursor(int(row[0]), str(row[1])))
        return found
    finally:
        conn.close()


def search_words(count: int, seed: int = 15) -> list[tuple[str, str]]:
    """``count`` searches, (band, text), in turn from each band of the vocabulary."""
    words = vocabulary()
    rng = random.Random(seed)
    # The head of the vocabulary (the made-up words are all further down); at least 3
    # characters, as /buscar asks.
    common = [w for w in words[:150] if len(w) >= 3]
    middling = words[300:800]
    rare = words[2000:]
    bands = [
        ("a common word", lambda: rng.choice(common)),
        ("a middling word", lambda: rng.choice(middling)),
        ("a rare word", lambda: rng.choice(rare)),
        ("two words (common, middling)", lambda: f"{rng.choice(common)} {rng.choice(middling)}"),
        ("a word in no message", lambda: "xylofonorama"),
    ]
    return [(bands[i % len(bands)][0], bands[i % len(bands)][1]()) for i in range(count)]


async def measure_latency(port: int, args: argparse.Namespace, cursors: list[str]) -> list[Timings]:
    """Every latency figure against the server on ``port``."""
    reader = LineClient("lector")
    await reader.login(port)
    first = Timings(f"/historial {PAGE}, newest page (in-memory buffer)")
    back = Timings(f"/historial {PAGE} antes CURSOR, {args.pages} pages back from the newest")
    jumps = Timings(f"/historial {PAGE} antes CURSOR, {len(cursors)} random cursors")
    big = Timings(f"/historial {BIG_PAGE}, newest and {args.big_pages} pages back")
    ms, count, cursor = await reader.page(f"/historial {PAGE}", PAGE)
    first.ms.append(ms)
    first.found.append(count)
    for _ in range(args.pages):
        if cursor is None:
            break
        ms, count, cursor = await reader.page(f"/historial {PAGE} antes {cursor}", PAGE)
        back.ms.append(ms)
        back.found.append(count)
    for jump in cursors:
        ms, count, _ = await reader.page(f"/historial {PAGE} antes {jump}", PAGE)
        jumps.ms.append(ms)
        jumps.found.append(count)
    ms, count, cursor = await reader.page(f"/historial {BIG_PAGE}", BIG_PAGE)
    big.ms.append(ms)
    big.found.append(count)
    for _ in range(args.big_pages):
        if cursor is None:
            break
        ms, count, cursor = await reader.page(f"/historial {BIG_PAGE} antes {cursor}", BIG_PAGE)
        big.ms.append(ms)
        big.found.append(count)
    reader.close()
    # Searches: one user each (one search per 3 s per user), logged in before, one at a time.
    searches = search_words(args.searches)
    users = [LineClient(f"busca{k}") for k in range(len(searches))]
    gate = asyncio.Semaphore(20)

    async def login(user: LineClient) -> None:
        async with gate:
            await user.login(port)

    await asyncio.gather(*(login(u) for u in users))
    for user in users:  # the others' join notices
        await user.quiet(0.05)
    by_band: dict[str, Timings] = {}
    every = Timings(f"/buscar, {len(searches)} searches by {len(users)} users, one at a time")
    for user, (band, text) in zip(users, searches, strict=True):
        ms, count = await user.search(text)
        every.ms.append(ms)
        every.found.append(count)
        timing = by_band.setdefault(band, Timings(f"  /buscar, {band}"))
        timing.ms.append(ms)
        timing.found.append(count)
    for user in users:
        user.close()
    return [first, back, jumps, big, every, *by_band.values()]


def latency(args: argparse.Namespace) -> int:
    """Seed (with ``--seed``), start the server on the database, measure, print."""
    with (
        tempfile.TemporaryDirectory(prefix="chat-hist-", dir=args.dir) as tmp,
        scratch(args.db, tmp, drop=args.drop or bool(args.seed)) as target,
    ):
        if args.seed:
            seconds = seed(target, args.seed)
            print(f"seeded {args.seed:,} messages in {seconds:.1f}s ({target.kind})")
        rows = target.count()
        general = _count_room(target, "general")
        cursors = random_cursors(target, args.jumps)
        group = servers.start_group("ours", Path(tmp), target.url)
        try:
            with asyncio.Runner(loop_factory=new_loop_factory()) as runner:
                timings = runner.run(measure_latency(group.ports[0], args, cursors))
        finally:
            group.stop()
        print(f"{target.kind}: {rows:,} messages stored, {general:,} of them in general")
        for timing in timings:
            print(timing.line())
        return 0


def _count_room(target: Target, room: str) -> int:
    conn = target.connect()
    try:
        cursor = conn.cursor()
        cursor.execute(f"SELECT COUNT(*) FROM mensajes WHERE room_key = {target.mark()}", (room,))
        return int(cursor.fetchone()[0])
    finally:
        conn.close()


def seed_command(args: argparse.Namespace) -> int:
    """Seed ``--db`` (it must name the SQLite file or the MySQL database) and keep it."""
    with tempfile.TemporaryDirectory(prefix="chat-hist-", dir=args.dir) as tmp:
        target = target_for(args.db, tmp)
        if target.kind == "sqlite" and args.db == "sqlite":
            print("seed needs sqlite:PATH or mysql://.../NAME (a database to keep)")
            return 2
        seconds = seed(target, args.messages)
        print(f"seeded {args.messages:,} messages in {seconds:.1f}s into {target.url}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options and run one measurement."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("throughput", "latency", "seed"))
    parser.add_argument(
        "--db",
        default="sqlite",
        help="sqlite (a new file), sqlite:PATH, mysql://USER@HOST:PORT (a scratch database) "
        "or mysql://USER@HOST:PORT/NAME",
    )
    parser.add_argument(
        "--dir", default=None, help="where the SQLite file and the logs go (default: $TMPDIR)"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="throughput: sending time")
    parser.add_argument("--senders", type=int, default=4, help="throughput: sending clients")
    parser.add_argument("--window", type=int, default=64, help="throughput: messages in flight")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="throughput: messages/s in all (0: saturated)"
    )
    parser.add_argument("--seed", type=int, default=0, help="latency: seed a fresh database")
    parser.add_argument("--messages", type=int, default=1_000_000, help="seed: messages")
    parser.add_argument("--pages", type=int, default=1000, help="latency: pages followed back")
    parser.add_argument("--jumps", type=int, default=200, help="latency: random-cursor pages")
    parser.add_argument("--big-pages", type=int, default=100, help="latency: 500-message pages")
    parser.add_argument("--searches", type=int, default=300, help="latency: searches (users)")
    parser.add_argument("--drop", action="store_true", help="latency: drop the MySQL database")
    args = parser.parse_args(argv)
    servers.raise_open_files_limit()
    if args.what != "seed":
        pinned = servers.pin_cpus()
        if pinned:
            print(pinned, file=sys.stderr)
    if args.what == "throughput":
        return throughput(args)
    if args.what == "seed":
        return seed_command(args)
    return latency(args)


if __name__ == "__main__":
    sys.exit(main())
