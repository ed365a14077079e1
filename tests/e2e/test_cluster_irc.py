"""IRC users in a cluster (issue 16), end to end: two real ``twistd chat --irc`` nodes on one
real Redis and one MariaDB database, an IRC user on node A, a line user and an IRC user on
node B, in one room.

Messages both ways, ``JOIN`` and ``PART`` seen across nodes, ``NAMES`` on each node listing
everyone, a room created on one node and joined from the other (one operator), private
messages across nodes, ``433`` for a nickname held on the other node, and a node killed with
SIGKILL: its IRC user leaves the other node's ``NAMES`` with a ``QUIT``. Every wait is a
bounded poll or a read with a timeout; only the processes the test started are killed, by
their PIDs.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import mariadb
from tests.support.cluster import TTL, Cluster, join, poll, running_cluster
from tests.support.expected import joined
from tests.support.ircline import REPLICATION, SERVER, IrcUser, irc_nodes, source
from tests.support.redis_server import RedisServer
from twisted_chat.storage.url import MysqlURL

pytestmark = [pytest.mark.mysql, pytest.mark.timeout(120, method="thread")]

#: A dead node's users are gone from the others within the TTL and this much more.
EXPIRY_SLACK = 5.0
#: After Redis comes back, the cluster is whole again within this.
RECOVERY_WITHIN = 10.0
UNREACHABLE = "cluster: Redis unreachable"


@pytest.fixture
def cluster(tmp_path: Path, mysql_url: MysqlURL, redis_server: RedisServer) -> Iterator[Cluster]:
    """Nodes of the test's own (none started yet), on its own Redis and database."""
    with running_cluster(tmp_path, mariadb.mysql_option(mysql_url), redis_server.url) as nodes:
        yield nodes


def test_irc_and_line_users_across_two_nodes(cluster: Cluster) -> None:
    (a, b), irc_ports = irc_nodes(cluster)

    # Bob, a line user on B, reads the IRC users log in (they are in no room: no JOIN).
    bob = join(b, "bob")
    ana = IrcUser(irc_ports["ia"])
    assert f"{SERVER} 001 ana " in ana.register("ana")[0]
    assert bob.line() == joined("ana")
    carol = IrcUser(irc_ports["ib"])
    assert f"{SERVER} 001 carol " in carol.register("carol")[0]
    assert bob.line() == joined("carol")

    # One room, three users, two nodes: JOINs seen across nodes, NAMES alike on both.
    ana.join("#general")
    assert bob.line() == "* ana ha entrado en la sala general."
    carol.join("#general")
    assert bob.line() == "* carol ha entrado en la sala general."
    assert ana.expect(f"{source('carol')} JOIN #general") == []
    ana.wait_names("#general", ["ana", "bob", "carol"], REPLICATION)
    carol.wait_names("#general", ["ana", "bob", "carol"], REPLICATION)

    # Messages both ways.
    ana.say("PRIVMSG #general :hola desde A")
    assert bob.line() == "<ana> hola desde A"
    assert carol.expect(f"{source('ana')} PRIVMSG #general :hola desde A") == []
    bob.say("hola desde B")
    assert ana.expect(f"{source('bob')} PRIVMSG #general :hola desde B") == []
    assert carol.expect(f"{source('bob')} PRIVMSG #general :hola desde B") == []
    carol.say("PRIVMSG #general :y yo")
    assert ana.expect(f"{source('carol')} PRIVMSG #general :y yo") == []
    assert bob.line() == "<carol> y yo"

    # A room created on A (its claim in Redis) and joined from B: one operator, everywhere.
    ana.join("#juegos")
    carol.join("#juegos")
    assert ana.expect(f"{source('carol')} JOIN #juegos") == []
    carol.wait_names("#juegos", ["@ana", "carol"], REPLICATION)
    ana.wait_names("#juegos", ["@ana", "carol"], REPLICATION)

    # PART, with its reason, seen on the other node by IRC and line users.
    carol.say("PART #general :hasta luego")
    assert carol.expect(f"{source('carol')} PART #general :hasta luego") == []
    assert ana.expect(f"{source('carol')} PART #general :hasta luego") == []
    assert bob.line() == "* carol ha salido de la sala general (sigue en el chat)."
    ana.wait_names("#general", ["ana", "bob"], REPLICATION)

    # Private messages across nodes, both ways, to IRC and line users.
    ana.say("PRIVMSG carol :psst")
    assert carol.expect(f"{source('ana')} PRIVMSG carol :psst") == []
    ana.say("PRIVMSG bob :hey")
    assert bob.line() == "*ana* hey"
    bob.say("#ana qué tal")
    assert ana.expect(f"{source('bob')} PRIVMSG ana :qué tal") == []
    assert ana.sync() == []

    # A nickname held on the other node: 433, and the client may try another.
    late = IrcUser(irc_ports["ia"])
    try:
        refused = late.register("carol")
        assert refused[-1].startswith(f":{SERVER} 433 * carol "), refused
        late.say("NICK Bob")
        assert late.until(rf":{SERVER} 433 .*")[-1].startswith(f":{SERVER} 433 * Bob ")
    finally:
        late.close()

    # Node B killed: carol (IRC, in #juegos with ana) QUITs on A, bob leaves the default room.
    b.process.kill()
    killed_at = time.monotonic()
    b.process.wait(timeout=10)
    deadline = killed_at + TTL + EXPIRY_SLACK
    before = ana.until(re.escape(f"{source('carol')} QUIT :Quit"), deadline - time.monotonic())
    assert time.monotonic() < deadline
    assert [line for line in before if "PRIVMSG" in line] == [], before
    ana.wait_names("#juegos", ["@ana"], REPLICATION)
    ana.wait_names("#general", ["ana"], REPLICATION)
    ana.say("LUSERS")
    lusers = ana.until(rf":{SERVER} 266 .*")
    assert f":{SERVER} 251 ana :There are 1 users and 0 invisible on 1 servers" in lusers
    assert a.running()
    carol.close()
    bob.close()
    ana.close()


