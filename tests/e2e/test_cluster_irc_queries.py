"""``ISON``, ``USERHOST`` and ``INVITE`` across two real ``twistd chat --irc`` nodes on one real
Redis and one MariaDB database (docs/IRC.md, "In a cluster"): an IRC user on node A sees the
users of node B with ``ISON`` and ``USERHOST``, and invites an IRC user and a line user of node
B, who read an ``INVITE`` and a ``* `` notice; ``443`` once the invited is in the room. And what
a user's own node knows of it beyond its nickname and rooms, on the other node too: its real
name, away message, server operator status (by its account or by ``OPER``), account and ``+i``
in ``WHOIS`` (``311``, ``301``, ``313``, ``330``), ``WHO`` (``G``, ``*``), ``USERHOST`` and a
``PRIVMSG``'s ``301``, again after a Redis restart.

The nodes are those of :mod:`tests.e2e.test_cluster_irc`, the clients
:mod:`tests.support.ircline`'s (imported, not copied);
every wait is a bounded read or poll, and only the processes the test started are killed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import mariadb
from tests.support.cluster import Cluster, join, poll, running_cluster
from tests.support.expected import joined, registered
from tests.support.ircline import REPLICATION, SERVER, IrcUser, irc_nodes, source
from tests.support.redis_server import RedisServer
from twisted_chat.storage.url import MysqlURL

pytestmark = [pytest.mark.mysql, pytest.mark.timeout(120, method="thread")]


@pytest.fixture
def nodes(tmp_path: Path, mysql_url: MysqlURL, redis_server: RedisServer) -> Iterator[Cluster]:
    """Nodes of the test's own (none started yet), on its own Redis and database."""
    with running_cluster(tmp_path, mariadb.mysql_option(mysql_url), redis_server.url) as cluster:
        yield cluster


def test_ison_userhost_and_invite_across_nodes(nodes: Cluster) -> None:
    (_, b), irc_ports = irc_nodes(nodes)
    bob = join(b, "bob")  # a line user on B
    carol = IrcUser(irc_ports["ib"])
    assert f"{SERVER} 001 carol " in carol.register("carol")[0]
    assert bob.line() == joined("carol")
    ana = IrcUser(irc_ports["ia"])
    assert f"{SERVER} 001 ana " in ana.register("ana")[0]
    assert bob.line() == joined("ana")

    # ISON and USERHOST on A see B's users (the same lookup as PRIVMSG to a nickname).
    ana.say("ISON Carol nadie BOB")
    assert ana.expect(f":{SERVER} 303 ana :carol bob") == []
    ana.say("USERHOST carol bob")
    assert ana.expect(f":{SERVER} 302 ana :carol=+carol@{SERVER} bob=+bob@{SERVER}") == []

    # INVITE from A to an IRC user and a line user of B: published to B, said there.
    ana.join("#juegos")
    ana.say("INVITE carol #juegos")
    assert ana.expect(f":{SERVER} 341 ana carol #juegos") == []
    assert carol.expect(f"{source('ana')} INVITE carol #juegos") == []
    ana.say("INVITE bob #juegos")
    assert ana.expect(f":{SERVER} 341 ana bob #juegos") == []
    assert bob.line() == "* ana te invita a la sala juegos: /unirse juegos"

    # The invited IRC user joins as told; A knows it is in the room: 443.
    carol.join("#juegos")
    assert ana.expect(f"{source('carol')} JOIN #juegos") == []
    ana.say("INVITE carol #juegos")
    assert ana.expect(f":{SERVER} 443 ana carol #juegos :is already on channel") == []
    assert carol.sync() == []  # no second invitation
    assert ana.sync() == []
    ana.wait_names("#juegos", ["@ana", "carol"], REPLICATION)
    bob.close()
    carol.close()
    ana.close()


#: ``ana``'s password, an operator's (``--operator ana``).
PASSWORD = "secreto1"
#: After Redis comes back, the cluster is whole again within this.
RECOVERY_WITHIN = 10.0


@pytest.fixture
def op_nodes(tmp_path: Path, mysql_url: MysqlURL, redis_server: RedisServer) -> Iterator[Cluster]:
    """Nodes of the test's own, ``ana`` their operator, on its own Redis and database."""
    with running_cluster(
        tmp_path,
        mariadb.mysql_option(mysql_url),
        redis_server.url,
        common=["--operator", "ana"],
    ) as cluster:
        yield cluster


def _whois(user: IrcUser, nick: str) -> list[str]:
    user.say(f"WHOIS {nick}")
    return user.until(rf":{SERVER} 318 .*")


