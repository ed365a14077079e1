"""IRC clients in the same chat (issue 16, first slice; docs/IRC.md): the ``--irc`` listener.

:mod:`~twisted_chat.irc.message` parses and writes IRC lines, :mod:`~twisted_chat.irc.render`
renders the chat's events as IRC lines, :mod:`~twisted_chat.irc.commands` is IRC's command
table (registration, rooms as channels, messages; :mod:`~twisted_chat.irc.queries` adds
``ISON``, ``USERHOST``, ``INVITE`` and the server queries to it),
:mod:`~twisted_chat.irc.session` the IRC session over the chat's own, and
:mod:`~twisted_chat.irc.protocol` the transport adapter.
"""

# The commands of twisted_chat.irc.queries are in the command table whenever any part of the
# package is imported (the interpreter never runs without them).
from twisted_chat.irc import queries

__all__ = ["queries"]
