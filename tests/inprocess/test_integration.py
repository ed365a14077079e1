"""Wire protocol v1 over real loopback TCP, the server in process, through pytest-twisted.

Each test runs the server built exactly as ``twistd chat`` builds it (``Options`` +
``makeService``, see :mod:`tests.support.chatclient`) on 127.0.0.1, and asserts the exact lines each
client receives. ``/username`` (whose reply is fixed) is the barrier that proves nothing else was
sent; no test sleeps. The returning user on MariaDB: ``tests/e2e/test_integration_mariadb.py``.
"""

from __future__ import annotations

import random
import re
import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest
import pytest_twisted
from twisted.logger import formatEvent

from tests.support.chatclient import ChatClient, ChatServer, nfc, start_server
from tests.support.expected import (
    AYUDA_ORIGINAL,
    BAD_UTF8,
    CONTROL,
    EMPTY_COMMAND,
    FIRST_VISIT,
    HORA,
    NICK_INVALID,
    PRIVATE_EMPTY,
    PRIVATE_SELF,
    PROMPT,
    RETENTION,
    TOO_LONG,
    bad_private_nick,
    conectados,
    goodbye,
    joined,
    last_seen,
    left,
    offline,
    taken,
    unknown_command,
    username,
    welcome,
)
from tests.support.logs import LogEvents, capture

# Every wait in these tests is bounded (5 s, tests/support/waits.py); this is only a backstop. The
# thread method, because pytest-timeout's default signal method raises inside the reactor loop,
# which logs and swallows the exception, so a stuck test would hang instead of failing.
pytestmark = pytest.mark.timeout(60, method="thread")

# -- what the server says (Spanish, the default catalogue; the rest is in tests/support/expected.py)


async def two_users(server: ChatServer) -> tuple[ChatClient, ChatClient]:
    ana, bob = await server.login_all("ana", "bob")
    return ana, bob


async def three_users(server: ChatServer) -> tuple[ChatClient, ChatClient, ChatClient]:
    ana, bob, carol = await server.login_all("ana", "bob", "carol")
    return ana, bob, carol


# == Framing ======================================================================================


@pytest_twisted.ensureDeferred
async def test_several_lines_in_one_segment(server: ChatServer) -> None:
    ana, bob = await two_users(server)
    await server.send_segments(ana, [b"uno\r\ndos\ntres\r\n/username\r\n#bob cuatro\n"])
    assert await ana.lines(2) == [username("ana"), "-> *bob* cuatro"]
    assert await bob.lines(4) == ["<ana> uno", "<ana> dos", "<ana> tres", "*ana* cuatro"]
    await bob.sync()
    await ana.sync()


@pytest_twisted.ensureDeferred
async def test_nickname_and_messages_in_one_segment(server: ChatServer) -> None:
    (bob,) = await server.login_all("bob")
    ana = await server.connect()
    assert await ana.line() == PROMPT
    await server.send_segments(ana, [b"ana\r\nhola\r\n/username\r\n"])
    assert await ana.lines(2) == [welcome("ana"), RETENTION]
    # The database line is asynchronous: it may come before or after the command's reply.
    assert sorted(await ana.lines(2)) == sorted([FIRST_VISIT, username("ana")])
    assert await bob.lines(2) == [joined("ana"), "<ana> hola"]
    ana.nickname = "ana"
    await ana.sync()
    await bob.sync()


@pytest_twisted.ensureDeferred
async def test_line_split_byte_by_byte(server: ChatServer) -> None:
    ana, bob = await two_users(server)
    await server.send_bytewise(ana, "hola, ¿qué tal? 👋🏽\r\n".encode())
    assert await bob.line() == "<ana> hola, ¿qué tal? 👋🏽"
    await server.send_bytewise(ana, b"#bob en privado\n")
    assert await bob.line() == "*ana* en privado"
    assert await ana.line() == "-> *bob* en privado"
    await server.send_bytewise(ana, b"/listar\r\n")
    assert await ana.line() == conectados("ana", "bob")
    await ana.sync()
    await bob.sync()


@pytest_twisted.ensureDeferred
async def test_nickname_split_byte_by_byte(server: ChatServer) -> None:
    client = await server.connect()
    assert await client.line() == PROMPT
    await server.send_bytewise(client, "Ñandú\r\n".encode())
    assert await client.lines(3) == [welcome("Ñandú"), RETENTION, FIRST_VISIT]
    client.nickname = "Ñandú"
    await client.sync()


