"""The server lines the tests expect, in Spanish (the default catalogue), written out literally.

They are the contract that scripts rely on, so they are spelled out here rather than built from
:mod:`twisted_chat.text`: a change to the catalogue must show up as a failing test. Constants are
whole lines (with their ``* `` or ``! `` prefix); functions build the lines that name a user.
"""

from __future__ import annotations

import re
from datetime import datetime

# -- the handshake ---------------------------------------------------------------------------

PROMPT = "* Bienvenido a twisted-chat. Elige un nickname:"
NICK_INVALID = (
    "! Nickname no válido: de 1 a 20 letras, dígitos, _ o -, empezando por una letra. "
    "Elige otro nickname:"
)
FIRST_VISIT = "* Es tu primera conexión."
#: The line right after the welcome on a server that keeps public messages (the default
#: ``--history-days 30``; protocol v1.1, issue 15).
RETENTION = "* Los mensajes públicos se guardan 30 días; /olvidar borra los tuyos."
#: The line right after the welcome on a server started with ``--history-days 0``.
RETENTION_OFF = "* Los mensajes públicos no se guardan."

# -- refused lines and commands --------------------------------------------------------------

TOO_LONG = "! Línea demasiado larga (máximo 1024 bytes): descartada."
BAD_UTF8 = "! La línea no es UTF-8 válido: descartada."
CONTROL = "! La línea contiene caracteres de control: descartada."
EMPTY_COMMAND = "! Falta el comando después de /. Escribe /ayuda para ver los comandos."
PRIVATE_EMPTY = "! Mensaje privado vacío. Uso: #nick texto"
PRIVATE_SELF = "! No puedes enviarte un mensaje privado a ti mismo."

#: ``/ayuda`` of the original design: these seven lines, in this order (later commands come
#: between the last two).
AYUDA_ORIGINAL = [
    "* Comandos (también en inglés):",
    "* /listar, /list: muestra los usuarios conectados",
    "* /salir, /quit: cierra la conexión",
    "* /username, /whoami: muestra tu nickname",
    "* /ayuda, /help: muestra esta ayuda",
    "* /hora, /time: muestra la hora del servidor",
    "* #nick texto: mensaje privado a nick; cualquier otra línea va a todos.",
]
#: ``/ayuda`` as it is now, every command of the table.
AYUDA = [
    *AYUDA_ORIGINAL[:-1],
    "* /ping: responde * pong (para mantener viva la conexión)",
    "* /registrar, /register CONTRASEÑA: registra tu nickname con una contraseña",
    "* /password ACTUAL NUEVA: cambia la contraseña de tu nickname",
    "* /nick NUEVO: cambia tu nickname (como mucho una vez cada 10 s)",
    "* /me TEXTO: una acción en tu sala: los demás leen ** TU_NICK TEXTO",
    "* /salas, /rooms: muestra las salas",
    "* /unirse, /join SALA: te lleva a la sala SALA (la crea si no existe)",
    "* /sala, /room: muestra tu sala y su tema",
    "* /tema, /topic [TEXTO]: muestra el tema de tu sala; con TEXTO, lo cambia",
    AYUDA_ORIGINAL[-1],
]

#: The reply to ``/hora``; group 1 is the ISO 8601 time with its UTC offset.
HORA = re.compile(r"\* Hora del servidor: (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d)")
PONG = "* pong"

# -- registered nicknames -------------------------------------------------------------------

LOGIN_REFUSED = "! Nickname o contraseña incorrectos. Elige otro nickname:"
#: The reply to every nickname line while the registered nicknames are not loaded yet.
STARTING_UP = "! El servidor está arrancando; inténtalo de nuevo en un momento. Elige un nickname:"
PASSWORD_CHANGED = "* Contraseña cambiada."
NOT_REGISTERED = "! Tu nickname no está registrado; usa /registrar CONTRASEÑA."
PASSWORD_LENGTH = "! La contraseña debe tener de 4 a 1000 caracteres, sin espacios."
WRONG_PASSWORD = "! Contraseña actual incorrecta."
TRY_LATER = "! La base de datos no está disponible; inténtalo más tarde."
USAGE_REGISTRAR = "! Uso: /registrar CONTRASEÑA"
USAGE_PASSWORD = "! Uso: /password ACTUAL NUEVA"

# -- the abuse limits and shutdown -----------------------------------------------------------

