"""twistd plugin: ``twistd -n chat [options]`` runs the twisted-chat server.

Only a pointer to :mod:`twisted_chat.tap`, loaded lazily so that ``twistd --help`` stays fast.
"""

from twisted.application.service import ServiceMaker

chat = ServiceMaker(
    "twisted-chat",
    "twisted_chat.tap",
    "A line-protocol chat server (netcat/telnet friendly), SQLite or MySQL backed",
    "chat",
)
