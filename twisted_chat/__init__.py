"""twisted-chat: a chat server built on Twisted.

Layers, each importing only the ones below it (``lint-imports`` checks it against the contract in
``pyproject.toml``; docs/ARCHITECTURE.md draws it), from the top:

- wiring: :mod:`~twisted_chat.tap` (``twistd chat``'s options and ``makeService``),
  :mod:`~twisted_chat.service` (the service tree), :mod:`~twisted_chat.reload` (SIGHUP),
  :mod:`~twisted_chat.metrics`, :mod:`~twisted_chat.settings` (every option declared once,
  checked into typed settings), :mod:`~twisted_chat.assembly` (one chat put together from its
  parts);
- the edges: :mod:`~twisted_chat.cluster` (several nodes through Redis),
  :mod:`~twisted_chat.web` (the page and the WebSocket transport), :mod:`~twisted_chat.tcp`
  (the TCP transport of protocol v1), :mod:`~twisted_chat.storage` (SQL behind ``adbapi``),
  :mod:`~twisted_chat.proxy`, :mod:`~twisted_chat.config`, :mod:`~twisted_chat.logsetup`,
  :mod:`~twisted_chat.process`;
- the transport-free server: :mod:`~twisted_chat.server` (admission, counts, shutdown, the
  per-turn write gathering) and :mod:`~twisted_chat.session` (the per-connection policy);
- the chat core, no sockets and no SQL: :mod:`~twisted_chat.chat` (login and routing),
  :mod:`~twisted_chat.operators`, :mod:`~twisted_chat.rooms` (the rooms' commands) and
  :mod:`~twisted_chat.commands` (the command table), :mod:`~twisted_chat.room` (the users,
  the rooms and delivery), :mod:`~twisted_chat.notices`,
  :mod:`~twisted_chat.accounts`, :mod:`~twisted_chat.bans`;
- pure helpers: :mod:`~twisted_chat.wire` (protocol v1's line forms and renderer),
  :mod:`~twisted_chat.text` (catalogues), :mod:`~twisted_chat.events` (the typed events),
  :mod:`~twisted_chat.ids`, :mod:`~twisted_chat.lines`, :mod:`~twisted_chat.nicknames`,
  :mod:`~twisted_chat.roomnames`, :mod:`~twisted_chat.limits`.

:mod:`~twisted_chat.client` (``twisted-chat-client``) stands apart: it imports nothing of the
server.
"""

__version__ = "1.0.0"
