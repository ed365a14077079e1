"""IRC clients (``--irc``, issue 16) over real loopback sockets in one reactor, with line users.

The in-process server of :mod:`tests.support.ircclient`, built as ``twistd chat`` builds it,
with an ``--irc`` listener beside its ``--port`` one; IRC clients are
:class:`~tests.support.ircclient.IrcClient`, line users
:class:`~tests.support.chatclient.ChatClient`. ``PING``/``PONG`` (IRC) and ``/username`` (v1)
are the barriers that prove nothing else reached a client; no test sleeps.
"""

from __future__ import annotations

import re

import pytest
import pytest_twisted
from twisted.internet import defer

from tests.support.expected import (
    FIRST_VISIT,
    RETENTION,
    joined,
    left,
    registered,
    room_joined,
    room_left,
    topic_set,
)
from tests.support.ircclient import SERVER, IrcClient, IrcServer, start_irc_server
from tests.support.ircfuzz import draw_batches, fuzz_lines, send_batch, still_answers
from tests.support.logs import LogEvents, capture, is_error
from tests.support.waits import wait

pytestmark = pytest.mark.timeout(60, method="thread")

#: The password the tests register ``ana`` with.
PASSWORD = "Secreto-ana1"


def numeric(code: str, target: str, rest: str) -> str:
    """A numeric reply line of the test server."""
    return f":{SERVER} {code} {target} {rest}"


async def register_ana(server: IrcServer) -> None:
    """Register ``ana`` from a line user, who leaves."""
    line_ana = await server.chat.login("ana")
    line_ana.say(f"/registrar {PASSWORD}")
    assert await line_ana.line() == registered("ana")
    line_ana.say("/salir")
    await line_ana.wait_closed()
    await server.chat.server_closed(line_ana)


async def no_welcome(client: IrcClient) -> None:
    """``client`` is not registered: a command after registration gets ``451``."""
    client.say("NAMES")
    assert await client.line() == numeric("451", "*", ":You have not registered")


# -- registration ------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_registration_without_cap() -> None:
    async with await start_irc_server() as server:
        lina = await server.chat.login("lina")
        ana = await server.connect("ana")
        ana.say("USER ana 0 * :Ana")  # USER first: any order
        ana.say("NICK ana")
        ana.say("PING early")  # answered after the welcome
        lines = await ana.until(r":irc\.test 376 ana :End of /MOTD command\.")
        codes = [line.split()[1] for line in lines]
        count = codes.count("005")
        lusers = ["251", "252", "254", "255", "265", "266"]  # LUSERS, with 2 users now
        assert codes[: 11 + count] == ["001", "002", "003", "004", *["005"] * count, *lusers, "375"]
        assert lines[4 + count] == numeric(
            "251", "ana", ":There are 2 users and 0 invisible on 1 servers"
        )
        # 005 in lines of at most 13 tokens (and the target and the text)
        isupport_lines = lines[4 : 4 + count]
        assert all(0 < len(line.split(" :")[0].split()) - 3 <= 13 for line in isupport_lines)
        isupport = " ".join(isupport_lines).split()
        for token in (
            "CASEMAPPING=ascii",
            "CHANTYPES=#",
            "PREFIX=(ov)@+",
            "CHANMODES=,,,mnst",
            "NICKLEN=20",
            "CHANNELLEN=33",
            "TOPICLEN=300",
            "UTF8ONLY",
            "CHATHISTORY=100",
            "MSGREFTYPES=timestamp,msgid",
        ):
            assert token in isupport, token
        assert any(token.startswith("TARGMAX=") for token in isupport)
        # the chat's lines of a login are the MOTD; the user is in no room
        assert lines[11 + count :] == [
            numeric("372", "ana", ":- " + RETENTION[2:]),
            numeric("372", "ana", ":- " + FIRST_VISIT[2:]),
            numeric("376", "ana", ":End of /MOTD command."),
        ]
        assert await ana.line() == f":{SERVER} PONG {SERVER} early"
        # the line user sees a login like any other
        assert await lina.line() == joined("ana")
        ana.say("NAMES #general")
        assert await ana.line() == numeric("353", "ana", "= #general :lina")
        assert await ana.line() == numeric("366", "ana", "#general :End of /NAMES list")


