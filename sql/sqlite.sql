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
