"""Unit tests of the rooms' history (protocol v1.1; docs/PROTOCOL.md, "Version 1.1: history and
recados"): the chat core's side, :mod:`twisted_chat.history`, over in-memory storages.

:class:`RoomBuffer` alone (adding in and out of order, filling, exact pages, the complete flag,
dropping) and the cursors; then a whole chat core (:class:`tests.support.history.HistoryChat`:
assembled as a server assembles it, with ``FakeSession`` objects and a ``Clock``) for the
retention line, the replay after a login and after ``/unirse``, "since you left", ``/historial``,
``/buscar``, ``/olvidar``, the order of the lines at login, and the wire form of stored lines.
Expected lines are written out literally: they are the contract.
"""

from __future__ import annotations

import re
from typing import Any

from twisted.internet.defer import succeed
from twisted.trial.unittest import SynchronousTestCase

from tests.support.fakes import EPOCH
from tests.support.history import HistoryChat, RecordingLogins, lines
from twisted_chat.events import EventSource
from twisted_chat.history import (
    ANSWER_WAIT,
    MAX_MISSED,
    UNSURE_AFTER_LISTENING,
    BadCursor,
    HistoryPlan,
    RoomBuffer,
    StoredMessage,
    make_cursor,
    parse_cursor,
)
from twisted_chat.text import ENGLISH, SPANISH, Language
from twisted_chat.wire import LineRenderer, replayed, stamp

#: EPOCH in milliseconds.
T0 = int(EPOCH.timestamp() * 1000)

RETENTION = "* Los mensajes públicos se guardan 30 días; /olvidar borra los tuyos."
HISTORY_OFF = "* Los mensajes públicos no se guardan."
USAGE = "! Uso: /historial [N] [antes CURSOR], N de 1 a 500."
DISABLED = "! La historia está desactivada en este servidor."
UNAVAILABLE = (
    "! La historia no está disponible ahora (la base de datos no responde); inténtalo más tarde."
)
SEARCH_SHORT = "! La búsqueda necesita al menos 3 caracteres: /buscar TEXTO"
FORGET_ASK = (
    "* Esto borrará todos tus mensajes guardados y tus recados pendientes. Para confirmarlo: "
    "/olvidar confirmar"
)
FORGET_PASSWORD = "! Solo quien entra con contraseña puede usar /olvidar."
FORGET_USAGE = "! Uso: /olvidar, y después /olvidar confirmar"
FORGET_UNAVAILABLE = "! No se pudo borrar: la base de datos no responde; inténtalo más tarde."


def message(n: int, sender: str = "ana", text: str | None = None) -> StoredMessage:
    """The n-th message of a test: said n seconds after EPOCH, id ``m`` and n on 4 digits."""
    return StoredMessage(f"m{n:04d}", T0 + n * 1000, sender, text or f"hola {n}")


def at(seconds: float) -> str:
    """The time stamp of a stored line said ``seconds`` after EPOCH."""
    return stamp(T0 + int(seconds * 1000))


def stored(seconds: float, sender: str, text: str) -> str:
    """A stored public line said ``seconds`` after EPOCH."""
    return f"* [{at(seconds)}] <{sender}> {text}"


def welcome(nick: str) -> str:
    """The welcome line of ``nick``."""
    return f"* Bienvenido, {nick}. Escribe /ayuda para ver los comandos."


class CursorTests(SynchronousTestCase):
    """The opaque cursor over (time, id)."""

    def test_round_trip(self) -> None:
        cursor = make_cursor(T0, "1k95m09l1i22rei1n0x1f")
        self.assertRegex(cursor, r"^[A-Za-z0-9_-]+$")
        self.assertEqual(parse_cursor(cursor), (T0, "1k95m09l1i22rei1n0x1f"))

    def test_not_cursors(self) -> None:
        for word in ["zzz!", "", "abc", "MTIz", make_cursor(T0, "x")[:-3] + "!!!"]:
            self.assertRaises(BadCursor, parse_cursor, word)

    def test_a_cursor_without_an_id_or_with_a_bad_time(self) -> None:
        import base64

        for raw in [b"123:", b"12a:x", b":x"]:
            word = base64.urlsafe_b64encode(raw).decode().rstrip("=")
            self.assertRaises(BadCursor, parse_cursor, word)


