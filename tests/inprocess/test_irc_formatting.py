"""IRC formatting codes, CTCP (``/me``) and long messages over real loopback sockets (issue 16):
IRC users, a line user and a WebSocket user in one room of one in-process server (``--irc``
and ``--web``, SQLite history).

IRC users read what IRC users send as it was sent; line and WebSocket users read it without
codes, an action as ``** NICK TEXT``, a CTCP query not at all; a line user's long message
reaches IRC users as several lines of at most 512 bytes; the history keeps the codes and shows
them stripped to line users, and ``/buscar`` finds the words. ``PING``/``PONG`` (IRC) and
``/username`` (v1) are the barriers that prove nothing else arrived.
"""

from __future__ import annotations

import re

import pytest
import pytest_twisted

from tests.support.chatclient import ChatClient
from tests.support.ircclient import SERVER, IrcClient, IrcServer, nothing_more, start_irc_server
from tests.support.webclient import WebChatClient, web_client

pytestmark = pytest.mark.timeout(60, method="thread")

WEB = ("--web", "tcp:0:interface=127.0.0.1")
CONTROL = "! La línea contiene caracteres de control: descartada."


async def everyone(
    server: IrcServer,
) -> tuple[IrcClient, IrcClient, ChatClient, WebChatClient]:
    """``ana`` and ``bob`` on IRC in ``#general``, ``carol`` on the line protocol and ``dora``
    on the WebSocket, in the default room ``general``, every join seen."""
    carol = await server.chat.login("carol")
    dora = await web_client(server.chat, "dora")
    await dora.login("dora")
    ana = await server.user("ana")
    bob = await server.user("bob")
    await ana.join("#general")
    await bob.join("#general")
    await ana.until(rf":bob!bob@{SERVER} JOIN #general")
    for line_user in (carol, dora):  # up to the notice of bob's JOIN
        while not re.fullmatch(r"\* bob ha entrado en la sala general\.", await line_user.line()):
            pass
    for client in (ana, bob):
        await client.pong()
    for line_user in (carol, dora):
        await line_user.sync()
    return ana, bob, carol, dora


@pytest_twisted.ensureDeferred
async def test_codes_actions_and_ctcp_between_transports() -> None:
    async with await start_irc_server(*WEB) as server:
        ana, bob, carol, dora = await everyone(server)
        coloured = "\x0304,01rojo\x03 y \x02negrita\x02 \x1dcursiva\x1d \x1fsub\x1f\x0f fin"
        ana.say(f"PRIVMSG #general :{coloured}")
        assert await bob.line() == f":ana!ana@{SERVER} PRIVMSG #general :{coloured}"
        assert await carol.line() == "<ana> rojo y negrita cursiva sub fin"
        assert await dora.line() == "<ana> rojo y negrita cursiva sub fin"

        ana.say("PRIVMSG #general :\x01ACTION baila\x01")
        assert await bob.line() == f":ana!ana@{SERVER} PRIVMSG #general :\x01ACTION baila\x01"
        assert await carol.line() == "** ana baila"
        assert await dora.line() == "** ana baila"

        carol.say("/me saluda")
        assert await ana.line() == f":carol!carol@{SERVER} PRIVMSG #general :\x01ACTION saluda\x01"
        assert await bob.line() == f":carol!carol@{SERVER} PRIVMSG #general :\x01ACTION saluda\x01"
        assert await dora.line() == "** carol saluda"

        # a CTCP query: to IRC users as sent; to a line user: a NOTICE back, nothing to it
        ana.say("PRIVMSG bob :\x01VERSION\x01")
        assert await bob.line() == f":ana!ana@{SERVER} PRIVMSG bob :\x01VERSION\x01"
        bob.say("NOTICE ana :\x01VERSION irssi\x01")
        assert await ana.line() == f":bob!bob@{SERVER} NOTICE ana :\x01VERSION irssi\x01"
        ana.say("PRIVMSG carol :\x01PING 42\x01")
        assert await ana.line() == (
            f":{SERVER} NOTICE ana :carol no usa IRC: la petición CTCP PING no se le entrega."
        )
        ana.say("PRIVMSG #general :\x01TIME\x01")
        assert await bob.line() == f":ana!ana@{SERVER} PRIVMSG #general :\x01TIME\x01"
        await nothing_more(ana, bob, carol, dora)


@pytest_twisted.ensureDeferred
async def test_other_control_characters_are_refused_as_today() -> None:
    async with await start_irc_server(*WEB) as server:
        ana, bob, carol, dora = await everyone(server)
        for line in (
            "PRIVMSG #general :\x01",
            "PRIVMSG #general :hola\x01ACTION x\x01",
            "PRIVMSG #general :\x1b[31mrojo",
            "TOPIC #general :\x02tema",
        ):
            ana.say(line)
            got = await ana.line()
            assert got == f":{SERVER} NOTICE ana :{CONTROL[2:]}", (line, got)
        carol.say("\x02negrita")
        assert await carol.line() == CONTROL
        carol.say("/me \x0304rojo")
        assert await carol.line() == CONTROL
        dora.say("\x1dcursiva")
        assert await dora.line() == CONTROL
        await nothing_more(ana, bob, carol, dora)


