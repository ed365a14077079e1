"""Rooms (protocol v1.1, issue 14) over real loopback sockets in one reactor, on TCP and on the
WebSocket, mixed: users of both transports in one room and in different rooms.

The in-process server of :mod:`tests.support.chatclient` built as ``twistd chat`` builds it, with
a ``--web`` listener; TCP clients are :class:`~tests.support.chatclient.ChatClient`, WebSocket
clients the wsproto-based client of ``test_websocket_sockets.py``. Join/leave notices are
gathered as on a real server; ``/username`` (its fixed reply) is the barrier that proves nothing
else reached a client. The unit tests (``tests/unit/test_rooms.py``) cover every rule in detail;
these prove the rules hold end to end on both transports.
"""

from __future__ import annotations

import pytest
import pytest_twisted

from tests.inprocess import test_operators as operator_tests
from tests.support.chatclient import ChatClient, ChatServer, start_server
from tests.support.expected import (
    ROOM_USAGE,
    announcement,
    conectados,
    joined,
    left,
    no_topic,
    room_invalid,
    room_joined,
    room_left,
    rooms_full,
    sala,
    salas,
    stored_text,
    tema,
    topic_denied,
    topic_denied_permanent,
    topic_set,
)
from tests.support.webclient import web_client

pytestmark = pytest.mark.timeout(60, method="thread")

#: The ``--web`` listener of every server here.
WEB = ("--web", "tcp:0:interface=127.0.0.1")

#: (ana's transport, bob's transport): ana and bob share a room, carol (on the transport that
#: is not ana's) stays in another.
MIXES = [("tcp", "tcp"), ("ws", "ws"), ("ws", "tcp"), ("tcp", "ws")]


def other(kind: str) -> str:
    """The transport that is not ``kind``."""
    return "tcp" if kind == "ws" else "ws"


async def user(server: ChatServer, kind: str, nick: str) -> ChatClient:
    """``nick`` logged in over ``kind`` (``tcp`` or ``ws``), welcome and visit lines read."""
    if kind == "ws":
        client: ChatClient = await web_client(server, nick)
    else:
        client = await server.connect(nick)
    await client.login(nick)
    return client


async def ask(client: ChatClient, line: str, count: int = 1) -> list[str]:
    """Send ``line``; the next ``count`` lines ``client`` gets."""
    client.say(line)
    return await client.lines(count)


async def replay(client: ChatClient, count: int) -> list[str]:
    """The next ``count`` lines of ``client``, stored lines (a room's replay after ``/unirse``,
    protocol v1.1), as the live lines they were (without their time)."""
    return [stored_text(line) for line in await client.lines(count)]


async def quiet(*clients: ChatClient) -> None:
    """Each of ``clients`` got nothing more than what it read (``/username`` barrier)."""
    for client in clients:
        await client.sync()


