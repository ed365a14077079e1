"""What this node knows of the other nodes' users: one versioned replica per node.

Each node numbers the changes to its own user list (its *membership version*) and writes the
version with the list into Redis; its join and leave events carry the version after the change.
Snapshots (read on the command connection) and events (on the subscriber connection) can arrive
in either order, so a replica applies an event only if it is newer than what it has, and a
snapshot only if it is not older. An event that skips a version means one was missed: the
replica asks for a fresh snapshot.

Every change to a replica returns who joined and who left, so that the room can tell its users.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RemoteNode:
    """The users of one other node, as of ``version``."""

    node: str
    instance: str
    version: int = -1
    users: dict[str, str] = field(default_factory=dict)  # nick key -> nickname


@dataclass
class Changes:
    """Who joined and who left (nicknames), from a change to the replicas."""

    joined: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    #: A node whose events skipped a version, or that is not known yet: read its snapshot.
    stale: str | None = None


class Presence:
    """The replicas of every other node of the cluster."""

    def __init__(self) -> None:
        self.nodes: dict[str, RemoteNode] = {}

    def find(self, nick_key: str) -> tuple[RemoteNode, str] | None:
        """The node holding ``nick_key`` and the user's nickname, if any node does."""
        for remote in self.nodes.values():
            nickname = remote.users.get(nick_key)
            if nickname is not None:
                return remote, nickname
        return None

    def users(self) -> dict[str, str]:
        """Every remote user: ``{nick_key: nickname}``."""
        everyone: dict[str, str] = {}
        for remote in self.nodes.values():
            everyone.update(remote.users)
        return everyone

    def count(self) -> int:
        """How many remote users there are."""
        return sum(len(remote.users) for remote in self.nodes.values())

    # -- changes ----------------------------------------------------------------------------

    def joined(
        self, node: str, instance: str, nick_key: str, nickname: str, version: int
    ) -> Changes:
        """``node`` says ``nickname`` logged in at membership ``version``."""
        changes, remote = self._event(node, instance, version)
        if remote is not None:
            if nick_key not in remote.users:
                changes.joined.append(nickname)
            remote.users[nick_key] = nickname
        return changes

    def left(self, node: str, instance: str, nick_key: str, version: int) -> Changes:
        """``node`` says its user ``nick_key`` left at membership ``version``."""
        changes, remote = self._event(node, instance, version)
        if remote is not None:
            nickname = remote.users.pop(nick_key, None)
            if nickname is not None:
                changes.left.append(nickname)
        return changes

    def _event(self, node: str, instance: str, version: int) -> tuple[Changes, RemoteNode | None]:
        """Take the version of an event of ``node``: the changes it starts with, and the replica
        to apply it to (``None`` when it must not be: an unknown or restarted node, whose
        snapshot is needed, or an event not newer than the replica)."""
        remote = self.nodes.get(node)
        if remote is None or remote.instance != instance:
            return Changes(stale=node), None
        if version <= remote.version:
            return Changes(), None
        changes = Changes(stale=node if version != remote.version + 1 else None)
        remote.version = version
        return changes, remote

    def snapshot(self, node: str, instance: str, version: int, users: dict[str, str]) -> Changes:
        """The users of ``node`` as read from Redis at membership ``version``."""
        remote = self.nodes.get(node)
        if remote is not None and remote.instance == instance and version < remote.version:
            return Changes()  # events have taken us further already
        old = remote.users if remote is not None else {}
        self.nodes[node] = RemoteNode(node, instance, version, dict(users))
        return _diff(old, users)

    def forget(self, node: str) -> Changes:
        """``node`` stopped or died: all its users left."""
        remote = self.nodes.pop(node, None)
        return _diff(remote.users if remote is not None else {}, {})

    def known(self, node: str) -> RemoteNode | None:
        """The replica of ``node``, if there is one."""
        return self.nodes.get(node)


def _diff(old: dict[str, str], new: dict[str, str]) -> Changes:
    changes = Changes()
    changes.left = [nick for key, nick in old.items() if key not in new]
    changes.joined = [nick for key, nick in new.items() if key not in old]
    return changes