class RoomBufferTests(SynchronousTestCase):
    """:class:`RoomBuffer`: the last messages of one room in memory."""

    def ids(self, buffer: RoomBuffer) -> list[str]:
        return [m.id for m in buffer.messages]

    def test_add_in_order(self) -> None:
        buffer = RoomBuffer(5)
        for n in range(1, 4):
            buffer.add(message(n))
        self.assertEqual(self.ids(buffer), ["m0001", "m0002", "m0003"])

    def test_add_out_of_order_goes_in_its_place(self) -> None:
        buffer = RoomBuffer(5)
        for n in (1, 3, 4):
            buffer.add(message(n))
        buffer.add(message(2))  # from another node, a little late
        self.assertEqual(self.ids(buffer), ["m0001", "m0002", "m0003", "m0004"])

    def test_same_time_ordered_by_id(self) -> None:
        buffer = RoomBuffer(5)
        buffer.add(StoredMessage("b", T0, "ana", "x"))
        buffer.add(StoredMessage("a", T0, "ana", "y"))
        self.assertEqual(self.ids(buffer), ["a", "b"])

    def test_full_drops_the_oldest_and_is_no_longer_complete(self) -> None:
        buffer = RoomBuffer(3)
        buffer.fill([], True)
        self.assertTrue(buffer.complete)
        for n in range(1, 4):
            buffer.add(message(n))
        self.assertTrue(buffer.complete)  # 3 of 3: still everything
        buffer.add(message(4))
        self.assertFalse(buffer.complete)
        self.assertEqual(self.ids(buffer), ["m0002", "m0003", "m0004"])

    def test_fill_merges_what_was_said_meanwhile(self) -> None:
        buffer = RoomBuffer(10)
        buffer.add(message(5))
        buffer.add(message(3))  # also in the storage
        buffer.fill([message(1), message(2), message(3)], True)
        self.assertEqual(self.ids(buffer), ["m0001", "m0002", "m0003", "m0005"])
        self.assertTrue(buffer.loaded)
        self.assertTrue(buffer.complete)

    def test_fill_of_a_partial_page_is_not_complete(self) -> None:
        buffer = RoomBuffer(10)
        buffer.fill([message(1), message(2)], False)
        self.assertTrue(buffer.loaded)
        self.assertFalse(buffer.complete)

    def test_fill_beyond_the_size_keeps_the_newest_and_is_not_complete(self) -> None:
        buffer = RoomBuffer(3)
        buffer.add(message(4))
        buffer.fill([message(1), message(2), message(3)], True)
        self.assertEqual(self.ids(buffer), ["m0002", "m0003", "m0004"])
        self.assertFalse(buffer.complete)

    def test_page_of_a_buffer_not_loaded_is_unknown(self) -> None:
        buffer = RoomBuffer(10)
        buffer.add(message(1))
        self.assertIsNone(buffer.page(5, None))

    def test_page_exact(self) -> None:
        buffer = RoomBuffer(10)
        buffer.fill([message(n) for n in range(1, 8)], False)
        page = buffer.page(3, None)
        assert page is not None
        self.assertEqual([m.id for m in page.messages], ["m0005", "m0006", "m0007"])
        self.assertEqual(page.before, make_cursor(T0 + 5000, "m0005"))
        assert page.before is not None
        older = buffer.page(3, parse_cursor(page.before))
        assert older is not None
        self.assertEqual([m.id for m in older.messages], ["m0002", "m0003", "m0004"])
        self.assertEqual(older.before, make_cursor(T0 + 2000, "m0002"))

    def test_page_reaching_the_start_of_a_complete_buffer(self) -> None:
        buffer = RoomBuffer(10)
        buffer.fill([message(n) for n in range(1, 5)], True)
        page = buffer.page(3, parse_cursor(make_cursor(T0 + 4000, "m0004")))
        assert page is not None
        self.assertEqual([m.id for m in page.messages], ["m0001", "m0002", "m0003"])
        self.assertIsNone(page.before)  # nothing older exists
        whole = buffer.page(50, None)
        assert whole is not None
        self.assertEqual(len(whole.messages), 4)
        self.assertIsNone(whole.before)

    def test_page_reaching_the_start_of_an_incomplete_buffer_is_unknown(self) -> None:
        buffer = RoomBuffer(10)
        buffer.fill([message(n) for n in range(1, 5)], False)
        self.assertIsNone(buffer.page(4, None))  # older ones may exist: read the storage
        self.assertIsNotNone(buffer.page(3, None))

    def test_drop(self) -> None:
        buffer = RoomBuffer(10)
        buffer.fill([message(1, "ana"), message(2, "bob"), message(3, "ana")], True)
        buffer.drop(lambda m: m.sender != "ana")
        self.assertEqual(self.ids(buffer), ["m0002"])
        self.assertTrue(buffer.complete)


class HistoryTestCase(SynchronousTestCase):
    """Base: a :class:`HistoryChat` made by :meth:`make` (``days``, ``plan``)."""

    days = 30
    plan: HistoryPlan | None = None

    def setUp(self) -> None:
        self.make()

    def make(self, **kwargs: Any) -> None:
        """A new chat (``HistoryChat`` arguments over this class's)."""
        kwargs.setdefault("days", self.days)
        kwargs.setdefault("plan", self.plan)
        self.chat = HistoryChat(**kwargs)
        self.storage = self.chat.storage

    def elapsed(self) -> float:
        """Seconds since EPOCH on the chat's clock."""
        return self.chat.clock.seconds() - EPOCH.timestamp()

    def said(self, count: int, sender: str = "carol", first: int = 1) -> list[str]:
        """``count`` messages from a new session of ``sender`` (``hola N`` from ``first``), one
        a second, written; the stored lines they make. The session stays connected (and is
        used again by the next call); what the others got meanwhile is dropped."""
        session: Any = self.chat.room.member(sender) or self.chat.login(sender)
        start = self.elapsed()
        self.chat.talk(session, *(f"hola {first + i}" for i in range(count)))
        return [stored(start + i + 1, sender, f"hola {first + i}") for i in range(count)]


class RetentionLineTests(HistoryTestCase):
    """The welcome's second line: how long public messages are kept."""

    def test_kept(self) -> None:
        ana = self.chat.login("ana")
        self.assertEqual(lines(ana), [welcome("ana"), RETENTION])

    def test_days(self) -> None:
        self.make(days=7)
        ana = self.chat.login("ana")
        self.assertEqual(
            lines(ana)[1], "* Los mensajes públicos se guardan 7 días; /olvidar borra los tuyos."
        )

    def test_history_off(self) -> None:
        self.make(days=0)
        ana = self.chat.login("ana")
        self.assertEqual(lines(ana), [welcome("ana"), HISTORY_OFF])

    def test_english(self) -> None:
        self.make(texts=ENGLISH)
        ana = self.chat.login("ana")
        self.assertEqual(
            lines(ana),
            [
                "* Welcome, ana. Type /help for the list of commands.",
                "* Public messages are kept for 30 days; /forget erases yours.",
            ],
        )


