"""The chat's v1 commands as raw IRC commands, and IRCv3 ``CHATHISTORY``, over real loopback
sockets in one reactor, with IRC and line users together on a real SQLite database:
``HISTORIAL`` and ``BUSCAR`` from IRC, recados between an IRC user and a line user both ways,
an operator's command, ``CHATHISTORY`` paging across a room's buffer in memory (its last 100
messages) and the database, bad selectors and non-members.

The server and clients are those of :mod:`tests.inprocess.test_irc_sockets` (whose helpers are
imported, not copied); ``PING``/``PONG`` (IRC) and ``/username`` (v1) are the barriers. No test
sleeps.
"""

from __future__ import annotations

import re

import pytest
import pytest_twisted

from tests.inprocess.test_irc_sockets import numeric
from tests.support.chatclient import ChatClient
from tests.support.expected import joined, registered, room_joined
from tests.support.ircclient import (
    SERVER,
    IrcClient,
    IrcServer,
    sala_with_messages,
    start_irc_server,
)
from tests.support.ircfuzz import draw_batches, fuzz_in_a_room, fuzz_lines
from tests.support.logs import LogEvents, capture, is_error
from twisted_chat.text import SPANISH

pytestmark = pytest.mark.timeout(90, method="thread")

#: The capabilities of a client that reads history.
HISTORY_CAPS = ("batch", "server-time", "message-tags", "draft/chathistory")
#: A message of ``CHATHISTORY``'s batch: the batch, time, msgid, sender, target, text.
IN_BATCH = re.compile(r"@batch=([^;]+);time=([^;]+);msgid=(\S+) :(\S+)!\S+ PRIVMSG (\S+) :(.*)")
#: A stored message shown with ``server-time``: time, sender, target, text.
STORED = re.compile(r"@time=(\S+) :(\S+)!\S+ PRIVMSG (\S+) :(.*)")


def notice(nick: str, text: str) -> str:
    """A ``NOTICE`` of the server to ``nick``."""
    return f":{SERVER} NOTICE {nick} :{text}"


async def register(server: IrcServer, nick: str, password: str) -> None:
    """Register ``nick`` from a line user, who leaves."""
    line = await server.chat.login(nick)
    line.say(f"/registrar {password}")
    assert await line.line() == registered(nick)
    line.say("/salir")
    await line.wait_closed()
    await server.chat.server_closed(line)


async def password_login(server: IrcServer, nick: str, password: str) -> ChatClient:
    """A line user logged in with its password (welcome and visit lines read)."""
    client = await server.chat.connect(nick)
    assert await client.line() == f"* {SPANISH.prompt}"
    client.say(f"{nick} {password}")
    assert await client.line() == f"* {SPANISH.welcome.format(nick=nick)}"
    client.nickname = nick
    await client.after_welcome()
    return client


async def batch(client: IrcClient, target: str) -> list[tuple[str, str, str]]:
    """The next ``chathistory`` batch to ``client``: (msgid, time, text) of each message."""
    start = await client.line()
    match = re.fullmatch(rf":{re.escape(SERVER)} BATCH \+(\S+) chathistory (\S+)", start)
    assert match is not None, start
    ref = match.group(1)
    assert match.group(2) == target
    messages = []
    while (line := await client.line()) != f":{SERVER} BATCH -{ref}":
        inner = IN_BATCH.fullmatch(line)
        assert inner is not None, line
        assert inner.group(1) == ref
        assert inner.group(5) == target
        messages.append((inner.group(3), inner.group(2), inner.group(6)))
    return messages


