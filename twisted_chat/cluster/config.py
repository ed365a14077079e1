"""The cluster options of one node (``--redis``, ``--node-id``, ``--cluster-ttl``,
``--redis-prefix``), as ``twistd chat`` parsed them."""

from __future__ import annotations

from dataclasses import dataclass

from twisted_chat.cluster.url import RedisURL


@dataclass(frozen=True)
class ClusterConfig:
    """The cluster options of one node."""

    url: RedisURL
    node_id: str
    ttl: float = 10.0
    prefix: str = "chat:"
