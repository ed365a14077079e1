"""IRCv3 ``TAGMSG`` and client-only tags (``+typing``, ``+draft/reply``...) over real loopback
sockets in one reactor: relayed to the IRC readers that negotiated ``message-tags`` alone (an
IRC reader without it and a line user get no ``TAGMSG``, and a message's text without the tags),
echoed with ``echo-message``, refused as ``PRIVMSG`` is (``403``, ``404``, ``401``), never
kept in the history, and counted against the flood budget like any line.

``PING``/``PONG`` (IRC) and ``/username`` (v1) are the barriers that prove nothing else reached
a client. No test sleeps.
"""

from __future__ import annotations

import re

import pytest
import pytest_twisted

from tests.inprocess.test_irc_sockets import numeric
from tests.support.chatclient import ChatClient
from tests.support.expected import joined, room_joined
from tests.support.ircclient import IrcClient, IrcServer, nothing_more, start_irc_server

pytestmark = pytest.mark.timeout(60, method="thread")

#: ``@msgid=...;`` then the rest of a line's tags, as a regex.
MSGID = r"@msgid=[^; ]+;"


async def four_in_general(server: IrcServer) -> tuple[IrcClient, IrcClient, IrcClient, ChatClient]:
    """``ana`` (IRC: ``message-tags``, ``echo-message``), ``bob`` (IRC: ``message-tags``),
    ``cris`` (IRC, no capability) and ``lina`` (a line user), all in ``#general``."""
    lina = await server.chat.login("lina")
    ana = await server.user("ana", caps=("message-tags", "echo-message"))
    assert await lina.line() == joined("ana")
    bob = await server.user("bob", caps=("message-tags",))
    assert await lina.line() == joined("bob")
    cris = await server.user("cris")
    assert await lina.line() == joined("cris")
    await ana.join("#general")
    assert await lina.line() == room_joined("ana", "general")
    await bob.join("#general")
    assert await lina.line() == room_joined("bob", "general")
    assert (await ana.line()).endswith(":bob!bob@irc.test JOIN #general")
    await cris.join("#general")
    assert await lina.line() == room_joined("cris", "general")
    assert (await ana.line()).endswith(":cris!cris@irc.test JOIN #general")
    assert (await bob.line()).endswith(":cris!cris@irc.test JOIN #general")
    return ana, bob, cris, lina


@pytest_twisted.ensureDeferred
async def test_tagmsg_to_a_channel_reaches_message_tags_readers_alone() -> None:
    async with await start_irc_server() as server:
        ana, bob, cris, lina = await four_in_general(server)
        # a server tag (foo) and a malformed name are dropped; the value escaped again
        ana.say(r"@+typing=active;foo=bar;+bad_name=x;+draft/react=a\sb\:c\\ TAGMSG #general")
        echo = await ana.line()
        relay = await bob.line()
        rest = r"\+typing=active;\+draft/react=a\\sb\\:c\\\\ :ana!ana@irc\.test TAGMSG #general"
        assert re.fullmatch(MSGID + rest, echo), echo
        assert re.fullmatch(MSGID + rest, relay), relay
        assert echo.split(";", 1)[0] == relay.split(";", 1)[0]  # one msgid
        await nothing_more(ana, bob, cris, lina)  # cris (no message-tags) and lina: nothing
        # no client-only tag: nothing to relay, nothing echoed
        ana.say("@foo=bar TAGMSG #general")
        await nothing_more(ana, bob, cris, lina)
        # a client without message-tags: its TAGMSG is ignored
        cris.say("@+typing=active TAGMSG #general")
        await nothing_more(cris, ana, bob, lina)


@pytest_twisted.ensureDeferred
async def test_client_tags_on_privmsg_and_notice() -> None:
    async with await start_irc_server() as server:
        ana, bob, cris, lina = await four_in_general(server)
        ana.say("@+draft/reply=abc;+draft/channel-context=#general PRIVMSG #general :sí")
        rest = r"\+draft/reply=abc;\+draft/channel-context=#general :ana!ana@irc\.test "
        assert re.fullmatch(MSGID + rest + "PRIVMSG #general :sí", await ana.line())
        assert re.fullmatch(MSGID + rest + "PRIVMSG #general :sí", await bob.line())
        assert await cris.line() == ":ana!ana@irc.test PRIVMSG #general :sí"
        assert await lina.line() == "<ana> sí"
        ana.say("@+typing=done NOTICE bob :aviso")
        line = await bob.line()
        assert re.fullmatch(MSGID + r"\+typing=done :ana!ana@irc\.test NOTICE bob :aviso", line)
        assert (await ana.line()).endswith(" :ana!ana@irc.test NOTICE bob :aviso")
        ana.say("@+typing=done PRIVMSG cris :hola")
        assert await cris.line() == ":ana!ana@irc.test PRIVMSG cris :hola"
        await ana.line()  # its echo
        # the tags of a client without message-tags are not relayed
        cris.say("@+typing=done PRIVMSG #general :sin etiquetas")
        line = await bob.line()
        assert re.fullmatch(
            r"@msgid=[^; ]+ :cris!cris@irc\.test PRIVMSG #general :sin etiquetas", line
        )
        assert await lina.line() == "<cris> sin etiquetas"
        assert "+typing" not in await ana.line()
        await nothing_more(ana, bob, cris, lina)
        # the history keeps the text alone: a late joiner's replay has no tags
        dan = await server.user("dan", caps=("message-tags", "server-time"))
        dan.say("JOIN #general")
        lines = await dan.until(r"@time=\S+ :ana!ana@irc\.test PRIVMSG #general :sí")
        assert not any("TAGMSG" in line for line in lines), lines