@pytest.mark.parametrize(("ana_kind", "bob_kind"), MIXES)
@pytest_twisted.ensureDeferred
async def test_every_room_rule_end_to_end(ana_kind: str, bob_kind: str) -> None:
    async with await start_server(*WEB) as server:
        ana = await user(server, ana_kind, "ana")
        bob = await user(server, bob_kind, "Bob")
        assert await ana.line() == joined("Bob")
        carol = await user(server, other(ana_kind), "carol")
        assert await ana.line() == joined("carol")
        assert await bob.line() == joined("carol")

        # Create a room: the creator's spelling, the operator marked; the old room is told.
        assert await ask(ana, "/unirse #Juegos") == [sala("Juegos", "@ana")]
        assert await bob.line() == room_left("ana", "general")
        assert await carol.line() == room_left("ana", "general")
        # Join it, in another case: the new room's members are told, the old room's too.
        assert await ask(bob, "/JOIN juegos") == [sala("Juegos", "@ana", "Bob")]
        assert await ana.line() == room_joined("Bob", "Juegos")
        assert await carol.line() == room_left("Bob", "general")
        # The room you are in: the room line again, nobody told.
        assert await ask(bob, "/unirse JUEGOS") == [sala("Juegos", "@ana", "Bob")]

        # Public lines stay in the room; private messages cross rooms; /listar lists everyone.
        ana.say("hola sala")
        assert await bob.line() == "<ana> hola sala"
        carol.say("hola general")
        await quiet(carol, ana, bob)
        carol.say("#ANA psst")
        assert await carol.line() == "-> *ana* psst"
        assert await ana.line() == "*carol* psst"
        assert await ask(ana, "/listar") == [conectados("ana", "Bob", "carol")]
        assert await ask(carol, "/list") == [conectados("ana", "Bob", "carol")]
        assert await ask(carol, "/salas") == [salas(("general", 1), ("Juegos", 2))]

        # Topics: the room operator sets it, the members are told; others are refused.
        assert await ask(bob, "/tema") == [no_topic("Juegos")]
        assert await ask(ana, "/tema torneo el sábado") == [topic_set("ana", "torneo el sábado")]
        assert await bob.line() == topic_set("ana", "torneo el sábado")
        assert await ask(bob, "/topic mío") == [topic_denied("Juegos")]
        assert await ask(carol, "/tema mío") == [topic_denied_permanent("general")]
        assert await ask(bob, "/sala", 2) == [
            sala("Juegos", "@ana", "Bob"),
            tema("torneo el sábado"),
        ]
        assert await ask(carol, "/room", 2) == [sala("general", "carol"), no_topic("general")]

        # Bad input: one line, nothing changes.
        assert await ask(bob, "/unirse _juegos") == [room_invalid("_juegos")]
        assert await ask(bob, "/unirse") == [ROOM_USAGE]
        assert await ask(bob, "/tema " + "x" * 301) == [
            "! El tema es demasiado largo (301 caracteres; máximo 300)."
        ]
        await quiet(ana, carol, bob)

        # The creator leaves the chat: its room hears it, the other does not; no operator now.
        ana.close()
        assert await bob.line() == left("ana")
        assert await ask(bob, "/sala", 2) == [sala("Juegos", "Bob"), tema("torneo el sábado")]
        await quiet(carol)

        # The last member leaves: the room is gone, topic and all.
        assert await ask(bob, "/unirse general") == [sala("general", "Bob", "carol")]
        assert await replay(bob, 1) == ["<carol> hola general"]
        assert await carol.line() == room_joined("Bob", "general")
        assert await ask(carol, "/salas") == [salas(("general", 2))]
        assert await ask(carol, "/unirse juegos") == [sala("juegos", "@carol")]
        # A new room, but history is kept by room name: it replays what was said in the old one.
        assert await replay(carol, 1) == ["<ana> hola sala"]
        assert await bob.line() == room_left("carol", "general")
        assert await ask(carol, "/tema") == [no_topic("juegos")]


@pytest.mark.parametrize("kind", ["tcp", "ws"])
@pytest_twisted.ensureDeferred
async def test_permanent_rooms_default_room_and_max_rooms(kind: str) -> None:
    options = ("--default-room", "Plaza", "--room", "Lobby", "--max-rooms", "3")
    async with await start_server(*WEB, *options) as server:
        ana = await user(server, kind, "ana")
        bob = await user(server, other(kind), "bob")
        assert await ana.line() == joined("bob")
        assert await ask(ana, "/sala", 2) == [sala("Plaza", "ana", "bob"), no_topic("Plaza")]
        assert await ask(ana, "/salas") == [salas(("Lobby", 0), ("Plaza", 2))]
        assert await ask(ana, "/unirse cine") == [sala("cine", "@ana")]
        assert await bob.line() == room_left("ana", "Plaza")
        # The fourth room is one too many: one line, bob stays.
        assert await ask(bob, "/unirse juegos") == [rooms_full(3)]
        assert await ask(bob, "/sala", 2) == [sala("Plaza", "bob"), no_topic("Plaza")]
        assert await ask(bob, "/unirse LOBBY") == [sala("Lobby", "bob")]
        assert await ask(bob, "/salas") == [salas(("cine", 1), ("Lobby", 1), ("Plaza", 0))]
        await quiet(ana)


