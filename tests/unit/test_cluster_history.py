"""Unit tests of history and recados across cluster nodes (issue 15, "Cluster mode"): two
:class:`~twisted_chat.cluster.room.ClusterRoom` nodes over in-memory links, what one publishes
handed to the other's handler by the test, one shared in-memory database.

- a public message is stored once, by its sender's node, and reaches the other node's buffer;
- ``/olvidar`` on one node drops the messages from the other node's buffers;
- after an outage, the buffers are read again from the database;
- a recado for a user connected on the other node is delivered there at once, exactly once,
  and the answers (delivered, stored, read) reach the sender on its node.

The same rules end to end, on real nodes: tests/e2e/test_cluster_history.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.support.accounts import CountingHasher, MemoryAccountStorage, ThreadRunner
from tests.support.fake_link import cluster_chat
from tests.support.fakes import Client, Clients, tcp_factory
from twisted_chat import nicknames
from twisted_chat.accounts import Accounts
from twisted_chat.assembly import Chat
from twisted_chat.cluster import envelope
from twisted_chat.cluster.events import Forgotten, RecadoFor, UserNotice
from twisted_chat.cluster.room import RELOAD_DELAY, ClusterRoom
from twisted_chat.events import Public
from twisted_chat.history import Page, StoredMessage
from twisted_chat.recados import READ_AFTER, Recado, Stored
from twisted_chat.tcp import ChatTCPFactory

PASSWORDS = {"ana": "Secreto-ana1", "bob": "Secreto-bob2"}


class MemoryHistory:
    """A ``HistoryStorage`` double shared by the nodes (the database): what each stored."""

    enabled = True
    days = 30

    def __init__(self) -> None:
        self.rows: list[Public] = []
        #: Who kept each message: (node's label, message id).
        self.kept: list[tuple[str, str]] = []
        self.pages = 0

    def keeper(self, label: str) -> MemoryHistory:
        """This storage as node ``label`` sees it (its writes labelled)."""
        storage = self

        class Labelled(MemoryHistory):
            def __init__(self) -> None:
                pass

            def keep(self, event: Public) -> None:
                storage.kept.append((label, event.id))
                storage.rows.append(event)

            def page(self, room_key: str, limit: int, before: str | None = None) -> Any:
                return storage.page(room_key, limit, before)

            def forget(self, nick_key: str) -> defer.Deferred[int]:
                return storage.forget(nick_key)

        return Labelled()

    def page(self, room_key: str, limit: int, before: str | None = None) -> Any:
        self.pages += 1
        rows = sorted((r for r in self.rows if r.room == room_key), key=lambda r: (r.time, r.id))[
            -limit:
        ]
        stored = [StoredMessage(r.id, r.time, r.sender, r.text) for r in rows]
        return defer.succeed(Page(stored, None))

    def since(self, room_key: str, after: int, limit: int) -> Any:
        raise NotImplementedError

    def search(self, room_key: str, words: Sequence[str], limit: int) -> Any:
        raise NotImplementedError

    def forget(self, nick_key: str) -> defer.Deferred[int]:
        before = len(self.rows)
        self.rows = [r for r in self.rows if nicknames.key(r.sender) != nick_key]
        return defer.succeed(before - len(self.rows))


class MemoryRecados:
    """A ``RecadoStorage`` double shared by the nodes; ``take`` answers at once, or waits in
    :attr:`taking` while :attr:`hold` is set."""

    def __init__(self) -> None:
        self.rows: dict[str, Recado] = {}
        self.hold = False
        self.taking: list[tuple[str, defer.Deferred[bool]]] = []

    def store(self, recado_id: str, sender: str, recipient_key: str, text: str, time: int) -> Any:
        self.rows[recado_id] = Recado(recado_id, sender, recipient_key, text, time)
        return defer.succeed(Stored.STORED)

    def pending(self, recipient_key: str) -> Any:
        found = [r for r in self.rows.values() if r.recipient_key == recipient_key]
        return defer.succeed(sorted(found, key=lambda r: (r.time, r.id)))

    def take(self, recado_id: str) -> Any:
        if self.hold:
            d: defer.Deferred[bool] = defer.Deferred()
            self.taking.append((recado_id, d))
            return d
        return defer.succeed(self.rows.pop(recado_id, None) is not None)

    def release(self) -> None:
        """Answer the held takes, in order."""
        taking, self.taking = self.taking, []
        self.hold = False
        for recado_id, d in taking:
            d.callback(self.rows.pop(recado_id, None) is not None)

    def forget_sender(self, sender_key: str) -> Any:
        gone = [k for k, r in self.rows.items() if nicknames.key(r.sender) == sender_key]
        for key in gone:
            del self.rows[key]
        return defer.succeed(len(gone))


class Node:
    """One node of the test cluster: its chat, room, link, TCP factory."""

    def __init__(self, test: TwoNodes, name: str) -> None:
        self.name = name
        storage = MemoryAccountStorage()
        hasher = CountingHasher()
        when = datetime(2026, 12, 1, tzinfo=UTC)
        for nick, password in PASSWORDS.items():
            storage.rows[nick] = (nick, hasher.hash(password), when)
        self.accounts = Accounts(storage, test.clock, ThreadRunner(), hasher=hasher)
        self.accounts.load()
        parts: Chat
        parts, self.room, self.link = cluster_chat(
            test.clock,
            node=name,
            accounts=self.accounts,
            history=test.history.keeper(name),
            recados=test.recados,
        )
        self.parts = parts
        self.factory: ChatTCPFactory = tcp_factory(parts)
        self.room.membership.start()
        self.link.answers.update(claim=1, room_claim=[1, ""], room_move=1, room_release=1)
        self.link.connect()

    def login(self, clients: Clients, nick: str) -> Client:
        """A client logged in as ``nick`` (with its password if it is registered)."""
        client = clients.connect(self.factory)
        client.send(f"{nick} {PASSWORDS[nick]}\n" if nick in PASSWORDS else f"{nick}\n")
        lines = client.received()
        assert any(line.startswith(f"* Bienvenido, {nick}.") for line in lines), lines
        #: What the last login received.
        self.login_lines = lines
        return client


class TwoNodes(SynchronousTestCase):
    """Nodes ``n1`` and ``n2``, each knowing the other's users; :meth:`relay` carries what
    each published to the other (on the channels it listens to)."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.history = MemoryHistory()
        self.recados = MemoryRecados()
        self.clients = Clients()
        self.n1 = Node(self, "n1")
        self.n2 = Node(self, "n2")
        #: Every event relayed from one node to the other, in order.
        self.relayed: list[Any] = []
        self.n1.link.replies["HGETALL"] = lambda *_: users_hash(self.n2.room)
        self.n2.link.replies["HGETALL"] = lambda *_: users_hash(self.n1.room)

    def tearDown(self) -> None:
        for node in (self.n1, self.n2):
            node.room.membership.stop()

    def know_each_other(self) -> None:
        """Each node reads the other's users hash, as a survey would."""
        for here, there in ((self.n1, self.n2), (self.n2, self.n1)):
            here.room.membership.fetch(there.name)

    def relay(self) -> None:
        """Flush both outboxes and hand each node what the other published, until quiet."""
        for _ in range(10):
            self.clock.advance(0)
            moved = False
            for source, target in ((self.n1, self.n2), (self.n2, self.n1)):
                published, source.link.published = source.link.published, []
                for channel, message in published:
                    if channel in target.link.channels:
                        data = envelope.encode(message.origin, message.events)
                        target.room.handler.received(channel, data)
                        self.relayed += message.events
                        moved = True
            if not moved:
                return

    def published(self, node: Node) -> list[Any]:
        """What ``node`` has published and not yet relayed (its outbox flushed first)."""
        self.clock.advance(0)
        return node.link.events()