FLOOD_DROPPED = "! Vas demasiado rápido: se descartan líneas (máximo 10 por segundo)."
FLOOD_KICKED = "! Demasiado rápido durante demasiado tiempo: desconectado."
STRIKES = "! Demasiadas líneas no válidas seguidas: desconectado."
SENDQ = "! Demasiados datos pendientes de enviar (no lees lo que recibes): desconectado."
SERVER_FULL = "! El servidor está lleno; inténtalo más tarde."
TOO_MANY_FROM_IP = "! Demasiadas conexiones desde tu dirección; inténtalo más tarde."
LOGIN_TIMEOUT = "! No has elegido nickname a tiempo: desconectado."
IDLE_TIMEOUT = "! Demasiado tiempo sin actividad: desconectado."
#: The notice every connection gets when the server shuts down.
SHUTTING_DOWN = "* El servidor se está apagando. Hasta pronto."
#: The refusal a connection made during the shutdown gets.
SHUTTING_DOWN_REFUSED = "! El servidor se está apagando. Hasta pronto."


# -- lines that name a user ------------------------------------------------------------------


def welcome(nick: str) -> str:
    """The welcome line for ``nick``."""
    return f"* Bienvenido, {nick}. Escribe /ayuda para ver los comandos."


def last_seen(when: datetime) -> str:
    """The line after the welcome of a returning user last connected at ``when``."""
    return f"* Tu última conexión fue el {when.isoformat(timespec='seconds')}."


def joined(nick: str) -> str:
    """The notice that ``nick`` joined the chat."""
    return f"* {nick} se ha unido al chat."


def renamed(old: str, new: str) -> str:
    """The notice of a nickname change (``/nick``, IRC's ``NICK``)."""
    return f"* {old} ahora se llama {new}."


def left(nick: str) -> str:
    """The notice that ``nick`` left the chat."""
    return f"* {nick} ha salido del chat."


def taken(nick: str) -> str:
    """The error for a nickname already connected."""
    return f"! El nickname {nick} ya está conectado. Elige otro nickname:"


def goodbye(nick: str) -> str:
    """The reply to ``/salir``."""
    return f"* Hasta pronto, {nick}."


def conectados(*nicks: str) -> str:
    """The reply to ``/listar`` when ``nicks`` (in this order) are connected."""
    return f"* Conectados ({len(nicks)}): {', '.join(nicks)}"


def username(nick: str) -> str:
    """The reply to ``/username``."""
    return f"* Tu nickname es {nick}."


def unknown_command(name: str) -> str:
    """The error for an unknown command ``/name``."""
    return f"! Comando desconocido: /{name}. Escribe /ayuda para ver los comandos."


def offline(nick: str) -> str:
    """The error for a private message to ``nick``, who is not connected."""
    return f"! {nick} no está conectado."


def bad_private_nick(nick: str) -> str:
    """The error for a private message to an invalid nickname."""
    return f"! Nickname no válido en el mensaje privado: {nick}"


def password_needed(nick: str) -> str:
    """The error for a registered nickname given without its password."""
    return f"! El nickname {nick} está registrado y necesita contraseña: escribe {nick} CONTRASEÑA"


def registered(nick: str) -> str:
    """The notice after ``/registrar``."""
    return f"* Nickname {nick} registrado: a partir de ahora entra con {nick} CONTRASEÑA."


def already_registered(nick: str) -> str:
    """The error for ``/registrar`` on a registered nickname."""
    return f"! El nickname {nick} ya está registrado; usa /password para cambiarla."


# -- operators (issue 10 §4) -----------------------------------------------------------------

