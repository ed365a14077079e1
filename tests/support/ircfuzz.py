"""Hypothesis fuzz of the ``--irc`` listener over real sockets (the in-process tests).

Lines are drawn by Hypothesis ahead of time (its generation only, without shrinking: the
property is checked over sockets afterwards, in one reactor); a fuzzing
:class:`~tests.support.ircclient.IrcClient` sends a batch of them and a ``PING``, whose
``PONG`` proves the batch was processed and nothing blocked, unless the fuzz made the server
close the connection.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.ircclient import SERVER, IrcClient, IrcServer, start_irc_server
from tests.support.logs import LogEvents, capture, is_error

#: The token of the ``PING`` sent after a fuzzed batch.
AFTER_THE_FUZZ = "after the fuzz"


def fuzz_lines(
    words: Sequence[str], *, max_text: int, min_words: int = 1, max_words: int
) -> st.SearchStrategy[str]:
    """Lines of ``min_words`` to ``max_words`` words separated by spaces, each one of
    ``words`` or any text of at most ``max_text`` characters."""
    return st.lists(
        st.one_of(st.sampled_from(words), st.text(max_size=max_text)),
        min_size=min_words,
        max_size=max_words,
    ).map(" ".join)


def draw_batches(lines: st.SearchStrategy[str], count: int, *, max_lines: int) -> list[list[str]]:
    """``count`` batches of 1 to ``max_lines`` lines drawn from ``lines`` by Hypothesis
    (generation only)."""
    batches: list[list[str]] = []

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(lines, min_size=1, max_size=max_lines))
    def collect(batch: list[str]) -> None:
        batches.append(batch)

    collect()
    return batches


async def send_batch(fuzzer: IrcClient, batch: Sequence[str]) -> bool:
    """Send ``batch`` (each line's newlines made spaces, ended by CRLF) and a ``PING``, then
    read ``fuzzer``'s lines until its ``PONG``: true when the ``PONG`` came, false when the
    server closed the connection first."""
    data = "".join(line.replace("\n", " ") + "\r\n" for line in batch)
    fuzzer.send(data.encode("utf-8", "surrogatepass"))
    fuzzer.say(f"PING :{AFTER_THE_FUZZ}")
    while not fuzzer.closed:
        try:
            got = await fuzzer.line()
        except AssertionError:
            assert fuzzer.closed
            return False
        if got == f":{SERVER} PONG {SERVER} :{AFTER_THE_FUZZ}":
            return True
    return False


async def still_answers(client: IrcClient, number: int) -> None:
    """Barrier: ``client`` (not the fuzzer) sends ``PING :number`` and reads up to its
    ``PONG``: the server still serves everyone."""
    client.say(f"PING :{number}")
    server = re.escape(SERVER)
    await client.until(rf":{server} PONG {server} :?{number}")


async def fuzz_in_a_room(
    server: IrcServer,
    batches: Sequence[Sequence[str]],
    watcher: IrcClient,
    *,
    caps: tuple[str, ...] = (),
    after_join: str | None = None,
) -> int:
    """Send each of ``batches`` (see :func:`send_batch`) from a registered client in ``#x``
    (``fuzzN``, a new one whenever the last was closed, with ``caps``; ``after_join``: a line
    it says once it joined), ``watcher``'s ``PING`` barrier after each
    (:func:`still_answers`); how many batches had their ``PONG``."""
    fuzzer: IrcClient | None = None
    answered = 0
    for number, batch in enumerate(batches):
        if fuzzer is None or fuzzer.closed:
            fuzzer = await server.user(f"fuzz{number}", caps=caps)
            await fuzzer.join("#x")  # the operator of a room
            if after_join is not None:
                fuzzer.say(after_join)
        if await send_batch(fuzzer, batch):
            answered += 1
        await still_answers(watcher, number)
    return answered


async def fuzz_beside_lina(batches: Sequence[Sequence[str]]) -> int:
    """On a new server with ``lina`` (a line user) and ``ana`` (IRC, no capabilities) in
    ``#general``, :func:`fuzz_in_a_room` ``batches`` with ``ana`` as the watcher; how many
    batches were answered. Fails if the server logged an error meanwhile."""
    with capture(LogEvents(is_error)) as errors:
        async with await start_irc_server() as server:
            await server.chat.login("lina")
            ana = await server.user("ana")
            await ana.join("#general")
            answered = await fuzz_in_a_room(server, batches, ana)
    assert not errors.events, errors.describe()
    return answered
