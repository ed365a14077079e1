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
#: instance holds it and removes the user (and its rooms) from this node's hash.
RELEASE = Script(
    "release",
    """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if redis.call('HGET', KEYS[2], '#i') == ARGV[1] then
  redis.call('HDEL', KEYS[2], ARGV[2], '#r:' .. ARGV[2], '#R:' .. ARGV[2], '#u:' .. ARGV[2])
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
      redis.call('HDEL', KEYS[2], field, '#r:' .. field, '#R:' .. field, '#u:' .. field)
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

# -- rooms ---------------------------------------------------------------------------------

#: KEYS: room creation claim, topics hash. ARGV: claim value (JSON ``[instance, nick key,
#: name]``), ttl ms, room key. ``{1, value}`` if the room is now this value's (a new room: its
#: old topic, if any, is forgotten), ``{0, holder}`` if another creator holds it.
ROOM_CLAIM = Script(
    "room_claim",
    """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return {0, holder} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if not holder then redis.call('HDEL', KEYS[2], ARGV[3]) end
return {1, ARGV[1]}
""",
)

#: KEYS: users hash. ARGV: instance, nick key, room name ('' for the default room), version,
#: key of a room the user now is the operator of (or ''). Records a user's room (and the
#: membership version) in this run's users hash. 1 if recorded, 0 if this run or user is not
#: there (Redis lost it: the registration writes it again).
ROOM_MOVE = Script(
    "room_move",
    """
if redis.call('HGET', KEYS[1], '#i') ~= ARGV[1] then return 0 end
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0 then return 0 end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], '#r:' .. ARGV[2])
else
  redis.call('HSET', KEYS[1], '#r:' .. ARGV[2], ARGV[3])
end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], '#o:' .. ARGV[5], ARGV[2]) end
redis.call('HSET', KEYS[1], '#v', ARGV[4])
return 1
""",
)

#: KEYS: room creation claim, users hash, topics hash. ARGV: claim value, room key, instance,
#: '1' to forget the room's topic too (the room is gone). Gives back a room creation claim if
#: this value still holds it, and the operator mark in this run's users hash. With '1' and no
#: claim at all (its creator left the chat first; value ''), the topic goes too. ARGV[5], if
#: given: the nick key of a gone room's operator, whose claim (held elsewhere) goes as well.
ROOM_RELEASE = Script(
    "room_release",
    """
local holder = redis.call('GET', KEYS[1])
local release = holder == ARGV[1]
if holder and not release and ARGV[5] then
  local ok, claim = pcall(cjson.decode, holder)
  release = ok and type(claim) == 'table' and claim[2] == ARGV[5]
end
if release then
  redis.call('DEL', KEYS[1])
  if ARGV[4] == '1' then redis.call('HDEL', KEYS[3], ARGV[2]) end
elseif not holder and ARGV[4] == '1' then
  redis.call('HDEL', KEYS[3], ARGV[2])
end
if redis.call('HGET', KEYS[2], '#i') == ARGV[3] then
  redis.call('HDEL', KEYS[2], '#o:' .. ARGV[2])
end
return 1
""",
)

#: KEYS: room creation claims. ARGV: ttl ms, then the value this node holds for each key.
#: Keeps alive (with the node's heartbeat) the claims of rooms whose operator is on this node.
ROOM_REFRESH = Script(
    "room_refresh",
    """
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i + 1] then redis.call('PEXPIRE', key, ARGV[1]) end
end
return 1
""",
)

#: KEYS: users hash. ARGV: instance, ttl ms, room claim key prefix, N, then N pairs (nick key,
#: room name) and triples (room key, operator's nick key, claim value).
#: After a (re)registration: writes this node's users' rooms again and claims again the rooms
#: whose operator is here. nil if this run is not registered; else ``{room key, holder}`` for
#: every room another creator holds now.
RESTORE = Script(
    "restore",
    """
if redis.call('HGET', KEYS[1], '#i') ~= ARGV[1] then return false end
local i = 5
for _ = 1, tonumber(ARGV[4]) do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then
    redis.call('HSET', KEYS[1], '#r:' .. ARGV[i], ARGV[i + 1])
  end
  i = i + 2
end
local lost = {}
while i + 2 <= #ARGV do
  local key = ARGV[3] .. ARGV[i]
  local holder = redis.call('GET', key)
  if holder and holder ~= ARGV[i + 2] then
    table.insert(lost, {ARGV[i], holder})
  else
    redis.call('SET', key, ARGV[i + 2], 'PX', ARGV[2])
    redis.call('HSET', KEYS[1], '#o:' .. ARGV[i], ARGV[i + 1])
  end
  i = i + 3
