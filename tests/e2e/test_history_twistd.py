"""History and recados (issue 15, protocol v1.1) against a real ``twistd chat``, on SQLite and
on MariaDB, over TCP and (for the main flows) WebSocket.

One server per backend for the whole module, started on a database seeded beforehand with
old and recent rows, with ``--history-days 1 --history-replay 5 --history-replay-hours 1``:
the retention purge at start-up, the replay window at login and on ``/unirse``, "since you
left" for a registered user (with the hint and its cursor past 100, and nothing twice when
messages are said during the login), paging back through 1,200
messages sent at once by three clients (so that many share a millisecond), ``/buscar``,
recados (stored once, delivered once after the welcome and the replay, read by a line or by 10
quiet seconds, again after a connection dropped before that, the limits), ``/olvidar`` and what
nobody may do to another user's rows. Every stored line is compared whole, its time taken
from the row in the database. Each test uses nicknames and rooms of its own (suffixed by its
transport), so the tests of one server do not see each other's lines.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.support import mariadb
from tests.support.chathistory import (
    FORGET_ASK,
    FORGET_PASSWORD,
    FORGET_USAGE,
    HISTORY_MISSED,
    HISTORY_MORE,
    HISTORY_USAGE,
    RECADO_PASSWORD,
    SEARCH_SHORT,
    SEARCH_WAIT,
    STORED,
    TRANSPORTS,
    Backend,
    Peer,
    bad_cursor,
    connect,
    forget_done,
    history_chat,
    history_header,
    log_in,
    mysql_backend,
    next_answer,
    private_offline,
    private_offline_memo,
    recado,
    recado_delivered,
    recado_read,
    recado_recipient_limit,
    recado_sender_limit,
    recado_stored,
    recado_unregistered,
    recados_header,
    register,
    sala_line,
    search_header,
    search_none,
    sqlite_backend,
    stored,
    stored_count,
    sync,
    take,
    tcp,
    wait_for,
    wait_line,
)
from tests.support.expected import LOGIN_REFUSED, PROMPT, goodbye, password_needed
from tests.support.processes import LineSocket
from tests.support.webchat import WebChat

pytestmark = pytest.mark.timeout(120, method="thread")

PASSWORD = "Clave-hist1"
HOUR = 3_600_000
DAY = 24 * HOUR
#: The server's options: a day of history, a replay of 5 messages from the last hour, and no
#: flood control (the tests send hundreds of lines at once).
OPTIONS = (
    "--history-days",
    "1",
    "--history-replay",
    "5",
    "--history-replay-hours",
    "1",
    "--flood-rate",
    "0",
)


class Chat:
    """The module's server, its database, and when the database was seeded."""

    def __init__(self, server: WebChat, backend: Backend, seeded_at: int) -> None:
        self.server = server
        self.backend = backend
        self.seeded_at = seeded_at

    def enter(self, nick: str, password: str | None = None, transport: str = "tcp") -> Peer:
        """A client logged in as ``nick`` with everything after its welcome read."""
        peer = connect(self.server, transport)
        log_in(peer, nick, password, until=stored_count(len(self.window())))
        sync(peer, nick)
        return peer

    def window(self, room: str = "general") -> list[str]:
        """The replay of ``room`` now, as the database holds it: its last 5 messages of the
        last hour, as stored lines."""
        oldest = int(time.time() * 1000) - HOUR
        rows = self.backend.messages("room_key = ? AND sent_at >= ?", (room, oldest))
        return [stored(*row) for row in rows[-5:]]

    def lines_of(self, room: str, texts: list[str]) -> list[str]:
        """The stored lines of ``texts`` (each said once in ``room``), in history order."""
        wanted = set(texts)
        wait_for(lambda: len(self._rows(room, wanted)) == len(wanted), f"{len(wanted)} rows stored")
        return [stored(*row) for row in self._rows(room, wanted)]

    def _rows(self, room: str, texts: set[str]) -> list[tuple[int, str, str]]:
        return [r for r in self.backend.messages("room_key = ?", (room,)) if r[2] in texts]


def recado_lines(lines: list[str]) -> list[str]:
    """The recado lines among ``lines``."""
    return [line for line in lines if (m := STORED.match(line)) and m.group(3)]