@pytest_twisted.ensureDeferred
async def test_partial_line_waits_for_its_newline(server: ChatServer) -> None:
    ana, bob = await two_users(server)
    await server.send_segments(ana, [b"hola"])
    await bob.sync()  # the unterminated line was not relayed
    await server.send_segments(ana, [b" mundo", b"\r\n"])
    assert await bob.line() == "<ana> hola mundo"
    await ana.sync()


@pytest.mark.parametrize(
    ("segments", "relayed"),
    [
        ([b"lf\n"], "lf"),
        ([b"crlf\r\n"], "crlf"),
        ([b"cr apart\r", b"\n"], "cr apart"),
        ([b"mixed\nlines\r\nhere\n"], None),
    ],
    ids=["LF", "CRLF", "CR-then-LF-in-next-segment", "LF-and-CRLF-mixed"],
)
@pytest_twisted.ensureDeferred
async def test_lf_and_crlf_terminators(
    server: ChatServer, segments: list[bytes], relayed: str | None
) -> None:
    ana, bob = await two_users(server)
    await server.send_segments(ana, segments)
    if relayed is None:
        assert await bob.lines(3) == ["<ana> mixed", "<ana> lines", "<ana> here"]
    else:
        assert await bob.line() == f"<ana> {relayed}"
    await bob.sync()
    await ana.sync()


@pytest_twisted.ensureDeferred
async def test_only_one_trailing_cr_is_stripped(server: ChatServer) -> None:
    ana, bob = await two_users(server)
    await server.send_segments(ana, [b"dos cr\r\r\n"])  # the remaining CR is a control character
    assert await ana.line() == CONTROL
    await ana.sync()
    await bob.sync()


# == UTF-8 ========================================================================================


@pytest_twisted.ensureDeferred
async def test_utf8_text_public_and_private(server: ChatServer) -> None:
    ana, bob, carol = await server.login_all("ana", "Begoña", "carol")
    text = "ñandú, 👋🏽, 中文, Ελληνικά, أهلا"
    ana.say(text)
    assert await bob.line() == f"<ana> {text}"
    assert await carol.line() == f"<ana> {text}"
    ana.say(f"#begoña {text}")
    assert await ana.line() == f"-> *Begoña* {text}"
    assert await bob.line() == f"*ana* {text}"
    for client in (ana, bob, carol):
        await client.sync()


@pytest_twisted.ensureDeferred
async def test_multibyte_character_split_across_segments(server: ChatServer) -> None:
    ana, bob = await two_users(server)
    # ñ is C3 B1; 👋 is F0 9F 91 8B: each is cut between reads.
    await server.send_segments(ana, [b"a\xc3", b"\xb1o \xf0", b"\x9f", b"\x91", b"\x8b!\r\n"])
    assert await bob.line() == "<ana> año 👋!"
    await ana.sync()
    await bob.sync()


@pytest.mark.parametrize(
    "line",
    [
        b"\xff\xfe",
        b"caf\xe9",  # Latin-1, not UTF-8
        b"trunc\xc3",  # a multibyte character cut by the end of the line
        b"\xc0\xaf",  # overlong encoding of "/"
        b"\xed\xa0\x80",  # a UTF-16 surrogate
        b"\xf4\x90\x80\x80",  # beyond U+10FFFF
    ],
)
@pytest_twisted.ensureDeferred
async def test_invalid_utf8_gets_one_error_and_the_connection_stays(
    server: ChatServer, line: bytes
) -> None:
    ana, bob = await two_users(server)
    await server.send_segments(ana, [line + b"\r\nsigo\r\n"])
    assert await ana.line() == BAD_UTF8
    assert await bob.line() == "<ana> sigo"
    await ana.sync()
    await bob.sync()


@pytest_twisted.ensureDeferred
async def test_invalid_utf8_at_the_nickname_prompt(server: ChatServer) -> None:
    client = await server.connect()
    assert await client.line() == PROMPT
    client.send(b"\xffana\r\n")
    assert await client.line() == BAD_UTF8
    await client.login("ana", prompt=False)
    await client.sync()


# == Commands =====================================================================================


