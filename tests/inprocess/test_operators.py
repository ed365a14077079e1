"""Operators over real loopback TCP (issue 10 §4): every operator command and its replies on the
in-process server (``--operator ana``). Bans that survive a restart of a real ``twistd chat``:
``tests/e2e/test_operators.py``."""

from __future__ import annotations

import pytest
import pytest_twisted

from tests.support.accounts import OPERATOR_PASSWORD
from tests.support.chatclient import ChatClient, ChatServer, start_server
from tests.support.expected import (
    ADDRESS_BANNED,
    AYUDA_OPERATORS,
    AYUDA_WITH_HISTORY,
    announcement,
    ban_done,
    ban_lifted,
    ban_line,
    banned_now,
    bans_header,
    goodbye,
    joined,
    kick_done,
    kicked,
    left,
    mute_done,
    mute_lifted,
    muted,
    nick_banned,
    operators_only,
    registered,
    welcome,
)

pytestmark = pytest.mark.timeout(60, method="thread")


async def operator_server() -> ChatServer:
    """An in-process server whose operator is ``ana``."""
    return await start_server("--operator", "ana")


async def become_operator(server: ChatServer) -> ChatClient:
    """Register ``ana``, leave, and log in again with the password: an operator."""
    first = await server.login("ana")
    first.say(f"/registrar {OPERATOR_PASSWORD}")
    assert await first.line() == registered("ana")
    first.say("/salir")
    assert await first.line() == goodbye("ana")
    await first.wait_closed()
    await server.server_closed(first)
    ana = await server.connect("ana")
    assert await ana.line() == f"* {server.texts.prompt}"
    ana.say(f"ana {OPERATOR_PASSWORD}")
    assert await ana.line() == welcome("ana")
    ana.nickname = "ana"
    await ana.after_welcome()  # the retention line, the replay and the previous connection
    return ana


async def join(server: ChatServer, nick: str, *watchers: ChatClient) -> ChatClient:
    """Log in ``nick``; each watcher reads the join notice."""
    client = await server.login(nick)
    for watcher in watchers:
        assert await watcher.line() == joined(nick)
    return client


@pytest_twisted.ensureDeferred
async def test_only_operators_use_and_see_operator_commands() -> None:
    async with await operator_server() as server:
        ana = await become_operator(server)
        bob = await join(server, "bob", ana)
        bob.say("/kick ana")
        assert await bob.line() == operators_only("kick")
        bob.say("/ayuda")
        assert await bob.lines(len(AYUDA_WITH_HISTORY)) == AYUDA_WITH_HISTORY
        await bob.sync()
        ana.say("/help")
        assert await ana.lines(len(AYUDA_WITH_HISTORY) + len(AYUDA_OPERATORS)) == [
            *AYUDA_WITH_HISTORY[:-1],
            *AYUDA_OPERATORS,
            AYUDA_WITH_HISTORY[-1],
        ]
        await ana.sync()


@pytest_twisted.ensureDeferred
async def test_kick() -> None:
    async with await operator_server() as server:
        ana = await become_operator(server)
        bob = await join(server, "bob", ana)
        dave = await join(server, "dave", ana, bob)
        ana.say("/expulsar dave deja el spam")
        assert await ana.line() == kick_done("dave")
        assert await dave.line() == kicked("ana", "deja el spam")
        await dave.wait_closed()
        assert await bob.line() == left("dave")
        assert await ana.line() == left("dave")
        await server.server_closed(dave)
        assert server.service.factory.stats["kicked"] == 1


@pytest_twisted.ensureDeferred
async def test_mute_and_unmute() -> None:
    async with await operator_server() as server:
        ana = await become_operator(server)
        dave = await join(server, "dave", ana)
        ana.say("/mute dave 2")
        assert await ana.line() == mute_done("dave", 2)
        dave.say("hola")
        assert await dave.line() == muted("2 min")
        dave.say("#ana psst")
        assert await dave.line() == muted("2 min")
        await dave.sync()  # commands still work
        ana.say("/silenciar dave 0")
        assert await ana.line() == mute_lifted("dave")
        dave.say("hola")
        assert await ana.line() == "<dave> hola"
        await dave.sync()


@pytest_twisted.ensureDeferred
async def test_ban_a_nickname_then_lift_it() -> None:
    async with await operator_server() as server:
        ana = await become_operator(server)
        dave = await join(server, "dave", ana)
        ana.say("/banear dave 60 insultos")
        line = await ana.line()
        assert line.startswith("* Ban de dave (hasta "), line
        until = line[len("* Ban de dave (") : -len(").")]
        assert line == ban_done("dave", until)
        assert await dave.line() == banned_now("ana", "insultos", until)
        await dave.wait_closed()
        assert await ana.line() == left("dave")
        again = await server.connect()
        assert await again.line() == f"* {server.texts.prompt}"
        again.say("Dave")
        assert await again.line() == nick_banned("Dave", until)
        ana.say("/bans")
        assert await ana.lines(2) == [bans_header(1), ban_line("dave", "ana", "insultos", until)]
        ana.say("/unban dave")
        assert await ana.line() == ban_lifted("dave")
        again.say("Dave")
        assert await again.line() == welcome("Dave")
        await server.server_closed(dave)
        assert server.service.factory.stats["banned"] == 1


@pytest_twisted.ensureDeferred
async def test_ban_an_address() -> None:
    async with await operator_server() as server:
        ana = await become_operator(server)
        eve = await server.connect("eve", bind="127.0.0.2")
        await eve.login("eve")
        assert await ana.line() == joined("eve")
        ana.say("/banear 127.0.0.2 bots")
        assert await ana.line() == ban_done("127.0.0.2/32")
        assert await eve.line() == banned_now("ana", "bots")
        await eve.wait_closed()
        assert await ana.line() == left("eve")
        refused = await server.connect("refused", bind="127.0.0.2")
        assert await refused.line() == ADDRESS_BANNED
        await refused.wait_closed()
        ana.say("/baneos")
        assert await ana.lines(2) == [bans_header(1), ban_line("127.0.0.2/32", "ana", "bots")]
        assert server.service.factory.stats["banned"] == 2


@pytest_twisted.ensureDeferred
async def test_announce_reaches_everyone() -> None:
    async with await operator_server() as server:
        ana = await become_operator(server)
        bob = await join(server, "bob", ana)
        ana.say("/anuncio parada a las 10")
        assert await ana.line() == announcement("ana", "parada a las 10")
        assert await bob.line() == announcement("ana", "parada a las 10")
        await bob.sync()
