-- twisted-chat schema for SQLite (the embedded default).
-- Applied idempotently by the server at start-up.
--
-- clientes: one row per user (the original design's table and columns).
--   nick_key      NFC + casefold form of the nickname: the identity of a user ("Ana" = "ana").
--   nickname      the spelling the user logged in with last.
--   connected_at  the user's last login in UTC, as SQLite's datetime() text: YYYY-MM-DD HH:MM:SS.
CREATE TABLE IF NOT EXISTS clientes (
    nick_key TEXT NOT NULL PRIMARY KEY,
    nickname TEXT NOT NULL,
    connected_at TEXT NOT NULL
);

-- cuentas: registered nicknames (/registrar). Only a client giving the password may use one.
--   password_hash  argon2id hash (argon2-cffi's encoded form); never the password itself.
CREATE TABLE IF NOT EXISTS cuentas (
    nick_key TEXT NOT NULL PRIMARY KEY,
    nickname TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    registered_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- baneos: bans made by operators (/banear); checked in memory, loaded at start-up.
--   kind        'nick' (target is a nick key) or 'net' (target is a network, e.g. 10.0.0.0/8 or
--               192.0.2.7/32; IPv6 in its compressed form).
--   reason      the operator's reason (may be empty).
--   created_by  the operator's nickname.
--   created_at, expires_at  UTC, as SQLite's datetime() text; expires_at NULL is permanent.
CREATE TABLE IF NOT EXISTS baneos (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    UNIQUE (kind, target)
);

-- salas: the permanent rooms' topics (/tema), kept across restarts (protocol v1.1). Rooms that
-- are not permanent live in memory only, and disappear, topic and all, when they empty.
--   room_key  NFC + casefold form of the room's name: its identity ("Juegos" = "juegos").
--   name      the room's name as shown.
--   topic     the topic (at most 300 characters); set_by: who set it; set_at: when, in UTC.
CREATE TABLE IF NOT EXISTS salas (
    room_key TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    topic TEXT NOT NULL,
    set_by TEXT NOT NULL,
    set_at TEXT NOT NULL
);
