"""Live fuzzing (issue 3, point 9): random bytes from many clients at once, then a health check.

Twenty concurrent clients throw seeded random bytes at an in-process server with the default
limits (flood control, strikes, line limit...): valid and invalid UTF-8, NULs, control
characters, huge lines, partial lines, random nicknames, commands and private messages, and
sometimes a sudden RST or a half-close. The run is bounded in time and in the number of writes.
Afterwards two fresh clients must chat normally, the registry must be consistent with the open
connections, the connection counters must match, and no error may have been logged.

The property tests of the parsing itself (Hypothesis) are in ``test_lines.py`` and
``test_nicknames.py``; this test is about the live server as a whole.
"""

from __future__ import annotations

import random
import time

import pytest
import pytest_twisted
from twisted.internet.defer import Deferred, gatherResults

from tests.support.chatclient import ChatClient, ChatServer, start_server
from tests.support.logs import LogEvents, capture, is_error
from tests.support.waits import get_reactor, sleep, wait_until
from twisted_chat.text import SPANISH

pytestmark = pytest.mark.timeout(90, method="thread")

#: Concurrent fuzzing clients.
CLIENTS = 20
#: Seconds of fuzzing at most, and writes per client at most.
FUZZ_SECONDS = 3.0
MAX_WRITES = 300

T = SPANISH


NICK_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNÑÖéü0123456789-"
COMMANDS = [
    "/listar",
    "/list",
    "/username",
    "/hora",
    "/ayuda",
    "/ping",
    "/nada",
    "/",
    "/registrar",
    "/registrar clave{n}",
    "/password a b",
]


def random_nick(rng: random.Random) -> str:
    """A nickname-ish word: often valid, sometimes not (never containing ``_``)."""
    size = rng.choice([0, 1, 3, 8, 20, 21, 40])
    return "".join(rng.choice(NICK_CHARS) for _ in range(size))


def random_text(rng: random.Random) -> str:
    """Printable text with some non-ASCII letters and emoji."""
    alphabet = "abc xyz ñáé€👋 #/<>*!?\t"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))