@pytest.mark.parametrize(
    "command", ["/listar", "/list", "/LISTAR", "/List", "/listar con argumentos"]
)
@pytest_twisted.ensureDeferred
async def test_listar(server: ChatServer, command: str) -> None:
    carol, bob, ana = await server.login_all("carol", "Bob", "ana")
    ana.say(command)
    assert await ana.line() == conectados("ana", "Bob", "carol")  # sorted by casefold
    for client in (ana, bob, carol):
        await client.sync()


@pytest.mark.parametrize("command", ["/username", "/whoami", "/USERNAME", "/WhoAmI", "/whoami x"])
@pytest_twisted.ensureDeferred
async def test_username(server: ChatServer, command: str) -> None:
    client = await server.login("José")
    client.say(command)
    assert await client.line() == username("José")
    await client.sync()


@pytest.mark.parametrize("command", ["/ayuda", "/help", "/AYUDA", "/Help me"])
@pytest_twisted.ensureDeferred
async def test_ayuda(server: ChatServer, command: str) -> None:
    client = await server.login("ana")
    client.say(command)
    assert await read_help(client, AYUDA_ORIGINAL) == AYUDA_ORIGINAL
    await client.sync()


async def read_help(client: ChatClient, expected: list[str]) -> list[str]:
    """Read a help listing up to its last line (``expected[-1]``); return its lines that are in
    ``expected``, after checking that every line is a notice and the header comes first.

    Later issues add commands; their lines are allowed in between, these must all be there.
    """
    lines = [await client.line()]
    while lines[-1] != expected[-1]:
        assert len(lines) < 40, lines
        lines.append(await client.line())
    assert lines[0] == expected[0]
    assert all(line.startswith("* ") for line in lines), lines
    return [line for line in lines if line in expected]


@pytest.mark.parametrize("command", ["/hora", "/time", "/HORA", "/Time ahora"])
@pytest_twisted.ensureDeferred
async def test_hora(server: ChatServer, command: str) -> None:
    client = await server.login("ana")
    before = datetime.now(UTC).replace(microsecond=0)
    client.say(command)
    match = HORA.fullmatch(await client.line())
    after = datetime.now(UTC)
    assert match is not None
    shown = datetime.fromisoformat(match.group(1))
    assert before <= shown <= after
    assert shown.utcoffset() == datetime.now().astimezone().utcoffset()  # the server's local time
    await client.sync()


@pytest.mark.parametrize("command", ["/salir", "/quit", "/SALIR", "/Quit ya me voy"])
@pytest_twisted.ensureDeferred
async def test_salir(server: ChatServer, command: str) -> None:
    ana, bob = await two_users(server)
    ana.say(command)
    assert await ana.line() == goodbye("ana")
    await ana.wait_closed()  # closed by the server
    assert ana.unread == []
    assert await bob.line() == left("ana")
    bob.say("/listar")
    assert await bob.line() == conectados("bob")
    await bob.sync()


@pytest.mark.parametrize(
    ("command", "error"),
    [
        ("/foo", unknown_command("foo")),
        ("/foo bar baz", unknown_command("foo")),
        ("/FOO", unknown_command("FOO")),
        ("/cmd_listar", unknown_command("cmd_listar")),
        ("/__init__", unknown_command("__init__")),
        ("/", EMPTY_COMMAND),
        ("/ listar", EMPTY_COMMAND),
    ],
)
@pytest_twisted.ensureDeferred
async def test_unknown_and_empty_commands(server: ChatServer, command: str, error: str) -> None:
    ana, bob = await two_users(server)
    ana.say(command)
    assert await ana.line() == error
    await ana.sync()
    await bob.sync()


