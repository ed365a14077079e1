"""Three ``twistd chat`` nodes joined through Redis behave as one chat (issue 8), end to end.

The module starts three real nodes once (``--cluster-ttl 3``, ``--flood-rate 0``, a Redis of its
own, one MariaDB database for all, a ``--redis-prefix`` of its own) and every test talks to them
over real sockets with nicknames of its own; after each test its clients are closed and the cluster
is waited on until it lists nobody (:class:`tests.support.cluster.ClientPool`). Tests that kill
nodes or Redis are in ``test_cluster_failures.py``, with nodes of their own.
"""

from __future__ import annotations

import threading
import time
import unicodedata
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support import mariadb
from tests.support.cluster import (
    TTL,
    ClientPool,
    Cluster,
    Node,
    client_pool,
    running_cluster,
    running_nodes,
    spelling,
    take_nickname,
)
from tests.support.expected import (
    FIRST_VISIT,
    LOGIN_REFUSED,
    NICK_INVALID,
    PASSWORD_CHANGED,
    conectados,
    goodbye,
    joined,
    last_seen,
    left,
    offline,
    password_needed,
    registered,
    taken,
    welcome,
)
from tests.support.processes import run_twistd
from tests.support.redis_server import RedisServer
from twisted_chat.storage.url import MysqlURL

pytestmark = [pytest.mark.mysql, pytest.mark.timeout(120, method="thread")]

#: "At once" for a nickname freed by a leave: another node can take it within this bound.
FREED_WITHIN = 1.5
#: A registration or a password change made on one node holds on the others within this.
ACCOUNT_SPREAD = 1.0
#: Seconds a password check (argon2 in a thread) may take.
ACCOUNT_WAIT = 15.0


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_cluster(
    tmp_path_factory: pytest.TempPathFactory,
    module_mysql_url: MysqlURL,
    module_redis: RedisServer,
) -> Iterator[Cluster]:
    """Three nodes, ``n1`` to ``n3``, on one Redis and one database, for the whole module."""
    with running_cluster(
        tmp_path_factory.mktemp("cluster"),
        mariadb.mysql_option(module_mysql_url),
        module_redis.url,
        prefix=f"t{uuid.uuid4().hex[:8]}:",
        common=["--flood-rate", "0"],
    ) as cluster:
        cluster.start_many(["n1", "n2", "n3"])
        yield cluster


@pytest.fixture
def nodes(shared_cluster: Cluster) -> list[Node]:
    """The shared cluster's three nodes (each must still be running)."""
    return running_nodes(shared_cluster.nodes[:3])


@pytest.fixture
def pool(nodes: list[Node]) -> Iterator[ClientPool]:
    """The test's clients; closed afterwards, and the cluster waited on until it is empty."""
    with client_pool(nodes) as clients:
        yield clients