class ReplayTests(HistoryTestCase):
    """The replay after a login: the last ``--history-replay`` messages of the last
    ``--history-replay-hours``, oldest first, as stored lines."""

    def test_last_20(self) -> None:
        said = self.said(25)
        bob = self.chat.login("bob", password=True)  # no departure known: the replay
        self.assertEqual(lines(bob), [welcome("bob"), RETENTION, *said[-20:]])

    def test_count(self) -> None:
        self.make(plan=HistoryPlan(replay=3))
        said = self.said(5)
        dave = self.chat.login("Dave")
        self.assertEqual(lines(dave), [welcome("Dave"), RETENTION, *said[-3:]])

    def test_none(self) -> None:
        self.make(plan=HistoryPlan(replay=0))
        self.said(5)
        ana = self.chat.login("ana", password=True)
        self.assertEqual(lines(ana), [welcome("ana"), RETENTION])

    def test_hours(self) -> None:
        self.make(plan=HistoryPlan(replay=20, replay_hours=1))
        old = self.said(2)
        self.chat.clock.advance(3600)  # the first is now 1 h + 1 s old, the second 1 h
        bob = self.chat.login("bob", password=True)
        self.assertEqual(lines(bob), [welcome("bob"), RETENTION, old[1]])

    def test_own_messages_and_other_rooms(self) -> None:
        ana = self.chat.login("ana", password=True)
        self.chat.talk(ana, "en general")
        self.chat.say(ana, "/unirse juegos")
        self.chat.talk(ana, "en juegos")
        lines(ana)
        carol = self.chat.login("carol")
        self.assertEqual(
            lines(carol), [welcome("carol"), RETENTION, stored(1, "ana", "en general")]
        )

    def test_what_retention_expired_is_not_read_in(self) -> None:
        # The purge at start-up may not have deleted them yet: the room's memory leaves out
        # what is past --history-days all the same.
        self.make(days=1)
        self.storage.add("general", "old1", T0 - 2 * 86_400_000, "ana", "de anteayer")
        self.storage.add("general", "new1", T0 - 60_000, "ana", "de hace un rato")
        carol = self.chat.login("carol")
        lines(carol)
        self.assertEqual(
            self.chat.say(carol, "/historial"),
            ["* Últimos 1 mensajes de general:", stored(-60, "ana", "de hace un rato")],
        )

    def test_stored_before_start_is_read_once(self) -> None:
        self.storage.add("general", "old1", T0 - 60_000, "ana", "de ayer")
        carol = self.chat.login("carol")
        self.assertEqual(lines(carol)[2:], [stored(-60, "ana", "de ayer")])
        dave = self.chat.login("dave", password=True)
        self.assertEqual(lines(dave)[2:], [stored(-60, "ana", "de ayer")])
        self.assertEqual(len(self.storage.called("page")), 1)

    def test_unwritten_messages_are_replayed(self) -> None:
        ana = self.chat.login("ana", password=True)
        self.chat.clock.advance(1)
        self.chat.say(ana, "todavía en la cola")
        self.assertEqual(len(self.storage.queued), 1)
        carol = self.chat.login("carol")
        self.assertEqual(lines(carol)[2:], [stored(1, "ana", "todavía en la cola")])

    def test_storage_down_replays_what_was_said_since_start(self) -> None:
        self.storage.add("general", "old1", T0 - 60_000, "ana", "de ayer")
        self.storage.failing = True
        said = self.said(2)
        dave = self.chat.login("dave", password=True)
        self.assertEqual(lines(dave), [welcome("dave"), RETENTION, *said])  # no error line
        calls = len(self.storage.called("page"))
        self.chat.login("bob", password=True)
        self.assertEqual(len(self.storage.called("page")), calls)  # not again within 5 s
        self.storage.failing = False
        self.chat.clock.advance(5)
        ana = self.chat.login("ana", password=True)
        self.assertEqual(lines(ana)[2:], [stored(-60, "ana", "de ayer"), *said])

    def test_history_off_replays_nothing(self) -> None:
        self.make(days=0)
        self.said(3)
        self.assertEqual((self.storage.queued, self.storage.rows), ([], []))
        ana = self.chat.login("ana", password=True)
        self.assertEqual(lines(ana), [welcome("ana"), HISTORY_OFF])


class JoinReplayTests(HistoryTestCase):
    """``/unirse``: after the room line (and the topic line), the replay of that room."""

    def test_replay_after_the_room_line(self) -> None:
        ana = self.chat.login("ana", password=True)
        self.chat.say(ana, "/unirse juegos")
        self.chat.talk(ana, "uno", "dos")
        self.chat.say(ana, "/tema torneo")
        carol = self.chat.login("carol")
        lines(carol)
        self.assertEqual(
            self.chat.say(carol, "/unirse juegos"),
            [
                "* Sala juegos (2): @ana, carol",
                "* Tema: torneo",
                stored(1, "ana", "uno"),
                stored(2, "ana", "dos"),
            ],
        )

    def test_the_room_you_are_in_shows_no_replay(self) -> None:
        self.said(2)
        bob = self.chat.login("bob", password=True)
        lines(bob)
        self.assertEqual(self.chat.say(bob, "/unirse general"), ["* Sala general (2): bob, carol"])

    def test_back_to_a_room(self) -> None:
        said = self.said(2)
        bob = self.chat.login("bob", password=True)
        self.chat.say(bob, "/unirse juegos")
        self.assertEqual(
            self.chat.say(bob, "/unirse general"), ["* Sala general (2): bob, carol", *said]
        )


