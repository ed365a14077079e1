"""What nodes say to each other through Redis: a small, explicit and versioned JSON envelope.

Every pub/sub message is one envelope::

    {"v": 1, "node": "n1", "inst": "n1/3f2a...", "events": [["pub", "ana", "hola"], ...]}

``v`` is the envelope version (a node drops envelopes of a version it does not know), ``node``
and ``inst`` name the sender (its ``--node-id`` and the random id of this run of it, so that a
node restarted under the same id is told apart from its previous run), and ``events`` is every
event the sender published in one reactor turn, in order. The events:

``["pub", NICK, TEXT]``
    a public message from NICK.
``["join", KEY, NICK, VERSION]`` / ``["leave", KEY, VERSION]``
    a user of the sender logged in / left; VERSION is the sender's membership version after the
    change (see :mod:`twisted_chat.cluster.presence`).
``["line", KEY, DATA]``
    deliver DATA (encoded server lines, as text) to the local user KEY: a private message.
``["account", KEY, HASH]``
    the nickname KEY was registered, or its password changed; HASH is the new password hash.
``["kick", KEY, REASON, BY]``
    to the node holding the user KEY: an operator (BY) kicked it; disconnect it.
``["mute", KEY, UNTIL]``
    the user KEY may not send messages until UNTIL (POSIX time in milliseconds; 0 lifts the
    mute).
``["ban", KIND, TARGET, REASON, BY, CREATED, EXPIRES]``
    an operator created a ban (already stored in the database): KIND ``nick`` (TARGET is a nick
    key) or ``net`` (TARGET is a network); CREATED and EXPIRES are POSIX seconds, EXPIRES 0 for a
    permanent ban. Every node applies it and disconnects its users that it covers.
``["unban", KIND, TARGET]``
    the ban of TARGET was lifted.
``["notice", TEXT]``
    a ``* TEXT`` notice for every user (an operator's announcement).
``["bye", VERSION]``
    the sender is stopping: every user of it has left.
``["hello", VERSION]``
    the sender (re)joined the cluster: read its users.

Decoding checks every field's type; anything else is an :class:`EnvelopeError`, which the
receiver logs and drops.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

#: The envelope version this code writes and reads.
VERSION: Final = 1

Event = list[Any]

#: Argument types of each event, after its name.
_SHAPES: Final[dict[str, tuple[type, ...]]] = {
    "pub": (str, int, str, str),
    "join": (str, str, int),
    "leave": (str, int),
    "private": (str, int, str, str, str),
    "account": (str, str),
    "kick": (str, str, str),
    "mute": (str, int),
    "ban": (str, str, str, str, int, int),
    "unban": (str, str),
    "notice": (str, int, str, dict),
    "bye": (int,),
    "hello": (int,),
}


#: Events whose two arguments are strings.
_TEXT_EVENTS: Final = frozenset(("pub", "line"))


class EnvelopeError(ValueError):
    """A message from Redis that is not a well-formed envelope."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """One decoded message: who sent it and its events."""

    node: str
    instance: str
    events: list[Event]


def encode(node: str, instance: str, events: list[Event]) -> str:
    """The JSON text of an envelope from ``node``/``instance`` carrying ``events``."""
    return json.dumps(
        {"v": VERSION, "node": node, "inst": instance, "events": events},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def decode(data: str | bytes) -> Envelope:
    """Parse and check one envelope; raise :class:`EnvelopeError` if it is not one."""
    try:
        message = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise EnvelopeError(f"not JSON: {e}") from None
    if not isinstance(message, dict):
        raise EnvelopeError("not a JSON object")
    if message.get("v") != VERSION:
        raise EnvelopeError(f"unknown envelope version {message.get('v')!r}")
    node, instance, events = message.get("node"), message.get("inst"), message.get("events")
    if not isinstance(node, str) or not isinstance(instance, str) or not isinstance(events, list):
        raise EnvelopeError("node, inst or events missing or of the wrong type")
    for event in events:
        _check(event)
    return Envelope(node, instance, events)


def _check(event: object) -> None:
    # The two events of nearly every envelope, checked without the general path's loop.
    if (
        type(event) is list
        and len(event) == 3
        and type(event[0]) is str
        and event[0] in _TEXT_EVENTS
    ):
        if type(event[1]) is str and type(event[2]) is str:
            return
        raise EnvelopeError(f"bad arguments for {event[0]!r}: {event[1:]!r}")
    if not isinstance(event, list) or not event or not isinstance(event[0], str):
        raise EnvelopeError(f"bad event {event!r}")
    shape = _SHAPES.get(event[0])
    if shape is None:
        raise EnvelopeError(f"unknown event {event[0]!r}")
    args = event[1:]
    if len(args) != len(shape) or not all(
        isinstance(arg, kind) and not (kind is int and isinstance(arg, bool))
        for arg, kind in zip(args, shape, strict=True)
    ):
        raise EnvelopeError(f"bad arguments for {event[0]!r}: {args!r}")