@pytest_twisted.ensureDeferred
async def test_english_server_accepts_both_languages() -> None:
    async with await start_server("--lang", "en") as server:
        ana = await server.connect()
        assert await ana.line() == "* Welcome to twisted-chat. Choose a nickname:"
        ana.say("1ana")
        assert await ana.line() == (
            "! Invalid nickname: 1 to 20 letters, digits, _ or -, starting with a letter. "
            "Choose another nickname:"
        )
        ana.say("ana")
        assert await ana.lines(3) == [
            "* Welcome, ana. Type /help for the list of commands.",
            "* Public messages are kept for 30 days; /forget erases yours.",
            "* This is your first connection.",
        ]
        ana.say("/listar")
        assert await ana.line() == "* Connected (1): ana"
        ana.say("/WHOAMI")
        assert await ana.line() == "* Your nickname is ana."
        ana.say("/ayuda")
        help_lines = [
            "* Commands (Spanish names work too):",
            "* /listar, /list: list connected users",
            "* /salir, /quit: close the connection",
            "* /username, /whoami: show your nickname",
            "* /ayuda, /help: show this help",
            "* /hora, /time: show the server time",
            "* #nick text: private message to nick; any other line goes to everyone.",
        ]
        assert await read_help(ana, help_lines) == help_lines
        ana.say("/hora")
        assert re.fullmatch(
            r"\* Server time: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", await ana.line()
        )
        ana.say("/nope")
        assert await ana.line() == "! Unknown command: /nope. Type /help for the list of commands."
        ana.say("/salir")
        assert await ana.line() == "* Goodbye, ana."
        await ana.wait_closed()


# == Routing ======================================================================================


@pytest_twisted.ensureDeferred
async def test_public_message_goes_to_everyone_but_the_sender(server: ChatServer) -> None:
    ana, bob, carol = await three_users(server)
    for text in ["  hola   a todos  ", "\ttabulado\t", " /listar", " #bob no es privado", "a#b /c"]:
        ana.say(text)
        assert await bob.line() == f"<ana> {text}"
        assert await carol.line() == f"<ana> {text}"
    for client in (ana, bob, carol):
        await client.sync()


@pytest_twisted.ensureDeferred
async def test_blank_lines_are_ignored(server: ChatServer) -> None:
    ana, bob = await two_users(server)
    await server.send_segments(ana, [b"\r\n", b"\n", b"   \r\n", b"\t \t\n", b"\r\n\n \n"])
    await ana.sync()
    await bob.sync()


@pytest_twisted.ensureDeferred
async def test_private_message_routing(server: ChatServer) -> None:
    ana, bob, carol = await three_users(server)
    ana.say("#bob hola bob")
    assert await ana.line() == "-> *bob* hola bob"
    assert await bob.line() == "*ana* hola bob"
    bob.say("#ana\thola   ana  ")  # a tab separates too; the text is verbatim
    assert await bob.line() == "-> *ana* hola   ana  "
    assert await ana.line() == "*bob* hola   ana  "
    ana.say("#bob    espacios delante")  # one separator is consumed, the rest is text
    assert await ana.line() == "-> *bob*    espacios delante"
    assert await bob.line() == "*ana*    espacios delante"
    for client in (ana, bob, carol):
        await client.sync()  # carol got nothing


@pytest.mark.parametrize("spelled", ["#JOSÉ", "#josé", "#jose\u0301", "#JOSE\u0301"])
@pytest_twisted.ensureDeferred
async def test_private_recipient_is_case_insensitive_and_nfc(
    server: ChatServer, spelled: str
) -> None:
    ana, jose = await server.login_all("ana", "José")
    ana.say(f"{spelled} hola")
    assert await ana.line() == "-> *José* hola"  # the recipient's own spelling
    assert await jose.line() == "*ana* hola"
    await ana.sync()
    await jose.sync()


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("#zoe hola", offline("zoe")),
        ("#Zoe hola", offline("Zoe")),
        ("#bob", PRIVATE_EMPTY),
        ("#bob ", PRIVATE_EMPTY),
        ("#bob  \t  ", PRIVATE_EMPTY),
        ("#ana hola", PRIVATE_SELF),
        ("#ANA hola", PRIVATE_SELF),
        ("#1abc hola", bad_private_nick("1abc")),
        ("#a!b hola", bad_private_nick("a!b")),
        ("#" + "x" * 21 + " hola", bad_private_nick("x" * 21)),
        ("#", bad_private_nick("")),
        ("# bob hola", bad_private_nick("")),
    ],
)
@pytest_twisted.ensureDeferred
async def test_private_message_errors(server: ChatServer, line: str, error: str) -> None:
    ana, bob = await two_users(server)
    ana.say(line)
    assert await ana.line() == error
    await ana.sync()
    await bob.sync()


@pytest_twisted.ensureDeferred
async def test_private_message_to_an_absent_user_is_logged(server: ChatServer) -> None:
    (ana,) = await server.login_all("ana")
    with capture(LogEvents()) as events:
        ana.say("#zoe ¿estás?")
        assert await ana.line() == offline("zoe")
    logged = [formatEvent(e) for e in events.events]
    assert any("zoe" in text and "ana" in text for text in logged), logged
    await ana.sync()


