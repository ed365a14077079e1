"""History and recados across the cluster (issue 15, "Cluster mode"), end to end: real
``twistd chat`` nodes on one real Redis and one MariaDB database.

- what is said on one node is in every node's history at once (each node's buffer), stored
  once; ``/olvidar`` on one node empties every node's history of those messages;
- after a Redis outage, what a node's users said meanwhile is in every node's history;
- a recado for a user connected on another node is delivered there at once; one read at a
  login on another node is told to its sender; one whose recipient logs in on two nodes at
  once is delivered exactly once (rows counted afterwards).

Every wait is a bounded poll; only the processes the test started are signalled, by their PIDs.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import mariadb
from tests.support.cluster import Client, Cluster, Node, poll, running_cluster
from tests.support.expected import registered, welcome
from tests.support.redis_server import RedisServer
from twisted_chat.history import UNSURE_AFTER_LISTENING
from twisted_chat.storage.url import MysqlURL

pytestmark = [pytest.mark.mysql, pytest.mark.timeout(120, method="thread")]

PASSWORDS = {"ana": "Clave-ana1", "bob": "Clave-bob2"}
#: The form of a stored line (docs spec: group 2 public sender, 3 recado sender, 4 text).
STORED = re.compile(
    r"^\* \[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\] (?:<([^>\s]+)>|\*([^*\s]+)\*) (.*)$"
)
#: What "in every node's history" is given (a loaded 2-core machine).
SPREAD = 3.0
#: After Redis comes back, the histories are whole again within this.
RECOVERY_WITHIN = 15.0
UNREACHABLE = "cluster: Redis unreachable"


@pytest.fixture
def cluster(tmp_path: Path, mysql_url: MysqlURL, redis_server: RedisServer) -> Iterator[Cluster]:
    """Nodes of the test's own (none started yet), on its own Redis and database."""
    with running_cluster(
        tmp_path,
        mariadb.mysql_option(mysql_url),
        redis_server.url,
        common=["--flood-rate", "0"],
    ) as nodes:
        yield nodes


def register(node: Node, *nicks: str) -> None:
    """Register ``nicks`` (with :data:`PASSWORDS`) through ``node``."""
    for nick in nicks:
        client = node.connect().prompt().enter(nick)
        client.say(f"/registrar {PASSWORDS[nick]}")
        assert client.line() == registered(nick)
        client.leave()


def enter(node: Node, nick: str, password: bool = True) -> Client:
    """``nick`` logged in on ``node`` (with its password from :data:`PASSWORDS`, if there)."""
    line = f"{nick} {PASSWORDS[nick]}" if password and nick in PASSWORDS else nick
    return node.connect().prompt().enter(line)


def stored_texts(lines: list[str]) -> list[tuple[str, str]]:
    """The (sender, text) of the stored public lines among ``lines``."""
    found = []
    for line in lines:
        match = STORED.match(line)
        if match and match.group(2):
            found.append((match.group(2), match.group(4)))
    return found


def history(client: Client) -> list[tuple[str, str]]:
    """``/historial`` of ``client``'s room: (sender, text) of each stored line."""
    return stored_texts(ask(client, "/historial"))


def ask(client: Client, command: str) -> list[str]:
    """Send ``command``, then ``/username``; every line before the latter's reply."""
    client.say(command)
    return client.lines_until_sync()


def count(url: MysqlURL, sql: str, *args: str) -> int:
    """``SELECT COUNT(*) ...`` on the test's database."""
    conn = mariadb.connect(url, url.database)
    try:
        cursor = conn.cursor()
        cursor.execute(sql, args)
        return int(cursor.fetchone()[0])
    finally:
        conn.close()


def wait_for_line(
    client: Client, wanted: str, timeout: float = SPREAD, *, ending: bool = False
) -> list[str]:
    """Sync ``client`` until the line ``wanted`` (``ending``: a line ending so) arrived
    (bounded); every line received meanwhile."""
    lines: list[str] = []

    def arrived() -> bool:
        lines.extend(client.lines_until_sync())
        return any(line.endswith(wanted) if ending else line == wanted for line in lines)

    poll(arrived, f"{client.nickname} to get {wanted!r}", timeout, interval=0.1)
    return lines


