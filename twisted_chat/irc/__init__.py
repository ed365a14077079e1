"""IRC clients in the same chat (issue 16, first slice; docs/IRC.md): the ``--irc`` listener.

:mod:`~twisted_chat.irc.message` parses and writes IRC lines, :mod:`~twisted_chat.irc.render`
renders the chat's events as IRC lines, :mod:`~twisted_chat.irc.commands` is IRC's command
table (registration, rooms as channels, messages), :mod:`~twisted_chat.irc.session` the IRC
session over the chat's own, and :mod:`~twisted_chat.irc.protocol` the transport adapter.
"""