def _whois_shows(user: IrcUser, nick: str, wanted: list[str], timeout: float) -> None:
    """``WHOIS nick`` until it holds every line of ``wanted`` (bounded)."""
    seen: list[list[str]] = []

    def shown() -> bool:
        seen.append(_whois(user, nick))
        return all(line in seen[-1] for line in wanted)

    try:
        poll(shown, f"WHOIS {nick} to show {wanted}", timeout, 0.1)
    except AssertionError as e:
        raise AssertionError(f"{e}; last {seen[-1:]}") from None


def test_what_a_node_knows_of_its_users_is_known_on_the_other(
    op_nodes: Cluster, redis_server: RedisServer
) -> None:
    (a, _), irc_ports = irc_nodes(op_nodes)
    owner = join(a, "ana")
    owner.say(f"/registrar {PASSWORD}")
    assert owner.line() == registered("ana")
    owner.close()
    ana = IrcUser(irc_ports["ia"])  # logged in with its password: an operator
    ana.say(f"PASS {PASSWORD}")
    assert f"{SERVER} 001 ana " in ana.register("ana")[0]
    ana.say("AWAY :comiendo")
    ana.expect(f":{SERVER} 306 ana :You have been marked as being away")
    ana.say("MODE ana +i")
    ana.expect(f"{source('ana')} MODE ana :+i")
    carol = IrcUser(irc_ports["ib"])
    assert f"{SERVER} 001 carol " in carol.register("carol")[0]

    everything = [
        f":{SERVER} 311 carol ana ana {SERVER} * :ana real",
        f":{SERVER} 313 carol ana :is an IRC operator",
        f":{SERVER} 301 carol ana :comiendo",
        f":{SERVER} 330 carol ana ana :is logged in as",
    ]
    _whois_shows(carol, "ana", everything, REPLICATION)
    carol.say("WHO ana")
    assert f":{SERVER} 352 carol * ana {SERVER} {SERVER} ana G* :0 ana real" in carol.until(
        rf":{SERVER} 315 .*"
    )
    carol.say("WHO a*")  # invisible, no room in common: not by a mask
    assert [x for x in carol.until(rf":{SERVER} 315 .*") if " 352 " in x] == []
    carol.say("USERHOST ana")
    assert carol.expect(f":{SERVER} 302 carol :ana*=-ana@{SERVER}") == []
    carol.say("PRIVMSG ana :hola")
    assert carol.expect(f":{SERVER} 301 carol ana :comiendo") == []
    assert ana.expect(f"{source('carol')} PRIVMSG ana :hola") == []

    # An operator by OPER (under its own nickname): ia knows it too.
    carol.say(f"OPER ana {PASSWORD}")
    carol.expect(f":{SERVER} 381 carol :You are now an IRC operator")

    def operator_on_ia() -> bool:
        ana.say("WHO carol")
        return any(" carol H* :0 carol real" in x for x in ana.until(rf":{SERVER} 315 .*"))

    poll(operator_on_ia, "carol an operator, on ia", REPLICATION, 0.1)

    # Back: the other node knows that too.
    ana.say("AWAY")
    ana.expect(f":{SERVER} 305 ana :You are no longer marked as being away")

    def here() -> bool:
        carol.say("WHO ana")
        return any(" ana H* :0 ana real" in x for x in carol.until(rf":{SERVER} 315 .*"))

    poll(here, "ana back, on ib", REPLICATION, 0.1)
    ana.say("AWAY :otra vez")
    ana.expect(f":{SERVER} 306 ana :You have been marked as being away")

    # Redis restarted, empty: ia writes ana's info again, and ib reads it.
    redis_server.kill()
    poll(
        lambda: all(node.log_count("cluster: Redis unreachable") >= 1 for node in op_nodes.nodes),
        "both nodes to notice the outage",
        10.0,
    )
    redis_server.restart()

    def written() -> bool:
        try:
            info = redis_server.command("HGET", "chat:users:ia", "#u:ana")
        except OSError:
            return False
        return info is not None and "otra vez" in str(info)

    poll(written, "ana's info in ia's users hash again", RECOVERY_WITHIN, 0.1)
    everything[2] = f":{SERVER} 301 carol ana :otra vez"
    _whois_shows(carol, "ana", everything, RECOVERY_WITHIN)
    assert all("Traceback" not in node.log() for node in op_nodes.nodes), op_nodes.logs()
    ana.close()
    carol.close()