@pytest_twisted.ensureDeferred
async def test_ping_before_registration_echoes_the_token() -> None:
    async with await start_irc_server() as server:
        client = await server.connect()
        client.say("PING :some token")
        assert await client.line() == f":{SERVER} PONG {SERVER} :some token"
        await no_welcome(client)


@pytest_twisted.ensureDeferred
async def test_cap_negotiation_holds_registration_until_cap_end() -> None:
    async with await start_irc_server() as server:
        ana = await server.connect("ana")
        ana.say("CAP LS 302")
        offered = (await ana.line()).split(" :", 1)[1].split()
        for cap in (
            "server-time",
            "message-tags",
            "echo-message",
            "multi-prefix",
            "userhost-in-names",
            "sasl=PLAIN",
        ):
            assert cap in offered, cap
        ana.say("NICK ana")
        ana.say("USER ana 0 * :Ana")
        await ana.pong()  # nothing but the PONG: registration waits for CAP END
        ana.say("CAP REQ :server-time unknown-cap")
        assert await ana.line() == f":{SERVER} CAP * NAK :server-time unknown-cap"
        ana.say("CAP REQ :server-time echo-message")
        assert await ana.line() == f":{SERVER} CAP * ACK :server-time echo-message"
        ana.say("CAP LIST")
        assert await ana.line() == f":{SERVER} CAP * LIST :echo-message server-time"
        ana.say("CAP END")
        lines = await ana.until(r":irc\.test 376 ana :.*")
        assert lines[0].startswith(f":{SERVER} 001 ana ")


@pytest_twisted.ensureDeferred
async def test_sasl_plain_good_and_bad() -> None:
    async with await start_irc_server() as server:
        await register_ana(server)
        # a wrong password: 904, and the registered nickname never gets 001
        bad = await server.connect("bad")
        bad.say("CAP LS 302")
        await bad.line()
        bad.say("CAP REQ sasl")
        assert await bad.line() == f":{SERVER} CAP * ACK :sasl"
        bad.authenticate("ana", "wrong-password")
        assert await bad.line() == "AUTHENTICATE +"
        assert await bad.line() == numeric("904", "*", ":SASL authentication failed")
        bad.say("NICK ana")
        bad.say("USER ana 0 * :Ana")
        bad.say("CAP END")
        got = await bad.line()
        assert got.startswith(numeric("464", "*", "")), got
        await no_welcome(bad)
        # the right one: 900, 903, then 001
        ana = await server.connect("ana")
        await ana.register("ana", sasl=("ana", PASSWORD))


@pytest_twisted.ensureDeferred
async def test_pass_checks_the_same_accounts() -> None:
    async with await start_irc_server() as server:
        await register_ana(server)
        wrong = await server.connect("wrong")
        wrong.say(f"PASS not-{PASSWORD}")
        wrong.say("NICK ana")
        wrong.say("USER ana 0 * :Ana")
        got = await wrong.line()
        assert got.startswith(numeric("464", "*", "")), got
        await no_welcome(wrong)
        none = await server.connect("none")
        none.say("NICK ana")
        none.say("USER ana 0 * :Ana")
        got = await none.line()
        assert got.startswith(numeric("464", "*", "")), got
        await no_welcome(none)
        ana = await server.connect("ana")
        await ana.register("ana", password=PASSWORD)


@pytest_twisted.ensureDeferred
async def test_nickname_rules_432_and_433() -> None:
    async with await start_irc_server() as server:
        await server.chat.login("lina")
        client = await server.connect()
        client.say("USER x 0 * :X")
        client.say("NICK 1abc")
        got = await client.line()
        assert got.startswith(numeric("432", "*", "1abc :")), got
        client.say("NICK nombre_demasiado_largo_de_verdad")
        got = await client.line()
        assert got.startswith(numeric("432", "*", "nombre_demasiado_largo_de_verdad :")), got
        client.say("NICK LINA")  # in use by a line user (any case)
        got = await client.line()
        assert got.startswith(numeric("433", "*", "LINA :")), got
        await no_welcome(client)
        client.say("NICK otra")
        await client.until(r":irc\.test 376 otra :.*")
        # and a line user cannot take an IRC user's nickname
        other = await server.chat.connect()
        await other.line()
        other.say("Otra")
        assert (await other.line()).startswith("! ")