# -- 1. one nickname space -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spellings",
    [
        ("Racer", "Racer", "Racer"),
        ("Zoë", "zoë", unicodedata.normalize("NFD", "ZOË")),  # one key: NFC + casefold
        ("Quim", "QUIM", "quim"),
    ],
    ids=["same", "nfc-casefold", "case"],
)
def test_a_nickname_race_across_three_nodes_has_one_winner(
    nodes: list[Node], pool: ClientPool, spellings: tuple[str, str, str]
) -> None:
    clients = [pool.connect(node).prompt() for node in nodes]
    replies: list[str | None] = [None, None, None]
    start = threading.Barrier(3)

    def race(i: int) -> None:
        start.wait(timeout=5)
        clients[i].say(spellings[i])
        replies[i] = clients[i].line()

    threads = [threading.Thread(target=race, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=15)
    winners = [i for i, reply in enumerate(replies) if reply == welcome(spelling(spellings[i]))]
    assert len(winners) == 1, replies
    losers = [i for i in range(3) if i not in winners]
    for i in losers:
        reply = replies[i]
        assert reply is not None and reply.startswith("! "), replies
    # Each loser got exactly that one line and is still at the prompt: an invalid nickname gets
    # the invalid-nickname line next, and another nickname logs in.
    for n, i in enumerate(losers):
        clients[i].say("1nope")
        assert clients[i].line() == NICK_INVALID
        clients[i].enter(f"{spellings[0][:4]}Alt{n}")
    # The winner's nickname is still held cluster-wide.
    late = pool.connect(nodes[(winners[0] + 1) % 3]).prompt()
    assert late.try_nick(spellings[0]) == taken(spelling(spellings[0]))


def test_a_connected_nickname_is_taken_on_every_other_node(
    nodes: list[Node], pool: ClientPool
) -> None:
    n1, n2, n3 = nodes
    pool.login(n1, "Ana")
    for i, (node, attempt) in enumerate(((n2, "ana"), (n3, "ANA"), (n1, "aNa"))):
        client = pool.connect(node).prompt()
        assert client.try_nick(attempt) == taken(attempt)
        client.say("/username")  # still at the prompt: not a nickname
        assert client.line().startswith("! ")
        client.enter(f"{attempt}{i}")


@pytest.mark.parametrize("how", ["salir", "close", "reset"])
def test_a_leaving_user_frees_the_nickname_for_the_whole_cluster(
    nodes: list[Node], pool: ClientPool, how: str
) -> None:
    n1, n2, n3 = nodes
    nick = f"Libre{how}"
    holder = pool.login(n1, nick)
    watcher = pool.login(n3, f"Mira{how}")
    assert holder.line() == joined(f"Mira{how}")
    if how == "salir":
        holder.say("/salir")
        assert holder.rest() == [goodbye(nick)]
        holder.close()
    elif how == "close":
        holder.close()
    else:
        holder.reset()
    assert watcher.line() == left(nick)
    client, took = take_nickname(n2, nick.lower(), FREED_WITHIN)
    pool.clients.append(client)
    assert took < FREED_WITHIN
    assert watcher.line() == joined(nick.lower())


# -- 2. one room -----------------------------------------------------------------------------------


def test_public_messages_and_notices_reach_every_node(nodes: list[Node], pool: ClientPool) -> None:
    n1, n2, n3 = nodes
    a = pool.login(n1, "Pia")
    b = pool.login(n2, "Pablo", a)
    c = pool.login(n3, "Petra", a, b)
    c.say("hola a todos, ñ 👋")
    assert a.line() == "<Petra> hola a todos, ñ 👋"
    assert b.line() == "<Petra> hola a todos, ñ 👋"
    c.sync()  # the sender gets nothing back
    a.say("  espacios  ")
    assert b.line() == "<Pia>   espacios  "
    assert c.line() == "<Pia>   espacios  "
    b.say("/salir")
    assert b.rest() == [goodbye("Pablo")]
    assert a.line() == left("Pablo")
    assert c.line() == left("Pablo")
    for client in (a, c):
        client.sync()


def test_two_hundred_public_messages_arrive_in_order_on_the_other_nodes(
    nodes: list[Node], pool: ClientPool
) -> None:
    n1, n2, n3 = nodes
    sender = pool.login(n1, "Rafaga")
    two = pool.login(n2, "Dos", sender)
    three = pool.login(n3, "Tres", sender, two)
    messages = [f"mensaje {i:03d}" for i in range(200)]
    sender.sock.sendall("".join(f"{m}\r\n" for m in messages).encode())
    for receiver in (two, three):
        got = [receiver.line() for _ in messages]
        assert got == [f"<Rafaga> {m}" for m in messages]
    for client in (sender, two, three):
        client.sync()


# -- 3. private messages across nodes --------------------------------------------------------------


def test_private_messages_cross_nodes_with_the_recipients_spelling(
    nodes: list[Node], pool: ClientPool
) -> None:
    n1, n2, n3 = nodes
    ana = pool.login(n1, "Anabel")
    bob = pool.login(n2, "bobby", ana)
    third = pool.login(n3, "Tercero", ana, bob)
    bob.say("#anabel hola")
    assert ana.line() == "*bobby* hola"
    assert bob.line() == "-> *Anabel* hola"
    ana.say("#BOBBY  qué tal ")
    assert bob.line() == "*Anabel*  qué tal "
    assert ana.line() == "-> *bobby*  qué tal "
    third.say("#Anabel de n3")
    assert ana.line() == "*Tercero* de n3"
    assert third.line() == "-> *Anabel* de n3"
    # Nobody by that name anywhere: the single-node refusal.
    bob.say("#nadie hola")
    assert bob.line() == offline("nadie")
    for client in (ana, bob, third):
        client.sync()  # nobody got anything else


# -- 4. /listar ------------------------------------------------------------------------------------


def test_listar_shows_every_user_of_the_cluster_on_every_node(
    nodes: list[Node], pool: ClientPool, module_redis: RedisServer, shared_cluster: Cluster
) -> None:
    n1, n2, n3 = nodes
    delta = pool.login(n1, "delta")
    bravo = pool.login(n2, "Bravo", delta)
    charlie = pool.login(n3, "charlie_3", delta, bravo)
    alfa = pool.login(n1, "Alfa", delta, bravo, charlie)
    expected = conectados("Alfa", "Bravo", "charlie_3", "delta")
    for client in (delta, bravo, charlie, alfa):
        assert client.listing() == expected
    # Every key the nodes made starts with the --redis-prefix.
    prefix = shared_cluster.prefix
    assert prefix is not None
    keys = module_redis.key_names()
    assert keys, "the nodes keep nothing in Redis"
    assert [key for key in keys if not key.startswith(prefix)] == []


# -- 5. logins in the shared database --------------------------------------------------------------


def test_logins_are_recorded_and_the_previous_connection_is_known_on_any_node(
    nodes: list[Node], pool: ClientPool, module_mysql_url: MysqlURL
) -> None:
    n1, n2, n3 = nodes
    memo = pool.login(n1, "Memo")
    assert memo.visit == FIRST_VISIT
    first = mariadb.read_logins(module_mysql_url)["memo"]
    memo.say("/salir")
    assert memo.rest() == [goodbye("Memo")]
    again, _ = take_nickname(n2, "MEMO", FREED_WITHIN)
    pool.clients.append(again)
    assert again.visit == last_seen(datetime.fromtimestamp(first, UTC))
    assert set(mariadb.read_logins(module_mysql_url)) >= {"memo"}
    third = pool.login(n3, "Otro_memo", again)
    assert third.visit == FIRST_VISIT


# -- 6. registered nicknames -----------------------------------------------------------------------


def test_registered_nicknames_and_password_changes_hold_cluster_wide(
    nodes: list[Node], pool: ClientPool
) -> None:
    n1, n2, n3 = nodes
    owner = pool.login(n1, "Dueña")
    owner.say("/registrar secreto1")
    assert owner.line_within(ACCOUNT_WAIT) == registered("Dueña")
    registered_at = time.monotonic()
    owner.say("/salir")
    assert owner.rest() == [goodbye("Dueña")]
    time.sleep(max(0.0, registered_at + ACCOUNT_SPREAD - time.monotonic()))

    impostor = pool.connect(n2).prompt()
    assert impostor.try_nick("dueña") == password_needed("dueña")
    assert impostor.try_nick("dueña malaclave") == LOGIN_REFUSED
    back = pool.connect(n3).prompt()
    back.sock.settimeout(ACCOUNT_WAIT)
    back.enter("Dueña secreto1")
    back.say("/password secreto1 secreto2")
    assert back.line_within(ACCOUNT_WAIT) == PASSWORD_CHANGED
    changed_at = time.monotonic()
    back.say("/salir")
    assert back.rest() == [goodbye("Dueña")]
    time.sleep(max(0.0, changed_at + ACCOUNT_SPREAD - time.monotonic()))

    old = pool.connect(n1).prompt()
    old.sock.settimeout(ACCOUNT_WAIT)
    assert old.try_nick("Dueña secreto1") == LOGIN_REFUSED
    new = pool.connect(n2).prompt()
    new.sock.settimeout(ACCOUNT_WAIT)
    new.enter("Dueña secreto2")


# -- 10. a second node with a live node's id -------------------------------------------------------


def test_a_node_with_a_live_nodes_id_exits_and_touches_nothing(
    nodes: list[Node], pool: ClientPool, shared_cluster: Cluster
) -> None:
    n1, n2, _ = nodes
    vigia = pool.login(n1, "Vigía")
    otra = pool.login(n2, "Otra", vigia)
    result = shared_cluster.run("n1", timeout=30)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "node id" in output.lower(), output
    assert "Traceback" not in output, output
    assert n1.running(), n1.log()[-3000:]
    # Longer than the TTL: had the impostor removed n1's heartbeat or users, they would be gone.
    time.sleep(TTL + 1.0)
    assert otra.listing() == conectados("Otra", "Vigía")
    vigia.say("sigo aquí")
    assert otra.line() == "<Vigía> sigo aquí"
    otra.say("#vigía ¿seguro?")
    assert vigia.line() == "*Otra* ¿seguro?"
    assert otra.line() == "-> *Vigía* ¿seguro?"
    vigia.sync()
    # Its nickname is still held.
    client = pool.connect(n2).prompt()
    assert client.try_nick("VIGÍA") == taken("VIGÍA")


# -- options ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["http://x", "redis://host:notaport", "redis://127.0.0.1:6379/notadb"]
)
def test_a_bad_redis_url_is_a_usage_error(tmp_path: Path, url: str) -> None:
    result = run_twistd(
        "-n",
        "--pidfile=",
        "chat",
        "--port",
        "tcp:0:interface=127.0.0.1",
        "--db",
        f"sqlite:{tmp_path / 'chat.sqlite3'}",
        "--redis",
        url,
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Usage: twistd" in output
    assert "bad --redis" in output, output
    assert "Traceback" not in output
