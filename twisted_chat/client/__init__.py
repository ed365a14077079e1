"""``twisted-chat-client``: a terminal client for the twisted-chat line protocol.

Layout, following imports downward: :mod:`.cli` (arguments, endpoints, the raw terminal),
:mod:`.terminal` (line editing and history on Twisted Conch's ``recvline``, output drawn above the
input line), :mod:`.piped` (the script mode when stdin is not a terminal), :mod:`.current_room`
(the user's room as room lines tell it, and the prompt), :mod:`.connection` (the TCP line
protocol, login memory and reconnection) and :mod:`.render` (server line kinds, escaping of
control characters, colour).
"""