# == Join and leave ===============================================================================


@pytest_twisted.ensureDeferred
async def test_join_and_leave_notices(server: ChatServer) -> None:
    (ana,) = await server.login_all("ana")
    bob = await server.login("Bob")
    assert await ana.line() == joined("Bob")
    carol = await server.login("carol")
    assert await ana.line() == joined("carol")
    assert await bob.line() == joined("carol")
    bob.say("/salir")
    assert await bob.line() == goodbye("Bob")
    assert await ana.line() == left("Bob")
    assert await carol.line() == left("Bob")
    carol.close()
    assert await ana.line() == left("carol")
    await ana.sync()


@pytest_twisted.ensureDeferred
async def test_notices_go_to_logged_in_clients_only(server: ChatServer) -> None:
    waiting = await server.connect()
    assert await waiting.line() == PROMPT
    ana, bob = await two_users(server)
    bob.say("/salir")
    assert await bob.line() == goodbye("bob")
    assert await ana.line() == left("bob")
    # A client that leaves before logging in is announced to nobody.
    ghost = await server.connect()
    assert await ghost.line() == PROMPT
    ghost.say("ghost!")
    assert await ghost.line() == NICK_INVALID
    ghost.close()
    await server.server_closed(ghost)
    # The waiting client saw no join or leave notice: its next line is its own welcome.
    await waiting.login("carol", prompt=False)
    assert await ana.line() == joined("carol")
    await ana.sync()
    await waiting.sync()


@pytest_twisted.ensureDeferred
async def test_half_close_counts_as_leaving(server: ChatServer) -> None:
    ana, bob = await two_users(server)
    bob.send(b"me voy\r\n")
    bob.half_close()  # shutdown(SHUT_WR): FIN, still reading
    assert await ana.lines(2) == ["<bob> me voy", left("bob")]
    await bob.wait_closed()  # the server closed its side as well
    assert bob.unread == []
    ana.say("/listar")
    assert await ana.line() == conectados("ana")
    await ana.sync()


@pytest_twisted.ensureDeferred
async def test_reset_counts_as_leaving(server: ChatServer) -> None:
    ana, bob = await two_users(server)
    await server.send_segments(bob, [b"a medias"])
    bob.reset()  # SO_LINGER 0 then close: RST
    assert await ana.line() == left("bob")  # and never "<bob> a medias"
    await server.server_closed(bob)
    ana.say("/listar")
    assert await ana.line() == conectados("ana")
    await ana.sync()


@pytest.mark.parametrize(
    "segment",
    [
        b"/salir\r\nno debe llegar\r\n#bob tampoco\r\n/listar\r\n",
        b"/quit\nno debe llegar\n",
        b"/SALIR adios\r\n" + b"x" * 2000 + b"\r\n\xff\r\n",
    ],
    ids=["salir", "quit", "salir-then-junk"],
)
@pytest_twisted.ensureDeferred
async def test_lines_after_salir_in_the_same_segment_are_not_processed(
    server: ChatServer, segment: bytes
) -> None:
    ana, bob = await two_users(server)
    await server.send_segments(ana, [segment])
    assert await ana.line() == goodbye("ana")
    await ana.wait_closed()
    assert ana.unread == []
    assert await bob.line() == left("ana")
    await bob.sync()


@pytest_twisted.ensureDeferred
async def test_many_clients_at_once(server: ChatServer) -> None:
    nicks = [f"user{i:02d}" for i in range(20)]
    clients = await server.login_all(*nicks)
    clients[7].say("hola a todos")
    for nick, client in zip(nicks, clients, strict=True):
        if nick != "user07":
            assert await client.line() == "<user07> hola a todos"
    clients[0].say("/listar")
    assert await clients[0].line() == conectados(*nicks)
    for client in clients:
        await client.sync()


# == Nicknames ====================================================================================