class SinceYouLeftTests(HistoryTestCase):
    """A user logged in with its password whose departure is known: what was said in its room
    since it left, at most 100, and the command for the rest."""

    def leave_at(self, nickname: str) -> int:
        """``nickname`` logs in with its password and leaves; when (ms)."""
        session = self.chat.login(nickname, password=True)
        self.chat.leave(session)
        return self.chat.now_ms()

    def test_first_password_login_gets_the_replay(self) -> None:
        said = self.said(3)
        bob = self.chat.login("bob", password=True)
        self.assertEqual(lines(bob)[2:], said)
        assert self.chat.departures is not None
        self.assertEqual(self.chat.departures.called("last_departure"), [("last_departure", "bob")])

    def test_departure_recorded_for_a_password_login_only(self) -> None:
        departures = self.chat.departures
        assert departures is not None
        left = self.leave_at("bob")
        carol = self.chat.login("carol")
        self.chat.leave(carol)
        self.assertEqual(departures.left, {"bob": left})

    def test_since_from_the_buffer(self) -> None:
        before = self.said(3)
        self.leave_at("bob")
        after = self.said(2, first=4)
        bob = self.chat.login("bob", password=True)
        self.assertEqual(lines(bob), [welcome("bob"), RETENTION, *after])
        self.assertNotIn(before[-1], after)
        self.assertEqual(self.storage.called("since"), [])

    def test_nothing_said_since(self) -> None:
        self.said(3)
        self.leave_at("bob")
        bob = self.chat.login("bob", password=True)
        self.assertEqual(lines(bob), [welcome("bob"), RETENTION])

    def test_more_than_100_from_the_buffer(self) -> None:
        self.make(plan=HistoryPlan(buffer=300))
        self.said(5)
        self.leave_at("bob")
        after = self.said(130, first=6)
        bob = self.chat.login("bob", password=True)
        got = lines(bob)
        self.assertEqual(self.storage.called("since"), [])
        first = self.storage.room("general")[-MAX_MISSED]  # the first shown
        cursor = make_cursor(first.time, first.id)
        self.assertEqual(
            got,
            [
                welcome("bob"),
                RETENTION,
                *after[-MAX_MISSED:],
                f"* Hay 30 mensajes más desde que te fuiste: /historial 50 antes {cursor}",
            ],
        )
        # the hint's command shows the ones before
        older = self.chat.say(bob, f"/historial 50 antes {cursor}")
        self.assertEqual(older[0], "* Últimos 35 mensajes de general:")  # 5 before bob left
        self.assertEqual(older[-30:], after[:30])

    def test_more_than_100_from_the_storage(self) -> None:
        self.said(5)
        self.leave_at("bob")
        after = self.said(130, first=6)
        bob = self.chat.login("bob", password=True)
        got = lines(bob)
        self.assertEqual(len(self.storage.called("since")), 1)
        first = self.storage.room("general")[-MAX_MISSED]
        self.assertEqual(
            got,
            [
                welcome("bob"),
                RETENTION,
                *after[-MAX_MISSED:],
                "* Hay 30 mensajes más desde que te fuiste: /historial 50 antes "
                + make_cursor(first.time, first.id),
            ],
        )

    def test_messages_not_written_yet_are_merged(self) -> None:
        self.leave_at("bob")
        after = self.said(110)
        carol = self.chat.room.member("carol")
        assert carol is not None
        for text in ("sin escribir 1", "sin escribir 2"):
            self.chat.clock.advance(1)
            self.chat.core.line_received(carol, text)  # type: ignore[arg-type]
        self.assertEqual(len(self.storage.queued), 2)
        bob = self.chat.login("bob", password=True)
        got = lines(bob)
        self.assertEqual(len(self.storage.called("since")), 1)
        unwritten = [
            stored(self.elapsed() - 1, "carol", "sin escribir 1"),
            stored(self.elapsed(), "carol", "sin escribir 2"),
        ]
        self.assertEqual(got[2:-1], [*after[-98:], *unwritten])
        self.assertTrue(got[-1].startswith("* Hay 12 mensajes más desde que te fuiste: "))

    def test_said_while_the_departure_is_read_comes_live_only(self) -> None:
        self.leave_at("bob")
        after = self.said(3)
        departures = self.chat.departures
        assert departures is not None
        departures.holding = True
        bob = self.chat.login("bob", password=True)
        carol: Any = self.chat.room.member("carol")
        self.chat.clock.advance(1)
        self.chat.core.line_received(carol, "mientras")
        departures.holding = False
        departures.release()
        self.assertEqual(lines(bob), [welcome("bob"), RETENTION, "<carol> mientras", *after])

    def test_said_while_the_storage_is_read_comes_live_only(self) -> None:
        self.leave_at("bob")
        after = self.said(110)
        self.storage.holding = True
        bob = self.chat.login("bob", password=True)
        carol: Any = self.chat.room.member("carol")
        for text in ("mientras 1", "mientras 2"):
            self.chat.clock.advance(1)
            self.chat.core.line_received(carol, text)
        self.storage.write()  # stored before the read answers: it finds them
        self.storage.holding = False
        self.storage.release()
        got = lines(bob)
        self.assertEqual(got[2:4], ["<carol> mientras 1", "<carol> mientras 2"])
        self.assertEqual(got[4:-1], after[-98:])
        self.assertTrue(got[-1].startswith("* Hay 12 mensajes más desde que te fuiste: "))

    def test_more_than_a_page_said_while_the_storage_is_read(self) -> None:
        # Every message the storage read is one said during the login: none is shown as
        # missed (all came live), and the hint's command starts before the login.
        self.leave_at("bob")
        after = self.said(110)
        self.storage.holding = True
        bob = self.chat.login("bob", password=True)
        carol: Any = self.chat.room.member("carol")
        for i in range(120):
            self.chat.clock.advance(1)
            self.chat.core.line_received(carol, f"mientras {i}")
        self.storage.write()
        self.storage.holding = False
        self.storage.release()
        got = lines(bob)
        self.assertEqual(got[2:-1], [f"<carol> mientras {i}" for i in range(120)])
        # (Its count includes the messages of the login that the page read could not hold:
        # the storage counts all since the departure. Its cursor is exact.)
        hint = re.fullmatch(
            r"\* Hay \d+ mensajes más desde que te fuiste: (/historial 50 antes \S+)", got[-1]
        )
        assert hint is not None
        older = self.chat.say(bob, hint.group(1))
        self.assertEqual(older[:51], ["* Últimos 50 mensajes de general:", *after[-50:]])

    def test_buffer_not_loaded_and_nothing_since(self) -> None:
        # The room's buffer could not be read (the database failed a moment ago): it holds
        # only what was said since start-up, which is older than the departure.
        self.storage.failing = True
        self.said(2)
        self.storage.failing = False
        self.leave_at("bob")
        bob = self.chat.login("bob", password=True)
        self.assertEqual(len(self.storage.called("since")), 1)
        self.assertEqual(lines(bob), [welcome("bob"), RETENTION])

    def test_departure_not_readable_gives_the_replay(self) -> None:
        said = self.said(3)
        self.leave_at("bob")
        more = self.said(1, first=4)
        assert self.chat.departures is not None
        self.chat.departures.failing = True
        bob = self.chat.login("bob", password=True)
        self.assertEqual(lines(bob)[2:], [*said, *more])

    def test_storage_failing_gives_the_replay(self) -> None:
        self.leave_at("bob")
        said = self.said(110)  # more than the buffer: "since" must read the storage
        self.storage.failing = True
        bob = self.chat.login("bob", password=True)
        self.assertEqual(lines(bob), [welcome("bob"), RETENTION, *said[-20:]])