#: The ``/ayuda`` lines of the operators' commands, listed to operators only (before the last
#: line of :data:`AYUDA`).
AYUDA_OPERATORS = [
    "* /expulsar, /kick NICK [MOTIVO]: expulsa a un usuario del chat",
    "* /silenciar, /mute NICK MINUTOS: impide a un usuario enviar mensajes durante MINUTOS "
    "(0 lo quita)",
    "* /banear, /ban NICK|IP|CIDR [MINUTOS] [MOTIVO]: banea un nickname, una dirección o una red "
    "(sin MINUTOS, para siempre)",
    "* /desbanear, /unban NICK|IP|CIDR: retira un ban",
    "* /baneos, /bans: lista los bans en vigor",
    "* /anuncio, /announce TEXTO: envía un aviso a todos los usuarios",
]
NOT_YOURSELF = "! No puedes hacerlo contigo mismo."
USAGE_EXPULSAR = "! Uso: /expulsar NICK [MOTIVO]"
USAGE_SILENCIAR = "! Uso: /silenciar NICK MINUTOS (0 lo quita)"
USAGE_BANEAR = "! Uso: /banear NICK|IP|CIDR [MINUTOS] [MOTIVO]"
USAGE_DESBANEAR = "! Uso: /desbanear NICK|IP|CIDR"
USAGE_ANUNCIO = "! Uso: /anuncio TEXTO"
#: What a connection from a banned address gets before it is closed.
ADDRESS_BANNED = "! Tu dirección está baneada en este chat."
NO_BANS = "* No hay baneos."


def operators_only(name: str) -> str:
    """The refusal of an operator's command ``/name`` to anyone else."""
    return f"! /{name} es solo para operadores."


def kicked(by: str, reason: str = "sin motivo") -> str:
    """The last line a kicked user gets."""
    return f"! {by} te ha expulsado: {reason}"


def kick_done(nick: str) -> str:
    """The operator's confirmation of a kick."""
    return f"* {nick} expulsado."


def muted(remaining: str) -> str:
    """The refusal of a muted user's message; ``remaining`` like ``5 min`` or ``40 s``."""
    return f"! Estás silenciado: no puedes enviar mensajes durante {remaining} más."


def mute_done(nick: str, minutes: int) -> str:
    """The operator's confirmation of a mute."""
    return f"* {nick} silenciado durante {minutes} min."


def mute_lifted(nick: str) -> str:
    """The operator's confirmation of ``/silenciar NICK 0``."""
    return f"* {nick} ya no está silenciado."


def nick_banned(nick: str, until: str = "permanente") -> str:
    """The refusal of a banned nickname at login."""
    return f"! El nickname {nick} está baneado ({until}). Elige otro nickname:"


def banned_now(by: str, reason: str = "sin motivo", until: str = "permanente") -> str:
    """The last line a connected user gets when a ban covers it."""
    return f"! {by} te ha baneado ({until}): {reason}"


def ban_done(target: str, until: str = "permanente") -> str:
    """The operator's confirmation of a ban."""
    return f"* Ban de {target} ({until})."


def ban_lifted(target: str) -> str:
    """The operator's confirmation of ``/desbanear``."""
    return f"* Ban de {target} retirado."


def ban_not_found(target: str) -> str:
    """The refusal of ``/desbanear`` of a target that is not banned."""
    return f"! No hay ningún ban de {target}."


def bans_header(count: int) -> str:
    """The first line of ``/baneos``."""
    return f"* Baneos ({count}):"


def ban_line(target: str, by: str, reason: str = "sin motivo", until: str = "permanente") -> str:
    """One line of ``/baneos``."""
    return f"* {target} ({until}), por {by}: {reason}"


def announcement(by: str, text: str) -> str:
    """An operator's ``/anuncio``, as every user gets it."""
    return f"* Anuncio de {by}: {text}"


# -- rooms (protocol v1.1, issue 14) ---------------------------------------------------------

ROOM_USAGE = "! Uso: /unirse SALA"
TOPIC_CONTROL = "! El tema no puede contener caracteres de control."


def salas(*rooms: tuple[str, int]) -> str:
    """The reply to ``/salas`` when ``rooms`` (name, members; in this order) exist."""
    listed = ", ".join(f"{name} ({count})" for name, count in rooms)
    return f"* Salas ({len(rooms)}): {listed}"


def sala(room: str, *nicks: str) -> str:
    """The room line of ``room`` whose members are ``nicks`` (in this order, ``@`` included)."""
    return f"* Sala {room} ({len(nicks)}): {', '.join(nicks)}"


def tema(topic: str) -> str:
    """The topic line of a room with the topic ``topic``."""
    return f"* Tema: {topic}"


def no_topic(room: str) -> str:
    """The topic line of ``room``, which has none."""
    return f"* La sala {room} no tiene tema."


def topic_set(nick: str, topic: str) -> str:
    """What every member of the room gets when ``nick`` sets its topic."""
    return f"* {nick} ha cambiado el tema: {topic}"


def room_joined(nick: str, room: str) -> str:
    """The notice to ``room``'s members that ``nick`` moved there from another room."""
    return f"* {nick} ha entrado en la sala {room}."