@pytest.mark.parametrize("kind", ["tcp", "ws"])
@pytest_twisted.ensureDeferred
async def test_english(kind: str) -> None:
    async with await start_server(*WEB, "--lang", "en") as server:
        ana = await user(server, kind, "ana")
        bob = await user(server, other(kind), "bob")
        assert await ana.line() == "* bob joined the chat."
        assert await ask(ana, "/join games") == ["* Room games (1): @ana"]
        assert await bob.line() == "* ana left the room general (still in the chat)."
        assert await ask(ana, "/topic dice") == ["* ana set the topic: dice"]
        assert await ask(bob, "/join games", 2) == ["* Room games (2): @ana, bob", "* Topic: dice"]
        assert await ana.line() == "* bob joined the room games."
        assert await ask(bob, "/rooms") == ["* Rooms (2): games (2), general (0)"]


@pytest.mark.parametrize("kind", ["tcp", "ws"])
@pytest_twisted.ensureDeferred
async def test_server_operator_topic_and_announcement_in_every_room(kind: str) -> None:
    async with await start_server(*WEB, "--operator", "ana", "--room", "Lobby") as server:
        ana = await operator_tests.become_operator(server)
        bob = await user(server, kind, "bob")
        assert await ana.line() == joined("bob")
        carol = await user(server, other(kind), "carol")
        assert await ana.line() == joined("carol")
        assert await bob.line() == joined("carol")
        assert await ask(bob, "/unirse juegos") == [sala("juegos", "@bob")]
        assert await ana.line() == room_left("bob", "general")
        assert await carol.line() == room_left("bob", "general")
        # A server operator sets the topic of the permanent default room and of bob's room.
        assert await ask(ana, "/tema bienvenidos") == [topic_set("ana", "bienvenidos")]
        assert await carol.line() == topic_set("ana", "bienvenidos")
        assert await ask(ana, "/unirse juegos") == [sala("juegos", "ana", "@bob")]
        assert await bob.line() == room_joined("ana", "juegos")
        assert await carol.line() == room_left("ana", "general")
        assert await ask(ana, "/tema orden") == [topic_set("ana", "orden")]
        assert await bob.line() == topic_set("ana", "orden")
        # /anuncio reaches every room.
        assert await ask(ana, "/anuncio hola a todos") == [announcement("ana", "hola a todos")]
        assert await bob.line() == announcement("ana", "hola a todos")
        assert await carol.line() == announcement("ana", "hola a todos")
        await quiet(ana, bob, carol)


@pytest.mark.parametrize("kind", ["tcp", "ws"])
@pytest_twisted.ensureDeferred
async def test_names_and_topics_on_the_wire(kind: str) -> None:
    async with await start_server(*WEB) as server:
        ana = await user(server, kind, "ana")
        bob = await user(server, other(kind), "bob")
        assert await ana.line() == joined("bob")
        # NFC and casefold identity, shown in the creator's spelling; Latin-1 letters.
        assert await ask(ana, "/unirse Jose\u0301-Ñandú") == [sala("José-Ñandú", "@ana")]
        assert await bob.line() == room_left("ana", "general")
        assert await ask(bob, "/unirse #JOSÉ-ñANDÚ") == [sala("José-Ñandú", "@ana", "bob")]
        assert await ana.line() == room_joined("bob", "José-Ñandú")
        assert await ask(bob, "/unirse " + "x" * 33) == [room_invalid("x" * 33)]
        # A control character is refused as in any line; 300 characters are fine.
        assert await ask(ana, "/tema a\x1b[31mb") == [
            "! La línea contiene caracteres de control: descartada."
        ]
        topic = "é" * 300
        assert await ask(ana, "/tema " + topic) == [topic_set("ana", topic)]
        assert await bob.line() == topic_set("ana", topic)
        assert await ask(bob, "/tema") == [tema(topic)]
        await quiet(ana, bob)