def random_chunk(rng: random.Random) -> bytes:
    """One write of fuzz: a random mix of the inputs the issue names."""
    kind = rng.randrange(12)
    end = rng.choice([b"\n", b"\r\n", b"\r", b""])
    if kind == 0:  # random bytes: mostly invalid UTF-8, NULs, controls
        return rng.randbytes(rng.randint(1, 300)) + end
    if kind == 1:  # invalid UTF-8 sequences inside text
        bad = rng.choice([b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf8"])
        return random_text(rng).encode() + bad + random_text(rng).encode() + end
    if kind == 2:  # NULs and control characters
        controls = bytes(rng.choice([0, 1, 7, 8, 11, 12, 13, 27, 127]) for _ in range(5))
        return b"hola" + controls + "\u0085\u009b".encode() + end
    if kind == 3:  # a huge line, sometimes unterminated
        return b"H" * rng.choice([1024, 1025, 1026, 5000, 70_000, 200_000]) + end
    if kind == 4:  # a partial line (no terminator)
        return random_text(rng).encode()[: rng.randint(0, 40)]
    if kind == 5:  # a random nickname line (with a password, sometimes)
        password = f" clave{rng.randint(0, 3)}" if rng.random() < 0.3 else ""
        return (random_nick(rng) + password).encode() + b"\r\n"
    if kind == 6:  # commands
        return rng.choice(COMMANDS).format(n=rng.randint(0, 9)).encode() + b"\n"
    if kind == 7:  # private messages to random (maybe absent) nicknames
        return f"#{random_nick(rng)} {random_text(rng)}".encode() + b"\r\n"
    if kind == 8:  # many short lines at once (flood control)
        return b"".join(random_text(rng).encode() + b"\n" for _ in range(rng.randint(5, 60)))
    if kind == 9:  # only terminators
        return rng.choice([b"\n", b"\r\n", b"\r\r\n", b"\n\n\n", b" \t\r\n"])
    if kind == 10:  # a valid UTF-8 character cut in two writes is done by splitting anywhere
        data = "ñandú 👋🏽 €".encode()
        return data[: rng.randint(1, len(data) - 1)]
    return random_text(rng).encode() + end


async def fuzz_one(client: ChatClient, rng: random.Random, deadline: float) -> int:
    """Throw random writes from ``client`` until ``deadline`` or :data:`MAX_WRITES`; return how
    many bytes were written. May end the connection abruptly (RST) or half-close it."""
    written = 0
    for _ in range(MAX_WRITES):
        if client.closed or time.monotonic() > deadline:
            break
        roll = rng.random()  # now and then, leave: RST, half-close or /salir
        if roll < 0.0005:
            client.reset()
            break
        if roll < 0.001:
            client.half_close()
            break
        chunk = b"/salir\r\n" if roll < 0.0015 else random_chunk(rng)
        client.send(chunk)
        written += len(chunk)
        await sleep(rng.choice([0, 0, 0.001, 0.005, 0.02]))
    return written


def check_registry(server: ChatServer) -> list[str]:
    """Inconsistencies between the room, the open connections and the counters (none = [])."""
    problems: list[str] = []
    factory = server.service.factory
    room = server.service.chat.room
    connections = set(factory.connections)
    logged_in = {proto for proto in connections if proto.nickname is not None}
    in_room = set(room.members())
    if in_room != logged_in:
        problems.append(
            f"room {sorted(room.nicknames())} != logged-in connections "
            f"{sorted(p.nickname or '' for p in logged_in)}"
        )
    for proto in logged_in:
        if proto.nickname is not None and room.find(proto.nickname) is not proto:
            problems.append(f"room.find({proto.nickname!r}) is not its connection")
    if len(room.nicknames()) != len(set(room.nicknames())):
        problems.append(f"duplicate nicknames {room.nicknames()}")
    if factory.counter.total != len(connections):
        problems.append(f"counter.total {factory.counter.total} != {len(connections)} open")
    if factory.counter.hosts() != (1 if connections else 0):
        problems.append(f"{factory.counter.hosts()} hosts counted, all are 127.0.0.1")
    open_clients = [c for c in server.clients if not c.closed]
    if len(open_clients) != len(connections):
        problems.append(f"{len(open_clients)} clients open, {len(connections)} server-side")
    return problems


# -- the test --------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [3, 2026])
@pytest_twisted.ensureDeferred
async def test_random_bytes_from_many_clients_then_normal_chat(seed: int) -> None:
    rng = random.Random(seed)
    with capture(LogEvents(is_error)) as errors:
        async with await start_server(relax=False) as server:  # every default limit
            factory = server.service.factory
            fuzzers = [await server.connect(f"fuzz{i}") for i in range(CLIENTS)]
            rngs = [random.Random(rng.random()) for _ in fuzzers]
            deadline = time.monotonic() + FUZZ_SECONDS
            runs = [
                Deferred.fromCoroutine(fuzz_one(client, r, deadline))
                for client, r in zip(fuzzers, rngs, strict=True)
            ]
            written = await gatherResults(runs).addTimeout(FUZZ_SECONDS + 10, get_reactor())
            assert sum(written) > 0

            # The server caught up (each open connection read everything sent), and then the
            # registry, the connections and the counters agree.
            def caught_up() -> bool:
                """Every open connection read all that was sent, and the registry agrees."""
                for client, sent in zip(fuzzers, written, strict=True):
                    side = server.server_side(client)
                    read = sum(len(chunk) for chunk in side.chunks)
                    if not client.closed and not side.closed and read < sent:
                        return False
                return not check_registry(server)

            try:
                await wait_until(caught_up, "the server to catch up", timeout=15)
            except AssertionError:
                raise AssertionError(f"inconsistent: {check_registry(server)}") from None
            still_open = [c for c in fuzzers if not c.closed]
            assert still_open, "every fuzzer left: the registry check below would be empty"

            # Two fresh, well-behaved clients chat normally, with the fuzzers still connected.
            ana = await server.login("ana_ok")
            bob = await server.login("bob_ok")
            assert await ana.line() == f"* {T.joined.format(nick='bob_ok')}"
            ana.say("hola bob, ¿me oyes?")
            assert await bob.line() == "<ana_ok> hola bob, ¿me oyes?"
            bob.say("#ana_ok sí, en privado")
            assert await ana.line() == "*bob_ok* sí, en privado"
            assert await bob.line() == "-> *ana_ok* sí, en privado"
            ana.say("/ping")
            assert await ana.line() == "* pong"
            bob.say("/listar")
            listing = await bob.line()
            assert listing.startswith("* ") and "ana_ok" in listing and "bob_ok" in listing
            await ana.sync()
            await bob.sync()
            assert check_registry(server) == []

            # Everyone else leaves; the fresh clients see exactly the leaves of logged-in ones.
            fuzz_nicks = sorted(
                p.nickname
                for p in factory.connections
                if p.nickname is not None and p.nickname not in ("ana_ok", "bob_ok")
            )
            for client in still_open:
                client.abort()
            for client in still_open:
                await server.server_closed(client)
            leaves = sorted(await ana.lines(len(fuzz_nicks)))
            assert leaves == sorted(f"* {T.left.format(nick=n)}" for n in fuzz_nicks)
            await ana.sync()
            assert check_registry(server) == []
            assert sorted(server.service.chat.room.nicknames()) == ["ana_ok", "bob_ok"]
            assert factory.counter.total == 2
        assert factory.counter.total == 0
    assert errors.describe() == []