@pytest_twisted.ensureDeferred
async def test_a_long_message_is_split_for_irc_users() -> None:
    async with await start_irc_server(*WEB) as server:
        ana, bob, carol, dora = await everyone(server)
        # 1024 bytes, a multibyte character across every 510-byte boundary
        text = ("ñ" * 100 + " ") * 5
        text = text + "€" * ((1024 - len(text.encode())) // 3)
        assert len(text.encode()) <= 1024
        carol.say(text)
        assert await dora.line() == f"<carol> {text}"
        prefix = f":carol!carol@{SERVER} PRIVMSG #general :"
        pieces: list[str] = []
        while sum(len(piece) for piece in pieces) < len(text) - len(pieces):
            line = await ana.line()
            assert line.startswith(prefix), line
            assert len(line.encode()) + 2 <= 512, line
            pieces.append(line[len(prefix) :])
        assert len(pieces) > 2
        assert "".join(pieces).replace(" ", "") == text.replace(" ", "")
        assert [await bob.line() for _ in pieces] == [prefix + piece for piece in pieces]
        # a long private message, and a long action, too
        carol.say("#bob " + "ö" * 500)
        assert await carol.line() == "-> *bob* " + "ö" * 500
        got = [await bob.line() for _ in range(3)]
        assert all(len(line.encode()) + 2 <= 512 for line in got)
        assert "".join(line.split(" :", 1)[1] for line in got) == "ö" * 500
        carol.say("/me " + "salta " * 150)
        got = [await ana.line() for _ in range(2)]
        for line in got:
            assert len(line.encode()) + 2 <= 512
            assert line.startswith(f":carol!carol@{SERVER} PRIVMSG #general :\x01ACTION salta")
            assert line.endswith("\x01")
        assert [await bob.line() for _ in got] == got
        await nothing_more(ana, bob, carol)


@pytest_twisted.ensureDeferred
async def test_history_keeps_the_codes_replays_and_searches_read_plain() -> None:
    async with await start_irc_server(*WEB) as server:
        ana, bob, carol, dora = await everyone(server)
        ana.say("PRIVMSG #general :\x02cafetera\x02 rota")
        ana.say("PRIVMSG #general :\x01ACTION arregla la cafetera\x01")
        assert await carol.line() == "<ana> cafetera rota"
        assert await carol.line() == "** ana arregla la cafetera"
        carol.say("/historial 2")
        assert (await carol.line()).startswith("* Últimos 2 mensajes de general")
        first, second = await carol.line(), await carol.line()
        assert first.endswith("] <ana> cafetera rota"), first
        assert second.endswith("] ** ana arregla la cafetera"), second
        await carol.sync()
        assert await dora.line() == "<ana> cafetera rota"
        assert await dora.line() == "** ana arregla la cafetera"
        dora.say("/buscar cafetera")
        header = await dora.line()
        assert header.startswith("* 2 mensajes de general"), header
        found = [await dora.line(), await dora.line()]
        assert found[0].endswith("] <ana> cafetera rota"), found
        assert found[1].endswith("] ** ana arregla la cafetera"), found
        carol.say("/buscar action")  # the CTCP's own word is not the message's
        assert (await carol.line()).startswith("* Ningún mensaje de general")
        # a word right after a colour code (indexed with the code's digits) is found too
        zorro = "un \x0304zorro\x03 y un \x0312,01lobo\x03"
        bob.say(f"PRIVMSG #general :{zorro}")
        assert await dora.line() == "<bob> un zorro y un lobo"
        assert await carol.line() == "<bob> un zorro y un lobo"
        assert await ana.line() == f":bob!bob@{SERVER} PRIVMSG #general :{zorro}"
        ana.say("PRIVMSG #general :\x02\x02")  # nothing to read: 412
        assert await ana.line() == f":{SERVER} 412 ana :No text to send"
        eve = await server.chat.login("eve")  # its replay: the stored lines, plain
        assert all(line.isprintable() for line in eve.replayed), eve.replayed
        assert any(line.endswith("] ** ana arregla la cafetera") for line in eve.replayed)
        eve.say("/buscar zorro")
        assert (await eve.line()).startswith("* 1 mensajes de general")
        assert (await eve.line()).endswith("] <bob> un zorro y un lobo")
        for client in (ana, bob):
            await client.until(rf":eve!eve@{SERVER} JOIN #general")
        for line_user in (carol, dora):
            assert await line_user.line() == "* eve se ha unido al chat."
        await nothing_more(ana, bob, carol, dora, eve)