class HistorialTests(HistoryTestCase):
    """``/historial [N] [antes CURSOR]`` (``/history [N] [before CURSOR]``)."""

    def setUp(self) -> None:
        super().setUp()
        self.ana = self.chat.login("ana", password=True)
        lines(self.ana)

    def ask(self, line: str) -> list[str]:
        return self.chat.say(self.ana, line)

    def test_default_50(self) -> None:
        said = self.said(60)
        got = self.ask("/historial")
        self.assertEqual(got[0], "* Últimos 50 mensajes de general:")
        self.assertEqual(got[1:51], said[-50:])
        first = self.storage.room("general")[-50]
        self.assertEqual(
            got[51],
            f"* Mensajes anteriores: /historial 50 antes {make_cursor(first.time, first.id)}",
        )
        self.assertEqual(len(got), 52)

    def test_n_and_the_pages_before(self) -> None:
        said = self.said(7)
        got = self.ask("/historial 3")
        self.assertEqual(got[:4], ["* Últimos 3 mensajes de general:", *said[-3:]])
        cursor = got[4].rsplit(" ", 1)[1]
        self.assertEqual(got[4], f"* Mensajes anteriores: /historial 3 antes {cursor}")
        got = self.ask(f"/historial 3 antes {cursor}")
        self.assertEqual(got[:4], ["* Últimos 3 mensajes de general:", *said[1:4]])
        cursor = got[4].rsplit(" ", 1)[1]
        got = self.ask(f"/HISTORY 3 BEFORE {cursor}")
        self.assertEqual(got, ["* Últimos 1 mensajes de general:", said[0]])  # no more line
        self.assertEqual(self.storage.called("page"), [("page", "general", 100, None)])

    def test_all_of_a_short_history_has_no_more_line(self) -> None:
        said = self.said(3)
        self.assertEqual(self.ask("/historial 3"), ["* Últimos 3 mensajes de general:", *said])

    def test_antes_without_n(self) -> None:
        said = self.said(60)
        first = self.storage.room("general")[-1]
        got = self.ask(f"/historial antes {make_cursor(first.time, first.id)}")
        self.assertEqual(got[0], "* Últimos 50 mensajes de general:")
        self.assertEqual(got[1:51], said[-51:-1])

    def test_bounds_and_syntax(self) -> None:
        self.said(3)
        for args in [
            "0",
            "501",
            "x",
            "-1",
            "5 antes",
            "antes",
            "5 antes a b",
            "5 6",
            "5 después x",
        ]:
            self.assertEqual(self.ask(f"/historial {args}"), [USAGE], args)
        self.assertEqual(self.ask("/historial \uff15"), [USAGE])  # ASCII digits only
        self.assertEqual(self.ask("/historial 500")[0], "* Últimos 3 mensajes de general:")
        self.assertEqual(self.ask("/historial 1")[0], "* Últimos 1 mensajes de general:")

    def test_bad_cursor(self) -> None:
        self.said(3)
        self.assertEqual(self.ask("/historial 3 antes zzz!"), ["! Cursor desconocido: zzz!"])
        self.assertEqual(self.ask("/historial antes MTIz"), ["! Cursor desconocido: MTIz"])

    def test_empty(self) -> None:
        self.assertEqual(self.ask("/historial"), ["* No hay mensajes guardados en general."])
        self.chat.say(self.ana, "/unirse Juegos")
        self.assertEqual(self.ask("/historial"), ["* No hay mensajes guardados en Juegos."])

    def test_nothing_before_the_first(self) -> None:
        self.said(2)
        first = self.storage.room("general")[0]
        cursor = make_cursor(first.time, first.id)
        self.assertEqual(
            self.ask(f"/historial antes {cursor}"), ["* No hay mensajes guardados en general."]
        )

    def test_deep_pages_read_the_storage(self) -> None:
        said = self.said(150)
        got = self.ask("/historial 100")
        self.assertEqual(got[1:101], said[-100:])
        cursor = got[101].rsplit(" ", 1)[1]
        got = self.ask(f"/historial 100 antes {cursor}")
        self.assertEqual(got, ["* Últimos 50 mensajes de general:", *said[:50]])
        self.assertEqual(self.storage.called("page")[-1], ("page", "general", 100, cursor))

    def test_newest_page_from_storage_with_unwritten_messages(self) -> None:
        said = self.said(150)
        carol = self.chat.room.member("carol")
        self.chat.clock.advance(1)
        self.chat.core.line_received(carol, "sin escribir")  # type: ignore[arg-type]
        self.chat.drain()
        got = self.ask("/historial 120")  # more than the buffer holds: the storage
        self.assertEqual(self.storage.called("page")[-1], ("page", "general", 120, None))
        self.assertEqual(got[0], "* Últimos 120 mensajes de general:")
        self.assertEqual(
            got[1:121], [*said[-119:], stored(self.elapsed(), "carol", "sin escribir")]
        )
        self.assertTrue(got[121].startswith("* Mensajes anteriores: /historial 120 antes "))

    def test_history_off(self) -> None:
        self.make(days=0)
        ana = self.chat.login("ana")
        lines(ana)
        self.assertEqual(self.chat.say(ana, "/historial"), [DISABLED])
        self.assertEqual(self.chat.say(ana, "/historial 0"), [DISABLED])

    def test_storage_down_one_error_line(self) -> None:
        self.storage.failing = True
        self.make(days=30)  # a chat whose buffers never loaded
        self.storage.failing = True
        ana = self.chat.login("ana")
        lines(ana)
        self.assertEqual(self.chat.say(ana, "/historial"), [UNAVAILABLE])
        self.chat.clock.advance(10)
        self.assertEqual(self.chat.say(ana, "/historial 5"), [UNAVAILABLE])

    def test_storage_down_for_a_deep_page(self) -> None:
        self.said(150)
        got = self.ask("/historial 100")
        cursor = got[101].rsplit(" ", 1)[1]
        self.storage.failing = True
        self.assertEqual(self.ask("/historial 20"), self.ask("/historial 20"))  # from memory
        self.assertEqual(self.ask(f"/historial 100 antes {cursor}"), [UNAVAILABLE])

    def test_english(self) -> None:
        self.make(texts=ENGLISH)
        ana = self.chat.login("ana")
        said = self.said(3)
        lines(ana)
        got = self.chat.say(ana, "/history 2")
        self.assertEqual(got[0], "* Last 2 messages of general:")
        self.assertEqual(got[1:3], said[1:])
        self.assertRegex(got[3], r"^\* Older messages: /history 2 before [A-Za-z0-9_-]+$")
        self.assertEqual(self.chat.say(ana, "/history 2 antes zzz"), ["! Unknown cursor: zzz"])
        self.assertEqual(
            self.chat.say(ana, "/history 0"),
            ["! Usage: /history [N] [before CURSOR], N from 1 to 500."],
        )