def said(client: Client) -> list[str]:
    """What ``client`` received, without join and leave notices."""
    endings = (" se ha unido al chat.", " ha salido del chat.")
    return [line for line in client.received() if not line.endswith(endings)]


class BufferTests(TwoNodes):
    def test_a_message_is_stored_once_and_heard_by_every_node(self) -> None:
        ana = self.n1.login(self.clients, "ana")
        bea = self.n2.login(self.clients, "bea")
        self.know_each_other()
        self.relay()
        self.clients.drain()
        ana.send("hola\n")
        self.relay()
        self.assertEqual(bea.received(), ["<ana> hola"])
        self.assertEqual([label for label, _ in self.history.kept], ["n1"])
        history2 = self.n2.parts.history
        assert history2 is not None
        buffer = self.successResultOf(history2.buffer("general"))
        self.assertEqual([m.text for m in buffer.messages], ["hola"])
        bea.send("/historial\n")
        self.assertEqual(bea.received()[1:], [_stored_line("ana", "hola", buffer.messages[0])])

    def test_olvidar_empties_every_nodes_buffer(self) -> None:
        ana = self.n1.login(self.clients, "ana")
        bea = self.n2.login(self.clients, "bea")
        self.know_each_other()
        self.relay()
        ana.send("uno\ndos\n")
        self.clock.advance(0.001)  # the nodes' ids do not order messages of one millisecond
        bea.send("tres\n")
        self.relay()
        history2 = self.n2.parts.history
        assert history2 is not None
        buffer = self.successResultOf(history2.buffer("general"))
        self.assertEqual([m.text for m in buffer.messages], ["uno", "dos", "tres"])
        self.clients.drain()
        ana.send("/olvidar confirmar\n")
        self.assertEqual(ana.received(), ["* Borrados: 2 mensajes y 0 recados."])
        self.assertIn(Forgotten("ana"), self.published(self.n1))
        self.relay()
        self.assertEqual([m.text for m in buffer.messages], ["tres"])

    def test_after_an_outage_the_buffers_are_read_again(self) -> None:
        ana = self.n1.login(self.clients, "ana")
        self.n2.login(self.clients, "bea")
        self.know_each_other()
        self.relay()
        ana.send("antes\n")
        self.relay()
        history2 = self.n2.parts.history
        assert history2 is not None
        buffer = self.successResultOf(history2.buffer("general"))
        # n1 is cut off: what its users say is stored, not published; one message is erased
        # meanwhile (its /olvidar not heard by n2).
        self.n1.link.disconnect()
        ana.send("durante\n")
        self.history.rows = [r for r in self.history.rows if r.text != "antes"]
        self.relay()
        self.assertEqual([m.text for m in buffer.messages], ["antes"])
        pages = self.history.pages
        self.n1.link.connect()
        self.relay()  # n1's hello reaches n2
        self.clock.advance(RELOAD_DELAY)
        self.assertGreater(self.history.pages, pages)
        self.assertEqual([m.text for m in buffer.messages], ["durante"])

    def test_a_node_listening_to_a_room_again_reads_its_buffer_again(self) -> None:
        ana = self.n1.login(self.clients, "ana")
        bob = self.n2.login(self.clients, "bea")
        self.know_each_other()
        self.relay()
        history2 = self.n2.parts.history
        assert history2 is not None
        ana.send("/unirse juegos\n")
        bob.send("/unirse juegos\n")
        self.relay()
        ana.send("uno\n")
        self.relay()
        bob.send("/unirse general\n")  # n2 stops listening to juegos
        self.relay()
        ana.send("dos\n")  # not published: juegos has no member elsewhere
        self.relay()
        self.clients.drain()
        bob.send("/unirse juegos\n")
        self.relay()
        replay = [line for line in bob.received() if line.startswith("* [")]
        self.assertEqual([line.split("> ", 1)[1] for line in replay], ["uno", "dos"])


