"""``--metrics`` in process: the metrics site is the last thing to stop, saying 503 meanwhile.

The process scraped over HTTP is tested in ``tests/e2e/test_metrics.py``.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import defer

from tests.support.chatclient import start_server
from tests.support.waits import wait

pytestmark = pytest.mark.timeout(60, method="thread")


@pytest_twisted.ensureDeferred
async def test_the_metrics_site_stops_last_saying_503() -> None:
    """In process: while the server shuts down (connections closing, logins being written),
    the metrics site still listens and ``/health`` is 503; it stops at the very end."""
    chat = await start_server("--metrics", "tcp:0:interface=127.0.0.1")
    service = chat.service
    listener, metrics = service.metrics_listener, service.metrics
    assert listener is not None and listener.listening is not None and metrics is not None
    await wait(listener.listening, "the metrics site to listen")
    client = await chat.login("ana")
    assert metrics.health()[0] == 200
    stopping = defer.maybeDeferred(service.stopService)
    assert not stopping.called  # connections are closing
    assert listener.port is not None
    assert metrics.health() == (
        503,
        {"status": "shutting_down", "db": "up", "redis": "off", "users": 1},
    )
    await wait(stopping, "the service to stop", 15)
    assert listener.port is None
    await client.wait_closed()
    await chat.stop()  # the rest of the teardown (it stops the stopped service again, harmlessly)