class BuscarTests(HistoryTestCase):
    """``/buscar TEXTO`` (``/search TEXT``)."""

    def setUp(self) -> None:
        super().setUp()
        self.ana = self.chat.login("ana", password=True)
        self.carol = self.chat.login("carol")
        self.chat.drain()

    def search(self, line: str) -> list[str]:
        got = self.chat.say(self.ana, line)
        self.chat.clock.advance(3)
        return got

    def test_header_and_lines(self) -> None:
        self.chat.talk(self.carol, "hola mundo", "adiós", "¡HOLA, Mundo!", "mundo sin saludo")
        self.assertEqual(
            self.search("/buscar hola mundo"),
            [
                "* 2 mensajes de general con «hola mundo»:",
                stored(1, "carol", "hola mundo"),
                stored(3, "carol", "¡HOLA, Mundo!"),
            ],
        )
        self.assertEqual(
            self.storage.called("search")[-1], ("search", "general", ("hola", "mundo"), 20)
        )

    def test_case_and_accents(self) -> None:
        self.chat.talk(self.carol, "un Café, por favor")
        self.assertEqual(
            self.search("/buscar CAFE"),
            ["* 1 mensajes de general con «CAFE»:", stored(1, "carol", "un Café, por favor")],
        )

    def test_spaces_collapsed(self) -> None:
        self.chat.talk(self.carol, "hola mundo")
        self.assertEqual(
            self.search("/buscar   hola \t mundo ")[0], "* 1 mensajes de general con «hola mundo»:"
        )

    def test_at_most_20_latest(self) -> None:
        self.chat.talk(self.carol, *(f"eco {n}" for n in range(25)))
        got = self.search("/buscar eco")
        self.assertEqual(got[0], "* 20 mensajes de general con «eco»:")
        self.assertEqual(got[1], stored(6, "carol", "eco 5"))
        self.assertEqual(got[-1], stored(25, "carol", "eco 24"))

    def test_none(self) -> None:
        self.chat.talk(self.carol, "hola")
        self.assertEqual(
            self.search("/buscar xyz"), ["* Ningún mensaje de general contiene «xyz»."]
        )

    def test_only_your_room(self) -> None:
        self.chat.talk(self.carol, "hola aquí")
        self.chat.say(self.ana, "/unirse juegos")
        self.assertEqual(
            self.search("/buscar hola"), ["* Ningún mensaje de juegos contiene «hola»."]
        )

    def test_short(self) -> None:
        for text in ["", "ab", " a ", "é"]:
            self.assertEqual(self.chat.say(self.ana, f"/buscar {text}"), [SEARCH_SHORT], text)
        self.assertEqual(self.storage.called("search"), [])
        self.assertEqual(
            self.chat.say(self.ana, "/buscar a b"), ["* Ningún mensaje de general contiene «a b»."]
        )

    def test_one_per_3_seconds(self) -> None:
        self.assertEqual(
            self.chat.say(self.ana, "/buscar uno"), ["* Ningún mensaje de general contiene «uno»."]
        )
        self.assertEqual(
            self.chat.say(self.ana, "/buscar dos"), ["! Espera 3 s antes de otra búsqueda."]
        )
        self.chat.clock.advance(1.5)
        self.assertEqual(
            self.chat.say(self.ana, "/buscar dos"), ["! Espera 2 s antes de otra búsqueda."]
        )
        self.chat.clock.advance(1.4)
        self.assertEqual(
            self.chat.say(self.ana, "/buscar dos"), ["! Espera 1 s antes de otra búsqueda."]
        )
        self.chat.clock.advance(0.1)
        self.assertEqual(
            self.chat.say(self.ana, "/buscar tres"),
            ["* Ningún mensaje de general contiene «tres»."],
        )
        self.assertEqual(len(self.storage.called("search")), 2)  # refused ones are not searches

    def test_per_user(self) -> None:
        self.chat.say(self.ana, "/buscar uno")
        self.assertEqual(
            self.chat.say(self.carol, "/buscar uno"),
            ["* Ningún mensaje de general contiene «uno»."],
        )

    def test_a_short_search_does_not_count(self) -> None:
        self.chat.say(self.ana, "/buscar ab")
        self.assertEqual(
            self.chat.say(self.ana, "/buscar abc"), ["* Ningún mensaje de general contiene «abc»."]
        )

    def test_storage_down(self) -> None:
        self.storage.failing = True
        self.assertEqual(self.search("/buscar hola"), [UNAVAILABLE])

    def test_history_off(self) -> None:
        self.make(days=0)
        ana = self.chat.login("ana")
        lines(ana)
        self.assertEqual(self.chat.say(ana, "/buscar hola"), [DISABLED])

    def test_english(self) -> None:
        self.make(texts=ENGLISH)
        carol = self.chat.login("carol")
        self.chat.talk(carol, "hello world")
        lines(carol)
        self.assertEqual(
            self.chat.say(carol, "/search hello world"),
            ["* 1 messages of general matching “hello world”:", stored(1, "carol", "hello world")],
        )
        self.assertEqual(self.chat.say(carol, "/search xyz"), ["! Wait 3 s before another search."])
        self.chat.clock.advance(3)
        self.assertEqual(
            self.chat.say(carol, "/search xyz"), ["* No message of general matches “xyz”."]
        )
        self.assertEqual(
            self.chat.say(carol, "/search xy"),
            ["! A search needs at least 3 characters: /search TEXT"],
        )