def race(client: Client, start: threading.Barrier) -> None:
    """Send ``bob``'s nickname line with the other racer (``start``)."""
    start.wait(5)
    client.say(f"bob {PASSWORDS['bob']}")


def test_every_node_has_the_history_and_olvidar_empties_it_everywhere(
    cluster: Cluster, mysql_url: MysqlURL
) -> None:
    n1, n2 = cluster.start_many(["h1", "h2"])
    register(n1, "ana")
    ana = enter(n1, "ana")
    bea = enter(n2, "bea")
    ana.say("uno")
    ana.say("dos")
    wait_for_line(bea, "<ana> dos")
    bea.say("tres")
    wait_for_line(ana, "<bea> tres")
    expected = [("ana", "uno"), ("ana", "dos"), ("bea", "tres")]
    assert history(bea) == expected
    assert history(ana) == expected
    # stored once, by the sender's node (the ids are unique: a second store would be refused,
    # so count what each node wrote through its log of batches instead: the rows are all here)
    poll(lambda: count(mysql_url, "SELECT COUNT(*) FROM mensajes") == 3, "3 rows", SPREAD)

    assert ask(ana, "/olvidar confirmar")[-1] == "* Borrados: 2 mensajes y 0 recados."
    poll(lambda: history(bea) == [("bea", "tres")], "ana's messages gone from h2", SPREAD)
    assert history(ana) == [("bea", "tres")]
    assert count(mysql_url, "SELECT COUNT(*) FROM mensajes WHERE nick_key = %s", "ana") == 0


def test_after_a_redis_outage_every_node_has_what_was_said_meanwhile(
    cluster: Cluster, redis_server: RedisServer
) -> None:
    n1, n2 = cluster.start_many(["h1", "h2"])
    ana = enter(n1, "ana", password=False)
    bea = enter(n2, "bea")
    ana.say("antes")
    wait_for_line(bea, "<ana> antes")
    assert history(bea) == [("ana", "antes")]
    # h2 began listening to the room when bea entered: until UNSURE_AFTER_LISTENING later its
    # buffer is not taken as the whole history (/historial reads the database, which would
    # show what h1 stores during the outage); after it, h2 answers from what it heard.
    time.sleep(UNSURE_AFTER_LISTENING + 0.5)
    assert history(bea) == [("ana", "antes")]

    redis_server.kill()
    poll(
        lambda: all(node.log_count(UNREACHABLE) >= 1 for node in (n1, n2)),
        "both nodes to notice the outage",
        10.0,
    )
    ana.say("durante")
    assert ("ana", "durante") in history(ana)  # stored by h1 meanwhile
    assert history(bea) == [("ana", "antes")]  # h2 did not hear it

    redis_server.restart()
    poll(
        lambda: history(bea) == [("ana", "antes"), ("ana", "durante")],
        "h2's history to hold what h1's users said during the outage",
        RECOVERY_WITHIN,
        interval=0.3,
    )


def test_a_recado_for_a_user_on_another_node_is_delivered_at_once(
    cluster: Cluster, mysql_url: MysqlURL
) -> None:
    n1, n2 = cluster.start_many(["h1", "h2"])
    register(n1, "ana", "bob")
    ana = enter(n1, "ana")
    bob = enter(n2, "bob")
    wait_for_line(ana, "* bob se ha unido al chat.")
    ana.say("/recado bob vuelve pronto")
    lines = wait_for_line(ana, "* Recado entregado a bob.")
    assert "* Recado guardado para bob; lo recibirá al entrar." not in lines
    got = [match.groups()[2:] for line in bob.lines_until_sync() if (match := STORED.match(line))]
    assert got == [("ana", "vuelve pronto")]
    assert count(mysql_url, "SELECT COUNT(*) FROM recados") == 0
    bob.close()
    again = enter(n2, "bob")
    assert not any("vuelve pronto" in line for line in again.lines_until_sync())