# -- after registration ------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_two_irc_users_join_part_privmsg_notice() -> None:
    async with await start_irc_server() as server:
        ana = await server.user("ana")
        await ana.join("#general")
        bob = await server.user("bob")  # in no room: ana is not told
        await ana.pong()
        ana.say("JOIN #juegos,#cine")
        assert await ana.line() == ":ana!ana@irc.test JOIN #juegos"
        assert await ana.line() == numeric("353", "ana", "= #juegos :@ana")
        assert await ana.line() == numeric("366", "ana", "#juegos :End of /NAMES list")
        assert await ana.line() == ":ana!ana@irc.test JOIN #cine"
        await ana.until(r":irc\.test 366 ana #cine :.*")
        bob.say("PRIVMSG #juegos :hola")
        assert await bob.line() == numeric("404", "bob", "#juegos :Cannot send to channel")
        bob.say("PRIVMSG #nada :hola")
        assert await bob.line() == numeric("403", "bob", "#nada :No such channel")
        bob.say("NOTICE #juegos :hola")  # NOTICE: never an error
        await bob.pong()
        bob.say("JOIN #Juegos")
        assert await bob.line() == ":bob!bob@irc.test JOIN #juegos"
        assert await bob.line() == numeric("353", "bob", "= #juegos :@ana bob")
        assert await bob.line() == numeric("366", "bob", "#juegos :End of /NAMES list")
        assert await ana.line() == ":bob!bob@irc.test JOIN #juegos"
        bob.say("PRIVMSG #juegos :hola a todos")
        assert await ana.line() == ":bob!bob@irc.test PRIVMSG #juegos :hola a todos"
        bob.say("NOTICE #juegos :aviso")
        assert await ana.line() == ":bob!bob@irc.test NOTICE #juegos :aviso"
        await bob.pong()  # no copy of its own messages without echo-message
        bob.say("PRIVMSG ana :en privado")
        assert await ana.line() == ":bob!bob@irc.test PRIVMSG ana :en privado"
        bob.say("NOTICE ANA :aviso privado")
        assert await ana.line() == ":bob!bob@irc.test NOTICE ana :aviso privado"
        bob.say("PRIVMSG nadie :hola")
        assert await bob.line() == numeric("401", "bob", "nadie :No such nick/channel")
        bob.say("NOTICE nadie :hola")
        bob.say("NAMES #juegos")
        assert await bob.line() == numeric("353", "bob", "= #juegos :@ana bob")
        assert await bob.line() == numeric("366", "bob", "#juegos :End of /NAMES list")
        bob.say("PART #juegos :hasta luego")
        assert await bob.line() == ":bob!bob@irc.test PART #juegos :hasta luego"
        assert await ana.line() == ":bob!bob@irc.test PART #juegos :hasta luego"
        bob.say("PART #juegos")
        assert await bob.line() == numeric("442", "bob", "#juegos :You're not on that channel")
        await bob.join("#cine")
        assert await ana.line() == ":bob!bob@irc.test JOIN #cine"
        bob.say("QUIT :me voy")
        assert await bob.line() == "ERROR :Quit: me voy"
        await bob.wait_closed()
        assert await ana.line() == ":bob!bob@irc.test QUIT :Quit: me voy"
        await ana.pong()


