"""twisted_chat.irc.queries and its neighbours over real loopback sockets in one reactor:
``ISON``, ``USERHOST`` (a server operator's ``*``, an away ``-``), ``VERSION`` and its ``005``
lines, ``INVITE`` to an IRC user and to a line user (and its limit), the ``CHANLIMIT`` cap
(``405``), user mode ``+i`` with ``WHO`` (irctest's ``testWhoInvisible`` in our words), and a
Hypothesis fuzz of these commands (no error logged, every ``PING`` answered).

The server and clients are those of :mod:`tests.inprocess.test_irc_sockets`; ``PING``/``PONG``
(IRC) and ``/username`` (v1) are the barriers. No test sleeps.
"""

from __future__ import annotations

import pytest
import pytest_twisted

from tests.inprocess.test_irc_commands import replies, room_of_three
from tests.inprocess.test_irc_sockets import PASSWORD, numeric, register_ana
from tests.support.expected import joined
from tests.support.ircclient import SERVER, start_irc_server
from tests.support.ircfuzz import draw_batches, fuzz_beside_lina, fuzz_lines
from twisted_chat.irc.queries import INVITE_BURST
from twisted_chat.roomnames import DEFAULT_MAX_CHANNELS

pytestmark = pytest.mark.timeout(60, method="thread")


@pytest_twisted.ensureDeferred
async def test_ison_userhost_and_version() -> None:
    async with await start_irc_server("--operator", "ana") as server:
        await register_ana(server)
        lina = await server.chat.login("lina")
        ana = await server.connect("ana")
        await ana.register("ana", password=PASSWORD)
        assert await lina.line() == joined("ana")
        bob = await server.user("bob")
        assert await lina.line() == joined("bob")
        bob.say("AWAY :comiendo")
        await bob.line()
        bob.say("ISON Ana nadie LINA")
        assert await bob.line() == numeric("303", "bob", ":ana lina")
        bob.say("USERHOST ana bob nadie")
        assert await bob.line() == numeric("302", "bob", f":ana*=+ana@{SERVER} bob=-bob@{SERVER}")
        bob.say("VERSION")
        lines = await bob.until(rf":{SERVER} 005 bob (.* )?WHOX .*")  # the last token
        await bob.pong()
        assert lines[0].startswith(f":{SERVER} 351 bob twisted-chat-")
        assert [line.split()[1] for line in lines[1:]] == ["005", "005"]
        isupport = " ".join(lines[1:])
        assert f" CHANLIMIT=#:{DEFAULT_MAX_CHANNELS} " in isupport
        assert " WHOX " in isupport
        await lina.sync()  # line users were told nothing


@pytest_twisted.ensureDeferred
async def test_invite_an_irc_user_and_a_line_user() -> None:
    async with await start_irc_server() as server:
        ana, bob, lina = await room_of_three(server)  # ana and bob in #juegos, lina in #general
        carla = await server.user("carla")
        assert await lina.line() == joined("carla")
        ana.say("INVITE carla #JUEGOS")
        assert await ana.line() == numeric("341", "ana", "carla #juegos")
        assert await carla.line() == f":ana!ana@{SERVER} INVITE carla #juegos"
        ana.say("INVITE lina #juegos")
        assert await ana.line() == numeric("341", "ana", "lina #juegos")
        assert await lina.line() == "* ana te invita a la sala juegos: /unirse juegos"
        lina.say("/unirse juegos")  # the invitation works as it says
        assert await ana.line() == f":lina!lina@{SERVER} JOIN #juegos"
        assert await bob.line() == f":lina!lina@{SERVER} JOIN #juegos"
        ana.say("INVITE bob #juegos")
        assert await ana.line() == numeric("443", "ana", "bob #juegos :is already on channel")
        carla.say("INVITE bob #juegos")
        assert await carla.line() == numeric("442", "carla", "#juegos :You're not on that channel")
        await bob.pong()  # bob was not invited


@pytest_twisted.ensureDeferred
async def test_invitations_are_limited() -> None:
    async with await start_irc_server() as server:
        ana = await server.user("ana")
        bob = await server.user("bob")
        await ana.join("#juegos")
        for _ in range(INVITE_BURST):
            ana.say("INVITE bob #juegos")
            assert await ana.line() == numeric("341", "ana", "bob #juegos")
        ana.say("INVITE bob #juegos")
        assert await ana.line() == numeric(
            "263", "ana", "INVITE :Please wait a while and try again."
        )
        for _ in range(INVITE_BURST):
            assert await bob.line() == f":ana!ana@{SERVER} INVITE bob #juegos"
        await bob.pong()  # no sixth


@pytest_twisted.ensureDeferred
async def test_chanlimit() -> None:
    async with await start_irc_server("--irc-max-channels", "3") as server:
        ana = await server.connect("ana")
        welcome = await ana.register("ana")
        assert " CHANLIMIT=#:3 " in " ".join(line for line in welcome if " 005 " in line)
        ana.say("JOIN #s0,#s1,#s2")
        await ana.until(rf":{SERVER} 366 ana #s2 .*")
        ana.say("JOIN #una_mas")
        assert await ana.line() == numeric(
            "405", "ana", "#una_mas :You have joined too many channels"
        )
        ana.say("LIST #una_mas")
        assert await replies(ana, "323") == [
            numeric("321", "ana", "Channel :Users  Name"),
            numeric("323", "ana", ":End of /LIST"),
        ]


@pytest_twisted.ensureDeferred
async def test_invisible_users_and_who() -> None:
    async with await start_irc_server() as server:
        evan = await server.user("evan")
        evan.say("MODE evan +i")
        assert await evan.line() == f":evan!evan@{SERVER} MODE evan :+i"
        evan.say("MODE evan")
        assert await evan.line() == f":{SERVER} 221 evan +i"
        shivaram = await server.user("shivaram")
        shivaram.say("WHO eva*")
        assert await replies(shivaram, "315") == [
            numeric("315", "shivaram", "eva* :End of WHO list")
        ]
        shivaram.say("WHO evan")  # a nickname: shown
        assert [line.split()[1] for line in await replies(shivaram, "315")] == ["352", "315"]
        await evan.join("#test")
        await shivaram.join("#test")
        shivaram.say("WHO eva*")  # they share a channel
        assert [line.split()[1] for line in await replies(shivaram, "315")] == ["352", "315"]
        lina = await server.chat.login("lina")
        lina.say("/listar")  # the chat's own list shows everyone
        assert "evan" in await lina.line()


# -- fuzz ----------------------------------------------------------------------------------------

WORDS = [
    *("ISON", "USERHOST", "VERSION", "TIME", "INFO", "ADMIN", "USERS", "INVITE", "MODE", "WHO"),
    *("JOIN", "PART", "LUSERS", "ana", "lina", "nadie", "#general", "#x", "#", "*", "a*", "?"),
    *("+i", "-i", "+iw", "-o", "i", SERVER, "otro.server", ":", ":a b c d e f g", ","),
]

query_lines = fuzz_lines(WORDS, max_text=10, max_words=7)


def query_batches(count: int) -> list[list[str]]:
    """``count`` batches of lines drawn by Hypothesis (generation only)."""
    return draw_batches(query_lines, count, max_lines=8)


@pytest_twisted.ensureDeferred
async def test_fuzzed_queries_never_crash() -> None:
    assert await fuzz_beside_lina(query_batches(30)) > 15
