"""IRCv3 ``labeled-response`` over real loopback sockets in one reactor: one labeled line, an
``ACK``, a ``JOIN``'s batch, a message to oneself (only the echo labeled), and a
``CHATHISTORY`` read from the database (older than the room's buffer) answered as a
``labeled-response`` batch holding the ``chathistory`` batch, the client's next line answered
after it. ``PING``/``PONG`` is the barrier; no test sleeps."""

from __future__ import annotations

import re

import pytest
import pytest_twisted

from tests.support.ircclient import SERVER, IrcClient, sala_with_messages, start_irc_server

pytestmark = pytest.mark.timeout(90, method="thread")

#: A client of labeled responses and history.
CAPS = ("batch", "labeled-response", "echo-message", "server-time", "message-tags")
HISTORY_CAPS = (*CAPS, "draft/chathistory")
_LABELED = re.compile(rf"@label=(\S+) :{re.escape(SERVER)} BATCH \+(\S+) labeled-response")


async def labeled_batch(client: IrcClient, label: str) -> list[str]:
    """The next ``labeled-response`` batch of ``label`` to ``client``: its lines, checked to be
    in it (or in a batch nested in it), without the batch's own lines."""
    start = _LABELED.fullmatch(await client.line())
    assert start is not None
    assert start.group(1) == label
    ref = start.group(2)
    inner: set[str] = set()
    lines = []
    while (line := await client.line()) != f":{SERVER} BATCH -{ref}":
        batch = re.match(r"@(?:[^ ]*;)?batch=([^; ]+)", line)
        assert batch is not None, line
        assert batch.group(1) == ref or batch.group(1) in inner, line
        opened = re.search(rf" :{re.escape(SERVER)} BATCH \+(\S+) ", line)
        if opened is not None:
            inner.add(opened.group(1))
        lines.append(line)
    return lines


@pytest_twisted.ensureDeferred
async def test_labeled_answers() -> None:
    async with await start_irc_server() as server:
        ana = await server.user("ana", caps=CAPS)
        bob = await server.user("bob")
        ana.say("@label=p1 PING x")
        assert await ana.line() == f"@label=p1 :{SERVER} PONG {SERVER} x"
        ana.say("@label=p2 PONG x")
        assert await ana.line() == f"@label=p2 :{SERVER} ACK"
        await bob.join("#sala")
        ana.say("@label=j1 JOIN #sala")
        lines = await labeled_batch(ana, "j1")
        assert re.fullmatch(
            rf"@batch=\S+;time=\S+;msgid=\S+ :ana!ana@{SERVER} JOIN #sala", lines[0]
        )
        assert " 366 ana #sala " in lines[-1]
        assert (await bob.line()) == f":ana!ana@{SERVER} JOIN #sala"  # no label for bob
        ana.say("@label=m1 PRIVMSG #sala :hola")
        echo = await ana.line()
        assert echo.startswith("@label=m1;time=") and echo.endswith(" PRIVMSG #sala :hola")
        assert await bob.line() == f":ana!ana@{SERVER} PRIVMSG #sala :hola"
        ana.say("@label=me PRIVMSG ana :yo")
        first, second = await ana.line(), await ana.line()
        assert "label=" not in first and first.endswith(" PRIVMSG ana :yo")
        assert second.startswith("@label=me;") and second.endswith(" PRIVMSG ana :yo")
        await ana.pong()
        await bob.pong()


@pytest_twisted.ensureDeferred
async def test_chathistory_from_the_database_is_one_labeled_answer() -> None:
    async with await start_irc_server() as server:
        # the room's buffer holds its last 100: the first 10 are read from the database
        ana, _ = await sala_with_messages(server, 110, caps=HISTORY_CAPS)
        ana.say("@label=h1 CHATHISTORY LATEST #sala * 100")
        latest = await labeled_batch(ana, "h1")
        assert len(latest) == 102  # BATCH +, 100 messages, BATCH -
        first = re.search(r"PRIVMSG #sala :(\S+)$", latest[1])
        assert first is not None and first.group(1) == "m10"
        msgid = re.search(r"msgid=([^; ]+)", latest[1])
        assert msgid is not None
        ana.say(f"@label=h2 CHATHISTORY BEFORE #sala msgid={msgid.group(1)} 100\r\n@label=p PING z")
        older = await labeled_batch(ana, "h2")
        texts = [line.rsplit(" :", 1)[1] for line in older[1:-1]]
        assert texts == [f"m{n}" for n in range(10)]
        assert await ana.line() == f"@label=p :{SERVER} PONG {SERVER} z"
