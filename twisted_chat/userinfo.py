"""What other users may know of a user beyond its nickname and rooms: its real name, its away
message, whether it logged in with its password (its account) and is a server operator, and
whether it is invisible (IRC user mode ``+i``).

A user's own node reads them off its session (:func:`describe`); in a cluster they cross to the
other nodes as a small JSON object (:meth:`UserInfo.to_wire`, in the ``#u:`` field of the node's
users hash and the ``uinfo`` event, see :mod:`twisted_chat.cluster.presence`), so that every
node answers ``WHO``, ``WHOIS`` and ``USERHOST`` as the user's own node does.

The account follows the operators' rule (:class:`twisted_chat.operators.Operators`): a user
counts as logged in only while its nickname is the account whose password it proved, so the
info carries that account and whoever reads it compares it with the current nickname (a
nickname change needs no new info). ``operator``: that account is a server operator's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from twisted_chat import nicknames

if TYPE_CHECKING:
    from twisted_chat.operators import Operators

#: Most characters of an away message (IRC's ``AWAYLEN``) and of a real name, kept and carried.
MAX_AWAY: Final = 300
MAX_REALNAME: Final = 200
#: Most characters of an account (a nickname's key) carried.
MAX_ACCOUNT: Final = 100


@dataclass(frozen=True, slots=True)
class UserInfo:
    """A user's facts beyond its nickname and rooms (all absent by default)."""

    #: ``USER``'s real name (``None``: none, a line user's; shown as its nickname).
    realname: str | None = None
    #: The away message, while away.
    away: str | None = None
    #: The key of the account whose password this connection proved, if any.
    account: str | None = None
    #: Whether that account is a server operator's (``--operator``, registered).
    operator: bool = False
    #: IRC user mode ``+i``.
    invisible: bool = False
    #: A server operator whatever its nickname: it gave an operator's password with IRC's
    #: ``OPER`` (:meth:`twisted_chat.operators.Operators.act_as`).
    oper: bool = False

    def logged_in(self, nickname: str) -> bool:
        """Whether the user, now ``nickname``, counts as logged in with its password."""
        return self.account is not None and self.account == nicknames.key(nickname)

    def is_operator(self, nickname: str) -> bool:
        """Whether the user, now ``nickname``, is a server operator."""
        return self.oper or (self.operator and self.logged_in(nickname))

    def to_wire(self) -> dict[str, Any]:
        """The JSON object of this info: only what is not absent (``r`` real name, ``a`` away,
        ``l`` account, ``o`` operator, ``i`` invisible, ``O`` an operator by ``OPER``)."""
        wire: dict[str, Any] = {}
        if self.realname is not None:
            wire["r"] = self.realname
        if self.away is not None:
            wire["a"] = self.away
        if self.account is not None:
            wire["l"] = self.account
        if self.operator:
            wire["o"] = True
        if self.invisible:
            wire["i"] = True
        if self.oper:
            wire["O"] = True
        return wire

    @classmethod
    def from_wire(cls, wire: object) -> UserInfo:
        """The info of a JSON object: unknown names (a later release's) and values of the wrong
        type are ignored, texts cut to their bounds."""
        if not isinstance(wire, dict):
            return NONE

        def text(name: str, most: int) -> str | None:
            value = wire.get(name)
            return value[:most] if type(value) is str and value else None

        return cls(
            text("r", MAX_REALNAME),
            text("a", MAX_AWAY),
            text("l", MAX_ACCOUNT),
            wire.get("o") is True,
            wire.get("i") is True,
            wire.get("O") is True,
        )


#: A user of whom nothing more is known.
NONE: Final = UserInfo()


def describe(member: object, operators: Operators) -> UserInfo:
    """The info of ``member``, a session of this node: its IRC attributes (a line user has no
    real name, away message or modes) and the account it proved."""
    realname = getattr(member, "realname", None)
    away = getattr(member, "away", None)
    account = operators.account_of(member)  # type: ignore[arg-type]
    operator = (
        account is not None
        and account in operators.keys
        and operators.accounts is not None
        and operators.accounts.is_registered(account)
    )
    nickname = getattr(member, "nickname", None) or ""
    by_account = operator and account == nicknames.key(nickname)
    # An operator now but not by the account its nickname is: by IRC's OPER.
    oper = not by_account and operators.is_operator(member)  # type: ignore[arg-type]
    return UserInfo(
        realname[:MAX_REALNAME] if isinstance(realname, str) and realname else None,
        away[:MAX_AWAY] if isinstance(away, str) and away else None,
        account,
        operator,
        getattr(member, "invisible", False) is True,
        oper,
    )
