"""``--metrics`` end to end: a real ``twistd chat`` process scraped over HTTP (issue 10, §1).

The scrapes are parsed with ``prometheus_client.parser``; every wait polls for what it waits
for and is bounded. One server on SQLite follows logins, public and private messages, a flood
disconnect, a departure and a room created; one on the private MariaDB reports the outage on
``/health`` and in ``chat_db_up``; two cluster nodes report ``chat_redis_up`` and
``chat_cluster_users``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import mariadb
from tests.support.cluster import poll, running_cluster
from tests.support.processes import SOCKET_TIMEOUT, LineSocket, Twistd, free_port, twistd_chat
from tests.support.redis_server import RedisServer
from tests.support.scrape import Samples, parse, value
from twisted_chat.storage.url import MysqlURL

pytestmark = [pytest.mark.timeout(180, method="thread")]

#: Longest wait for a metric to reach its value, in seconds.
WAIT = 10.0


def get(port: int, path: str) -> tuple[int, bytes]:
    """``GET http://127.0.0.1:PORT/PATH``: the status and the body (error statuses too)."""
    url = f"http://127.0.0.1:{port}/{path}"
    try:
        with urllib.request.urlopen(url, timeout=SOCKET_TIMEOUT) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def scrape(port: int) -> Samples:
    """``/metrics``, parsed."""
    status, body = get(port, "metrics")
    assert status == 200, (status, body)
    return parse(body.decode("utf-8"))


def health(port: int) -> tuple[int, dict[str, object]]:
    """``/health``: the status and the JSON body."""
    status, body = get(port, "health")
    return status, json.loads(body)


def wait_for(port: int, name: str, expected: float, **labels: str) -> None:
    """Poll ``/metrics`` until the sample ``name{labels}`` is ``expected`` (bounded)."""
    last: list[float] = []

    def reached() -> bool:
        last[:] = [value(scrape(port), name, **labels)]
        return last[0] == expected

    try:
        poll(reached, f"{name}{labels} == {expected}", WAIT)
    except AssertionError as e:
        raise AssertionError(f"{e}; last {last}") from None


@pytest.fixture
def metrics_server(tmp_path: Path) -> Iterator[tuple[Twistd, int]]:
    """``twistd chat`` on SQLite with ``--metrics`` and a strict flood limit; and its metrics
    port."""
    port = free_port()
    extra = [
        "--metrics",
        f"tcp:{port}:interface=127.0.0.1",
        "--flood-rate",
        "1",
        "--flood-burst",
        "1",
        "--flood-kick",
        "1",
    ]
    with twistd_chat(tmp_path, f"sqlite:{tmp_path / 'chat.sqlite3'}", extra=extra) as server:
        yield server, port


def test_metrics_follow_the_chat(metrics_server: tuple[Twistd, int]) -> None:
    server, port = metrics_server
    assert health(port) == (200, {"status": "ok", "db": "up", "redis": "off", "users": 0})
    samples = scrape(port)
    assert value(samples, "chat_users") == 0
    assert value(samples, "chat_db_up") == 1
    assert ("process_cpu_seconds_total", ()) in samples

    ana = LineSocket(server.port)
    ana.login("ana")
    assert ana.line() == "* Los mensajes públicos se guardan 30 días; /olvidar borra los tuyos."
    assert ana.line() == "* Es tu primera conexión."
    bob = LineSocket(server.port)
    bob.login("bob")
    assert bob.line() == "* Los mensajes públicos se guardan 30 días; /olvidar borra los tuyos."
    assert bob.line() == "* Es tu primera conexión."
    assert ana.line() == "* bob se ha unido al chat."
    samples = scrape(port)
    assert value(samples, "chat_users") == 2
    assert value(samples, "chat_logins_total") == 2
    assert value(samples, "chat_login_seconds_count") == 2
    assert value(samples, "chat_connections", transport="tcp") == 2
    assert value(samples, "chat_connections", transport="websocket") == 0
    assert value(samples, "chat_db_write_seconds_count") >= 1
    assert health(port)[1]["users"] == 2
    deliveries = value(samples, "chat_deliveries_total")

    ana.say("hola")  # one line each: within a flood budget of one line
    assert bob.line() == "<ana> hola"
    bob.say("#ana psst")
    assert bob.line() == "-> *ana* psst"
    assert ana.line() == "*bob* psst"
    samples = scrape(port)
    assert value(samples, "chat_messages_total", kind="public") == 1
    assert value(samples, "chat_messages_total", kind="private") == 1
    assert value(samples, "chat_deliveries_total") == deliveries + 2

    # carol floods: a line every 50 ms, over a budget of one a second, until she is kicked.
    carol = LineSocket(server.port)
    carol.login("carol")
    carol.sock.settimeout(0.05)
    closed = False
    for _ in range(100):
        try:
            carol.sock.sendall(b"spam\r\n")
            if carol.sock.recv(4096) == b"":
                closed = True
                break
        except TimeoutError:
            continue
        except OSError:
            closed = True
            break
    assert closed, "carol was not disconnected for flooding"
    carol.close()
    wait_for(port, "chat_disconnects_total", 1, cause="flood")
    assert value(scrape(port), "chat_flood_dropped_lines_total") >= 10

    left = value(scrape(port), "chat_disconnects_total", cause="client")  # the startup probe
    bob.say("/salir")
    assert bob.rest()[-1] == "* Hasta pronto, bob."  # after carol's join and leave notices
    bob.close()
    wait_for(port, "chat_users", 1)
    samples = scrape(port)
    assert value(samples, "chat_disconnects_total", cause="client") == left + 1
    assert value(samples, "chat_connections", transport="tcp") == 1
    assert value(samples, "chat_rooms") == 1  # the default room
    joins = value(samples, "chat_room_joins_total")
    assert joins == 3  # each login entered the default room

    ana.say("/unirse juegos")  # her budget has refilled while carol flooded
    while (line := ana.line()) != "* Sala juegos (1): @ana":  # after carol's and bob's notices
        assert not line.startswith("! "), line
    samples = scrape(port)
    assert value(samples, "chat_rooms") == 2
    assert value(samples, "chat_room_joins_total") == joins + 1
    ana.close()
    wait_for(port, "chat_rooms", 1)  # the room went with its last member


