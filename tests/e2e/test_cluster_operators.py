"""Operators in cluster mode (issue 10 §4): two real ``twistd chat`` nodes on one Redis and one
MariaDB, ``--operator ana``. A kick reaches the node holding the user, a ban applies on the
other node within a second (at login, at connect, and to its connected users), a mute holds on
the other node, and ``/anuncio`` reaches both nodes' users."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from tests.support import mariadb
from tests.support.cluster import (
    Client,
    ClientPool,
    Cluster,
    Node,
    client_pool,
    poll,
    running_cluster,
    running_nodes,
)
from tests.support.expected import (
    ADDRESS_BANNED,
    PROMPT,
    announcement,
    ban_done,
    ban_lifted,
    banned_now,
    kick_done,
    kicked,
    left,
    mute_done,
    muted,
    nick_banned,
    registered,
    welcome,
)
from tests.support.redis_server import RedisServer
from twisted_chat.storage.url import MysqlURL

pytestmark = [pytest.mark.mysql, pytest.mark.timeout(120, method="thread")]

PASSWORD = "Clave-ana1"
#: A ban made on one node applies on the others within this.
BAN_SPREAD = 1.0


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
    module_mysql_url: MysqlURL,
    module_redis: RedisServer,
) -> Iterator[Cluster]:
    """Nodes ``n1`` and ``n2``; ``ana`` registered (an operator once logged in with it)."""
    with running_cluster(
        tmp_path_factory.mktemp("cluster-ops"),
        mariadb.mysql_option(module_mysql_url),
        module_redis.url,
        prefix=f"o{uuid.uuid4().hex[:8]}:",
        common=["--flood-rate", "0", "--operator", "ana"],
    ) as cluster:
        n1, _ = cluster.start_many(["n1", "n2"])
        ana = n1.connect().prompt().enter("ana")
        ana.say(f"/registrar {PASSWORD}")
        assert ana.line() == registered("ana")
        ana.leave()
        yield cluster


@pytest.fixture
def nodes(cluster: Cluster) -> list[Node]:
    """The two nodes (each must still be running)."""
    return running_nodes(cluster.nodes)


@pytest.fixture
def pool(nodes: list[Node]) -> Iterator[ClientPool]:
    """The test's clients, closed afterwards (the cluster waited on until it is empty)."""
    with client_pool(nodes) as clients:
        yield clients


def operator(pool: ClientPool, node: Node) -> Client:
    """``ana`` logged in with her password on ``node``."""
    return pool.connect(node).prompt().enter(f"ana {PASSWORD}")


def test_a_kick_reaches_the_node_holding_the_user(nodes: list[Node], pool: ClientPool) -> None:
    n1, n2 = nodes
    ana = operator(pool, n1)
    dave = pool.login(n2, "dave", ana)
    ana.say("/expulsar DAVE fuera")
    assert ana.line() == kick_done("dave")
    assert dave.rest() == [kicked("ana", "fuera")]
    assert ana.line() == left("dave")
    assert "operator ana kick dave: fuera" in n1.log()


def test_a_ban_applies_on_the_other_node_within_a_second(
    nodes: list[Node], pool: ClientPool
) -> None:
    n1, n2 = nodes
    ana = operator(pool, n1)
    eve = pool.login(n2, "eve", ana)
    ana.say("/banear eve spam")
    banned_at = time.monotonic()
    assert ana.line() == ban_done("eve")
    assert eve.rest() == [banned_now("ana", "spam")]
    assert time.monotonic() - banned_at < BAN_SPREAD
    assert ana.line() == left("eve")
    again = pool.connect(n2).prompt()
    assert again.try_nick("Eve") == nick_banned("Eve")
    # Lifted on n1: n2 takes eve again within a second.
    ana.say("/desbanear eve")
    assert ana.line() == ban_lifted("eve")
    lifted_at = time.monotonic()

    def takes_eve() -> bool:
        reply = again.try_nick("eve")
        assert reply in (nick_banned("eve"), welcome("eve")), reply
        return reply == welcome("eve")

    poll(takes_eve, "n2 to take eve again", BAN_SPREAD)
    assert time.monotonic() - lifted_at < BAN_SPREAD


def test_an_address_ban_applies_on_the_other_node_within_a_second(
    nodes: list[Node], pool: ClientPool
) -> None:
    n1, n2 = nodes
    ana = operator(pool, n1)
    fred = pool.connect(n2, source="127.0.0.3").prompt().enter("fred")
    assert ana.line() == "* fred se ha unido al chat."
    ana.say("/ban 127.0.0.3")
    assert ana.line() == ban_done("127.0.0.3/32")
    assert fred.rest() == [banned_now("ana")]
    assert ana.line() == left("fred")
    refused = pool.connect(n2, source="127.0.0.3")
    assert refused.rest() == [ADDRESS_BANNED]
    ana.say("/unban 127.0.0.3")
    assert ana.line() == ban_lifted("127.0.0.3/32")

    def serves() -> bool:
        client = pool.connect(n2, source="127.0.0.3")
        return client.line() == PROMPT

    poll(serves, "n2 to serve 127.0.0.3 again", BAN_SPREAD)


def test_a_mute_holds_on_the_other_node(nodes: list[Node], pool: ClientPool) -> None:
    n1, n2 = nodes
    ana = operator(pool, n1)
    gil = pool.login(n2, "gil", ana)
    ana.say("/silenciar gil 3")
    assert ana.line() == mute_done("gil", 3)

    def refused() -> bool:
        gil.say("hola")
        lines = gil.lines_until_sync()
        if lines == [muted("3 min")]:
            return True
        assert lines == [], lines
        assert ana.line() == "<gil> hola"  # not muted yet
        return False

    poll(refused, "the mute to hold on n2", BAN_SPREAD)
    gil.say("#ana psst")
    assert gil.lines_until_sync() == [muted("3 min")]
    ana.sync()  # nothing from gil reached n1 since


def test_an_announcement_reaches_every_node(nodes: list[Node], pool: ClientPool) -> None:
    n1, n2 = nodes
    ana = operator(pool, n1)
    hugo = pool.login(n1, "hugo", ana)
    ines = pool.login(n2, "ines", ana, hugo)
    ana.say("/anuncio mantenimiento a las 10")
    for client in (ana, hugo, ines):
        assert client.line() == announcement("ana", "mantenimiento a las 10")
    ines.sync()