class ForgetTests(HistoryTestCase):
    """``/olvidar`` (``/forget``), then ``/olvidar confirmar``."""

    def test_password_only(self) -> None:
        carol = self.chat.login("carol")
        lines(carol)
        self.assertEqual(self.chat.say(carol, "/olvidar"), [FORGET_PASSWORD])
        self.assertEqual(self.chat.say(carol, "/olvidar confirmar"), [FORGET_PASSWORD])

    def test_ask_then_confirm(self) -> None:
        ana = self.chat.login("ana", password=True)
        self.chat.talk(ana, "uno", "dos")
        carol = self.chat.login("carol")
        self.chat.talk(carol, "de carol")
        self.chat.say(ana, "/unirse juegos")
        self.chat.talk(ana, "tres")
        self.chat.clock.advance(1)
        self.chat.say(ana, "cuatro, sin escribir")
        self.chat.say(ana, "/recado bob hola")
        self.chat.say(ana, "/recado dave hola")
        self.chat.say(ana, "/unirse general")
        self.chat.drain()
        self.assertEqual(self.chat.say(ana, "/olvidar"), [FORGET_ASK])
        self.assertEqual(len(self.storage.rows), 4)  # nothing erased yet
        self.assertEqual(self.chat.say(ana, "/olvidar si"), [FORGET_USAGE])
        self.assertEqual(
            self.chat.say(ana, "/olvidar confirmar"), ["* Borrados: 4 mensajes y 2 recados."]
        )
        self.assertEqual([m.sender for _, m in self.storage.rows], ["carol"])
        assert self.chat.recado_storage is not None
        self.assertEqual(self.chat.recado_storage.rows, [])
        # gone from the buffers: the replay, and pages from memory
        dave = self.chat.login("dave", password=True)
        self.assertEqual(lines(dave)[2:], [stored(3, "carol", "de carol")])
        self.assertEqual(
            self.chat.say(dave, "/historial"),
            ["* Últimos 1 mensajes de general:", stored(3, "carol", "de carol")],
        )
        self.chat.say(dave, "/unirse juegos")
        self.assertEqual(
            self.chat.say(dave, "/historial"), ["* No hay mensajes guardados en juegos."]
        )

    def test_confirm_without_asking_and_english_words(self) -> None:
        ana = self.chat.login("ana", password=True)
        self.chat.talk(ana, "uno")
        lines(ana)
        self.assertEqual(
            self.chat.say(ana, "/forget CONFIRM"), ["* Borrados: 1 mensajes y 0 recados."]
        )
        self.assertEqual(
            self.chat.say(ana, "/olvidar confirm"), ["* Borrados: 0 mensajes y 0 recados."]
        )

    def test_storage_down(self) -> None:
        ana = self.chat.login("ana", password=True)
        self.chat.talk(ana, "uno")
        lines(ana)
        self.storage.failing = True
        self.assertEqual(self.chat.say(ana, "/olvidar confirmar"), [FORGET_UNAVAILABLE])

    def test_english(self) -> None:
        self.make(texts=ENGLISH)
        ana = self.chat.login("ana", password=True)
        carol = self.chat.login("carol")
        lines(ana)
        lines(carol)
        self.assertEqual(
            self.chat.say(ana, "/forget"),
            [
                "* This erases every stored message of yours and your pending memos. To "
                "confirm: /forget confirm"
            ],
        )
        self.assertEqual(
            self.chat.say(ana, "/forget no"), ["! Usage: /forget, then /forget confirm"]
        )
        self.assertEqual(
            self.chat.say(ana, "/forget confirm"), ["* Erased: 0 messages and 0 memos."]
        )
        self.assertEqual(
            self.chat.say(carol, "/forget"),
            ["! Only users logged in with a password may use /forget."],
        )


class LoginOrderTests(HistoryTestCase):
    """At login: welcome, retention line, replay (or since you left), the previous-connection
    line whenever the database answers, then recados."""

    def test_order(self) -> None:
        logins = RecordingLogins()
        self.make(logins=logins)
        recado_storage = self.chat.recado_storage
        assert recado_storage is not None
        ana = self.chat.login("ana", password=True)
        self.chat.say(ana, "/recado bob hola bob")
        said = self.said(2)
        logins.answer(None)
        recado_storage.holding = True
        bob = self.chat.login("bob", password=True)
        self.assertEqual(lines(bob), [welcome("bob"), RETENTION, *said])
        logins.answer(EPOCH)
        self.assertEqual(lines(bob), ["* Tu última conexión fue el 2026-11-24T08:30:00+00:00."])
        recado_storage.release()
        self.assertEqual(lines(bob), ["* Tienes un recado:", f"* [{at(0)}] *ana* hola bob"])

    def test_retention_line_right_after_the_welcome(self) -> None:
        # A login store that answers at once: the retention line still comes second.
        logins = RecordingLogins()
        logins.record_login = lambda nickname, when: succeed(None)  # type: ignore[method-assign]
        self.make(logins=logins)
        said = self.said(1)
        ana = self.chat.login("ana", password=True)
        got = lines(ana)
        self.assertEqual(got[:2], [welcome("ana"), RETENTION])
        self.assertEqual(sorted(got[2:]), sorted(["* Es tu primera conexión.", *said]))


