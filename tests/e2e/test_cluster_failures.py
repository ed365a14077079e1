"""Cluster nodes and Redis failing and coming back (issue 8, rules 7 to 9), end to end.

Each test starts its own nodes (``--cluster-ttl 3``) on a Redis and a MariaDB database of its own,
kills a node (SIGKILL), stops one (SIGTERM), or kills Redis and starts it again empty on the same
port, and checks what the other nodes' users see. Every wait is a bounded poll; only the processes
the test started are signalled, by their PIDs.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import mariadb
from tests.support.cluster import (
    TTL,
    Client,
    Cluster,
    Node,
    join,
    next_message,
    poll,
    running_cluster,
)
from tests.support.expected import NICK_INVALID, SHUTTING_DOWN, conectados, left, welcome
from tests.support.redis_server import TEST_PASSWORD as REDIS_PASSWORD
from tests.support.redis_server import RedisServer
from twisted_chat.storage.url import MysqlURL

pytestmark = [pytest.mark.mysql, pytest.mark.timeout(120, method="thread")]

#: A dead node's users are gone from the others within the TTL and this much more.
EXPIRY_SLACK = 5.0
#: The users of a node stopped with SIGTERM leave the other nodes within this.
STOP_SPREAD = 2.0
#: After Redis comes back, the cluster is whole again within this.
RECOVERY_WITHIN = 10.0
#: A node notices that Redis is gone within this.
OUTAGE_NOTICED_WITHIN = 10.0
UNREACHABLE = "cluster: Redis unreachable"
REACHABLE_AGAIN = "cluster: Redis reachable again"


@pytest.fixture
def cluster(tmp_path: Path, mysql_url: MysqlURL, redis_server: RedisServer) -> Iterator[Cluster]:
    """Nodes of the test's own (none started yet), on its own Redis and database."""
    with running_cluster(tmp_path, mariadb.mysql_option(mysql_url), redis_server.url) as nodes:
        yield nodes


def refused_at_the_prompt(client: Client, nick: str) -> str:
    """``nick`` gets exactly one ``! `` line, and ``client`` stays at the prompt; returns it."""
    reply = client.try_nick(nick)
    assert reply.startswith("! "), reply
    client.say("1nope")  # the next line answers this invalid nickname: nothing else came
    assert client.line() == NICK_INVALID
    return reply


def enter_when_possible(client: Client, nick: str, timeout: float) -> float:
    """At the prompt, send ``nick`` until it is accepted (each refusal one ``! `` line), at most
    ``timeout`` seconds; returns the seconds it took."""
    started = time.monotonic()
    while (reply := client.try_nick(nick)) != welcome(nick):
        assert reply.startswith("! "), reply
        assert time.monotonic() - started < timeout, f"{nick} refused for {timeout}s: {reply}"
        time.sleep(0.1)
    return time.monotonic() - started


# -- 7. a node killed with SIGKILL -----------------------------------------------------------------


def test_a_killed_nodes_users_vanish_within_the_ttl(
    cluster: Cluster, redis_server: RedisServer
) -> None:
    n1, n2, n3 = cluster.start_many(["k1", "k2", "k3"])
    uno = join(n1, "Uno")
    dos = join(n2, "Dos", uno)
    tres = join(n3, "Tres", uno, dos)
    join(n3, "Cuatro", uno, dos, tres)
    # The default --redis-prefix.
    assert [key for key in redis_server.key_names() if not key.startswith("chat:")] == []

    n3.process.kill()
    killed_at = time.monotonic()
    n3.process.wait(timeout=10)
    deadline = killed_at + TTL + EXPIRY_SLACK
    for watcher in (uno, dos):
        _, others = watcher.wait_for_listing("Dos", "Uno", timeout=deadline - time.monotonic())
        seen = others + watcher.lines_until_sync()
        assert sorted(seen) == sorted([left("Tres"), left("Cuatro")]), seen
    assert time.monotonic() < deadline
    # Their nicknames are free again, on any node.
    again = n1.connect().prompt()
    enter_when_possible(again, "Tres", max(0.5, deadline - time.monotonic()))
    dos2 = n2.connect().prompt()
    enter_when_possible(dos2, "Cuatro", max(0.5, deadline - time.monotonic()))
    assert dos2.listing() == conectados("Cuatro", "Dos", "Tres", "Uno")


# -- 8. a node stopped with SIGTERM ----------------------------------------------------------------


def test_a_stopped_nodes_users_leave_the_others_at_once(cluster: Cluster) -> None:
    n1, n2 = cluster.start_many(["s1", "s2"])
    queda = join(n1, "Queda")
    va = join(n2, "Va", queda)
    viene = join(n2, "Viene", queda, va)

    n2.process.send_signal(signal.SIGTERM)
    signalled_at = time.monotonic()
    # Its own users: the shutdown notice, as on a single node, then EOF.
    assert va.rest() == [SHUTTING_DOWN]
    assert viene.rest() == [SHUTTING_DOWN]
    # The other node's users see them leave well before the TTL.
    seen: list[str] = []
    for _ in range(2):
        seen.append(queda.line_within(max(0.1, signalled_at + STOP_SPREAD - time.monotonic())))
    assert sorted(seen) == sorted([left("Va"), left("Viene")]), seen
    assert time.monotonic() - signalled_at < STOP_SPREAD
    assert queda.listing() == conectados("Queda")
    status = n2.process.wait(timeout=10)
    assert status == 0, (status, n2.log())
    assert time.monotonic() - signalled_at < 5.0
    assert "Traceback" not in n2.log(), n2.log()
    # Their nicknames are free at once.
    again = n1.connect().prompt()
    assert enter_when_possible(again, "Va", 1.0) < 1.0