@pytest.mark.parametrize(
    ("typed", "nick"),
    [
        ("a", "a"),
        ("Z" * 20, "Z" * 20),
        ("ñandú", "ñandú"),
        ("Ñandú_2-x", "Ñandú_2-x"),
        ("ÿøÀÖØö", "ÿøÀÖØö"),
        ("  ana  ", "ana"),
        ("\tana \t", "ana"),
        ("Jose\u0301", "José"),  # NFC
    ],
)
@pytest_twisted.ensureDeferred
async def test_valid_nicknames(server: ChatServer, typed: str, nick: str) -> None:
    client = await server.connect()
    assert await client.line() == PROMPT
    client.say(typed)
    assert await client.lines(3) == [welcome(nick), RETENTION, FIRST_VISIT]
    client.nickname = nick
    await client.sync()


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "\t",
        "1ana",
        "_ana",
        "-ana",
        "a" * 21,
        "ana,bob",
        "ana!",
        "ana.b",
        "👋",
        "Ωmega",  # Greek is not in the Latin-1 letter ranges
        "Ābc",  # U+0100, just past ÿ
        "\u00d7ab",  # U+00D7 (multiplication sign) is excluded
        "a÷b",  # U+00F7 is excluded
        "ana\x1b[31m",
        "/listar",
        "#ana",
        "a" * 1024,
    ],
)
@pytest_twisted.ensureDeferred
async def test_invalid_nicknames_get_exactly_one_error(server: ChatServer, typed: str) -> None:
    client = await server.connect()
    assert await client.line() == PROMPT
    client.say(typed)
    assert await client.line() == NICK_INVALID
    await client.login("ana", prompt=False)  # the welcome is the very next line
    await client.sync()


@pytest_twisted.ensureDeferred
async def test_too_long_line_at_the_prompt(server: ChatServer) -> None:
    client = await server.connect()
    assert await client.line() == PROMPT
    client.send(b"a" * 1025 + b"\r\n")
    assert await client.line() == TOO_LONG
    await client.login("ana", prompt=False)
    await client.sync()


@pytest_twisted.ensureDeferred
async def test_taken_nickname_is_case_insensitive(server: ChatServer) -> None:
    ana, jose = await server.login_all("ana", "José")
    other = await server.connect()
    assert await other.line() == PROMPT
    for typed, shown in [("ana", "ana"), ("ANA", "ANA"), (" Ana ", "Ana"), ("JOSE\u0301", "JOSÉ")]:
        other.say(typed)
        assert await other.line() == taken(shown)
    await other.login("Jose", prompt=False)  # José and Jose are two users
    assert await ana.line() == joined("Jose")
    assert await jose.line() == joined("Jose")
    ana.say("/salir")
    assert await ana.line() == goodbye("ana")
    assert await jose.line() == left("ana")
    assert await other.line() == left("ana")
    # Once ana left, the name is free in any case.
    again = await server.login("ANA")
    assert await jose.line() == joined("ANA")
    assert await other.line() == joined("ANA")
    for client in (again, jose, other):
        await client.sync()


@pytest.mark.parametrize(
    "spellings",
    [("ana", "ana"), ("ana", "ANA"), ("José", "JOSE\u0301"), ("ana",) * 10],
    ids=["same", "case", "nfc", "ten-clients"],
)
@pytest_twisted.ensureDeferred
async def test_nickname_race_has_exactly_one_winner(
    server: ChatServer, spellings: tuple[str, ...]
) -> None:
    clients = [await server.connect() for _ in spellings]
    for client in clients:
        assert await client.line() == PROMPT
    for client, nick in zip(clients, spellings, strict=True):
        client.say(nick)  # all in the same reactor turn
    firsts = [await client.line() for client in clients]
    winners = [i for i, line in enumerate(firsts) if not line.startswith("! ")]
    assert len(winners) == 1, firsts
    (w,) = winners
    assert firsts[w] == welcome(nfc(spellings[w]))
    assert await clients[w].lines(2) == [RETENTION, FIRST_VISIT]
    clients[w].nickname = nfc(spellings[w])
    logged_in = [clients[w]]
    for i, (client, nick) in enumerate(zip(clients, spellings, strict=True)):
        if i == w:
            continue
        assert firsts[i] == taken(nfc(nick))
        # Exactly one "! " line: the next line after another try is the welcome.
        await client.login(f"otro{i}", prompt=False)
        for earlier in logged_in:
            assert await earlier.line() == joined(f"otro{i}")
        logged_in.append(client)
    for client in logged_in:
        await client.sync()


# == The 1024-byte limit ==========================================================================


