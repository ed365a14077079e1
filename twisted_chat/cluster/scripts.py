"""The Lua scripts that change cluster state in Redis, each one atomic.

Every claim, release, heartbeat and (re)registration is one script, so that no other node can
see half of it: a nickname claim and the claimer's users hash change together, and a heartbeat
refreshes only what this run of the node still holds. Scripts are sent with ``EVALSHA`` and
loaded again (``EVAL``) when Redis answers ``NOSCRIPT`` (after a restart it knows none).

They read keys derived from the ones passed in (the claims named in a users hash), which is
fine on one Redis server; see docs/SCALING.md for Redis Cluster.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Script:
    """A Lua script and its SHA1 (for ``EVALSHA``)."""

    name: str
    source: str

    @property
    def sha(self) -> str:
        """The SHA1 Redis knows the script by."""
        return hashlib.sha1(self.source.encode()).hexdigest()


#: KEYS: nick claim, users hash. ARGV: instance, ttl ms, nick key, nickname, version.
#: 1 if the nickname is now held by this instance, 0 if someone else holds it.
CLAIM = Script(
    "claim",
    """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4], '#v', ARGV[5])
return 1
""",
)

#: KEYS: nick claim, users hash. ARGV: instance, nick key, version. Frees the nickname if this
#: instance holds it and removes the user from this node's hash.
RELEASE = Script(
    "release",
    """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if redis.call('HGET', KEYS[2], '#i') == ARGV[1] then
  redis.call('HDEL', KEYS[2], ARGV[2])
  redis.call('HSET', KEYS[2], '#v', ARGV[3])
end
return 1
""",
)

#: KEYS: alive, users hash. ARGV: instance, ttl ms, nick key prefix.
#: nil if this instance is no longer registered (Redis lost its state, or another run took the
#: node id); else the nick keys of users whose claim this instance no longer holds.
HEARTBEAT = Script(
    "heartbeat",
    """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
if redis.call('HGET', KEYS[2], '#i') ~= ARGV[1] then return false end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
local lost = {}
for _, field in ipairs(redis.call('HKEYS', KEYS[2])) do
  if string.sub(field, 1, 1) ~= '#' then
    local claim = ARGV[3] .. field
    if redis.call('GET', claim) == ARGV[1] then
      redis.call('PEXPIRE', claim, ARGV[2])
    else
      redis.call('HDEL', KEYS[2], field)
      table.insert(lost, field)
    end
  end
end
return lost
""",
)

#: KEYS: alive, users hash, nodes set. ARGV: instance, ttl ms, node id, version, nick key
#: prefix, then nick key and nickname of every local user.
#: {0, holder} if another run holds the node id; else {1, nick keys claimed by someone else}.
REGISTER = Script(
    "register",
    """
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return {0, current} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[3], ARGV[3])
-- Users who left while this node was cut off from Redis: free what this run still holds.
local now = {}
for i = 6, #ARGV, 2 do now[ARGV[i]] = true end
for _, field in ipairs(redis.call('HKEYS', KEYS[2])) do
  if string.sub(field, 1, 1) ~= '#' and not now[field] then
    local claim = ARGV[5] .. field
    if redis.call('GET', claim) == ARGV[1] then redis.call('DEL', claim) end
  end
end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], '#i', ARGV[1], '#v', ARGV[4])
local lost = {}
for i = 6, #ARGV, 2 do
  local claim = ARGV[5] .. ARGV[i]
  local holder = redis.call('GET', claim)
  if holder and holder ~= ARGV[1] then
    table.insert(lost, ARGV[i])
  else
    redis.call('SET', claim, ARGV[1], 'PX', ARGV[2])
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  end
end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return {1, lost}
""",
)

#: KEYS: nodes set. ARGV: key prefix. For every node: {id, instance or '', version or ''}.
SURVEY = Script(
    "survey",
    """
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local alive = redis.call('GET', ARGV[1] .. 'alive:' .. id)
  local version = redis.call('HGET', ARGV[1] .. 'users:' .. id, '#v')
  table.insert(out, {id, alive or '', version or ''})
end
return out
""",
)

#: KEYS: alive, users hash, nodes set. ARGV: node id, nick key prefix, instance or ''.
#: Forget a node: with ARGV[3] (a node stopping: only its own run) or once its alive key has
#: expired (a dead node), free the claims its run still holds and remove it. 1 if removed.
FORGET = Script(
    "forget",
    """
local alive = redis.call('GET', KEYS[1])
if ARGV[3] == '' then
  if alive then return 0 end
elseif alive ~= ARGV[3] then
  return 0
end
local instance = redis.call('HGET', KEYS[2], '#i')
if instance then
  for _, field in ipairs(redis.call('HKEYS', KEYS[2])) do
    if string.sub(field, 1, 1) ~= '#' then
      local claim = ARGV[2] .. field
      if redis.call('GET', claim) == instance then redis.call('DEL', claim) end
    end
  end
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
return 1
""",
)

ALL = (CLAIM, RELEASE, HEARTBEAT, REGISTER, SURVEY, FORGET)