# -- 9. a Redis outage -----------------------------------------------------------------------------


def assert_logged_once(nodes: list[Node], text: str) -> None:
    """Each node's log has exactly one line containing ``text``."""
    for node in nodes:
        assert node.log_count(text) == 1, f"{node.node_id}: {text!r}\n{node.log()[-3000:]}"


def test_a_redis_outage_keeps_each_node_chatting_and_the_cluster_heals(
    cluster: Cluster, redis_server: RedisServer
) -> None:
    nodes = cluster.start_many(["o1", "o2"])
    n1, n2 = nodes
    ola = join(n1, "Ola")
    olga = join(n1, "Olga", ola)
    oscar = join(n2, "Oscar", ola, olga)
    otto = join(n2, "Otto", ola, olga, oscar)
    everyone = ("Ola", "Olga", "Oscar", "Otto")

    redis_server.kill()
    poll(
        lambda: all(node.log_count(UNREACHABLE) >= 1 for node in nodes),
        f"every node to log {UNREACHABLE!r}",
        OUTAGE_NOTICED_WITHIN,
    )

    # Each node's own users go on chatting: public, private, /listar of that node.
    ola.say("solo en n1")
    assert next_message(olga)[0] == "<Ola> solo en n1"
    ola.say("#olga psst")
    assert next_message(olga)[0] == "*Ola* psst"
    assert next_message(ola)[0] == "-> *Olga* psst"
    otto.say("solo en n2")
    assert next_message(oscar)[0] == "<Otto> solo en n2"
    oscar.say("#OTTO psst")
    assert next_message(otto)[0] == "*Oscar* psst"
    assert next_message(oscar)[0] == "-> *Otto* psst"
    ola.wait_for_listing("Ola", "Olga", timeout=TTL + 2)
    otto.wait_for_listing("Oscar", "Otto", timeout=TTL + 2)
    # No new users meanwhile: exactly one "! " line, and the client stays at the prompt.
    waiting = n1.connect().prompt()
    refused_at_the_prompt(waiting, "Nuevo")
    refused_at_the_prompt(n2.connect().prompt(), "Nueva")
    # The outage was logged once per node, however many heartbeats failed since.
    time.sleep(1.5)
    assert_logged_once(nodes, UNREACHABLE)

    redis_server.restart()  # empty, same port
    restarted_at = time.monotonic()
    for watcher in (ola, otto):
        watcher.wait_for_listing(*everyone, timeout=RECOVERY_WITHIN)
    oscar.say("de vuelta")
    for receiver in (ola, olga, otto):
        assert next_message(receiver)[0] == "<Oscar> de vuelta", receiver.nickname
    olga.say("#otto hola, otto")
    assert next_message(otto)[0] == "*Olga* hola, otto"
    assert next_message(olga)[0] == "-> *Otto* hola, otto"
    left_to_wait = max(0.5, restarted_at + RECOVERY_WITHIN - time.monotonic())
    enter_when_possible(waiting, "Nuevo", left_to_wait)
    assert time.monotonic() - restarted_at < RECOVERY_WITHIN
    assert waiting.listing() == conectados("Nuevo", *everyone)
    poll(
        lambda: all(node.log_count(REACHABLE_AGAIN) >= 1 for node in nodes),
        f"every node to log {REACHABLE_AGAIN!r}",
        RECOVERY_WITHIN,
    )
    assert_logged_once(nodes, REACHABLE_AGAIN)
    assert_logged_once(nodes, UNREACHABLE)
    for node in nodes:
        assert "Traceback" not in node.log(), node.log()


def test_a_node_started_while_redis_is_down_serves_and_joins_later(
    cluster: Cluster, redis_server: RedisServer
) -> None:
    redis_server.kill()
    n1 = cluster.start("late1", ready=False)  # serves the prompt without Redis
    early = n1.connect().prompt()
    refused_at_the_prompt(early, "Temprano")
    redis_server.start()
    enter_when_possible(early, "Temprano", RECOVERY_WITHIN)
    n2 = cluster.start("late2")  # and waits until it takes users (a probe comes and goes)
    tarde = join(n2, "Tarde", early)
    assert tarde.listing() == conectados("Tarde", "Temprano")
    tarde.say("hola")
    assert early.line() == "<Tarde> hola"


# -- the Redis password ----------------------------------------------------------------------------


def test_the_redis_password_from_the_url_or_the_environment(
    tmp_path: Path, mysql_url: MysqlURL, redis_with_password: RedisServer
) -> None:
    db = mariadb.mysql_option(mysql_url)
    in_env = running_cluster(
        tmp_path / "env", db, redis_with_password.url, env={"CHAT_REDIS_PASSWORD": REDIS_PASSWORD}
    )
    in_url = running_cluster(
        tmp_path / "url",
        db,
        f"redis://:{REDIS_PASSWORD}@127.0.0.1:{redis_with_password.port}",
    )
    with in_env as first, in_url as second:
        n1 = first.start("p1")
        n2 = second.start("p2")
        uno = join(n1, "Clave")
        dos = join(n2, "Llave", uno)
        dos.say("hola")
        assert uno.line() == "<Llave> hola"
        uno.say("#llave secreto compartido")
        assert dos.line() == "*Clave* secreto compartido"
        for node in (n1, n2):
            assert REDIS_PASSWORD not in node.log(), node.log()


# -- the default node id ---------------------------------------------------------------------------


def test_nodes_without_node_id_get_distinct_defaults(cluster: Cluster) -> None:
    n1, n2 = cluster.start_many(["default1", "default2"], pass_id=False)
    sin = join(n1, "Sin")
    con = join(n2, "Con", sin)
    assert con.listing() == conectados("Con", "Sin")
    assert n1.running() and n2.running()
