"""``python -m twisted_chat.client``: the same as ``twisted-chat-client``."""

from twisted_chat.client.cli import main

raise SystemExit(main())
