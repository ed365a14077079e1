"""Cluster mode (``--redis``): several chat nodes joined through Redis into one chat.

Imported only when ``--redis`` is given. :class:`~twisted_chat.cluster.room.ClusterRoom` is the
layer (the room of one node, behind the same interface as one process's room);
:class:`~twisted_chat.cluster.service.ClusterService` starts and stops it with the server.
"""