def blast(peer: LineSocket, texts: list[str]) -> None:
    """Send every line of ``texts`` in one write."""
    peer.sock.sendall("".join(f"{text}\r\n" for text in texts).encode())


# -- the server ------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    """The module's database: an SQLite file, or a scratch MariaDB database."""
    if request.param == "sqlite":
        yield sqlite_backend(tmp_path_factory.mktemp("history-sqlite"))
        return
    with mariadb.scratch_database(request.getfixturevalue("mysql_server")) as url:
        yield mysql_backend(url)


def _seed(backend: Backend, now: int) -> None:
    """Rows older than the retention (3 days), older than the replay window (2 hours) and in
    it, in ``general`` and two rooms of their own; a recado past ``--memo-days`` and one not."""
    backend.create_schema()
    rows: list[tuple[str, str, int, str, str]] = []
    rows += [
        (f"sg-old-{i}", "general", now - 2 * HOUR + i, "abuela", f"antiguo {i}") for i in range(3)
    ]
    rows += [
        (f"sg-new-{i}", "general", now - HOUR // 2 + i, "abuela", f"reciente {i}") for i in range(2)
    ]
    rows += [
        (f"sa-exp-{i}", "archivo", now - 3 * DAY + i, "abuela", f"caducado {i}") for i in range(40)
    ]
    rows += [
        (f"sa-far-{i}", "archivo", now - 2 * HOUR + i, "abuela", f"lejano {i}") for i in range(2)
    ]
    rows += [
        (f"sa-near-{i}", "archivo", now - 600_000 + 1000 * i, "abuela", f"cercano {i}")
        for i in range(8)
    ]
    rows += [
        (f"sv-out-{i}", "ventana", now - 2 * HOUR + i, "abuela", f"fuera {i}") for i in range(2)
    ]
    rows += [
        (f"sv-in-{i}", "ventana", now - 600_000 + i, "abuela", f"dentro {i}") for i in range(2)
    ]
    backend.seed_messages(rows)
    backend.seed_recados(
        [
            ("sr-old", "abuela", "fantasma", "muy viejo", now - 40 * DAY),
            ("sr-new", "abuela", "fantasma", "nuevo", now - DAY),
        ]
    )


@pytest.fixture(scope="module")
def chat(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chat]:
    """The module's server on its seeded database."""
    seeded_at = int(time.time() * 1000)
    _seed(backend, seeded_at)
    directory = tmp_path_factory.mktemp("history-server")
    with history_chat(directory, backend, *OPTIONS) as server:
        yield Chat(server, backend, seeded_at)


# -- retention and replay --------------------------------------------------------------------


def test_retention_purge_at_startup(chat: Chat) -> None:
    """``--history-days 1``: the purge at start-up deleted the messages older than a day (and
    the recados older than ``--memo-days``), and nothing newer."""
    db = chat.backend
    oldest = chat.seeded_at - DAY
    wait_for(
        lambda: db.count("SELECT COUNT(*) FROM mensajes WHERE sent_at < ?", (oldest,)) == 0,
        "the purge",
    )
    wait_for(
        lambda: db.count("SELECT COUNT(*) FROM recados WHERE recipient_key = 'fantasma'") == 1,
        "the recado purge",
    )
    archivo = [text for _, _, text in db.messages("room_key = 'archivo'")]
    assert archivo == [f"lejano {i}" for i in range(2)] + [f"cercano {i}" for i in range(8)]
    assert len(db.messages("nick_key = 'abuela'")) == 5 + 10 + 4
    assert [r[0] for r in db.query("SELECT id FROM recados")] == ["sr-new"]
    wait_for(
        lambda: "retention purge: 40 messages and 1 recados deleted" in chat.server.log(),
        "the purge's log line",
    )


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_replay_at_login(chat: Chat, transport: str) -> None:
    """A login gets the last 5 messages of the last hour of its room, oldest first, after the
    welcome and the retention line: what is older (the seeded 2-hour-old rows) is not shown,
    and of 7 new messages only the last 5."""
    first, second = f"lee{transport}1", f"lee{transport}2"
    window = chat.window()
    assert 0 < len(window) <= 5
    reader = connect(chat.server, transport)
    lines = log_in(reader, first, until=stored_count(len(window)))
    assert lines == window
    assert not any("antiguo" in line for line in lines)
    assert sync(reader, first) == []

    said = [f"eco {transport} {i}" for i in range(7)]
    for text in said:
        reader.say(text)
    expected = chat.lines_of("general", said)[-5:]
    late = connect(chat.server, transport)
    assert log_in(late, second, until=stored_count(5)) == expected
    assert sync(late, second) == []
    reader.close()
    late.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_replay_on_unirse(chat: Chat, transport: str) -> None:
    """``/unirse`` shows the room line, then the room's replay window: the last 5 of the last
    hour (``archivo``), only the last hour (``ventana``); ``/historial`` shows what the
    retention kept, and nothing older than a day."""
    nick = f"viaja{transport}"
    db = chat.backend
    peer = chat.enter(nick, transport=transport)
    archivo = [stored(*row) for row in db.messages("room_key = 'archivo'")]
    ventana = [stored(*row) for row in db.messages("room_key = 'ventana'")]
    assert len(archivo) == 10 and len(ventana) == 4

    peer.say("/unirse archivo")
    assert sala_line("archivo").match(next_answer(peer))
    assert take(peer, 5) == archivo[-5:]
    assert sync(peer, nick) == []
    peer.say("/unirse ventana")
    assert sala_line("ventana").match(next_answer(peer))
    assert take(peer, 2) == ventana[2:]
    assert sync(peer, nick) == []
    peer.say("/historial")
    assert sync(peer, nick) == [history_header(4, "ventana"), *ventana]
    peer.say("/unirse archivo")
    assert sala_line("archivo").match(next_answer(peer))
    assert take(peer, 5) == archivo[-5:]
    peer.say("/historial 20")
    assert sync(peer, nick) == [history_header(10, "archivo"), *archivo]
    peer.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_since_you_left(chat: Chat, transport: str) -> None:
    """A registered user logged in with a password gets what was said in its room since it
    last left instead of the replay: all of it up to 100; past that the last 100 and the hint,
    whose command shows exactly the 50 before them."""
    rita, talker = f"rita{transport}", f"charla{transport}"
    db = chat.backend
    register(chat.server, rita, PASSWORD)
    bob = chat.enter(talker)

    def leaves(peer: Peer) -> None:
        before = db.query("SELECT left_at FROM salidas WHERE nick_key = ?", (rita,))
        peer.say("/salir")
        assert next_answer(peer) == goodbye(rita)
        peer.close()
        wait_line(bob, f"* {rita} ha salido del chat.")
        wait_for(
            lambda: db.query("SELECT left_at FROM salidas WHERE nick_key = ?", (rita,)) != before,
            "the departure to be recorded",
        )
        time.sleep(0.01)  # what is said next is a later millisecond

    leaves(chat.enter(rita, PASSWORD))  # a first departure recorded
    few = [f"falta {transport} {i}" for i in range(3)]
    for text in few:
        bob.say(text)
    missed = chat.lines_of("general", few)
    peer = connect(chat.server, transport)
    assert log_in(peer, rita, PASSWORD, until=stored_count(3)) == missed
    assert sync(peer, rita) == []
    leaves(peer)

    many = [f"gran {transport} {i:03d}" for i in range(150)]
    assert isinstance(bob, LineSocket)
    blast(bob, many)
    missed = chat.lines_of("general", many)
    peer = connect(chat.server, transport)
    lines = log_in(
        peer, rita, PASSWORD, until=lambda ls: any(HISTORY_MISSED.match(line) for line in ls)
    )
    assert lines[:-1] == missed[50:]
    hint = HISTORY_MISSED.match(lines[-1])
    assert hint is not None and hint.group(1) == "50"
    assert sync(peer, rita) == []
    peer.say(hint.group(2))
    assert take(peer, 51) == [history_header(50, "general"), *missed[:50]]
    assert HISTORY_MORE.match(next_answer(peer))  # and older ones still
    assert sync(peer, rita) == []
    peer.close()
    bob.close()


def test_history_at_login_stops_where_live_starts(chat: Chat) -> None:
    """Messages said while a login reads its history arrive live, and are not shown again as
    history: "since you left" stops exactly before the first message delivered live.

    They came twice: the missed messages were taken from the room's memory once the storage
    had answered, by then holding what had been said (and delivered live) meanwhile."""
    db = chat.backend
    register(chat.server, "vera", PASSWORD)
    vera = chat.enter("vera", PASSWORD)
    vera.say("/salir")
    assert next_answer(vera) == goodbye("vera")
    vera.close()
    wait_for(
        lambda: db.count("SELECT COUNT(*) FROM salidas WHERE nick_key = 'vera'") == 1,
        "the departure",
    )
    time.sleep(0.01)
    runner = chat.enter("corre")
    assert isinstance(runner, LineSocket)
    blast(runner, [f"antes {i}" for i in range(150)])
    chat.lines_of("general", [f"antes {i}" for i in range(150)])
    running = threading.Event()
    running.set()

    def run() -> None:
        i = 0
        while running.is_set() and i < 20_000:
            runner.say(f"vivo {i}")
            i += 1
            time.sleep(0.0005)

    stream = threading.Thread(target=run, daemon=True)
    stream.start()
    try:
        vera = tcp(chat.server)
        lines = log_in(
            vera, "vera", PASSWORD, until=lambda ls: any(HISTORY_MISSED.match(x) for x in ls)
        )
    finally:
        running.clear()
        stream.join(timeout=10)
    lines += sync(vera, "vera")
    shown = [m.group(4) for line in lines if (m := STORED.match(line))]
    live = [line.split("> ", 1)[1] for line in lines if line.startswith("<corre> ")]
    assert set(shown).isdisjoint(live), sorted(set(shown) & set(live))[:5]
    before = [int(text.split()[1]) for text in shown if text.startswith("vivo ")]
    after = [int(text.split()[1]) for text in live]
    if after:
        assert after == list(range(after[0], after[0] + len(after)))
        assert after[0] == max(before, default=-1) + 1, (before[-3:], after[:3])
    # The latest of what was said before the first live one (up to 100; fewer when some of
    # the page read had been said since), and the hint counts exactly the rest, whatever was
    # stored meanwhile.
    said_before = [f"antes {i}" for i in range(150)] + [
        f"vivo {i}" for i in range(max(before, default=-1) + 1)
    ]
    assert shown == said_before[-len(shown) :]
    assert len(shown) > 90
    hint = next(m for line in lines if (m := HISTORY_MISSED.match(line)))
    assert int(hint.group(1)) + len(shown) == len(said_before)
    vera.close()
    runner.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_paging_back_through_1200_messages(chat: Chat, transport: str) -> None:
    """1,200 messages sent at once by three clients (many in one millisecond), read back with
    ``/historial 500`` and then each hint's command: every message exactly once, in order."""
    room, nick = f"paginas{transport}", f"pagina{transport}"
    reader = chat.enter(nick, transport=transport)
    reader.say(f"/unirse {room}")
    assert sala_line(room).match(next_answer(reader))
    writers: list[LineSocket] = []
    for k in range(3):
        writer_nick = f"autor{transport}{k}"
        writer = chat.enter(writer_nick)
        assert isinstance(writer, LineSocket)
        writer.say(f"/unirse {room}")
        assert sala_line(room).match(next_answer(writer))
        sync(writer, writer_nick)
        writers.append(writer)
    sync(reader, nick)
    said = [[f"p{k}-{i:03d} palabra" for i in range(400)] for k in range(3)]
    for chunk in range(0, 400, 50):
        for k, writer in enumerate(writers):
            blast(writer, said[k][chunk : chunk + 50])
    live: list[str] = []  # the order the server took them in
    while len(live) < 1200:
        if (line := reader.line()).startswith("<autor"):
            live.append(line.split("> ", 1)[1])

    expected = chat.lines_of(room, [text for texts in said for text in texts])
    times = Counter(at for at, _, _ in chat.backend.messages("room_key = ?", (room,)))
    shared = sum(n for n in times.values() if n > 1)
    assert shared >= 100, f"only {shared} messages share a millisecond: {times.most_common(3)}"

    pages: list[list[str]] = []
    command = "/historial 500"
    for count in (500, 500, 200):
        reader.say(command)
        assert next_answer(reader) == history_header(count, room)
        pages.append(take(reader, count))
        if count == 500:
            more = HISTORY_MORE.match(next_answer(reader))
            assert more is not None and more.group(2) == "500"
            command = more.group(1)
    assert sync(reader, nick) == []
    read_back = [line for page in reversed(pages) for line in page]
    assert read_back == expected
    assert [line.split("> ", 1)[1] for line in read_back] == live

    for bad, error in [
        ("/historial 501", HISTORY_USAGE),
        ("/historial 0", HISTORY_USAGE),
        ("/historial diez", HISTORY_USAGE),
        ("/historial 10 antes", HISTORY_USAGE),
        ("/historial 10 antes zzz", bad_cursor("zzz")),
    ]:
        reader.say(bad)
        assert sync(reader, nick) == [error], bad
    for peer in (reader, *writers):
        peer.close()


# -- search ----------------------------------------------------------------------------------


def test_search(chat: Chat) -> None:
    """``/buscar``: every word, whatever the case and the accents, whole words, the room's
    messages only, at most 20 (the latest, oldest first); one ``! `` line for a search under
    3 characters and for a second search within 3 seconds."""
    sofia = chat.enter("sofia")
    sofia.say("café en general")
    sofia.say("/unirse busca")
    assert sala_line("busca").match(next_answer(sofia))
    texts = [
        "El Café de la esquina",
        "cafe con leche",
        "Cafetería nueva",
        "CAFÉ SOLO",
        "leche fría",
        "100% seguro",
        "AND OR NOT",
    ]
    texts += [f"rojo número {i}" for i in range(25)]
    for text in texts:
        sofia.say(text)
    lines = dict(zip(texts, chat.lines_of("busca", texts), strict=True))

    searchers = []
    for k, transport in enumerate(["ws", "tcp", "tcp", "tcp", "tcp", "tcp"]):
        peer = chat.enter(f"busca{k}", transport=transport)
        peer.say("/unirse busca")
        assert sala_line("busca").match(next_answer(peer))
        sync(peer, f"busca{k}")
        searchers.append(peer)
    first, second, third, fourth, fifth, sixth = searchers
    first.say("/buscar café")  # answered once the database has
    assert take(first, 4) == [
        search_header(3, "busca", "café"),
        lines["El Café de la esquina"],
        lines["cafe con leche"],
        lines["CAFÉ SOLO"],
    ]
    second.say("/buscar LECHE   Cafe")
    assert take(second, 2) == [
        search_header(1, "busca", "LECHE Cafe"),
        lines["cafe con leche"],
    ]
    third.say("/buscar ROJO")
    assert take(third, 21) == [
        search_header(20, "busca", "ROJO"),
        *[lines[f"rojo número {i}"] for i in range(5, 25)],
    ]
    for command in ("/buscar ab", "/buscar", "/buscar  é "):
        fourth.say(command)
        assert sync(fourth, "busca3") == [SEARCH_SHORT], command
    fourth.say("/buscar xyzzy nada")
    assert next_answer(fourth) == search_none("busca", "xyzzy nada")
    fourth.say("/buscar rojo")
    wait = sync(fourth, "busca3")
    assert len(wait) == 1 and SEARCH_WAIT.match(wait[0]), wait
    # Neither index's query syntax gets through: every word is a word.
    fifth.say("/buscar 100%")
    assert take(fifth, 2) == [search_header(1, "busca", "100%"), lines["100% seguro"]]
    sixth.say("/buscar *not* AND (or) x' OR '1'='1")
    assert next_answer(sixth) == search_none("busca", "*not* AND (or) x' OR '1'='1")
    for k, peer in enumerate(searchers):
        assert sync(peer, f"busca{k}") == []
    for peer in (sofia, *searchers):
        peer.close()


# -- recados ---------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_recados_stored_once_delivered_once(chat: Chat, transport: str) -> None:
    """A recado is stored once; its recipient gets it at its next password login, after the
    welcome and the replay, and nobody else ever sees it; it is deleted once the recipient
    sends a line, its sender is told, and the next login does not get it again. A private
    message to a registered nickname that is not connected names ``/recado``."""
    pepe, luz, mirona = f"pepe{transport}", f"luz{transport}", f"mirona{transport}"
    db = chat.backend
    register(chat.server, pepe, PASSWORD)
    register(chat.server, luz, PASSWORD)
    sender = chat.enter(pepe, PASSWORD)
    other = chat.enter(mirona)

    other.say(f"/recado {luz} hola")
    assert sync(other, mirona) == [RECADO_PASSWORD]
    sender.say(f"#{luz} hola")
    sender.say(f"#nadie{transport} hola")
    sender.say(f"/recado {mirona} hola")
    assert sync(sender, pepe) == [
        private_offline_memo(luz),
        private_offline(f"nadie{transport}"),
        recado_unregistered(mirona),
    ]
    for text in ("primero", "segundo"):
        sender.say(f"/recado {luz} {text} {transport}")
        assert next_answer(sender) == recado_stored(luz)
    rows = db.query(
        "SELECT sender, text, sent_at FROM recados WHERE recipient_key = ? ORDER BY sent_at, n",
        (luz,),
    )
    assert [(r[0], r[1]) for r in rows] == [
        (pepe, f"primero {transport}"),
        (pepe, f"segundo {transport}"),
    ]
    memos = [recado(int(r[2]), pepe, str(r[1])) for r in rows]

    reader = connect(chat.server, transport)
    lines = log_in(reader, luz, PASSWORD, until=lambda ls: len(recado_lines(ls)) == 2)
    assert lines[-3:] == [recados_header(2), *memos]
    assert all(STORED.match(line) and STORED.match(line).group(2) for line in lines[:-3])  # type: ignore[union-attr]
    assert db.count("SELECT COUNT(*) FROM recados WHERE recipient_key = ?", (luz,)) == 2
    assert sync(reader, luz) == []  # a line: they are read
    wait_for(
        lambda: db.count("SELECT COUNT(*) FROM recados WHERE recipient_key = ?", (luz,)) == 0,
        "the recados to be deleted",
    )
    assert [next_answer(sender), next_answer(sender)] == [recado_read(luz)] * 2
    assert sync(sender, pepe) == []
    assert not any("primero" in line for line in sync(other, mirona))
    reader.close()

    again = connect(chat.server, transport)
    log_in(again, luz, PASSWORD)
    assert not any(line.startswith("* Tienes ") for line in sync(again, luz))

    # Connected: delivered at once, never stored.
    sender.say(f"/recado {luz} ahora {transport}")
    assert next_answer(sender) == recado_delivered(luz)
    (line,) = recado_lines(sync(again, luz))
    match = STORED.match(line)
    assert match is not None and match.group(3, 4) == (pepe, f"ahora {transport}")
    assert db.count("SELECT COUNT(*) FROM recados WHERE recipient_key = ?", (luz,)) == 0
    for peer in (again, sender, other):
        peer.close()


def test_recados_dropped_before_read_come_again_read_after_10s_and_limits(chat: Chat) -> None:
    """A connection that drops before it reads its recados (no line, less than 10 s) gets them
    again at the next login; one that stays quiet for 10 s has read them. Meanwhile, the
    limits: 10 pending from one sender to one recipient, 100 for one recipient."""
    db = chat.backend
    for nick in ("pepeD", "luzD", "llenoD", "otraD"):
        register(chat.server, nick, PASSWORD)
    sender = chat.enter("pepeD", PASSWORD)
    sender.say("/recado luzD tres")
    assert next_answer(sender) == recado_stored("luzD")
    (row,) = db.query("SELECT sent_at FROM recados WHERE recipient_key = 'luzd'")
    memo = recado(int(row[0]), "pepeD", "tres")

    dropped = tcp(chat.server)
    lines = log_in(dropped, "luzD", PASSWORD, until=lambda ls: len(recado_lines(ls)) == 1)
    assert lines[-2:] == [recados_header(1), memo]
    dropped.close()  # within the 10 s, without a line
    wait_line(sender, "* luzD ha salido del chat.")
    time.sleep(0.3)
    assert db.count("SELECT COUNT(*) FROM recados WHERE recipient_key = 'luzd'") == 1

    quiet = tcp(chat.server)
    lines = log_in(quiet, "luzD", PASSWORD, until=lambda ls: len(recado_lines(ls)) == 1)
    shown_at = time.monotonic()
    assert lines[-2:] == [recados_header(1), memo]

    # The limits, while luzD stays quiet.
    db.seed_recados(
        [(f"fan-{i}", f"fan{i}", "llenod", f"hola {i}", chat.seeded_at + i) for i in range(90)]
    )
    for i in range(10):
        sender.say(f"/recado llenoD {i}")
        assert next_answer(sender) == recado_stored("llenoD")
    sender.say("/recado llenoD once")
    assert next_answer(sender) == recado_sender_limit("llenoD")
    third = chat.enter("otraD", PASSWORD)
    third.say("/recado llenoD otra")
    assert next_answer(third) == recado_recipient_limit("llenoD")
    assert db.count("SELECT COUNT(*) FROM recados WHERE recipient_key = 'llenod'") == 100
    assert (
        db.count(
            "SELECT COUNT(*) FROM recados WHERE sender_key = 'peped' AND recipient_key = 'llenod'"
        )
        == 10
    )

    time.sleep(max(0.0, shown_at + 8.5 - time.monotonic()))
    assert db.count("SELECT COUNT(*) FROM recados WHERE recipient_key = 'luzd'") == 1
    wait_for(
        lambda: db.count("SELECT COUNT(*) FROM recados WHERE recipient_key = 'luzd'") == 0,
        "the recado to be read after 10 s",
        timeout=6.0,
    )
    assert time.monotonic() - shown_at >= 9.5
    assert next_answer(sender) == recado_read("luzD")
    for peer in (quiet, sender, third):
        peer.close()


# -- /olvidar and what nobody may do ---------------------------------------------------------


def test_olvidar_erases_only_ones_own(chat: Chat) -> None:
    """``/olvidar`` then ``/olvidar confirmar`` erases every stored message and pending recado
    its user sent and says how many; another user's rows stay. Nobody can erase someone
    else's (``/olvidar NICK`` is a usage error, without a password it is refused) or read
    someone else's recados (a registered nickname needs its password; recados are not
    history)."""
    db = chat.backend
    for nick in ("olga", "hugo", "ausente"):
        register(chat.server, nick, PASSWORD)
    olga = chat.enter("olga", PASSWORD)
    hugo = chat.enter("hugo", PASSWORD)
    intruso = chat.enter("intruso")
    for i in range(2):
        olga.say(f"/recado ausente secreto de olga {i}")
        assert next_answer(olga) == recado_stored("ausente")
    hugo.say("/recado ausente secreto de hugo")
    assert next_answer(hugo) == recado_stored("ausente")
    for i in range(3):
        olga.say(f"de olga {i}")
    for i in range(2):
        hugo.say(f"de hugo {i}")
    sync(hugo, "hugo")  # hugo's lines are processed, so olga was sent them before her reply
    sync(olga, "olga")
    sync(intruso, "intruso")
    chat.lines_of("general", [f"de olga {i}" for i in range(3)] + ["de hugo 0", "de hugo 1"])

    def counts() -> tuple[int, int, int, int]:
        return (
            db.count("SELECT COUNT(*) FROM mensajes"),
            db.count("SELECT COUNT(*) FROM mensajes WHERE nick_key = 'olga'"),
            db.count("SELECT COUNT(*) FROM recados"),
            db.count("SELECT COUNT(*) FROM recados WHERE sender_key = 'olga'"),
        )

    before = counts()
    assert before[1:4:2] == (3, 2)
    intruso.say("/olvidar")
    intruso.say("/olvidar confirmar")
    assert sync(intruso, "intruso") == [FORGET_PASSWORD, FORGET_PASSWORD]
    intruso.say("/buscar secreto")  # recados are not history
    assert next_answer(intruso) == search_none("general", "secreto")
    impostor = tcp(chat.server)
    assert impostor.line() == PROMPT
    impostor.say("ausente")
    assert impostor.line() == password_needed("ausente")
    impostor.say("ausente otra-clave")
    assert impostor.line() == LOGIN_REFUSED
    impostor.close()
    olga.say("/olvidar hugo")
    olga.say("/olvidar confirmar hugo")
    assert sync(olga, "olga") == [FORGET_USAGE, FORGET_USAGE]
    assert counts() == before

    olga.say("/olvidar")
    assert sync(olga, "olga") == [FORGET_ASK]
    olga.say("/olvidar confirmar")
    assert next_answer(olga) == forget_done(3, 2)
    assert counts() == (before[0] - 3, 0, before[2] - 2, 0)
    assert db.count("SELECT COUNT(*) FROM mensajes WHERE nick_key = 'hugo'") == 2
    assert [r[0] for r in db.query("SELECT text FROM recados WHERE recipient_key = 'ausente'")] == [
        "secreto de hugo"
    ]
    intruso.say("/historial 500")
    page = sync(intruso, "intruso")
    assert not any("de olga" in line for line in page)
    assert sum("> de hugo" in line for line in page) == 2
    for peer in (olga, hugo, intruso):
        peer.close()