def test_irc_users_rooms_are_announced_again_after_a_redis_restart(
    cluster: Cluster, redis_server: RedisServer
) -> None:
    (a, b), irc_ports = irc_nodes(cluster)
    ana = IrcUser(irc_ports["ia"])
    assert f"{SERVER} 001 ana " in ana.register("ana")[0]
    ana.say("JOIN #juegos,#otra")
    ana.expect(f":{SERVER} 366 ana #otra :End of /NAMES list")
    carol = IrcUser(irc_ports["ib"])
    assert f"{SERVER} 001 carol " in carol.register("carol")[0]
    carol.join("#juegos")
    carol.wait_names("#juegos", ["@ana", "carol"], REPLICATION)
    carol.wait_names("#otra", ["@ana"], REPLICATION)

    redis_server.kill()
    poll(
        lambda: all(node.log_count(UNREACHABLE) >= 1 for node in (a, b)),
        "both nodes to notice the outage",
        10.0,
    )
    redis_server.restart()  # empty: each node registers again and writes its users' rooms

    def written() -> bool:
        try:
            rooms = redis_server.command("HGET", "chat:users:ia", "#R:ana")
        except OSError:
            return False
        return rooms in ('["juegos","otra"]', b'["juegos","otra"]')

    poll(written, "ana's rooms in ia's users hash again", RECOVERY_WITHIN, 0.1)
    carol.wait_names("#juegos", ["@ana", "carol"], RECOVERY_WITHIN)
    carol.wait_names("#otra", ["@ana"], RECOVERY_WITHIN)
    # And what they say reaches each other again.
    poll(
        lambda: _said_and_heard(ana, carol, "#juegos"),
        "a message across nodes after the restart",
        RECOVERY_WITHIN,
        0.2,
    )
    ana.close()
    carol.close()


def _said_and_heard(speaker: IrcUser, listener: IrcUser, channel: str) -> bool:
    """``speaker`` says something in ``channel``: whether ``listener`` got it (a message said
    while the nodes are still finding each other again may be lost, as the docs say)."""
    text = f"prueba {time.monotonic_ns()}"
    speaker.say(f"PRIVMSG {channel} :{text}")
    wanted = f"{source(speaker.nickname)} PRIVMSG {channel} :{text}"
    try:
        listener.until(re.escape(wanted), 1.0)
    except (AssertionError, TimeoutError, OSError):
        return False
    return True
