"""The names of every Redis key and channel the cluster uses, all under ``--redis-prefix``.

========================  =================================================================
``PREFIX nodes``          set of the node ids of the cluster
``PREFIX alive:NODE``     the run (instance id) of NODE; expires after ``--cluster-ttl``
                          unless NODE's heartbeat refreshes it
``PREFIX users:NODE``     hash of NODE's users: ``nick_key -> nickname``, plus ``#i`` (the
                          instance), ``#v`` (the membership version), ``#r:KEY`` (the room
                          of user KEY when it is not the default room; an IRC user's last),
                          ``#R:KEY`` (the rooms of an IRC user in none or several: a JSON
                          list) and ``#o:ROOM`` (the user of NODE who is the operator of
                          ROOM); same expiry
``PREFIX room-op:ROOM``   the creation claim of room ROOM: JSON ``[instance, nick key,
                          name]`` of its creator; refreshed by the creator's node heartbeat
``PREFIX topics``         hash of the rooms' topics: ``ROOM -> JSON [topic, set by]``
``PREFIX nick:KEY``       the claim on a nickname: the instance holding it; same expiry
``PREFIX room``           channel: public messages, joins, leaves, accounts, moderation,
                          announcements, node events
``PREFIX to:NODE``        channel: what is for NODE's users only (private messages, kicks,
                          notices to one user, recados to deliver)
``PREFIX room:ROOM``      channel: the public messages of room ROOM; a node subscribes while
                          it has a member in ROOM
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

    @property
    def room_channel_prefix(self) -> str:
        """What every room's channel starts with (the room key follows)."""
        return f"{self.prefix}room:"

    def room_channel(self, room_key: str) -> str:
        """The channel of the public messages of the room ``room_key``."""
        return f"{self.prefix}room:{room_key}"

    @property
    def room_op_prefix(self) -> str:
        """What every room creation claim key starts with (the room key follows)."""
        return f"{self.prefix}room-op:"

    def room_op(self, room_key: str) -> str:
        """The creation claim of the room ``room_key`` (who its operator is)."""
        return f"{self.prefix}room-op:{room_key}"

    @property
    def topics(self) -> str:
        """The hash of the rooms' topics."""
        return f"{self.prefix}topics"
