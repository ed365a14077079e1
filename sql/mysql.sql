-- twisted-chat schema for MySQL / MariaDB.
-- Applied idempotently by the server at start-up; a DBA may also run it by hand:
--     mysql redes < sql/mysql.sql
--
-- clientes: one row per user (the original design's table and columns).
--   nick_key      NFC + casefold form of the nickname: the identity of a user ("Ana" = "ana").
--                 Binary collation, so "José" and "Jose" stay two users, as they are on the wire.
--   nickname      the spelling the user logged in with last.
--   connected_at  the user's last login, in UTC.
CREATE TABLE IF NOT EXISTS clientes (
    nick_key VARCHAR(80) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    nickname VARCHAR(20) NOT NULL,
    connected_at DATETIME NOT NULL,
    PRIMARY KEY (nick_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- cuentas: registered nicknames (/registrar). Only a client giving the password may use one.
--   password_hash  argon2id hash (argon2-cffi's encoded form); never the password itself.
CREATE TABLE IF NOT EXISTS cuentas (
    nick_key VARCHAR(80) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    nickname VARCHAR(20) NOT NULL,
    password_hash VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    registered_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    PRIMARY KEY (nick_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- baneos: bans made by operators (/banear); checked in memory, loaded at start-up.
--   kind        'nick' (target is a nick key) or 'net' (target is a network, e.g. 10.0.0.0/8 or
--               192.0.2.7/32; IPv6 in its compressed form).
--   reason      the operator's reason (may be empty).
--   created_by  the operator's nickname.
--   created_at, expires_at  UTC; expires_at NULL is a permanent ban.
CREATE TABLE IF NOT EXISTS baneos (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    kind VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    target VARCHAR(80) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    reason VARCHAR(1024) NOT NULL,
    created_by VARCHAR(20) NOT NULL,
    created_at DATETIME NOT NULL,
    expires_at DATETIME NULL,
    PRIMARY KEY (id),
    UNIQUE KEY baneos_target (kind, target)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- salas: the permanent rooms' topics (/tema), kept across restarts (protocol v1.1). Rooms that
-- are not permanent live in memory only, and disappear, topic and all, when they empty.
--   room_key  NFC + casefold form of the room's name: its identity ("Juegos" = "juegos").
--   name      the room's name as shown.
--   topic     the topic (at most 300 characters); set_by: who set it; set_at: when, in UTC.
CREATE TABLE IF NOT EXISTS salas (
    room_key VARCHAR(130) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    name VARCHAR(32) NOT NULL,
    topic VARCHAR(300) NOT NULL,
    set_by VARCHAR(20) NOT NULL,
    set_at DATETIME NOT NULL,
    PRIMARY KEY (room_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- mensajes: public messages of the rooms, for deeper history pages (/historial) and /buscar.
-- Kept --history-days days (purged in small chunks); nothing is stored with --history-days 0.
--   n         the row's number (purges and the full-text index work on it).
--   id        the event's message id (unique in the cluster and for all time): a batch written
--             twice (a retry after an outage) inserts nothing the second time.
--   room_key  NFC + casefold form of the room's name.
--   sent_at   the event's time in milliseconds since the epoch, UTC. Pages are cut by
--             (sent_at, id), so messages sharing a millisecond are never skipped or repeated.
--   nickname  the sender as shown; nick_key its NFC + casefold form (for /olvidar and exports).
--   text      what was said; FULLTEXT-indexed for /buscar (utf8mb4_unicode_ci: case- and
--             accent-insensitive).
CREATE TABLE IF NOT EXISTS mensajes (
    n BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    id VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    room_key VARCHAR(130) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    sent_at BIGINT NOT NULL,
    nickname VARCHAR(20) NOT NULL,
    nick_key VARCHAR(80) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (n),
    UNIQUE KEY mensajes_id (id),
    KEY mensajes_sala (room_key, sent_at, id),
    KEY mensajes_tiempo (sent_at),
    KEY mensajes_nick (nick_key),
    FULLTEXT KEY mensajes_texto (text)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- recados: memos for registered nicknames, delivered when the recipient logs in, then deleted
-- (at most 10 pending from one sender to one recipient, 100 pending per recipient). Kept
-- --memo-days days.
--   id             a message id; delivery deletes the row by id, and only the caller whose
--                  delete removed it delivers it (exactly once, even from two nodes).
--   sender         the sender as shown; sender_key its NFC + casefold form.
--   recipient_key  NFC + casefold form of the recipient (a registered nickname).
--   sent_at        milliseconds since the epoch, UTC.
CREATE TABLE IF NOT EXISTS recados (
    n BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    id VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    sender VARCHAR(20) NOT NULL,
    sender_key VARCHAR(80) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    recipient_key VARCHAR(80) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    text VARCHAR(1024) NOT NULL,
    sent_at BIGINT NOT NULL,
    PRIMARY KEY (n),
    UNIQUE KEY recados_id (id),
    KEY recados_destino (recipient_key, sent_at),
    KEY recados_remitente (sender_key, recipient_key),
    KEY recados_tiempo (sent_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- salidas: when a user logged in with a password last left the chat, so that at their next
-- login they get what was said in their room since (at most 100 messages, then a hint).
--   nick_key  NFC + casefold form of the registered nickname.
--   left_at   milliseconds since the epoch, UTC.
CREATE TABLE IF NOT EXISTS salidas (
    nick_key VARCHAR(80) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    left_at BIGINT NOT NULL,
    PRIMARY KEY (nick_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