def test_metrics_port_serves_nothing_else(metrics_server: tuple[Twistd, int]) -> None:
    _, port = metrics_server
    assert get(port, "")[0] == 404
    assert get(port, "ws")[0] == 404


@pytest.mark.mysql
def test_health_during_a_database_outage(
    tmp_path: Path, private_mariadb: mariadb.PrivateMariaDB, outage_url: MysqlURL
) -> None:
    port = free_port()
    extra = ["--metrics", f"tcp:{port}:interface=127.0.0.1"]
    with twistd_chat(tmp_path, mariadb.mysql_option(outage_url), extra=extra) as server:
        assert health(port) == (200, {"status": "ok", "db": "up", "redis": "off", "users": 0})
        private_mariadb.stop()
        try:
            ana = LineSocket(server.port)
            ana.login("ana")  # the store finds the outage on writing this login
            poll(lambda: health(port)[1]["db"] == "down", "/health to say the db is down", 30)
            # Under a minute of outage the node is still healthy: the chat goes on.
            assert health(port) == (
                200,
                {"status": "ok", "db": "down", "redis": "off", "users": 1},
            )
            samples = scrape(port)
            assert value(samples, "chat_db_up") == 0
            assert value(samples, "chat_db_queue_length") == 1
        finally:
            private_mariadb.start()
        poll(lambda: health(port)[1]["db"] == "up", "/health to say the db is up", 45)
        wait_for(port, "chat_db_queue_length", 0)
        assert value(scrape(port), "chat_db_up") == 1
        ana.close()


@pytest.mark.mysql
def test_cluster_metrics(
    tmp_path: Path, module_mysql_url: MysqlURL, redis_server: RedisServer
) -> None:
    ports = {"a": free_port(), "b": free_port()}
    with running_cluster(
        tmp_path,
        mariadb.mysql_option(module_mysql_url),
        redis_server.url,
        prefix=f"t{uuid.uuid4().hex[:8]}:",
        common=["--flood-rate", "0"],
    ) as cluster:
        a = cluster.start("a", "--metrics", f"tcp:{ports['a']}:interface=127.0.0.1")
        b = cluster.start("b", "--metrics", f"tcp:{ports['b']}:interface=127.0.0.1")
        assert health(ports["a"])[1]["redis"] == "up"
        wait_for(ports["a"], "chat_redis_up", 1)
        ana = a.connect().prompt().enter("ana")
        bob = b.connect().prompt().enter("bob")
        for node in ("a", "b"):
            wait_for(ports[node], "chat_cluster_users", 2)
            wait_for(ports[node], "chat_users", 1)
        redis_server.kill()
        for node in ("a", "b"):
            wait_for(ports[node], "chat_redis_up", 0)
        status, body = health(ports["a"])
        assert (status, body["redis"], body["users"]) == (200, "down", 1)
        ana.close()
        bob.close()
