"""Bans of nicknames and networks, kept in memory and stored in table ``baneos``.

A ban names a nickname (its NFC + casefold key) or a network (an address is a network of one);
it may expire. Every ban lives in memory (loaded from the database at start-up, retrying with
backoff like the accounts), so the checks made at connect and at login never wait on the
database; creating or removing one writes to the database first and is refused during an
outage. An expired ban stops applying at once (each lookup compares times) and is pruned
periodically.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from twisted_chat import nicknames
from twisted_chat.loading import LoadedFromStorage

BanKind = Literal["nick", "net"]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Ban:
    """One ban: ``kind`` ``nick`` (``target`` is a nick key) or ``net`` (a normalised network).

    Times are POSIX seconds; ``expires_at`` ``None`` is a permanent ban.
    """

    kind: BanKind
    target: str
    reason: str
    created_by: str
    created_at: float
    expires_at: float | None = None

    @property
    def key(self) -> tuple[str, str]:
        """What identifies the ban: a second ban of the same target replaces it."""
        return (self.kind, self.target)

    def expired(self, now: float) -> bool:
        """Whether the ban has stopped applying at ``now``."""
        return self.expires_at is not None and self.expires_at <= now

    def network(self) -> IPNetwork | None:
        """The banned network of a ``net`` ban."""
        if self.kind != "net":
            return None
        return ipaddress.ip_network(self.target)

    def covers_nick(self, nickname: str) -> bool:
        """Whether this is a ban of ``nickname`` (any case)."""
        return self.kind == "nick" and self.target == nicknames.key(nickname)

    def covers_host(self, host: str) -> bool:
        """Whether the address ``host`` is in the banned network."""
        network = self.network()
        address = parse_address(host)
        return network is not None and address is not None and address in network


def parse_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address of ``host`` (IPv4-mapped IPv6 unwrapped), or ``None`` if it is not one."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_target(text: str) -> tuple[BanKind, str] | None:
    """What ``/banear`` was given: ``("net", "10.0.0.0/8")`` for an address or CIDR (host bits
    cleared, IPv4-mapped IPv6 unwrapped), ``("nick", KEY)`` for a valid nickname, else ``None``."""
    if any(c in text for c in ".:/"):
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            return None
        if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
            mapped = network.network_address.ipv4_mapped
            if mapped is not None:
                network = ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")
        return ("net", str(network))
    nickname = nicknames.normalize(text)
    if not nicknames.is_valid(nickname):
        return None
    return ("nick", nicknames.key(nickname))


class BanStorage(Protocol):
    """Where bans are kept (implemented by :class:`twisted_chat.storage.BanStore`)."""

    def load_bans(self, now: float) -> defer.Deferred[list[Ban]]:
        """Every ban that has not expired at ``now``."""

    def save_ban(self, ban: Ban) -> defer.Deferred[None]:
        """Create ``ban``, or replace the ban of the same target."""

    def delete_ban(self, kind: str, target: str) -> defer.Deferred[None]:
        """Remove the ban of ``target``, if any."""

    def delete_expired(self, now: float) -> defer.Deferred[None]:
        """Remove the bans that expired by ``now``."""


class BanError(Exception):
    """A ban could not be created or removed; ``reason`` names a catalogue entry."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Bans(LoadedFromStorage[list[Ban]]):
    """Every ban in force, by target; checks are in memory only."""

    log = Logger()
    what = "bans"

    def __init__(self, storage: BanStorage | None, clock: IReactorTime) -> None:
        super().__init__(clock, stored=storage is not None)
        self._storage = storage
        self._bans: dict[tuple[str, str], Ban] = {}
        # Network bans as parsed networks, for the check at every connect.
        self._networks: dict[str, IPNetwork] = {}

    # -- start-up ---------------------------------------------------------------------------

    def _read(self) -> defer.Deferred[list[Ban]]:
        assert self._storage is not None  # only called with storage
        return self._storage.load_bans(self._clock.seconds())

    def _take(self, bans: list[Ban]) -> int:
        for ban in bans:
            self._bans.setdefault(ban.key, ban)  # a ban made since start-up wins
            self._index(ban)
        return len(self._bans)

    def _retake(self, bans: list[Ban]) -> None:
        self._bans = {}
        self._networks = {}
        for ban in bans:
            self._bans[ban.key] = ban
            self._index(ban)

    # -- queries ----------------------------------------------------------------------------

    def nick_ban(self, nickname: str) -> Ban | None:
        """The ban in force on ``nickname`` (any case), if any."""
        if not self._bans:
            return None
        return self._in_force(("nick", nicknames.key(nickname)))

    def address_ban(self, host: str) -> Ban | None:
        """The ban in force on a network that holds the address ``host``, if any."""
        if not self._networks or not host:
            return None
        address = parse_address(host)
        if address is None:
            return None
        for target, network in list(self._networks.items()):
            if address in network:
                ban = self._in_force(("net", target))
                if ban is not None:
                    return ban
        return None

    def get(self, kind: str, target: str) -> Ban | None:
        """The ban in force on exactly this target, if any."""
        return self._in_force((kind, target))

    def active(self) -> list[Ban]:
        """Every ban in force, nicknames first, each kind sorted by target."""
        now = self._clock.seconds()
        return sorted((b for b in self._bans.values() if not b.expired(now)), key=lambda b: b.key)

    def __len__(self) -> int:
        return len(self._bans)

    def _in_force(self, key: tuple[str, str]) -> Ban | None:
        ban = self._bans.get(key)
        if ban is None:
            return None
        if ban.expired(self._clock.seconds()):
            self._drop(key)
            return None
        return ban

    # -- changes ----------------------------------------------------------------------------

    @defer.inlineCallbacks
    def add(self, ban: Ban) -> Any:
        """Store ``ban`` (replacing any ban of its target), then apply it; fails with
        :class:`BanError` while the database is unavailable."""
        if self._storage is None or not self.loaded:
            raise BanError("storage_unavailable")
        try:
            yield self._storage.save_ban(ban)
        except Exception as e:
            self.log.warn("saving a ban of {target} failed: {error}", target=ban.target, error=e)
            raise BanError("storage_unavailable") from None
        self.apply(ban)

    @defer.inlineCallbacks
    def remove(self, kind: str, target: str) -> Any:
        """Remove the ban of ``target``; fire with the ban removed, ``None`` if there was none.
        Fails with :class:`BanError` while the database is unavailable."""
        ban = self.get(kind, target)
        if ban is None:
            return None
        if self._storage is None:
            raise BanError("storage_unavailable")
        try:
            yield self._storage.delete_ban(kind, target)
        except Exception as e:
            self.log.warn("removing the ban of {target} failed: {error}", target=target, error=e)
            raise BanError("storage_unavailable") from None
        self._drop(ban.key)
        return ban

    def apply(self, ban: Ban) -> None:
        """Hold ``ban`` in memory (made here, or on another node)."""
        self._bans[ban.key] = ban
        self._index(ban)

    def forget(self, kind: str, target: str) -> None:
        """Drop the ban of ``target`` from memory (lifted on another node)."""
        self._drop((kind, target))

    def prune(self) -> None:
        """Forget the bans that have expired, here and (best effort) in the database."""
        now = self._clock.seconds()
        expired = [key for key, ban in self._bans.items() if ban.expired(now)]
        for key in expired:
            self._drop(key)
        if self._storage is not None and self.loaded:
            self._storage.delete_expired(now).addErrback(
                lambda f: self.log.debug("pruning expired bans failed: {f}", f=f.value)
            )

    def _index(self, ban: Ban) -> None:
        network = ban.network()
        if network is not None:
            self._networks[ban.target] = network

    def _drop(self, key: tuple[str, str]) -> None:
        self._bans.pop(key, None)
        if key[0] == "net":
            self._networks.pop(key[1], None)