@pytest_twisted.ensureDeferred
async def test_tagmsg_to_a_nickname_and_refusals() -> None:
    async with await start_irc_server() as server:
        ana, bob, cris, lina = await four_in_general(server)
        ana.say("@+typing=active TAGMSG Bob")
        line = await bob.line()
        assert re.fullmatch(MSGID + r"\+typing=active :ana!ana@irc\.test TAGMSG bob", line), line
        assert (await ana.line()).endswith(" :ana!ana@irc.test TAGMSG bob")  # echo
        ana.say("@+typing=active TAGMSG cris")  # without message-tags: nothing for it
        assert (await ana.line()).endswith(" :ana!ana@irc.test TAGMSG cris")
        ana.say("@+typing=active TAGMSG lina")  # a line user: nothing for it
        assert (await ana.line()).endswith(" :ana!ana@irc.test TAGMSG lina")
        await nothing_more(bob, cris, lina)
        ana.say("@+typing=active TAGMSG nadie")
        assert await ana.line() == numeric("401", "ana", "nadie :No such nick/channel")
        ana.say("@+typing=active TAGMSG #nada")
        assert await ana.line() == numeric("403", "ana", "#nada :No such channel")
        await bob.join("#juegos")
        ana.say("@+typing=active TAGMSG #juegos")  # not a member
        assert await ana.line() == numeric("404", "ana", "#juegos :Cannot send to channel")
        ana.say("@+typing=active TAGMSG #general,bob")
        assert await ana.line() == numeric("407", "ana", "#general,bob :Too many targets")
        ana.say("@+typing=active TAGMSG")
        assert (await ana.line()).startswith(":irc.test 461 ana TAGMSG ")
        await nothing_more(ana, bob, cris, lina)


@pytest_twisted.ensureDeferred
async def test_typing_floods_are_bounded_by_the_flood_budget() -> None:
    async with await start_irc_server("--flood-rate=1", "--flood-burst=20") as server:
        ana = await server.user("ana", caps=("message-tags",))
        bob = await server.user("bob", caps=("message-tags",))
        await ana.join("#general")
        await bob.join("#general")
        assert (await ana.line()).endswith(":bob!bob@irc.test JOIN #general")
        ana.say("\r\n".join(["@+typing=active TAGMSG #general"] * 40))
        await ana.until(r":irc\.test NOTICE ana :.*")  # lines dropped: said once
        bob.say("PING barrier")
        lines = await bob.until(r":irc\.test PONG irc\.test barrier")
        relayed = [line for line in lines if line.endswith(" :ana!ana@irc.test TAGMSG #general")]
        assert len(relayed) == len(lines) - 1  # nothing else
        assert 0 < len(relayed) < 20, len(relayed)  # its registration took some of the 20


@pytest_twisted.ensureDeferred
async def test_tagmsg_in_a_moderated_channel_needs_voice() -> None:
    async with await start_irc_server() as server:
        ana, bob, cris, lina = await four_in_general(server)
        await bob.join("#juegos")  # its creator: its operator
        await ana.join("#juegos")
        await bob.until(r".*:ana!ana@irc\.test JOIN #juegos")
        bob.say("MODE #juegos +m")
        await bob.until(r".* MODE #juegos \+m")
        await ana.until(r".* MODE #juegos \+m")
        ana.say("@+typing=active TAGMSG #juegos")
        assert await ana.line() == numeric("404", "ana", "#juegos :Cannot send to channel (+m)")
        bob.say("MODE #juegos +v ana")
        await bob.until(r".* MODE #juegos \+v ana")
        await ana.until(r".* MODE #juegos \+v ana")
        ana.say("@+typing=active TAGMSG #juegos")
        line = await bob.line()
        assert re.fullmatch(MSGID + r"\+typing=active :ana!ana@irc\.test TAGMSG #juegos", line)
        await nothing_more(bob, cris, lina)