@pytest_twisted.ensureDeferred
async def test_topic() -> None:
    async with await start_irc_server() as server:
        ana = await server.user("ana")
        bob = await server.user("bob")
        await ana.join("#juegos")
        ana.say("TOPIC #juegos")
        assert await ana.line() == numeric("331", "ana", "#juegos :No topic is set")
        ana.say("TOPIC #juegos :cartas y dados")
        assert await ana.line() == ":ana!ana@irc.test TOPIC #juegos :cartas y dados"
        bob.say("JOIN #juegos")
        assert await bob.line() == ":bob!bob@irc.test JOIN #juegos"
        assert await bob.line() == numeric("332", "bob", "#juegos :cartas y dados")
        await bob.until(r":irc\.test 366 bob #juegos :.*")
        assert await ana.line() == ":bob!bob@irc.test JOIN #juegos"
        bob.say("TOPIC #juegos :otro")  # not the room's operator
        got = await bob.line()
        assert got.startswith(numeric("482", "bob", "#juegos :")), got
        await bob.join("#general")
        bob.say("TOPIC #general :otro")  # a permanent room: server operators only
        got = await bob.line()
        assert got.startswith(numeric("482", "bob", "#general :")), got


@pytest_twisted.ensureDeferred
async def test_irc_and_line_users_both_ways() -> None:
    async with await start_irc_server() as server:
        lina = await server.chat.login("lina")
        ana = await server.user("ana")
        assert await lina.line() == joined("ana")
        # in no room, ana gets private messages but not the room's
        lina.say("#ana en privado")
        assert await lina.line() == "-> *ana* en privado"
        assert await ana.line() == ":lina!lina@irc.test PRIVMSG ana :en privado"
        ana.say("PRIVMSG lina :respuesta")
        assert await lina.line() == "*ana* respuesta"
        lina.say("nadie me oye")
        await lina.sync()
        lines = await ana.join("#general")
        assert lines[0] == ":ana!ana@irc.test JOIN #general"
        assert numeric("353", "ana", "= #general :ana lina") in lines
        # the room's replay, as every JOIN gets it
        replayed = await ana.line()
        assert re.fullmatch(
            r":irc\.test NOTICE #general :\[[-0-9T:]+Z\] <lina> nadie me oye", replayed
        ), replayed
        assert await lina.line() == room_joined("ana", "general")
        # public, both ways
        lina.say("hola desde nc")
        assert await ana.line() == ":lina!lina@irc.test PRIVMSG #general :hola desde nc"
        ana.say("PRIVMSG #general :hola desde irc")
        assert await lina.line() == "<ana> hola desde irc"
        ana.say("NOTICE #general :un aviso")
        assert await lina.line() == "<ana> un aviso"
        # a line user's move is PART and JOIN; an IRC user's JOIN and PART are room notices
        lina.say("/unirse juegos")
        assert await ana.line() == ":lina!lina@irc.test PART #general"
        assert (await lina.line()).startswith("* Sala juegos (1)")
        await ana.join("#juegos")
        assert await lina.line() == room_joined("ana", "juegos")
        lina.say("/tema cartas")  # lina created the room: its operator
        assert await ana.line() == ":lina!lina@irc.test TOPIC #juegos :cartas"
        assert await lina.line() == topic_set("lina", "cartas")
        lina.say("en juegos")
        assert await ana.line() == ":lina!lina@irc.test PRIVMSG #juegos :en juegos"
        ana.say("PART #juegos")
        assert await ana.line() == ":ana!ana@irc.test PART #juegos"
        assert await lina.line() == room_left("ana", "juegos")
        lina.say("/unirse general")
        assert await ana.line() == ":lina!lina@irc.test JOIN #general"
        # a line user leaving the chat is a QUIT
        lina.say("/salir")
        assert await ana.line() == ":lina!lina@irc.test QUIT :Quit"
        # an IRC user leaving the chat: line users read it left, in a room or in none
        bob = await server.chat.login("bob")
        assert await ana.line() == ":bob!bob@irc.test JOIN #general"
        cris = await server.user("cris")  # in no room
        assert await bob.line() == joined("cris")
        cris.say("QUIT")
        assert await cris.line() == "ERROR :Quit"
        assert await bob.line() == left("cris")
        ana.say("QUIT")
        assert await ana.line() == "ERROR :Quit"
        assert await bob.line() == left("ana")
        await bob.sync()


