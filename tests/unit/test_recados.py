"""Unit tests of recados (protocol v1.1; docs/PROTOCOL.md, "Recados"): the chat core's side,
:mod:`twisted_chat.recados`, over an in-memory storage.

A whole chat core (:class:`tests.support.history.HistoryChat`: ``ana``, ``bob`` and ``dave``
registered, ``carol`` not; ``FakeSession`` objects and a ``Clock``): ``/recado`` and every
refusal, the limits, the answer only once stored, delivery at once to a connected recipient,
delivery at login, when recados count as read (the next line, or 10 s), the sender's notice,
and the private message to a registered nickname that is offline. Expected lines are written
out literally: they are the contract.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.support.fakes import EPOCH, FakeSession
from tests.support.history import HistoryChat, MemoryRecadoStorage, lines
from twisted_chat.recados import MAX_PER_RECIPIENT, MAX_PER_SENDER, READ_AFTER, Recado
from twisted_chat.text import ENGLISH
from twisted_chat.wire import stamp

#: EPOCH in milliseconds.
T0 = int(EPOCH.timestamp() * 1000)

RETENTION = "* Los mensajes públicos se guardan 30 días; /olvidar borra los tuyos."
PASSWORD_ONLY = "! Solo quien entra con contraseña puede dejar recados."
USAGE = "! Uso: /recado NICK TEXTO"
SELF = "! No puedes dejarte un recado a ti mismo."
EMPTY = "! El recado está vacío: /recado NICK TEXTO"
UNAVAILABLE = "! No se pudo guardar el recado: la base de datos no responde; inténtalo más tarde."


def recado_line(seconds: float, sender: str, text: str) -> str:
    """The line of a recado from ``sender`` left ``seconds`` after EPOCH."""
    return f"* [{stamp(T0 + int(seconds * 1000))}] *{sender}* {text}"


def welcome(nick: str) -> str:
    """The welcome line of ``nick``."""
    return f"* Bienvenido, {nick}. Escribe /ayuda para ver los comandos."


class RecadoTestCase(SynchronousTestCase):
    """Base: a :class:`HistoryChat` with ``ana`` logged in with her password."""

    def setUp(self) -> None:
        self.chat = HistoryChat()
        storage = self.chat.recado_storage
        assert storage is not None
        self.storage: MemoryRecadoStorage = storage
        self.ana = self.chat.login("ana")
        lines(self.ana)

    def send(self, line: str, session: FakeSession | None = None) -> list[str]:
        """``line`` from ``session`` (ana by default); what it got."""
        return self.chat.say(session or self.ana, line)

    def leave_recados(self, *texts: str, to: str = "bob") -> None:
        """Recados from ana to ``to`` (offline), one a second, stored."""
        self.chat.drain()
        for text in texts:
            self.chat.clock.advance(1)
            self.assertEqual(
                self.send(f"/recado {to} {text}"),
                [f"* Recado guardado para {to}; lo recibirá al entrar."],
            )


class RefusalTests(RecadoTestCase):
    """Every refusal of ``/recado`` is one ``! `` line, and nothing is stored."""

    def tearDown(self) -> None:
        self.assertEqual(self.storage.rows, [])
        self.assertEqual(self.storage.called("store"), [])

    def test_not_logged_in_with_a_password(self) -> None:
        carol = self.chat.login("carol")
        lines(carol)
        self.assertEqual(self.send("/recado bob hola", carol), [PASSWORD_ONLY])
        self.assertEqual(self.send("/recado", carol), [PASSWORD_ONLY])  # checked first

    def test_usage(self) -> None:
        self.assertEqual(self.send("/recado"), [USAGE])
        self.assertEqual(self.send("/recado   "), [USAGE])

    def test_invalid_nickname(self) -> None:
        self.assertEqual(self.send("/recado _x hola"), ["! Nickname no válido: _x"])
        self.assertEqual(self.send("/recado #bob hola"), ["! Nickname no válido: #bob"])
        self.assertEqual(self.send("/recado _x"), ["! Nickname no válido: _x"])

    def test_yourself(self) -> None:
        self.assertEqual(self.send("/recado ana hola"), [SELF])
        self.assertEqual(self.send("/recado ANA hola"), [SELF])

    def test_not_registered(self) -> None:
        self.assertEqual(
            self.send("/recado carol hola"),
            ["! carol no es un nickname registrado: los recados son para nicknames registrados."],
        )

    def test_empty(self) -> None:
        self.assertEqual(self.send("/recado bob"), [EMPTY])
        self.assertEqual(self.send("/recado bob  \t "), [EMPTY])

    def test_english(self) -> None:
        self.chat = HistoryChat(texts=ENGLISH)
        storage = self.chat.recado_storage
        assert storage is not None
        self.storage = storage
        ana = self.chat.login("ana")
        carol = self.chat.login("carol")
        self.chat.drain()
        self.assertEqual(
            self.send("/memo bob hi", carol),
            ["! Only users logged in with a password may leave memos."],
        )
        self.assertEqual(self.send("/memo", ana), ["! Usage: /memo NICK TEXT"])
        self.assertEqual(self.send("/memo _x hi", ana), ["! Invalid nickname: _x"])
        self.assertEqual(self.send("/memo ana hi", ana), ["! You cannot leave a memo to yourself."])
        self.assertEqual(
            self.send("/memo carol hi", ana),
            ["! carol is not a registered nickname: memos are for registered ones."],
        )
        self.assertEqual(self.send("/memo bob", ana), ["! The memo is empty: /memo NICK TEXT"])


class StoreTests(RecadoTestCase):
    """A recado for a registered nickname that is not connected is stored; the sender is
    answered once it is."""

    def test_stored(self) -> None:
        self.chat.clock.advance(5)
        self.assertEqual(
            self.send("/recado BOB  hola,  bob "),
            ["* Recado guardado para BOB; lo recibirá al entrar."],
        )
        [row] = self.storage.rows
        self.assertEqual(
            (row.sender, row.recipient_key, row.text, row.time),
            ("ana", "bob", "hola,  bob", T0 + 5000),
        )

    def test_answer_only_once_stored(self) -> None:
        self.storage.holding = True
        self.assertEqual(self.send("/recado bob hola"), [])
        self.storage.release()
        self.assertEqual(lines(self.ana), ["* Recado guardado para bob; lo recibirá al entrar."])

    def test_sender_limit(self) -> None:
        self.leave_recados(*(f"r{n}" for n in range(MAX_PER_SENDER)))
        self.assertEqual(
            self.send("/recado bob once"), ["! Ya tienes 10 recados pendientes para bob."]
        )
        self.assertEqual(len(self.storage.rows), MAX_PER_SENDER)
        self.leave_recados("para dave", to="dave")  # another recipient: fine

    def test_recipient_limit(self) -> None:
        for n in range(MAX_PER_RECIPIENT):
            self.storage.rows.append(Recado(f"x{n}", f"otro{n}", "bob", "hola", T0))
        self.assertEqual(self.send("/recado bob hola"), ["! bob tiene ya 100 recados pendientes."])
        self.assertEqual(len(self.storage.rows), MAX_PER_RECIPIENT)

    def test_database_down(self) -> None:
        self.storage.failing = True
        self.assertEqual(self.send("/recado bob hola"), [UNAVAILABLE])
        self.assertEqual(self.storage.rows, [])

    def test_english(self) -> None:
        chat = HistoryChat(texts=ENGLISH)
        storage = chat.recado_storage
        assert storage is not None
        ana = chat.login("ana")
        lines(ana)
        self.assertEqual(
            chat.say(ana, "/memo bob hi"), ["* Memo stored for bob; they get it when they log in."]
        )
        for n in range(MAX_PER_SENDER - 1):
            chat.say(ana, f"/memo bob {n}")
        self.assertEqual(
            chat.say(ana, "/memo bob 11"), ["! You already have 10 memos pending for bob."]
        )
        storage.rows += [Recado(f"x{n}", f"otro{n}", "dave", "hi", T0) for n in range(100)]
        self.assertEqual(chat.say(ana, "/memo dave hi"), ["! dave already has 100 memos pending."])
        storage.failing = True
        self.assertEqual(
            chat.say(ana, "/memo dave hi"),
            ["! The memo was not stored: the database does not answer; try again later."],
        )


class ImmediateDeliveryTests(RecadoTestCase):
    """A recipient connected here gets the recado at once; nothing is stored."""

    def test_delivered(self) -> None:
        bob = self.chat.login("bob")
        self.chat.drain()
        self.chat.clock.advance(2)
        self.assertEqual(self.send("/recado BOB ¿vienes?"), ["* Recado entregado a bob."])
        self.assertEqual(lines(bob), [recado_line(2, "ana", "¿vienes?")])
        self.assertEqual(self.storage.called("store"), [])
        self.chat.clock.advance(READ_AFTER * 2)
        self.chat.say(bob, "/ping")
        self.assertEqual(lines(self.ana), [])  # no "has received" for these

    def test_english(self) -> None:
        chat = HistoryChat(texts=ENGLISH)
        ana = chat.login("ana")
        bob = chat.login("bob")
        chat.drain()
        self.assertEqual(chat.say(ana, "/memo bob hi"), ["* Memo delivered to bob."])
        self.assertEqual(lines(bob), [recado_line(0, "ana", "hi")])


class AtLoginTests(RecadoTestCase):
    """At a password login, after the history lines: the header, then the recados oldest
    first."""

    def test_delivered_at_login(self) -> None:
        self.leave_recados("primero", "segundo")
        bob = self.chat.login("bob")
        self.assertEqual(
            lines(bob),
            [
                welcome("bob"),
                RETENTION,
                "* Tienes 2 recados:",
                recado_line(1, "ana", "primero"),
                recado_line(2, "ana", "segundo"),
            ],
        )
        self.assertEqual(len(self.storage.rows), 2)  # not read yet

    def test_oldest_first_whoever_sent_them(self) -> None:
        dave = self.chat.login("dave")
        self.chat.clock.advance(1)
        self.chat.say(dave, "/recado bob de dave")
        self.leave_recados("de ana")
        self.storage.rows.reverse()
        bob = self.chat.login("bob")
        self.assertEqual(
            lines(bob)[2:],
            [
                "* Tienes 2 recados:",
                recado_line(1, "dave", "de dave"),
                recado_line(2, "ana", "de ana"),
            ],
        )

    def test_none_pending(self) -> None:
        bob = self.chat.login("bob")
        self.assertEqual(lines(bob), [welcome("bob"), RETENTION])

    def test_pending_not_readable(self) -> None:
        self.leave_recados("hola")
        self.storage.failing = True
        bob = self.chat.login("bob")
        self.assertEqual(lines(bob), [welcome("bob"), RETENTION])
        self.storage.failing = False
        self.chat.clock.advance(READ_AFTER * 2)
        self.assertEqual(len(self.storage.rows), 1)

    def test_after_the_history(self) -> None:
        carol = self.chat.login("carol")
        self.chat.talk(carol, "hola a todos")
        self.leave_recados("hola")
        bob = self.chat.login("bob")
        self.assertEqual(
            lines(bob),
            [
                welcome("bob"),
                RETENTION,
                "* [2026-11-24T08:30:01Z] <carol> hola a todos",
                "* Tienes un recado:",
                recado_line(2, "ana", "hola"),
            ],
        )

    def test_english(self) -> None:
        chat = HistoryChat(texts=ENGLISH)
        ana = chat.login("ana")
        chat.clock.advance(1)
        chat.say(ana, "/memo bob one")
        chat.say(ana, "/memo bob two")
        bob = chat.login("bob")
        self.assertEqual(
            lines(bob)[2:],
            ["* You have 2 memos:", recado_line(1, "ana", "one"), recado_line(1, "ana", "two")],
        )

    def test_without_recados(self) -> None:
        chat = HistoryChat(recados=False)
        self.assertIsNone(chat.recados)
        ana = chat.login("ana")
        self.assertEqual(lines(ana), [welcome("ana"), RETENTION])
        self.assertEqual(
            chat.say(ana, "/recado bob hola"),
            ["! Comando desconocido: /recado. Escribe /ayuda para ver los comandos."],
        )


class ReadTests(RecadoTestCase):
    """Recados shown at login are read (and deleted) at the next line or after 10 s; the
    senders still connected are told."""

    def setUp(self) -> None:
        super().setUp()
        self.leave_recados("uno", "dos")
        self.bob = self.chat.login("bob")
        self.chat.drain()

    def test_read_at_the_next_line(self) -> None:
        self.assertEqual(self.send("/ping", self.bob), ["* pong"])
        self.assertEqual(self.storage.rows, [])
        self.assertEqual(lines(self.ana), ["* bob ha recibido tu recado."] * 2)
        self.chat.clock.advance(READ_AFTER)
        self.assertEqual(lines(self.ana), [])  # once

    def test_an_empty_line_reads_them(self) -> None:
        self.assertEqual(self.send("", self.bob), [])
        self.assertEqual(self.storage.rows, [])

    def test_read_after_10_seconds(self) -> None:
        self.chat.clock.advance(READ_AFTER - 0.1)
        self.assertEqual(len(self.storage.rows), 2)
        self.chat.clock.advance(0.1)
        self.assertEqual(self.storage.rows, [])
        self.assertEqual(lines(self.ana), ["* bob ha recibido tu recado."] * 2)

    def test_not_read_when_gone_before(self) -> None:
        self.chat.clock.advance(READ_AFTER - 1)
        self.chat.leave(self.bob)
        self.chat.clock.advance(READ_AFTER * 2)
        self.assertEqual(len(self.storage.rows), 2)
        self.assertEqual(self.storage.called("take"), [])
        bob = self.chat.login("bob")
        self.assertEqual(
            lines(bob)[2:],
            ["* Tienes 2 recados:", recado_line(1, "ana", "uno"), recado_line(2, "ana", "dos")],
        )

    def test_sender_not_connected(self) -> None:
        self.chat.leave(self.ana)
        self.ana.delivered.clear()
        self.send("/ping", self.bob)
        self.assertEqual(self.storage.rows, [])
        self.assertEqual(lines(self.ana), [])

    def test_sender_connected_again(self) -> None:
        self.chat.leave(self.ana)
        ana = self.chat.login("ana")
        lines(ana)
        self.send("/ping", self.bob)
        self.assertEqual(lines(ana), ["* bob ha recibido tu recado."] * 2)

    def test_taken_by_someone_else_first(self) -> None:
        self.storage.rows = self.storage.rows[1:]  # delivered elsewhere meanwhile
        self.send("/ping", self.bob)
        self.assertEqual(lines(self.ana), ["* bob ha recibido tu recado."])

    def test_delete_failed(self) -> None:
        self.storage.failing = True
        self.send("/ping", self.bob)
        self.assertEqual(lines(self.ana), [])
        self.storage.failing = False
        self.assertEqual(len(self.storage.rows), 2)  # delivered again at the next login

    def test_english_notice(self) -> None:
        chat = HistoryChat(texts=ENGLISH)
        ana = chat.login("ana")
        chat.say(ana, "/memo bob hi")
        bob = chat.login("bob")
        chat.drain()
        chat.say(bob, "/ping")
        self.assertEqual(lines(ana), ["* bob has received your memo."])


class PrivateToOfflineTests(RecadoTestCase):
    """``#NICK TEXT`` to a nickname not connected: a registered one names ``/recado``."""

    def test_registered(self) -> None:
        self.assertEqual(
            self.send("#Bob hola"), ["! Bob no está conectado; déjale un recado: /recado Bob TEXTO"]
        )
        self.assertEqual(self.storage.rows, [])

    def test_not_registered(self) -> None:
        self.assertEqual(self.send("#carol hola"), ["! carol no está conectado."])

    def test_english(self) -> None:
        chat = HistoryChat(texts=ENGLISH)
        carol = chat.login("carol")
        lines(carol)
        self.assertEqual(
            chat.say(carol, "#bob hi"), ["! bob is not connected; leave a memo: /memo bob TEXT"]
        )
        self.assertEqual(chat.say(carol, "#nadie hi"), ["! nadie is not connected."])

    def test_without_recados(self) -> None:
        chat = HistoryChat(recados=False)
        ana = chat.login("ana")
        lines(ana)
        self.assertEqual(chat.say(ana, "#bob hola"), ["! bob no está conectado."])
