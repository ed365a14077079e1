"""Starting and stopping a node's cluster layer with the rest of ``twistd chat``."""

from __future__ import annotations

from typing import Any

from twisted.application import service

from twisted_chat.cluster.room import ClusterRoom


class ClusterService(service.Service):
    """Keeps the node of a :class:`ClusterRoom` in the cluster while the server runs.

    It stops before the connections are closed, so the other nodes see this node's users
    leave at once (a ``bye``), instead of after the TTL.
    """

    def __init__(self, room: ClusterRoom) -> None:
        self.room = room

    def startService(self) -> None:
        """Connect to Redis (and keep reconnecting) and join the cluster."""
        super().startService()
        self.room.membership.start()

    def stopService(self) -> Any:
        """Leave the cluster (bounded) and close the Redis connections."""
        super().stopService()
        left = self.room.membership.stop()  # publishes what this turn said, at once
        self.room.order.release_all()  # and shows it here: nothing will come back now
        return left
