"""Cluster nodes behind a real HAProxy (TCP mode, ``send-proxy``), end to end (issue 8).

The nodes listen with ``--port haproxy:tcp:PORT:interface=127.0.0.1`` (Twisted's PROXY protocol
endpoint), so they see each client's own address, not HAProxy's: clients connecting through it
land on both nodes and chat as one room, and ``--max-per-ip`` counts the clients' addresses
(clients bind 127.0.0.2 and 127.0.0.3 as their source).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import mariadb
from tests.support.cluster import Client, Cluster, running_cluster
from tests.support.expected import PROMPT, TOO_MANY_FROM_IP, conectados, joined
from tests.support.haproxy import HAProxy
from tests.support.redis_server import RedisServer
from twisted_chat.storage.url import MysqlURL

pytestmark = [pytest.mark.mysql, pytest.mark.timeout(120, method="thread")]

#: The ``--port`` of a node behind HAProxy; ``{port}`` becomes a free port.
BEHIND_PROXY = "haproxy:tcp:{port}:interface=127.0.0.1"


@pytest.fixture
def cluster(tmp_path: Path, mysql_url: MysqlURL, redis_server: RedisServer) -> Iterator[Cluster]:
    """Nodes of the test's own (none started yet), on its own Redis and database."""
    with running_cluster(tmp_path, mariadb.mysql_option(mysql_url), redis_server.url) as nodes:
        yield nodes


@pytest.fixture
def proxies(haproxy_binary: str) -> Iterator[list[HAProxy]]:
    """The HAProxy processes a test starts (append to the list); killed at the end."""
    started: list[HAProxy] = []
    try:
        yield started
    finally:
        for proxy in started:
            proxy.destroy()


def test_clients_through_haproxy_land_on_both_nodes_and_chat(
    cluster: Cluster, proxies: list[HAProxy], haproxy_binary: str
) -> None:
    nodes = cluster.start_many(["h1", "h2"], listen=BEHIND_PROXY, behind_proxy=True)
    proxy = HAProxy(haproxy_binary, [node.port for node in nodes])
    proxies.append(proxy)
    nicks = ["Hana", "Hugo", "Hilda", "Hector"]
    clients: list[Client] = []
    for nick in nicks:
        client = Client(proxy.port).prompt().enter(nick)
        for earlier in clients:
            assert earlier.line() == joined(nick), earlier.nickname
        clients.append(client)
    sessions = proxy.sessions()
    assert sorted(sessions) == ["node1", "node2"], sessions
    assert all(count >= 1 for count in sessions.values()), sessions  # both nodes got clients
    assert sum(sessions.values()) == len(nicks), sessions
    hana, *others = clients

    hana.say("hola desde el proxy")
    for other in others:
        assert other.line() == "<Hana> hola desde el proxy", other.nickname
    for other in others:  # with round robin, some of them are on the other node
        hana.say(f"#{other.nickname} privado")
        assert other.line() == "*Hana* privado"
        assert hana.line() == f"-> *{other.nickname}* privado"
    for client in clients:
        assert client.listing() == conectados("Hana", "Hector", "Hilda", "Hugo")


def test_max_per_ip_counts_the_clients_addresses_behind_haproxy(
    cluster: Cluster, proxies: list[HAProxy], haproxy_binary: str
) -> None:
    node = cluster.start(
        "ip1", "--max-per-ip", "2", "--exempt", "none", listen=BEHIND_PROXY, behind_proxy=True
    )
    proxy = HAProxy(haproxy_binary, [node.port])
    proxies.append(proxy)
    first = Client(proxy.port, source="127.0.0.2").prompt()
    second = Client(proxy.port, source="127.0.0.2").prompt()
    third = Client(proxy.port, source="127.0.0.2")
    assert third.rest() == [TOO_MANY_FROM_IP]
    third.close()
    # Another address is still welcome, though every connection comes from HAProxy.
    others = [Client(proxy.port, source="127.0.0.3") for _ in range(2)]
    for other in others:
        assert other.line() == PROMPT
    first.enter("Desde2")
    others[0].enter("Desde3")
    assert first.line() == joined("Desde3")
    others[0].say("hola")
    assert first.line() == "<Desde3> hola"
    for client in (first, second, *others):
        client.close()
