"""Nickname changes across the cluster (issue 16), end to end: two real ``twistd chat`` nodes on
one real Redis and one MariaDB database (with ``--irc`` in the last test).

A change on one node is seen on the other (its users read it, ``/listar`` and private messages
follow, the old nickname is free everywhere and the new one taken everywhere), and two users
on two nodes changing to one nickname at the same moment: exactly one gets it, every time.
Every wait is a bounded poll or a barrier; only the processes the test started are signalled,
by their PIDs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import mariadb
from tests.support.cluster import Client, Cluster, join, login, poll, running_cluster
from tests.support.expected import conectados, renamed, welcome
from tests.support.ircline import SERVER, IrcUser, irc_nodes, source
from tests.support.redis_server import RedisServer
from twisted_chat.storage.url import MysqlURL

pytestmark = [pytest.mark.mysql, pytest.mark.timeout(180, method="thread")]

#: What "on every node within a second" is given here (a loaded 2-core machine).
REPLICATION = 3.0


@pytest.fixture
def cluster(tmp_path: Path, mysql_url: MysqlURL, redis_server: RedisServer) -> Iterator[Cluster]:
    """Nodes of the test's own (none started yet), on its own Redis and database."""
    with running_cluster(
        tmp_path, mariadb.mysql_option(mysql_url), redis_server.url, common=["--flood-rate", "0"]
    ) as nodes:
        yield nodes


def taken(nick: str, old: str) -> str:
    return f"! El nickname {nick} ya está conectado; sigues siendo {old}."


def rename(client: Client, new: str) -> tuple[str, list[str]]:
    """``/nick new``: its answer (the change's notice to ``client``, or the ``! `` line) and
    the other lines read before it. The client's nickname follows a change."""
    old = client.nickname or ""
    client.say(f"/nick {new}")
    others: list[str] = []
    while True:
        line = client.line()
        if line == renamed(old, new):
            client.nickname = new
            return line, others
        if line.startswith("! "):
            return line, others
        others.append(line)


def listed(client: Client) -> str:
    """``/listar``'s reply (notices before it are read and dropped)."""
    client.say("/listar")
    while not (line := client.line()).startswith("* Conectados ("):
        pass
    return line


def test_a_change_is_seen_on_the_other_node(cluster: Cluster) -> None:
    n1, n2 = cluster.start_many(["r1", "r2"])
    ana = join(n1, "ana")
    bob = join(n2, "bob", ana)
    reply, _ = rename(ana, "Anita")
    assert reply == renamed("ana", "Anita")
    assert bob.line() == renamed("ana", "Anita")  # the room's member on the other node
    bob.sync()
    poll(lambda: bob.listing() == conectados("Anita", "bob"), "n2 to list Anita", REPLICATION)
    bob.say("#anita hola")
    assert bob.line() == "-> *Anita* hola"
    assert ana.line() == "*bob* hola"
    bob.say("#ana hola")
    assert bob.line() == "! ana no está conectado."
    # the old nickname is free on the other node, the new one taken there
    carol = n2.connect().prompt()
    assert carol.try_nick("ANITA").startswith("! El nickname ANITA ya está conectado")
    assert carol.try_nick("ana") == welcome("ana")
    assert ana.line() == "* ana se ha unido al chat."
    # and a change back to the old one is refused now that it is taken again
    reply, _ = rename(bob, "Ana")
    assert reply == taken("Ana", "bob")


def test_two_nodes_racing_for_one_nickname_one_wins(cluster: Cluster) -> None:
    n1, n2 = cluster.start_many(["r1", "r2"])
    for attempt in range(4):
        wanted = f"premio{attempt}"
        first = login(n1, f"uno{attempt}")
        second = login(n2, f"dos{attempt}")
        first.lines_until_sync()
        second.lines_until_sync()
        # both at once (each line is one write; the nodes run the atomic script in Redis)
        first.say(f"/nick {wanted}")
        second.say(f"/nick {wanted}")
        answers = []
        for client in (first, second):
            old = client.nickname or ""
            while True:
                line = client.line()
                if line == renamed(old, wanted):
                    client.nickname = wanted
                    answers.append("won")
                    break
                if line == taken(wanted, old):
                    answers.append("lost")
                    break
                assert line.startswith("* "), line  # a join or the other's change
        assert sorted(answers) == ["lost", "won"], answers
        # one user of that nickname, the same on both nodes
        for client in (first, second):

            def once(client: Client = client, wanted: str = wanted) -> bool:
                return listed(client).count(f" {wanted}") == 1

            poll(once, f"{client.nickname}: {wanted} listed once", REPLICATION)
        first.leave()
        second.leave()


