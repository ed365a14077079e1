"""twisted-chat: a line-protocol chat server built on Twisted.

Layers, each importing only the ones below it:

- :mod:`twisted_chat.lines`, :mod:`twisted_chat.nicknames`, :mod:`twisted_chat.wire`,
  :mod:`twisted_chat.text`: pure helpers (framing, nickname rules, server line formats, catalogues);
- :mod:`twisted_chat.core` and :mod:`twisted_chat.commands`: the chat itself (registry, routing,
  commands), with no sockets and no SQL;
- :mod:`twisted_chat.storage`: the ``clientes`` table behind ``adbapi``;
- :mod:`twisted_chat.protocol`: the per-connection ``LineReceiver`` and its factory;
- :mod:`twisted_chat.settings`: every option declared once, checked into typed settings;
- :mod:`twisted_chat.service` and :mod:`twisted_chat.process`: the service tree and the process;
- :mod:`twisted_chat.tap`: ``twistd chat``'s options and ``makeService``.
"""

__version__ = "1.0.0"