@pytest_twisted.ensureDeferred
async def test_echo_message_and_server_time() -> None:
    async with await start_irc_server() as server:
        lina = await server.chat.login("lina")
        ana = await server.user("ana", caps=("echo-message", "server-time", "message-tags"))
        assert await lina.line() == joined("ana")
        await ana.join("#general")
        assert await lina.line() == room_joined("ana", "general")
        ana.say("PRIVMSG #general :con eco")
        echo = await ana.line()
        assert echo.startswith("@time="), echo
        assert echo.endswith(" :ana!ana@irc.test PRIVMSG #general :con eco"), echo
        assert ";msgid=" in echo.split(" ", 1)[0]
        assert await lina.line() == "<ana> con eco"
        ana.say("PRIVMSG lina :privado con eco")
        assert (await ana.line()).endswith(" :ana!ana@irc.test PRIVMSG lina :privado con eco")
        assert await lina.line() == "*ana* privado con eco"
        # history: the replay at JOIN, as messages at their time with server-time
        bob = await server.user("bob", caps=("server-time",))
        assert not any("con eco" in line for line in bob.received)  # not at login: no room
        bob.say("JOIN #general")
        await bob.until(r"@time=\S+ :ana!ana@irc\.test PRIVMSG #general :con eco")
        # without server-time, a notice that says when (never taken for live traffic)
        cris = await server.user("cris")
        cris.say("JOIN #general")
        await cris.until(r":irc\.test NOTICE #general :\[[-0-9T:]+Z\] <ana> con eco")


@pytest_twisted.ensureDeferred
async def test_unregistered_and_unknown_commands() -> None:
    async with await start_irc_server() as server:
        client = await server.connect()
        client.say("JOIN #general")
        assert await client.line() == numeric("451", "*", ":You have not registered")
        client.say("FOO bar")
        assert await client.line() == numeric("451", "*", ":You have not registered")
        ana = await server.user("ana")
        ana.say("FOO bar")
        assert await ana.line() == numeric("421", "ana", "FOO :Unknown command")
        ana.say("USER a 0 * :b")
        assert await ana.line() == numeric("462", "ana", ":You may not reregister")
        ana.say("JOIN")
        assert await ana.line() == numeric("461", "ana", "JOIN :Not enough parameters")
        ana.say("JOIN juegos")
        assert await ana.line() == numeric("403", "ana", "juegos :No such channel")
        ana.say("PRIVMSG")
        assert await ana.line() == numeric("411", "ana", ":No recipient given (PRIVMSG)")
        ana.say("PRIVMSG #general")
        assert await ana.line() == numeric("412", "ana", ":No text to send")
        # control characters but formatting and CTCP in a message's text are refused as on
        # every transport (tests/inprocess/test_irc_formatting.py has the rest)
        ana.say("PRIVMSG #general :saluda\x07")
        got = await ana.line()
        assert got.startswith(f":{SERVER} NOTICE ana :La línea contiene caracteres de control"), got
        client.say("CAP LS \x02")
        got = await client.line()
        assert got.startswith(f":{SERVER} NOTICE * :La línea contiene caracteres de control"), got
        await ana.pong()


@pytest_twisted.ensureDeferred
async def test_shutdown_says_why_and_error() -> None:
    async with await start_irc_server() as server:
        ana = await server.user("ana")
        service = server.chat.service
        kinds = [session.transport.kind for session in service.factory.connections]
        assert kinds == ["irc"]
        stopping = defer.maybeDeferred(service.stopService)
        got = await ana.line()
        assert got.startswith(f":{SERVER} NOTICE ana :"), got
        assert await ana.line() == "ERROR :Closing link (shutdown)"
        await ana.wait_closed()
        await wait(stopping, "the service to stop", 15)


@pytest_twisted.ensureDeferred
async def test_behind_a_balancer_the_client_s_address_counts() -> None:
    async with await start_irc_server(endpoint="haproxy:tcp:0:interface=127.0.0.1") as server:
        ana = await server.connect("ana")
        ana.send(b"PROXY TCP4 203.0.113.9 127.0.0.1 5555 6667\r\n")
        await ana.register("ana")
        hosts = [session.host for session in server.chat.service.factory.connections]
        assert hosts == ["203.0.113.9"]