def text_of_bytes(size: int, char: str) -> str:
    """``char`` repeated, padded with ``a``, to exactly ``size`` UTF-8 bytes."""
    width = len(char.encode())
    return char * (size // width) + "a" * (size % width)


@pytest.mark.parametrize("terminator", [b"\r\n", b"\n"], ids=["CRLF", "LF"])
@pytest.mark.parametrize("char", ["x", "ñ", "€", "👋"], ids=["1B", "2B", "3B", "4B"])
@pytest_twisted.ensureDeferred
async def test_1024_byte_line_is_accepted(server: ChatServer, char: str, terminator: bytes) -> None:
    ana, bob = await two_users(server)
    public = text_of_bytes(1024, char)
    ana.send(public.encode() + terminator)
    assert await bob.line() == f"<ana> {public}"
    private = text_of_bytes(1024 - len(b"#bob "), char)
    ana.send(f"#bob {private}".encode() + terminator)
    assert len(f"#bob {private}".encode()) == 1024
    assert await ana.line() == f"-> *bob* {private}"
    assert await bob.line() == f"*ana* {private}"
    await ana.sync()
    await bob.sync()


@pytest_twisted.ensureDeferred
async def test_1024_bytes_then_cr_and_lf_in_separate_segments(server: ChatServer) -> None:
    ana, bob = await two_users(server)
    await server.send_segments(ana, [b"y" * 1024, b"\r", b"\n"])
    assert await bob.line() == "<ana> " + "y" * 1024
    await ana.sync()
    await bob.sync()


@pytest.mark.parametrize(
    "line",
    [b"x" * 1025, "ñ".encode() * 512 + b"a", b"x" * 1024 + b"\r", b"/username" + b" " * 1016],
)
@pytest_twisted.ensureDeferred
async def test_1025_byte_line_is_rejected_and_the_connection_stays(
    server: ChatServer, line: bytes
) -> None:
    ana, bob = await two_users(server)
    await server.send_segments(ana, [line + b"\r\nsiguiente\r\n"])
    assert await ana.line() == TOO_LONG
    assert await bob.line() == "<ana> siguiente"
    await ana.sync()
    await bob.sync()


@pytest_twisted.ensureDeferred
async def test_over_long_line_split_across_segments_is_one_error(server: ChatServer) -> None:
    ana, bob = await two_users(server)
    long_line = b"z" * 3000
    pieces = [long_line[i : i + 100] for i in range(0, len(long_line), 100)]
    await server.send_segments(ana, [*pieces, b"\r\nok\r\n"])
    assert await ana.line() == TOO_LONG
    assert await bob.line() == "<ana> ok"  # never the tail of the long line
    await ana.sync()
    await bob.sync()


@pytest_twisted.ensureDeferred
async def test_huge_line_is_one_error(server: ChatServer) -> None:
    ana, bob = await two_users(server)
    ana.send(b"w" * 1_000_000)
    ana.send(b"\nok\n")
    assert await ana.line() == TOO_LONG
    assert await bob.line() == "<ana> ok"
    await ana.sync()
    await bob.sync()


# == Junk and control characters ==================================================================


def junk_lines(seed: int) -> list[bytes]:
    """Random binary lines, each with at least one NUL, and some over the limit."""
    rng = random.Random(seed)
    lines = []
    for _ in range(40):
        body = bytes(b for b in rng.randbytes(rng.randint(0, 300)) if b not in b"\r\n")
        cut = rng.randint(0, len(body))
        lines.append(body[:cut] + b"\x00" + body[cut:])
    lines.append(b"\x00" * 100)
    lines.append(bytes(b for b in rng.randbytes(5000) if b not in b"\r\n"))
    return lines


def refusal(line: bytes, at_prompt: bool = False) -> str:
    """The one ``! `` line that a junk line must get."""
    if len(line) > 1024:
        return TOO_LONG
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return BAD_UTF8
    return NICK_INVALID if at_prompt else CONTROL


@pytest_twisted.ensureDeferred
async def test_binary_junk_never_disconnects_anyone(server: ChatServer) -> None:
    ana, bob = await two_users(server)
    lines = junk_lines(20261124)
    ana.send(b"\r\n".join(lines) + b"\r\n")
    assert await ana.lines(len(lines)) == [refusal(line) for line in lines]
    await ana.sync()
    await bob.sync()  # bob received none of it
    # Junk before login, too.
    carol = await server.connect()
    assert await carol.line() == PROMPT
    prompt_junk = junk_lines(7)
    carol.send(b"\n".join(prompt_junk) + b"\n")
    assert await carol.lines(len(prompt_junk)) == [refusal(j, at_prompt=True) for j in prompt_junk]
    await carol.login("carol", prompt=False)
    assert await ana.line() == joined("carol")
    assert await bob.line() == joined("carol")
    # Everyone is still connected and talking.
    bob.say("sigo aquí")
    assert await ana.line() == "<bob> sigo aquí"
    assert await carol.line() == "<bob> sigo aquí"
    for client in (ana, bob, carol):
        await client.sync()


@pytest.mark.parametrize(
    "line",
    [
        "\x1b[31mrojo",
        "\x1b]0;título\x07",
        "a\x00b",
        "campana\x07",
        "del\x7f",
        "c1 \u0085",
        "csi \u009b31m",
        "\u0080",
        "\u009f",
        "retorno\rde carro",
        "/username\x1b",
        "/listar \x00",
        "#bob hola\x1b[2J",
        "#bob\x1b hola",
    ],
)
@pytest_twisted.ensureDeferred
async def test_control_characters_are_refused(server: ChatServer, line: str) -> None:
    ana, bob = await two_users(server)
    ana.say(line)
    assert await ana.line() == CONTROL
    await ana.sync()
    await bob.sync()  # nothing reached bob


@pytest_twisted.ensureDeferred
async def test_tab_is_not_a_control_character(server: ChatServer) -> None:
    ana, bob = await two_users(server)
    ana.say("a\tb\t")
    assert await bob.line() == "<ana> a\tb\t"
    await ana.sync()


# == Persistence: the returning user ==============================================================

Rows = Callable[[], list[tuple[str, str, datetime]]]


async def returning_user_scenario(server: ChatServer, rows: Rows) -> None:
    """First login inserts, a later login updates (one row) and shows the previous time."""
    first = await server.connect()
    assert await first.line() == PROMPT
    first.say("Ana")
    assert await first.lines(3) == [welcome("Ana"), RETENTION, FIRST_VISIT]
    first.nickname = "Ana"
    # The first-visit line comes after the row was written.
    ((key, spelled, t1),) = rows()
    assert (key, spelled) == ("ana", "Ana")
    assert abs(datetime.now(UTC) - t1) < timedelta(seconds=10)
    first.say("/salir")
    assert await first.line() == goodbye("Ana")
    await first.wait_closed()

    again = await server.connect()
    assert await again.line() == PROMPT
    again.say("ANA")
    assert await again.lines(3) == [welcome("ANA"), RETENTION, last_seen(t1)]
    again.nickname = "ANA"
    ((key, spelled, t2),) = rows()  # updated, never a second row
    assert (key, spelled) == ("ana", "ANA")  # the spelling last used
    assert t1 <= t2 <= datetime.now(UTC)

    # José and Jose are two users; JOSÉ (decomposed here) is José again.
    (jose,) = await server.login_all("José")
    assert await again.line() == joined("José")
    (jose2,) = await server.login_all("Jose")
    assert await again.line() == joined("Jose")
    assert await jose.line() == joined("Jose")
    assert sorted(r[:2] for r in rows()) == [("ana", "ANA"), ("jose", "Jose"), ("josé", "José")]
    jose.close()
    assert await again.line() == left("José")
    assert await jose2.line() == left("José")
    (jose3,) = await server.login_all("JOSE\u0301")  # its welcome shows the NFC spelling
    assert await again.line() == joined("JOSÉ")
    assert await jose2.line() == joined("JOSÉ")
    assert sorted(r[:2] for r in rows()) == [("ana", "ANA"), ("jose", "Jose"), ("josé", "JOSÉ")]
    for client in (again, jose2, jose3):
        await client.sync()


@pytest_twisted.ensureDeferred
async def test_returning_user_sqlite() -> None:
    async with await start_server() as server:
        path = server.db.removeprefix("sqlite:")

        def rows() -> list[tuple[str, str, datetime]]:
            with closing(sqlite3.connect(path)) as db:
                found = db.execute(
                    "SELECT nick_key, nickname, connected_at FROM clientes"
                ).fetchall()
            result = []
            for key, nick, when in found:
                assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", when), when
                parsed = datetime.strptime(when, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
                result.append((key, nick, parsed))
            return result

        await returning_user_scenario(server, rows)
