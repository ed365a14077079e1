"""What crosses Redis: one small, explicit and versioned JSON envelope per pub/sub message.

Every pub/sub message is one envelope::

    {"v": 2, "node": "n1", "inst": "n1/3f2a...", "events": [["pub", "n1x-1", 1795509000000,
     "general", "Ana", "hola"], ...]}

``v`` is the envelope version (:data:`VERSION`), ``node`` and ``inst`` name the sender, its
:class:`Origin` (its ``--node-id`` and the random id of this run of it, so that a node
restarted under the same id is told apart from its previous run), and ``events`` is every
cluster event (:mod:`twisted_chat.cluster.events`) the sender published to that channel in one
reactor turn, in order, each in its JSON form.

Decoding checks the envelope and every event in it: anything else is an :class:`EnvelopeError`,
which the receiver logs (sparingly) and drops, the whole envelope. An envelope of another
version is an :class:`UnknownVersion`: a node speaks one version, and nodes of two versions do
not mix in one cluster (see docs/OPERATIONS.md).

Version 1 carried untyped lists, private messages as the sender's rendered lines at first;
version 2 carries the chat events themselves (``pub``, ``priv``, ``notice``) with their id,
time and room.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from twisted_chat.cluster.events import ClusterEvent, EventError, PublicMessage
from twisted_chat.cluster.events import decode as decode_event

#: The envelope version this code writes and reads.
VERSION: Final = 2


@dataclass(frozen=True, slots=True)
class Origin:
    """Who sent an envelope: a node, and the run of it."""

    node: str
    instance: str


@dataclass(frozen=True, slots=True)
class Envelope:
    """One decoded message: who sent it and its events."""

    origin: Origin
    events: list[ClusterEvent]


class EnvelopeError(ValueError):
    """A message from Redis that is not a well-formed envelope."""


class UnknownVersion(EnvelopeError):
    """A well-formed envelope of a version this node does not speak."""

    def __init__(self, version: int) -> None:
        super().__init__(f"envelope version {version} (this node speaks {VERSION})")
        self.version = version


def encode(origin: Origin, events: Sequence[ClusterEvent]) -> str:
    """The JSON text of an envelope from ``origin`` carrying ``events``."""
    return json.dumps(
        {
            "v": VERSION,
            "node": origin.node,
            "inst": origin.instance,
            "events": [event.to_wire() for event in events],
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def own_prefix(origin: Origin) -> str:
    """What every envelope :func:`encode` writes for ``origin`` starts with (its keys are
    written in order): a node tells its own envelopes by it without decoding them."""
    return encode(origin, [])[: -len("[]}")]


def decode(data: str | bytes) -> Envelope:
    """Parse and check one envelope; raise :class:`EnvelopeError` if it is not one."""
    try:
        message = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise EnvelopeError(f"not JSON: {e}") from None
    if type(message) is not dict:
        raise EnvelopeError("not a JSON object")
    version = message.get("v")
    if type(version) is not int:
        raise EnvelopeError(f"bad envelope version {version!r}")
    if version != VERSION:
        raise UnknownVersion(version)
    node, instance, raw_events = message.get("node"), message.get("inst"), message.get("events")
    if type(node) is not str or type(instance) is not str or type(raw_events) is not list:
        raise EnvelopeError("node, inst or events missing or of the wrong type")
    events: list[ClusterEvent] = []
    append = events.append
    public = PublicMessage.from_wire
    try:
        for raw in raw_events:
            # Nearly every event is a public message: straight to its decoder.
            if type(raw) is list and raw and raw[0] == "pub":
                append(public(raw))
            else:
                append(decode_event(raw))
    except EventError as e:
        raise EnvelopeError(str(e)) from None
    return Envelope(Origin(node, instance), events)