@pytest_twisted.ensureDeferred
async def test_historial_and_buscar_from_irc() -> None:
    async with await start_irc_server() as server:
        lina = await server.chat.login("lina")
        ana = await server.user("ana", caps=("server-time",))
        assert await lina.line() == joined("ana")
        await ana.join("#general")
        assert await lina.line() == room_joined("ana", "general")
        lina.say("hola a todos")
        lina.say("llega el verano")
        await lina.sync()
        assert (await ana.line()).endswith(" :lina!lina@irc.test PRIVMSG #general :hola a todos")
        assert (await ana.line()).endswith(" :lina!lina@irc.test PRIVMSG #general :llega el verano")
        await ana.pong()
        ana.say("HISTORIAL #general 10")
        lines = [await ana.line() for _ in range(3)]
        assert lines[0] == notice("ana", "Últimos 2 mensajes de general:")
        assert [STORED.fullmatch(line).groups()[1:] for line in lines[1:]] == [  # type: ignore[union-attr]
            ("lina", "#general", "hola a todos"),
            ("lina", "#general", "llega el verano"),
        ]
        # in one channel, the channel may be left out; the next page's command works as given
        ana.say("historial 1")
        lines = [await ana.line() for _ in range(3)]
        assert lines[0] == notice("ana", "Últimos 1 mensajes de general:")
        assert lines[1].endswith(":llega el verano")
        more = re.fullmatch(
            re.escape(notice("ana", "Mensajes anteriores: ")) + r"(/historial 1 antes \S+)",
            lines[2],
        )
        assert more is not None, lines[2]
        word, *args = more.group(1)[1:].split()
        ana.say(" ".join([word.upper(), *args]))  # as irssi sends /historial 1 antes CURSOR
        lines = [await ana.line() for _ in range(2)]
        assert lines[1].endswith(":hola a todos")
        await ana.pong()
        ana.say("BUSCAR #general verano")
        assert await ana.line() == notice("ana", "1 mensajes de general con «verano»:")
        assert (await ana.line()).endswith("PRIVMSG #general :llega el verano")
        await ana.pong()
        # someone not in the room reads nothing of it
        bob = await server.user("bob")
        assert await lina.line() == joined("bob")
        for line in ("HISTORIAL #general", "BUSCAR #general verano"):
            bob.say(line)
            assert await bob.line() == numeric("442", "bob", "#general :You're not on that channel")
        bob.say("CHATHISTORY LATEST #general * 10")
        assert await bob.line() == (
            f":{SERVER} FAIL CHATHISTORY INVALID_TARGET LATEST #general"
            " :Messages could not be retrieved"
        )
        await bob.pong()
        await lina.sync()


@pytest_twisted.ensureDeferred
async def test_recados_between_irc_and_line_users() -> None:
    async with await start_irc_server() as server:
        await register(server, "ana", "Secreto-ana1")
        await register(server, "lina", "Secreto-lina1")
        # an IRC user leaves a recado to a line user who is away
        ana = await server.connect("ana")
        await ana.register("ana", caps=("server-time",), sasl=("ana", "Secreto-ana1"))
        ana.say("RECADO lina :hola lina, ¿qué tal?")
        assert await ana.line() == notice(
            "ana", "Recado guardado para lina; lo recibirá al entrar."
        )
        ana.say("QUIT")
        await ana.wait_closed()
        await server.server_closed(ana)
        lina = await password_login(server, "lina", "Secreto-lina1")
        assert await lina.line() == "* Tienes un recado:"
        assert re.fullmatch(r"\* \[[\dT:-]+Z\] \*ana\* hola lina, ¿qué tal\?", await lina.line())
        # and back: a line user's recado reaches the IRC user at its next login, as a message
        # at its own time
        lina.say("/recado ana ya va, gracias")
        assert await lina.line() == "* Recado guardado para ana; lo recibirá al entrar."
        ana = await server.connect("ana2")
        await ana.register("ana", caps=("server-time",), sasl=("ana", "Secreto-ana1"))
        assert await ana.line() == notice("ana", "Tienes un recado:")
        got = STORED.fullmatch(await ana.line())
        assert got is not None
        assert got.groups()[1:] == ("lina", "ana", "ya va, gracias")
        await ana.pong()
        assert await lina.line() == joined("ana")
        assert await lina.line() == "* ana ha recibido tu recado."


@pytest_twisted.ensureDeferred
async def test_an_operator_command_from_irc() -> None:
    async with await start_irc_server("--operator", "ana") as server:
        await register(server, "ana", "Secreto-ana1")
        lina = await server.chat.login("lina")
        ana = await server.connect("ana")
        await ana.register("ana", sasl=("ana", "Secreto-ana1"))
        assert await lina.line() == joined("ana")
        bob = await server.user("bob")
        assert await lina.line() == joined("bob")
        bob.say("SILENCIAR lina 5")  # not an operator: the chat's refusal
        assert (await bob.line()).startswith(notice("bob", ""))
        await bob.pong()
        ana.say("silenciar lina 5")
        assert await ana.line() == notice("ana", SPANISH.mute_done.format(nick="lina", minutes=5))
        lina.say("hola")
        assert (await lina.line()).startswith("! Estás silenciado")
        ana.say("ANUNCIO :se cierra a las diez")
        text = SPANISH.announcement.format(by="ana", text="se cierra a las diez")
        assert await lina.line() == f"* {text}"
        assert await bob.line() == f":{SERVER} NOTICE * :{text}"
        assert await ana.line() == f":{SERVER} NOTICE * :{text}"
        await ana.pong()


