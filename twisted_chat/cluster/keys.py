"""The names of every Redis key and channel the cluster uses, all under ``--redis-prefix``.

========================  =================================================================
``PREFIX nodes``          set of the node ids of the cluster
``PREFIX alive:NODE``     the run (instance id) of NODE; expires after ``--cluster-ttl``
                          unless NODE's heartbeat refreshes it
``PREFIX users:NODE``     hash of NODE's users: ``nick_key -> nickname``, plus ``#i`` (the
                          instance) and ``#v`` (the membership version); same expiry
``PREFIX nick:KEY``       the claim on a nickname: the instance holding it; same expiry
``PREFIX room``           channel: public messages, joins, leaves, accounts, moderation,
                          announcements, node events
``PREFIX to:NODE``        channel: what is for NODE's users only (private messages, kicks)
========================  =================================================================
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    """Key and channel names under one prefix."""

    prefix: str

    @property
    def nodes(self) -> str:
        """The set of node ids."""
        return f"{self.prefix}nodes"

    @property
    def nick_prefix(self) -> str:
        """What every nickname claim key starts with."""
        return f"{self.prefix}nick:"

    @property
    def room(self) -> str:
        """The channel every node subscribes to."""
        return f"{self.prefix}room"

    def alive(self, node: str) -> str:
        """The liveness key of ``node``."""
        return f"{self.prefix}alive:{node}"

    def users(self, node: str) -> str:
        """The users hash of ``node``."""
        return f"{self.prefix}users:{node}"

    def nick(self, nick_key: str) -> str:
        """The claim key of a nickname (its NFC + casefold key)."""
        return f"{self.prefix}nick:{nick_key}"

    def to(self, node: str) -> str:
        """The channel of ``node`` alone."""
        return f"{self.prefix}to:{node}"