# -- framing -----------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_byte_by_byte() -> None:
    async with await start_irc_server() as server:
        lina = await server.chat.login("lina")
        ana = await server.connect("ana")
        await server.send_bytewise(ana, b"NICK ana\r\nUSER ana 0 * :Ana\r\n")
        await ana.until(r":irc\.test 376 ana :.*")
        assert await lina.line() == joined("ana")
        await server.send_bytewise(ana, b"JOIN #general\r\n")
        await ana.until(r":irc\.test 366 ana #general :.*")
        assert await lina.line() == room_joined("ana", "general")
        # a message with multibyte characters, each of its bytes read alone
        await server.send_bytewise(ana, "PRIVMSG #general :¡hola, señora! 👋\n".encode())
        assert await lina.line() == "<ana> ¡hola, señora! 👋"


@pytest_twisted.ensureDeferred
async def test_lines_over_512_bytes_get_417() -> None:
    async with await start_irc_server() as server:
        lina = await server.chat.login("lina")
        ana = await server.user("ana")
        assert await lina.line() == joined("ana")
        await ana.join("#general")
        assert await lina.line() == room_joined("ana", "general")
        head = "PRIVMSG #general :"
        exact = head + "x" * (510 - len(head))  # 512 bytes with its CRLF
        ana.say(exact)
        assert await lina.line() == "<ana> " + "x" * (510 - len(head))
        ana.say(exact + "y")  # 513
        assert await ana.line() == numeric("417", "ana", ":Input line was too long")
        # tags do not count towards the 512 bytes
        ana.say("@+client-tag=" + "t" * 1000 + " " + exact)
        assert await lina.line() == "<ana> " + "x" * (510 - len(head))
        # past the splitter's limit too (tags and line): one 417, and the next line works
        ana.send(b"@" + b"t" * 10_000 + b" PING x\r\n")
        assert await ana.line() == numeric("417", "ana", ":Input line was too long")
        await ana.pong()


# -- fuzz --------------------------------------------------------------------------------------

#: IRC-ish words, so that fuzzed lines often reach the commands.
WORDS = [
    "NICK",
    "USER",
    "PASS",
    "CAP",
    "LS",
    "REQ",
    "END",
    "AUTHENTICATE",
    "PLAIN",
    "JOIN",
    "PART",
    "PRIVMSG",
    "NOTICE",
    "TOPIC",
    "NAMES",
    "PING",
    "PONG",
    "QUIT",
    "#general",
    "#x",
    "0",
    ":",
    ":a b",
    "@a=b",
    "*",
    "+",
    ",",
    "ana",
    "fuzz",
]

irc_lines = fuzz_lines(WORDS, max_text=30, min_words=0, max_words=8)


def fuzz_batches(count: int) -> list[list[str]]:
    """``count`` batches of lines drawn by Hypothesis (its generation, without shrinking: the
    property is checked over sockets afterwards)."""
    return draw_batches(irc_lines, count, max_lines=6)


@pytest_twisted.ensureDeferred
async def test_fuzzed_lines_never_crash_or_block_the_listener() -> None:
    with capture(LogEvents(is_error)) as errors:
        async with await start_irc_server() as server:
            watcher = await server.user("watcher")
            await watcher.join("#general")
            fuzzer: IrcClient | None = None
            answered = 0
            for number, batch in enumerate(fuzz_batches(80)):
                if fuzzer is None or fuzzer.closed:
                    fuzzer = await server.connect(f"fuzz{number}")
                    if number % 2:  # half of them registered first
                        await fuzzer.register(f"fuzz{number}")
                # the PONG comes, unless the fuzz quit: nothing blocked
                if await send_batch(fuzzer, batch):
                    answered += 1
                await still_answers(watcher, number)  # the server still serves everyone
            assert answered > 40
            # the registry holds only open connections; a newcomer still registers and talks
            room = server.chat.service.chat.room
            connections = server.chat.service.factory.connections
            for member in room.members():
                assert member in connections
            last = await server.user("last")
            last.say("JOIN #general")
            last.say("PRIVMSG #general :sigo vivo")
            await watcher.until(r":last!last@irc\.test PRIVMSG #general :sigo vivo")
    assert not errors.events, errors.describe()
