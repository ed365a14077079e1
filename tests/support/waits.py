"""Bounded waits on the real reactor (the one pytest-twisted installs before the tests run).

Nothing a test waits for may hang it: :func:`wait` fails the test with a description after
:data:`TIMEOUT`; :func:`bounded` and :func:`in_thread`, used around login store and database
calls, fail with ``TimeoutError`` after :data:`DB_TIMEOUT`; :func:`wait_until` polls a condition
for a bounded time. The reactor is looked up when needed, never at import, so that importing this
module (from ``conftest.py``, say) cannot install the default reactor first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from twisted.internet import defer, task, threads

#: Longest wait for anything the chat server should do, in seconds.
TIMEOUT = 5.0
#: Longest wait for a single login store or database call, in seconds.
DB_TIMEOUT = 10.0

T = TypeVar("T")


def get_reactor() -> Any:
    """The global reactor (installed by pytest-twisted before the tests run)."""
    from twisted.internet import reactor

    return reactor


async def wait(d: defer.Deferred[T], what: str, timeout: float = TIMEOUT) -> T:
    """Wait for ``d`` at most ``timeout`` seconds; fail the test with ``what`` on timeout."""
    try:
        return await d.addTimeout(timeout, get_reactor())
    except defer.TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None


async def bounded(d: defer.Deferred[T], seconds: float = DB_TIMEOUT) -> T:
    """Wait for ``d``, failing with ``TimeoutError`` after ``seconds`` instead of hanging."""
    result: T = await d.addTimeout(seconds, get_reactor())
    return result


async def in_thread(func: Callable[[], T], seconds: float = DB_TIMEOUT) -> T:
    """Run blocking ``func`` (a database query, a server stop...) in a thread while the reactor
    keeps running, bounded by ``seconds``."""
    return await bounded(threads.deferToThread(func), seconds)


async def sleep(seconds: float) -> None:
    """Let the reactor run for ``seconds``."""
    await task.deferLater(get_reactor(), seconds, lambda: None)


async def wait_until(
    condition: Callable[[], bool], what: str, timeout: float = TIMEOUT, interval: float = 0.01
) -> None:
    """Poll ``condition`` every ``interval`` seconds until it holds; fail the test with ``what``
    after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await sleep(interval)
