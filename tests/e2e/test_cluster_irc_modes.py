"""Channel modes (``MODE #room +s``, ``+m``, ``+v``) across two real ``twistd chat --irc``
nodes on one real Redis and one MariaDB database (docs/IRC.md, "Channel modes"): the room's
operator on node A makes it secret and moderated and voices an IRC user of node B; B's IRC
member reads the ``MODE``, B's line users neither see the room in ``/salas`` (outside) nor
speak in it without voice (inside), and the voiced user of B speaks.

The nodes are those of :mod:`tests.e2e.test_cluster_irc`, the clients
:mod:`tests.support.ircline`'s (imported, not copied); every wait is a bounded read or poll,
and only the processes the test started are killed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import mariadb
from tests.support.cluster import Cluster, join, running_cluster
from tests.support.ircline import REPLICATION, SERVER, IrcUser, irc_nodes, source
from tests.support.redis_server import RedisServer
from twisted_chat.storage.url import MysqlURL

pytestmark = [pytest.mark.mysql, pytest.mark.timeout(120, method="thread")]


@pytest.fixture
def nodes(tmp_path: Path, mysql_url: MysqlURL, redis_server: RedisServer) -> Iterator[Cluster]:
    """Nodes of the test's own (none started yet), on its own Redis and database."""
    with running_cluster(tmp_path, mariadb.mysql_option(mysql_url), redis_server.url) as cluster:
        yield cluster


def test_modes_set_on_one_node_hold_on_the_other(nodes: Cluster) -> None:
    (_, b), irc_ports = irc_nodes(nodes)
    ana = IrcUser(irc_ports["ia"])
    assert f"{SERVER} 001 ana " in ana.register("ana")[0]
    carol = IrcUser(irc_ports["ib"])
    assert f"{SERVER} 001 carol " in carol.register("carol")[0]
    ana.join("#juegos")
    carol.join("#juegos")
    ana.wait_names("#juegos", ["@ana", "carol"], REPLICATION)
    bob = join(b, "bob")  # a line user on B, in the default room
    dora = join(b, "dora")
    dora.say("/unirse juegos")
    assert dora.line().startswith("* Sala juegos (3): @ana, carol, dora")

    ana.say("MODE #juegos +smv carol")
    change = f"{source('ana')} MODE #juegos +smv carol"
    ana.expect(change)  # dora's JOIN may come before it, or after
    carol.expect(change)
    assert dora.line() == "* ana ha cambiado los modos de la sala juegos: +smv carol"

    # B knows the room is secret: its outsiders do not see it.
    bob.lines_until_sync()
    bob.say("/salas")
    assert bob.line() == "* Salas (1): general (1)"
    # ... and moderated: B refuses dora's message, lets voiced carol speak.
    dora.say("hola")
    assert dora.line() == (
        "! La sala juegos es moderada: solo hablan su operador y quien tiene voz."
    )
    carol.say("PRIVMSG #juegos :tengo voz")
    before = ana.expect(f"{source('carol')} PRIVMSG #juegos :tengo voz")
    assert before in ([], [f"{source('dora')} JOIN #juegos"]), before  # never dora's "hola"
    assert dora.line() == "<carol> tengo voz"
    carol.say("NAMES #juegos")
    assert carol.expect(f":{SERVER} 353 carol @ #juegos :@ana +carol dora") == []
    assert ana.sync() == []
    for client in (bob, dora, carol, ana):
        client.close()