class RecadoTests(TwoNodes):
    def setUp(self) -> None:
        super().setUp()
        self.ana = self.n1.login(self.clients, "ana")

    def bob_on_n2(self) -> Client:
        bob = self.n2.login(self.clients, "bob")
        self.know_each_other()
        self.relay()
        self.clients.drain()
        return bob

    def test_delivered_at_once_on_the_recipients_node(self) -> None:
        bob = self.bob_on_n2()
        self.ana.send("/recado bob vuelve pronto\n")
        self.assertEqual(self.ana.received(), [])  # bob's node answers
        [recado_for] = [e for e in self.published(self.n1) if isinstance(e, RecadoFor)]
        self.assertEqual(recado_for.recipient, "bob")
        self.clock.advance(0)
        self.relay()
        [line] = bob.received()
        self.assertRegex(line, r"^\* \[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\] \*ana\* vuelve pronto$")
        self.assertEqual(said(self.ana), ["* Recado entregado a bob."])
        self.assertIn(
            "recado_delivered",
            [e.event.text.key for e in self.relayed if isinstance(e, UserNotice)],
        )
        self.assertEqual(self.recados.rows, {})
        # bob's next login does not get it again
        bob.lose()
        self.relay()
        again = self.n2.login(self.clients, "bob")
        self.clock.advance(READ_AFTER)
        received = self.n2.login_lines + again.received()
        self.assertFalse(any("vuelve pronto" in line for line in received))

    def test_recipient_gone_meanwhile_keeps_it_stored(self) -> None:
        bob = self.bob_on_n2()
        self.ana.send("/recado bob vuelve pronto\n")
        self.clock.advance(0)
        bob.lose()  # n2 has not heard of the recado yet
        self.relay()
        self.assertEqual(said(self.ana), ["* Recado guardado para bob; lo recibirá al entrar."])
        self.assertEqual([r.text for r in self.recados.rows.values()], ["vuelve pronto"])

    def test_recipient_gone_while_it_is_taken_stores_it_again(self) -> None:
        bob = self.bob_on_n2()
        self.recados.hold = True
        self.ana.send("/recado bob vuelve pronto\n")
        self.relay()
        bob.lose()
        self.recados.release()
        self.relay()
        self.assertEqual(said(self.ana), ["* Recado guardado para bob; lo recibirá al entrar."])
        self.assertEqual([r.text for r in self.recados.rows.values()], ["vuelve pronto"])

    def test_shown_at_login_and_handed_over_at_once_is_shown_once(self) -> None:
        # bob logs in on n2 while ana's recado is on its way: the login shows it (pending),
        # and the live delivery does not show it again.
        self.recados.rows["r1"] = Recado("r1", "ana", "bob", "vuelve pronto", 1)
        bob = self.n2.login(self.clients, "bob")
        self.know_each_other()
        self.relay()
        self.n2.room.recado_hooks.arrived(  # type: ignore[union-attr]
            "bob", self.n2.parts.events.recado("r1", 1, "ana", "vuelve pronto")
        )
        self.relay()
        self.clock.advance(READ_AFTER)
        self.relay()
        received = self.n2.login_lines + bob.received()
        shown = [line for line in received if "vuelve pronto" in line]
        self.assertEqual(len(shown), 1)
        self.assertEqual(self.recados.rows, {})
        told = said(self.ana)
        self.assertEqual(told.count("* Recado entregado a bob."), 1)
        self.assertNotIn("* bob ha recibido tu recado.", told)

    def test_read_at_login_on_another_node_tells_the_sender_there(self) -> None:
        self.ana.send("/recado bob vuelve pronto\n")
        self.assertEqual(said(self.ana), ["* Recado guardado para bob; lo recibirá al entrar."])
        bob = self.n2.login(self.clients, "bob")
        self.know_each_other()
        self.relay()
        self.assertIn("* Tienes un recado:", self.n2.login_lines)
        bob.send("/username\n")  # a line: read
        self.relay()
        self.assertEqual(self.recados.rows, {})
        self.assertEqual(said(self.ana), ["* bob ha recibido tu recado."])


def users_hash(room: ClusterRoom) -> dict[str, str]:
    """The users hash of ``room``'s node, as Redis holds it."""
    fields = {"#i": room.origin.instance, "#v": str(room.membership._version)}
    for member in room.members():
        key = nicknames.key(member.nickname or "")
        fields[key] = member.nickname or ""
        chatroom = room.room_of(member)
        if chatroom is not room.default:
            fields[f"#r:{key}"] = chatroom.name
    return fields


def _stored_line(nick: str, text: str, message: Any) -> str:
    when = datetime.fromtimestamp(message.time / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"* [{when}] <{nick}> {text}"