def test_redis_and_the_room_s_operator_follow(cluster: Cluster, redis_server: RedisServer) -> None:
    """After a change: the claims and the node's users hash in Redis are the new nickname's,
    and the room the renamer created shows it as its operator on the other node."""
    n1, n2 = cluster.start_many(["r1", "r2"])
    ana = join(n1, "ana")
    bob = join(n2, "bob", ana)
    ana.say("/unirse club")
    assert ana.line().startswith("* Sala club (1): @ana")  # no topic: no topic line
    bob.say("/unirse club")
    while not (line := bob.line()).startswith("* Sala "):
        assert line.startswith("* "), line  # ana's move out of general, maybe
    assert line.startswith("* Sala club ("), line
    bob.lines_until_sync()
    ana.lines_until_sync()
    assert rename(ana, "Anita")[0] == renamed("ana", "Anita")
    assert redis_server.command("GET", "chat:nick:ana") is None
    assert redis_server.command("GET", "chat:nick:anita") is not None
    users = redis_server.command("HGETALL", "chat:users:r1")
    assert isinstance(users, list), users
    fields = dict(zip(map(str, users[::2]), map(str, users[1::2]), strict=True))
    assert fields.get("anita") == "Anita" and "ana" not in fields, fields
    assert fields.get("#r:anita") == "club" and "#r:ana" not in fields, fields
    assert fields.get("#o:club") == "anita", fields
    ana.nickname = "Anita"  # the helper's replies are to its nickname
    while (line := bob.line()) != renamed("ana", "Anita"):  # from the other node: bounded
        assert line.startswith("* "), line

    def operator_shown() -> bool:
        bob.say("/sala")
        while not (line := bob.line()).startswith("* Sala "):
            pass
        bob.line()  # its topic line
        return line == "* Sala club (2): @Anita, bob"

    poll(operator_shown, "n2 to show @Anita in club", REPLICATION)


def test_irc_users_see_a_change_on_the_other_node(cluster: Cluster) -> None:
    """With ``--irc`` on both nodes: an IRC user on one node sharing two channels with the
    renamer on the other reads one ``NICK``; a line user of one of them reads the notice;
    ``NAMES`` on both nodes and ``433`` for the new nickname from the other node follow."""
    (a, b), irc_ports = irc_nodes(cluster)
    bob = join(b, "bob")
    ana = IrcUser(irc_ports["ia"])
    assert f"{SERVER} 001 ana " in ana.register("ana")[0]
    carol = IrcUser(irc_ports["ib"])
    assert f"{SERVER} 001 carol " in carol.register("carol")[0]
    for user, nick in ((ana, "ana"), (carol, "carol")):
        for channel in ("#general", "#juegos"):
            user.say(f"JOIN {channel}")
            user.expect(f":{SERVER} 366 {nick} {channel} :End of /NAMES list")
    carol.wait_names("#juegos", ["@ana", "carol"], REPLICATION)
    carol.wait_names("#general", ["ana", "bob", "carol"], REPLICATION)
    ana.sync()
    carol.sync()
    ana.say("NICK Anita")
    for user in (ana, carol):  # lines before it: JOINs from the other node, maybe
        assert not [
            line for line in user.expect(f"{source('ana')} NICK :Anita") if " NICK " in line
        ]
    ana.nickname = "Anita"  # the helper's replies are to its nickname
    while (line := bob.line()) != renamed("ana", "Anita"):
        assert line.startswith("* "), line
    # once: nothing more before the barrier
    assert [line for line in carol.sync() if " NICK " in line] == []
    carol.wait_names("#juegos", ["@Anita", "carol"], REPLICATION)
    ana.wait_names("#general", ["Anita", "bob", "carol"], REPLICATION)
    carol.say("NICK anita")  # held on the other node now
    lines = carol.until(rf":{re.escape(SERVER)} 433 carol anita :.*")
    assert len(lines) == 1, lines
    assert a.running() and b.running()