@pytest_twisted.ensureDeferred
async def test_chathistory_across_the_buffer_and_the_database() -> None:
    async with await start_irc_server() as server:
        count = 130  # the room's buffer holds its last 100
        ana, _ = await sala_with_messages(server, count, caps=HISTORY_CAPS)
        ana.say("CHATHISTORY LATEST #sala * 100")
        latest = await batch(ana, "#sala")
        assert [text for _, _, text in latest] == [f"m{n}" for n in range(30, 130)]
        # older than the buffer: the database
        ana.say(f"CHATHISTORY BEFORE #sala msgid={latest[0][0]} 100")
        older = await batch(ana, "#sala")
        assert [text for _, _, text in older] == [f"m{n}" for n in range(30)]
        # and forward again across both, by timestamp
        ana.say(f"CHATHISTORY AFTER #sala timestamp={older[19][1]} 20")
        everything = older + latest
        assert [text for _, _, text in everything] == [f"m{n}" for n in range(count)]
        # (messages said in one millisecond share a timestamp: all are after it, or none)
        expected = [text for _, time, text in everything if time > older[19][1]][:20]
        assert [text for _, _, text in await batch(ana, "#sala")] == expected
        ana.say(f"CHATHISTORY BETWEEN #sala msgid={older[25][0]} msgid={latest[5][0]} 100")
        assert [text for _, _, text in await batch(ana, "#sala")] == [
            f"m{n}" for n in range(26, 35)
        ]
        ana.say(f"CHATHISTORY AROUND #sala msgid={latest[0][0]} 5")
        assert [text for _, _, text in await batch(ana, "#sala")] == [
            f"m{n}" for n in range(28, 33)
        ]
        # bad selectors
        fail = f":{SERVER} FAIL CHATHISTORY"
        for line, answer in (
            (
                "CHATHISTORY BEFORE #sala * 10",
                f"{fail} INVALID_PARAMS * :Invalid message reference",
            ),
            (
                "CHATHISTORY AFTER #sala timestamp=2026-02-30 10",
                f"{fail} INVALID_PARAMS timestamp=2026-02-30 :Invalid timestamp",
            ),
            ("CHATHISTORY LATEST #sala * 0", f"{fail} INVALID_PARAMS 0 :Invalid limit"),
            ("CHATHISTORY AROUND #sala", f"{fail} NEED_MORE_PARAMS AROUND :Missing parameters"),
            (
                "CHATHISTORY LATEST #nada * 10",
                f"{fail} INVALID_TARGET LATEST #nada :Messages could not be retrieved",
            ),
        ):
            ana.say(line)
            assert await ana.line() == answer
        # a nickname: private messages are never stored
        ana.say("CHATHISTORY LATEST bob * 10")
        assert await batch(ana, "bob") == []
        await ana.pong()


# -- fuzz --------------------------------------------------------------------------------------

#: Words of CHATHISTORY and of the v1 commands, so that fuzzed lines often reach them.
WORDS = [
    "CHATHISTORY",
    "LATEST",
    "BEFORE",
    "AFTER",
    "AROUND",
    "BETWEEN",
    "TARGETS",
    "#x",
    "#general",
    "#nada",
    "*",
    "msgid=",
    "msgid=abc",
    "timestamp=",
    "timestamp=2026-12-06T00:00:00.000Z",
    "timestamp=2262-01-01T00:00:00.000Z",
    "0",
    "1",
    "100",
    "99999999999999999999",
    "HISTORIAL",
    "history",
    "antes",
    "BUSCAR",
    "SALA",
    "TEMA",
    "UNIRSE",
    "RECADO",
    "LISTAR",
    "HELP",
    "TIME",
    "HORA",
    "ana",
    ":",
    ":a b",
]

raw_lines = fuzz_lines(WORDS, max_text=12, max_words=6)


def fuzz_batches(count: int) -> list[list[str]]:
    """``count`` batches of lines drawn by Hypothesis (generation only)."""
    return draw_batches(raw_lines, count, max_lines=6)


@pytest_twisted.ensureDeferred
async def test_fuzzed_history_and_v1_commands_never_crash() -> None:
    with capture(LogEvents(is_error)) as errors:
        async with await start_irc_server() as server:
            lina = await server.chat.login("lina")
            lina.say("hola")
            ana = await server.user("ana", caps=HISTORY_CAPS)
            await ana.join("#general")
            answered = await fuzz_in_a_room(
                server,
                fuzz_batches(40),
                ana,
                caps=HISTORY_CAPS,
                after_join="PRIVMSG #x :algo que buscar",
            )
            assert answered > 20
    assert not errors.events, errors.describe()