end
return lost
""",
)

#: KEYS: users hash. ARGV: instance, version ('' to leave it), key of a room the user now is
#: the operator of (or ''), then for each user: nick key, ``#r:`` value ('' for the default
#: room or none), ``#R:`` value ('' when the user is in one room: the field goes).
#: Records the rooms of users (an IRC user's: any number) in this run's users hash. The number
#: of users recorded (a user this run does not hold is skipped: Redis lost it, and the
#: registration writes it again).
ROOMS_SET = Script(
    "rooms_set",
    """
if redis.call('HGET', KEYS[1], '#i') ~= ARGV[1] then return 0 end
local done = 0
for i = 4, #ARGV - 2, 3 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then
    if ARGV[i + 1] == '' then
      redis.call('HDEL', KEYS[1], '#r:' .. ARGV[i])
    else
      redis.call('HSET', KEYS[1], '#r:' .. ARGV[i], ARGV[i + 1])
    end
    if ARGV[i + 2] == '' then
      redis.call('HDEL', KEYS[1], '#R:' .. ARGV[i])
    else
      redis.call('HSET', KEYS[1], '#R:' .. ARGV[i], ARGV[i + 2])
    end
    if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], '#o:' .. ARGV[3], ARGV[i]) end
    done = done + 1
  end
end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], '#v', ARGV[2]) end
return done
""",
)

# -- what other users may know of a user ---------------------------------------------------

#: KEYS: users hash. ARGV: instance, version ('' to leave it), then for each user: nick key,
#: its ``#u:`` value (JSON; '' when there is nothing to know: the field goes). Records users'
#: info (:mod:`twisted_chat.userinfo`) in this run's users hash. The number of users recorded
#: (a user this run does not hold is skipped: Redis lost it, and the registration writes it
#: again).
USER_INFO = Script(
    "user_info",
    """
if redis.call('HGET', KEYS[1], '#i') ~= ARGV[1] then return 0 end
local done = 0
for i = 3, #ARGV - 1, 2 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then
    if ARGV[i + 1] == '' then
      redis.call('HDEL', KEYS[1], '#u:' .. ARGV[i])
    else
      redis.call('HSET', KEYS[1], '#u:' .. ARGV[i], ARGV[i + 1])
    end
    done = done + 1
  end
end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], '#v', ARGV[2]) end
return done
""",
)

# -- nickname changes ----------------------------------------------------------------------

#: KEYS: new nick claim, old nick claim, users hash. ARGV: instance, ttl ms, new nick key, new
#: nickname, old nick key, version. A user of this run changes its nickname, in one step:
#: claims the new one (refused if anyone holds it, this run included, unless it is the same
#: key: a change of case), gives back the old one, and moves the user's fields in the users
#: hash (its nickname, its rooms ``#r:`` and ``#R:``, its info ``#u:``, the rooms it is the
#: operator of). 1 if
#: done, 0 if the new nickname is taken, -1 if this run is not registered (Redis lost it).
RENAME = Script(
    "rename",
    """
if redis.call('HGET', KEYS[3], '#i') ~= ARGV[1] then return -1 end
local holder = redis.call('GET', KEYS[1])
if ARGV[3] ~= ARGV[5] then
  if holder then return 0 end
  if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
  redis.call('HDEL', KEYS[3], ARGV[5])
  for _, prefix in ipairs({'#r:', '#R:', '#u:'}) do
    local rooms = redis.call('HGET', KEYS[3], prefix .. ARGV[5])
    if rooms then
      redis.call('HDEL', KEYS[3], prefix .. ARGV[5])
      redis.call('HSET', KEYS[3], prefix .. ARGV[3], rooms)
    end
  end
  local fields = redis.call('HGETALL', KEYS[3])
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 3) == '#o:' and fields[i + 1] == ARGV[5] then
      redis.call('HSET', KEYS[3], fields[i], ARGV[3])
    end
  end
elseif holder and holder ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4], '#v', ARGV[6])
return 1
""",
)

ALL = (
    CLAIM,
    RELEASE,
    HEARTBEAT,
    REGISTER,
    SURVEY,
    FORGET,
    ROOM_CLAIM,
    ROOM_MOVE,
    ROOM_RELEASE,
    ROOM_REFRESH,
    RESTORE,
    ROOMS_SET,
    USER_INFO,
    RENAME,
)