class WireTests(SynchronousTestCase):
    """Stored lines on the wire: ``* [TIME] <NICK> TEXT`` and ``* [TIME] *NICK* TEXT``."""

    def test_stamp(self) -> None:
        self.assertEqual(stamp(T0), "2026-11-24T08:30:00Z")
        self.assertEqual(stamp(T0 + 999), "2026-11-24T08:30:00Z")  # seconds, not rounded
        self.assertEqual(stamp(T0 + 86_400_000 * 12 + 3_599_000), "2026-12-06T09:29:59Z")
        self.assertEqual(stamp(0), "1970-01-01T00:00:00Z")

    def test_forms(self) -> None:
        self.assertEqual(
            replayed(T0, "ana", "hola  a todos "),
            b"* [2026-11-24T08:30:00Z] <ana> hola  a todos \r\n",
        )
        self.assertEqual(
            replayed(T0, "Bob", "psst", recado=True), b"* [2026-11-24T08:30:00Z] *Bob* psst\r\n"
        )

    def test_rendered_events_in_any_language(self) -> None:
        from twisted.internet.task import Clock

        clock = Clock()
        clock.advance(EPOCH.timestamp())
        events = EventSource(clock)
        public = events.replayed("x1", T0 + 5000, "general", "ana", "¿qué tal?")
        recado = events.recado("x2", T0 + 6000, "bob", "ven")
        for texts in (SPANISH, ENGLISH):
            renderer = LineRenderer(Language(texts))
            self.assertEqual(
                renderer.render(public), "* [2026-11-24T08:30:05Z] <ana> ¿qué tal?\r\n".encode()
            )
            self.assertEqual(renderer.render(recado), b"* [2026-11-24T08:30:06Z] *bob* ven\r\n")

    def test_the_regular_expression_of_the_protocol(self) -> None:
        import re

        form = re.compile(
            r"^\* \[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\] (?:<([^>\s]+)>|\*([^*\s]+)\*) (.*)$"
        )
        match = form.match(replayed(T0, "ana", "<b> *x* hola").decode().rstrip("\r\n"))
        assert match is not None
        self.assertEqual(match.groups(), ("2026-11-24T08:30:00Z", "ana", None, "<b> *x* hola"))
        match = form.match(replayed(T0, "Bob", "x", recado=True).decode().rstrip("\r\n"))
        assert match is not None
        self.assertEqual(match.groups(), ("2026-11-24T08:30:00Z", None, "Bob", "x"))


class AnswerOrderTests(HistoryTestCase):
    """A command answered from the storage keeps the user's next lines until it is answered
    (at most ``ANSWER_WAIT`` seconds), so answers come in the order of the commands."""

    def setUp(self) -> None:
        super().setUp()
        self.said(150)
        self.ana = self.chat.login("ana", password=True)
        lines(self.ana)

    def test_held_until_the_page_is_read(self) -> None:
        self.storage.holding = True
        self.assertEqual(self.chat.say(self.ana, "/historial 120"), [])
        self.assertTrue(self.ana.held)
        self.storage.release()
        self.assertFalse(self.ana.held)
        got = lines(self.ana)
        self.assertEqual(got[0], "* Últimos 120 mensajes de general:")

    def test_an_answer_from_memory_holds_nothing(self) -> None:
        self.storage.holding = True
        got = self.chat.say(self.ana, "/historial 5")
        self.assertEqual(got[0], "* Últimos 5 mensajes de general:")
        self.assertFalse(self.ana.held)

    def test_search_held_until_answered(self) -> None:
        self.storage.holding = True
        self.assertEqual(self.chat.say(self.ana, "/buscar hola"), [])
        self.assertTrue(self.ana.held)
        self.storage.release()
        self.assertFalse(self.ana.held)
        self.assertTrue(lines(self.ana)[0].startswith("* "))

    def test_released_after_the_longest_wait_and_not_twice(self) -> None:
        self.storage.holding = True
        self.chat.say(self.ana, "/historial 120")
        self.chat.clock.advance(ANSWER_WAIT)
        self.assertFalse(self.ana.held)
        self.ana.hold()  # held again by something else meanwhile
        self.storage.release()  # the late answer does not release that hold
        self.assertTrue(self.ana.held)
        self.assertEqual(lines(self.ana)[0], "* Últimos 120 mensajes de general:")


class UnsureAfterListeningTests(HistoryTestCase):
    """A buffer read in just after this node starts listening to a room (a cluster node whose
    first member entered it) may lack what other nodes said a moment before and have not
    stored yet: it is not taken as the room's whole history, and is read again a moment
    later."""

    def test_read_again_after_the_moment(self) -> None:
        ana = self.chat.login("ana", password=True)
        lines(ana)
        history = self.chat.history
        assert history is not None
        history.missed("general")
        self.assertEqual(
            self.chat.say(ana, "/historial"), ["* No hay mensajes guardados en general."]
        )
        # stored by another node just after the read, said before this node listened
        self.storage.add("general", "m0001", self.chat.now_ms() - 10, "bea", "tarde")
        got = self.chat.say(ana, "/historial")  # not complete: the storage is read
        self.assertEqual(got[1:], [stored(self.elapsed() - 0.01, "bea", "tarde")])
        reads = len(self.storage.called("page"))
        self.chat.clock.advance(UNSURE_AFTER_LISTENING)
        self.assertEqual(len(self.storage.called("page")), reads + 1)  # read again
        self.storage.failing = True  # from memory now, complete
        got = self.chat.say(ana, "/historial")
        self.assertEqual(got[1:], [stored(self.elapsed() - 2.01, "bea", "tarde")])
