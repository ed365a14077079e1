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

-- mensajes: public messages of the rooms, for deeper history pages (/historial) and /buscar.
-- Kept --history-days days (purged in small chunks); nothing is stored with --history-days 0.
--   n         the row's number (SQLite rowid): the key the full-text index refers to.
--   id        the event's message id (unique in the cluster and for all time): a batch written
--             twice (a retry after an outage) inserts nothing the second time.
--   room_key  NFC + casefold form of the room's name.
--   sent_at   the event's time in milliseconds since the epoch, UTC. Pages are cut by
--             (sent_at, id), so messages sharing a millisecond are never skipped or repeated.
--   nickname  the sender as shown; nick_key its NFC + casefold form (for /olvidar and exports).
--   text      what was said.
CREATE TABLE IF NOT EXISTS mensajes (
    n INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    room_key TEXT NOT NULL,
    sent_at INTEGER NOT NULL,
    nickname TEXT NOT NULL,
    nick_key TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS mensajes_sala ON mensajes (room_key, sent_at, id);
CREATE INDEX IF NOT EXISTS mensajes_tiempo ON mensajes (sent_at);
CREATE INDEX IF NOT EXISTS mensajes_nick ON mensajes (nick_key);

-- mensajes_fts: the full-text index of mensajes.text (external content: the text is stored
-- once, in mensajes). unicode61 with remove_diacritics 2: case- and accent-insensitive
-- ("cafe" finds "Café"). A row is indexed in the transaction that writes it when that
-- transaction holds many rows (HistoryStore.INDEX_EVERY), else in a later write transaction
-- once that many have waited: FTS5 writes a new segment per transaction, which was a third of
-- the cost of a message written alone (50 messages/s: one transaction each). Until then the
-- row's number waits in mensajes_sin_indice, and /buscar reads those rows directly.
CREATE VIRTUAL TABLE IF NOT EXISTS mensajes_fts USING fts5(
    text, content='mensajes', content_rowid='n', tokenize='unicode61 remove_diacritics 2'
);
-- mensajes_sin_indice: the numbers (n) of the rows of mensajes not in mensajes_fts yet.
CREATE TABLE IF NOT EXISTS mensajes_sin_indice (n INTEGER PRIMARY KEY);
-- Files made before it indexed every row at once by these triggers (all of their rows are
-- indexed, so none waits).
DROP TRIGGER IF EXISTS mensajes_fts_insert;
DROP TRIGGER IF EXISTS mensajes_fts_delete;
CREATE TRIGGER IF NOT EXISTS mensajes_por_indexar AFTER INSERT ON mensajes BEGIN
    INSERT INTO mensajes_sin_indice (n) VALUES (new.n);
END;
-- A deleted row leaves the index only if it is in it: an FTS5 'delete' of a row never indexed
-- would corrupt an external-content index. (n may be reused after the newest rows are
-- deleted: the waiting number goes with its row.)
CREATE TRIGGER IF NOT EXISTS mensajes_borrados AFTER DELETE ON mensajes BEGIN
    INSERT INTO mensajes_fts (mensajes_fts, rowid, text) SELECT 'delete', old.n, old.text
        WHERE NOT EXISTS (SELECT 1 FROM mensajes_sin_indice WHERE n = old.n);
    DELETE FROM mensajes_sin_indice WHERE n = old.n;
END;

-- recados: memos for registered nicknames, delivered when the recipient logs in, then deleted
-- (at most 10 pending from one sender to one recipient, 100 pending per recipient). Kept
-- --memo-days days.
--   id             a message id; delivery deletes the row by id, and only the caller whose
--                  delete removed it delivers it (exactly once, even from two nodes).
--   sender         the sender as shown; sender_key its NFC + casefold form.
--   recipient_key  NFC + casefold form of the recipient (a registered nickname).
--   sent_at        milliseconds since the epoch, UTC.
CREATE TABLE IF NOT EXISTS recados (
    n INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    sender TEXT NOT NULL,
    sender_key TEXT NOT NULL,
    recipient_key TEXT NOT NULL,
    text TEXT NOT NULL,
    sent_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS recados_destino ON recados (recipient_key, sent_at);
CREATE INDEX IF NOT EXISTS recados_remitente ON recados (sender_key, recipient_key);
CREATE INDEX IF NOT EXISTS recados_tiempo ON recados (sent_at);

-- salidas: when a user logged in with a password last left the chat, so that at their next
-- login they get what was said in their room since (at most 100 messages, then a hint).
--   nick_key  NFC + casefold form of the registered nickname.
--   left_at   milliseconds since the epoch, UTC.
CREATE TABLE IF NOT EXISTS salidas (
    nick_key TEXT NOT NULL PRIMARY KEY,
    left_at INTEGER NOT NULL
);