def test_a_recado_read_on_another_node_is_told_to_its_sender(
    cluster: Cluster, mysql_url: MysqlURL
) -> None:
    n1, n2 = cluster.start_many(["h1", "h2"])
    register(n1, "ana", "bob")
    ana = enter(n1, "ana")
    ana.say("/recado bob vuelve pronto")
    wait_for_line(ana, "* Recado guardado para bob; lo recibirá al entrar.")
    bob = enter(n2, "bob")
    lines = wait_for_line(bob, "* Tienes un recado:")  # its /username reads them
    assert any(line.endswith("*ana* vuelve pronto") for line in lines), lines
    wait_for_line(ana, "* bob ha recibido tu recado.")
    assert count(mysql_url, "SELECT COUNT(*) FROM recados") == 0


def test_a_recado_is_delivered_once_when_its_recipient_logs_in_on_two_nodes_at_once(
    cluster: Cluster, mysql_url: MysqlURL
) -> None:
    n1, n2 = cluster.start_many(["h1", "h2"])
    register(n1, "ana", "bob")
    ana = enter(n1, "ana")
    told: list[str] = []
    for round_ in range(3):
        text = f"recado {round_}"
        ana.say(f"/recado bob {text}")
        wait_for_line(ana, "* Recado guardado para bob; lo recibirá al entrar.")
        racers = [n1.connect().prompt(), n2.connect().prompt()]
        start = threading.Barrier(2)
        threads = [threading.Thread(target=race, args=(c, start)) for c in racers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        replies = [client.line() for client in racers]
        winners = [c for c, reply in zip(racers, replies, strict=True) if reply == welcome("bob")]
        assert len(winners) == 1, replies
        loser = racers[1 - racers.index(winners[0])]
        assert replies[racers.index(loser)].startswith("! "), replies
        winner = winners[0]
        winner.nickname = "bob"
        lines = wait_for_line(winner, f"*ana* {text}", 5.0, ending=True)
        lines += winner.lines_until_sync()  # a line: read
        assert sum(line.endswith(f"*ana* {text}") for line in lines) == 1, lines
        poll(
            lambda: count(mysql_url, "SELECT COUNT(*) FROM recados") == 0,
            "the recado deleted",
            SPREAD,
        )
        told += wait_for_line(ana, "* bob ha recibido tu recado.")
        loser.say("/username")  # still at the prompt: not logged in
        assert loser.line().startswith("! ")
        winner.leave()
        loser.close()
    told += ana.lines_until_sync()
    assert told.count("* bob ha recibido tu recado.") == 3, told


def test_a_rooms_messages_have_one_order_on_every_node(cluster: Cluster) -> None:
    """Two senders on each of three nodes send at once; an observer on each node sees every
    message, and all three see them in the same order (issue 15: "one order per room for the
    whole cluster"); /historial is the same on every node too."""
    nodes = cluster.start_many(["h1", "h2", "h3"])
    observers = [enter(node, f"obs{i}") for i, node in enumerate(nodes, 1)]
    senders = [enter(node, f"s{i}{part}") for i, node in enumerate(nodes, 1) for part in "ab"]
    everyone = sorted(c.nickname or "" for c in observers + senders)
    for client in observers:
        client.wait_for_listing(*everyone, timeout=SPREAD)
    per_sender = 40
    start = threading.Barrier(len(senders))

    def burst(client: Client) -> None:
        lines = "".join(f"{client.nickname} {n:02d}\r\n" for n in range(per_sender))
        start.wait(5)
        client.sock.sendall(lines.encode())

    threads = [threading.Thread(target=burst, args=(c,)) for c in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    total = per_sender * len(senders)
    orders = []
    for observer in observers:
        seen: list[str] = []
        while len(seen) < total:
            line = observer.line()
            if line.startswith("<"):
                seen.append(line)
        orders.append(seen)
    for sender in senders:  # each sender's own messages in the order it sent them
        mine = [line for line in orders[0] if line.startswith(f"<{sender.nickname}>")]
        assert mine == [f"<{sender.nickname}> {sender.nickname} {n:02d}" for n in range(per_sender)]
    differences = [i for i in range(total) if len({order[i] for order in orders}) > 1]
    assert not differences, f"{len(differences)} places differ, first at {differences[:5]}"
    # /historial (ordered by time and id, not by Redis) is the same on every node
    pages = [history(observer) for observer in observers]
    assert pages[0] == pages[1] == pages[2]
    assert len(pages[0]) == 50
