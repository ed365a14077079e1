"""Cluster mode (``--redis``): several chat nodes joined through Redis into one chat.

Imported only when ``--redis`` is given. The layer sits behind the room's interface, in the
manner of Synapse's replication layer (``synapse/replication/tcp/``)::

          chat core, commands, transports
                       |  the Room interface
                       v
               +-------------+ -- publishes --> Outbox -----------> RedisLink --> Redis
               | ClusterRoom | -- claims -----> Membership <------> RedisLink
               +-------------+                    ^  (scripts, reads; up and down)
                       ^                          |  replicas changed
                       +----- delivers ----- ClusterHandler <------ RedisLink
                                                             (what other nodes publish)

- :mod:`~twisted_chat.cluster.events`: one frozen class per cluster event, its name and its
  JSON form; :mod:`~twisted_chat.cluster.envelope`: the versioned envelope around a turn's
  events, with the sender's node and run.
- :mod:`~twisted_chat.cluster.room`: :class:`~twisted_chat.cluster.room.ClusterRoom`, the room
  of one node; it publishes what happens here, sees the other nodes' users, and puts the parts
  below together.
- :mod:`~twisted_chat.cluster.rooms`: one set of rooms for the whole cluster (creation claimed
  in Redis, the other nodes' users placed in the rooms, a channel per room);
  :mod:`~twisted_chat.cluster.topics`: the rooms' topics in Redis, merged after an outage.
- :mod:`~twisted_chat.cluster.outbox`: what this node publishes, one envelope per channel and
  reactor turn; :mod:`~twisted_chat.cluster.order`: this node's users' messages held until
  their envelope comes back from Redis (one order per room for the whole cluster).
- :mod:`~twisted_chat.cluster.membership`: this node's membership in the cluster
  (registration, heartbeat, survey, nickname claims).
- :mod:`~twisted_chat.cluster.handler`: what the other nodes' events do here, one method each.
- :mod:`~twisted_chat.cluster.presence`: the replicas of the other nodes' users.
- :mod:`~twisted_chat.cluster.link`: the two Redis connections;
  :mod:`~twisted_chat.cluster.scripts`: the Lua scripts; :mod:`~twisted_chat.cluster.keys`:
  key and channel names; :mod:`~twisted_chat.cluster.config`, :mod:`~twisted_chat.cluster.url`:
  the options.
- :mod:`~twisted_chat.cluster.service`: :class:`~twisted_chat.cluster.service.ClusterService`
  joins and leaves the cluster with the server.
"""
