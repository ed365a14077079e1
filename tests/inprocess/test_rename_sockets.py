"""Nickname changes (issue 16) over real loopback sockets in one reactor: IRC's ``NICK`` after
registration and v1's ``/nick``, IRC and line users seeing each other's changes, the numerics
of a refusal, a registered nickname (SASL, ``330``) and what a rename does to a room.

The server and clients are those of :mod:`tests.inprocess.test_irc_sockets`; ``PING``/``PONG``
(IRC) and ``/username`` (v1) are the barriers that prove nothing else reached a client.
"""

from __future__ import annotations

import pytest
import pytest_twisted

from tests.inprocess.test_irc_commands import replies, room_of_three
from tests.inprocess.test_irc_sockets import PASSWORD, numeric, register_ana
from tests.support.expected import renamed, username
from tests.support.ircclient import start_irc_server

pytestmark = pytest.mark.timeout(60, method="thread")


@pytest_twisted.ensureDeferred
async def test_irc_and_line_users_see_each_other_s_renames() -> None:
    async with await start_irc_server() as server:
        ana, bob, lina = await room_of_three(server)
        await ana.join("#general")  # ana shares #juegos with bob and #general with lina
        assert await lina.line() == "* ana ha entrado en la sala general."
        ana.say("NICK anita")
        assert await ana.line() == ":ana!ana@irc.test NICK :anita"
        assert await bob.line() == ":ana!ana@irc.test NICK :anita"  # once, not per room
        assert await lina.line() == renamed("ana", "anita")
        await bob.pong()
        lina.say("/username")
        assert await lina.line() == username("lina")
        # the line user renames: the IRC user of its room reads NICK, the other does not
        lina.say("/nick Lina2")
        assert await lina.line() == renamed("lina", "Lina2")
        assert await ana.line() == ":lina!lina@irc.test NICK :Lina2"
        await bob.pong()
        await ana.pong()
        # names and operators follow
        ana.say("NAMES #juegos")
        assert await replies(ana, "366") == [
            numeric("353", "anita", "= #juegos :@anita bob"),
            numeric("366", "anita", "#juegos :End of /NAMES list"),
        ]
        bob.say("PRIVMSG anita :hola")
        assert await ana.line() == ":bob!bob@irc.test PRIVMSG anita :hola"
        bob.say("PRIVMSG ana :hola")
        assert await bob.line() == numeric("401", "bob", "ana :No such nick/channel")


@pytest_twisted.ensureDeferred
async def test_irc_refusals() -> None:
    async with await start_irc_server() as server:
        ana, bob, lina = await room_of_three(server)
        bob.say("NICK")
        assert await bob.line() == numeric("431", "bob", ":No nickname given")
        bob.say("NICK 9x")
        line = await bob.line()
        assert line.startswith(numeric("432", "bob", "9x :"))
        bob.say("NICK a*b")
        assert await bob.line() == numeric("432", "bob", "a*b :Erroneous nickname")
        bob.say("NICK ANA")
        assert (await bob.line()).startswith(numeric("433", "bob", "ANA :"))
        bob.say("NICK Lina")  # a line user's, in any case
        assert (await bob.line()).startswith(numeric("433", "bob", "Lina :"))
        bob.say("NICK bob")  # the same spelling: nothing
        await bob.pong()
        bob.say("NICK Bob")
        assert await bob.line() == ":bob!bob@irc.test NICK :Bob"
        assert await ana.line() == ":bob!bob@irc.test NICK :Bob"
        bob.say("NICK bobby")  # too soon
        assert (await bob.line()).startswith(numeric("438", "Bob", "bobby :"))
        await ana.pong()
        lina.say("/username")
        assert await lina.line() == username("lina")


@pytest_twisted.ensureDeferred
async def test_registered_nickname_and_sasl() -> None:
    async with await start_irc_server() as server:
        await register_ana(server)
        guest = await server.user("guest")
        guest.say("NICK ana")  # registered, no password proved here
        line = await guest.line()
        assert line.startswith(numeric("433", "guest", "ana :")), line
        assert "reservado" in line
        # SASL proved ana's password although the nickname is another: the change is allowed
        sasl = await server.connect("sasl")
        await sasl.register("invitado", sasl=("ana", PASSWORD))
        sasl.say("WHOIS invitado")
        assert not any(" 330 " in line for line in await replies(sasl, "318"))
        sasl.say("NICK Ana")
        assert await sasl.line() == ":invitado!invitado@irc.test NICK :Ana"
        sasl.say("WHOIS ana")
        assert numeric("330", "Ana", "Ana Ana :is logged in as") in await replies(sasl, "318")


@pytest_twisted.ensureDeferred
async def test_renaming_away_from_the_account_ends_the_password_login() -> None:
    async with await start_irc_server() as server:
        await register_ana(server)
        ana = await server.connect("ana")
        await ana.register("ana", sasl=("ana", PASSWORD))
        ana.say("NICK anita")
        assert await ana.line() == ":ana!ana@irc.test NICK :anita"
        ana.say("WHOIS anita")
        assert not any(" 330 " in line for line in await replies(ana, "318"))
        # the old nickname is free now, but still registered: not for a guest
        guest = await server.chat.login("lina")
        guest.say("/nick ana")
        assert (await guest.line()).startswith("! El nickname ana está registrado (reservado)")
