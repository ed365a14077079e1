"""``ISON``, ``USERHOST`` and ``INVITE`` across two real ``twistd chat --irc`` nodes on one real
Redis and one MariaDB database (docs/IRC.md, "In a cluster"): an IRC user on node A sees the
users of node B with ``ISON`` and ``USERHOST``, and invites an IRC user and a line user of node
B, who read an ``INVITE`` and a ``* `` notice; ``443`` once the invited is in the room.

The nodes are those of :mod:`tests.e2e.test_cluster_irc`, the clients
:mod:`tests.support.ircline`'s (imported, not copied);
every wait is a bounded read or poll, and only the processes the test started are killed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_cluster_irc import irc_nodes
from tests.support import mariadb
from tests.support.cluster import Cluster, join, running_cluster
from tests.support.expected import joined
from tests.support.ircline import REPLICATION, SERVER, IrcUser, source
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
    ana.say("JOIN #juegos")
    ana.expect(f":{SERVER} 366 ana #juegos :End of /NAMES list")
    ana.say("INVITE carol #juegos")
    assert ana.expect(f":{SERVER} 341 ana carol #juegos") == []
    assert carol.expect(f"{source('ana')} INVITE carol #juegos") == []
    ana.say("INVITE bob #juegos")
    assert ana.expect(f":{SERVER} 341 ana bob #juegos") == []
    assert bob.line() == "* ana te invita a la sala juegos: /unirse juegos"

    # The invited IRC user joins as told; A knows it is in the room: 443.
    carol.say("JOIN #juegos")
    carol.expect(f":{SERVER} 366 carol #juegos :End of /NAMES list")
    assert ana.expect(f"{source('carol')} JOIN #juegos") == []
    ana.say("INVITE carol #juegos")
    assert ana.expect(f":{SERVER} 443 ana carol #juegos :is already on channel") == []
    assert carol.sync() == []  # no second invitation
    assert ana.sync() == []
    ana.wait_names("#juegos", ["@ana", "carol"], REPLICATION)
    bob.close()
    carol.close()
    ana.close()