def room_left(nick: str, room: str) -> str:
    """The notice to ``room``'s members that ``nick`` moved to another room."""
    return f"* {nick} ha salido de la sala {room} (sigue en el chat)."


def room_invalid(room: str) -> str:
    """The refusal of an invalid room name (as normalised)."""
    return (
        f"! Nombre de sala no válido: {room} (de 1 a 32 letras, dígitos, _ o -, empezando por "
        "una letra o un dígito)"
    )


def rooms_full(most: int) -> str:
    """The refusal to create a room past ``--max-rooms``."""
    return f"! No se pueden crear más salas (máximo {most}). Únete a una de /salas."


def topic_too_long(length: int) -> str:
    """The refusal of a topic of ``length`` characters."""
    return f"! El tema es demasiado largo ({length} caracteres; máximo 300)."


def topic_denied(room: str) -> str:
    """The refusal of a topic to someone who is not the operator of ``room`` (not permanent)."""
    return (
        f"! Solo el operador de la sala ({room}) o un operador del servidor puede cambiar el tema."
    )


def topic_denied_permanent(room: str) -> str:
    """The refusal of a topic of the permanent ``room`` to someone not a server operator."""
    return f"! Solo un operador del servidor puede cambiar el tema de la sala {room}."


# -- history and recados (protocol v1.1, issue 15) -------------------------------------------

#: The ``/ayuda`` lines of the history and recados commands (before the last line of
#: :data:`AYUDA`), on a server with a database (every server the socket tests start).
AYUDA_HISTORY = [
    "* /historial, /history [N] [antes CURSOR]: muestra los últimos N mensajes de tu sala "
    "(50; antes CURSOR: los anteriores)",
    "* /buscar, /search TEXTO: busca en tu sala los mensajes con todas las palabras de TEXTO",
    "* /recado, /memo NICK TEXTO: deja un recado a NICK (registrado), que lo recibe al entrar",
    "* /olvidar, /forget [confirmar]: borra todos tus mensajes guardados y tus recados "
    "pendientes (pide confirmación)",
]
#: ``/ayuda`` of a server with a database: :data:`AYUDA` and :data:`AYUDA_HISTORY`.
AYUDA_WITH_HISTORY = [*AYUDA[:-1], *AYUDA_HISTORY, AYUDA[-1]]

#: A stored line (a public message of a room's history, or a recado), in any language: group 1
#: the UTC time, group 2 the sender of a public message, group 3 that of a recado, group 4 the
#: text (the regex of the wire spec); a stored action (``** NICK TEXT``) has neither 2 nor 3.
STORED_LINE = re.compile(
    r"\* \[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\] (?:<([^>\s]+)>|\*([^*\s]+)\*|\*\* [^\s]+) (.*)"
)
#: The line after a password login's replay when more was said since the user left.
MISSED_LINE = re.compile(
    r"\* (Hay \d+ mensajes más desde que te fuiste: /historial \d+ antes [A-Za-z0-9_-]+"
    r"|\d+ more messages since you left: /history \d+ before [A-Za-z0-9_-]+)"
)
#: The retention line after the welcome, in either language, history on or off.
RETENTION_ANY = re.compile(
    r"\* (Los mensajes públicos se guardan \d+ días; /olvidar borra los tuyos\."
    r"|Los mensajes públicos no se guardan\."
    r"|Public messages are kept for \d+ days; /forget erases yours\."
    r"|Public messages are not kept\.)"
)
#: The visit line that ends a login's lines (first visit, or the previous connection's time),
#: in either language.
VISIT_ANY = re.compile(
    r"\* (Es tu primera conexión\."
    r"|Tu última conexión fue el \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00\."
    r"|This is your first connection\."
    r"|Your last connection was on \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00\.)"
)


def stored(nick: str, text: str) -> re.Pattern[str]:
    """The stored line of ``nick``'s public message ``text`` (any time), as a regex to match."""
    return re.compile(
        rf"\* \[\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ\] <{re.escape(nick)}> {re.escape(text)}"
    )


def stored_text(line: str) -> str:
    """A stored public line as the live line it was (``<nick> text``), without its time."""
    match = STORED_LINE.fullmatch(line)
    assert match is not None and match[2] is not None, f"not a stored public line: {line!r}"
    return f"<{match[2]}> {match[4]}"
