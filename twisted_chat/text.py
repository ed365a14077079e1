"""What the server says, in Spanish (the default) and English (``--lang en``).

Each entry is a :meth:`str.format` template; the ``* ``/``! `` prefixes are added by
:mod:`twisted_chat.wire`, never here. Commands accept both languages' names whatever the catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Final

from twisted_chat.events import ByLang, Text


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Every sentence the server sends, for one language."""

    lang: str
    # Handshake
    prompt: str
    nick_invalid: str
    nick_taken: str
    welcome: str
    last_seen: str
    first_visit: str
    joined: str
    left: str
    # Commands
    listar: str
    salir: str
    username: str
    ayuda_header: str
    hora: str
    unknown_command: str
    empty_command: str
    # Private messages
    private_offline: str
    private_empty: str
    private_self: str
    private_bad_nick: str
    # Input errors
    line_too_long: str
    bad_utf8: str
    control_chars: str
    # Actions (/me) and CTCP (IRC)
    usage_me: str
    ctcp_not_delivered: str
    # One line of /ayuda per command, and the last one: how to send messages
    help_line: str
    message_help: str
    # The reply to /ping
    pong: str
    # Limits and shutdown
    sendq_exceeded: str
    too_many_strikes: str
    flood_dropped: str
    flood_kicked: str
    server_full: str
    too_many_from_ip: str
    login_timeout: str
    idle_timeout: str
    shutting_down: str
    # Registered nicknames
    starting_up: str
    password_needed: str
    login_refused: str
    registered: str
    password_changed: str
    already_registered: str
    not_registered: str
    password_length: str
    wrong_password: str
    storage_unavailable: str
    usage_registrar: str
    usage_password: str
    # Cluster
    cluster_unavailable: str
    nick_lost: str
    # Operators
    operators_only: str
    not_yourself: str
    no_reason: str
    permanent: str
    until: str
    usage_expulsar: str
    usage_silenciar: str
    usage_banear: str
    usage_desbanear: str
    usage_anuncio: str
    kicked: str
    kick_done: str
    muted: str
    room_moderated: str
    room_modes: str
    mute_done: str
    mute_lifted: str
    banned: str
    nick_banned: str
    banned_now: str
    ban_done: str
    ban_lifted: str
    ban_not_found: str
    bans_header: str
    bans_none: str
    ban_line: str
    announcement: str
    # Rooms (protocol v1.1)
    room_joined: str
    room_left: str
    room_kicked: str
    kick_default: str
    room_invited: str
    salas: str
    sala: str
    tema: str
    no_topic: str
    topic_set: str
    room_usage: str
    room_invalid: str
    rooms_full: str
    topic_too_long: str
    topic_control: str
    topic_denied: str
    topic_denied_permanent: str
    # History and recados (protocol v1.1)
    history_kept: str
    history_off: str
    history_missed: str
    history_header: str
    history_empty: str
    history_more: str
    history_usage: str
    history_bad_cursor: str
    history_disabled: str
    history_unavailable: str
    search_header: str
    search_none: str
    search_short: str
    search_wait: str
    recados_header: str
    recado_header_one: str
    recado_usage: str
    recado_password: str
    recado_unregistered: str
    recado_bad_nick: str
    recado_self: str
    recado_empty: str
    recado_stored: str
    recado_delivered: str
    recado_read: str
    recado_sender_limit: str
    recado_recipient_limit: str
    recado_unavailable: str
    private_offline_memo: str
    forget_ask: str
    forget_done: str
    forget_password: str
    forget_usage: str
    forget_unavailable: str
    # The chat's commands from IRC (issue 16)
    irc_help_header: str
    irc_help_line: str
    irc_which_room: str
    irc_no_room: str
    # Nickname changes (/nick, IRC's NICK)
    renamed: str
    rename_same: str
    rename_usage: str
    rename_invalid: str
    rename_taken: str
    rename_banned: str
    rename_registered: str
    rename_too_soon: str
    rename_unavailable: str


SPANISH: Final = Catalogue(
    lang="es",
    prompt="Bienvenido a twisted-chat. Elige un nickname:",
    nick_invalid=(
        "Nickname no válido: de 1 a 20 letras, dígitos, _ o -, empezando por una letra. "
        "Elige otro nickname:"
    ),
    nick_taken="El nickname {nick} ya está conectado. Elige otro nickname:",
    welcome="Bienvenido, {nick}. Escribe /ayuda para ver los comandos.",
    last_seen="Tu última conexión fue el {when}.",
    first_visit="Es tu primera conexión.",
    joined="{nick} se ha unido al chat.",
    left="{nick} ha salido del chat.",
    listar="Conectados ({count}): {nicks}",
    salir="Hasta pronto, {nick}.",
    username="Tu nickname es {nick}.",
    ayuda_header="Comandos (también en inglés):",
    hora="Hora del servidor: {time}",
    unknown_command="Comando desconocido: /{name}. Escribe /ayuda para ver los comandos.",
    empty_command="Falta el comando después de /. Escribe /ayuda para ver los comandos.",
    private_offline="{nick} no está conectado.",
    private_empty="Mensaje privado vacío. Uso: #nick texto",
    private_self="No puedes enviarte un mensaje privado a ti mismo.",
    private_bad_nick="Nickname no válido en el mensaje privado: {nick}",
    line_too_long="Línea demasiado larga (máximo {limit} bytes): descartada.",
    bad_utf8="La línea no es UTF-8 válido: descartada.",
    control_chars="La línea contiene caracteres de control: descartada.",
    usage_me="Uso: /me TEXTO",
    ctcp_not_delivered="{nick} no usa IRC: la petición CTCP {command} no se le entrega.",
    help_line="{words}{usage}: {help}",
    message_help="#nick texto: mensaje privado a nick; cualquier otra línea va a todos.",
    pong="pong",
    sendq_exceeded="Demasiados datos pendientes de enviar (no lees lo que recibes): desconectado.",
    too_many_strikes="Demasiadas líneas no válidas seguidas: desconectado.",
    flood_dropped="Vas demasiado rápido: se descartan líneas (máximo {rate} por segundo).",
    flood_kicked="Demasiado rápido durante demasiado tiempo: desconectado.",
    server_full="El servidor está lleno; inténtalo más tarde.",
    too_many_from_ip="Demasiadas conexiones desde tu dirección; inténtalo más tarde.",
    login_timeout="No has elegido nickname a tiempo: desconectado.",
    idle_timeout="Demasiado tiempo sin actividad: desconectado.",
    shutting_down="El servidor se está apagando. Hasta pronto.",
    starting_up=(
        "El servidor está arrancando; inténtalo de nuevo en un momento. Elige un nickname:"
    ),
    password_needed=(
        "El nickname {nick} está registrado y necesita contraseña: escribe {nick} CONTRASEÑA"
    ),
    login_refused="Nickname o contraseña incorrectos. Elige otro nickname:",
    registered="Nickname {nick} registrado: a partir de ahora entra con {nick} CONTRASEÑA.",
    password_changed="Contraseña cambiada.",
    already_registered="El nickname {nick} ya está registrado; usa /password para cambiarla.",
    not_registered="Tu nickname no está registrado; usa /registrar CONTRASEÑA.",
    password_length="La contraseña debe tener de 4 a 1000 caracteres, sin espacios.",
    wrong_password="Contraseña actual incorrecta.",
    storage_unavailable="La base de datos no está disponible; inténtalo más tarde.",
    usage_registrar="Uso: /registrar CONTRASEÑA",
    usage_password="Uso: /password ACTUAL NUEVA",
    cluster_unavailable=(
        "El chat no puede aceptar usuarios nuevos ahora mismo; inténtalo de nuevo en unos "
        "segundos. Elige un nickname:"
    ),
    nick_lost="Otro usuario del chat tiene ahora el nickname {nick}: desconectado.",
    operators_only="/{name} es solo para operadores.",
    not_yourself="No puedes hacerlo contigo mismo.",
    no_reason="sin motivo",
    permanent="permanente",
    until="hasta {when}",
    usage_expulsar="Uso: /expulsar NICK [MOTIVO]",
    usage_silenciar="Uso: /silenciar NICK MINUTOS (0 lo quita)",
    usage_banear="Uso: /banear NICK|IP|CIDR [MINUTOS] [MOTIVO]",
    usage_desbanear="Uso: /desbanear NICK|IP|CIDR",
    usage_anuncio="Uso: /anuncio TEXTO",
    kicked="{by} te ha expulsado: {reason}",
    kick_done="{nick} expulsado.",
    muted="Estás silenciado: no puedes enviar mensajes durante {remaining} más.",
    room_moderated="La sala {room} es moderada: solo hablan su operador y quien tiene voz.",
    room_modes="{nick} ha cambiado los modos de la sala {room}: {modes}",
    mute_done="{nick} silenciado durante {minutes} min.",
    mute_lifted="{nick} ya no está silenciado.",
    banned="Tu dirección está baneada en este chat.",
    nick_banned="El nickname {nick} está baneado ({until}). Elige otro nickname:",
    banned_now="{by} te ha baneado ({until}): {reason}",
    ban_done="Ban de {target} ({until}).",
    ban_lifted="Ban de {target} retirado.",
    ban_not_found="No hay ningún ban de {target}.",
    bans_header="Baneos ({count}):",
    bans_none="No hay baneos.",
    ban_line="{target} ({until}), por {by}: {reason}",
    announcement="Anuncio de {by}: {text}",
    room_joined="{nick} ha entrado en la sala {room}.",
    room_left="{nick} ha salido de la sala {room} (sigue en el chat).",
    room_kicked="{by} ha echado a {nick} de la sala {room}: {reason}",
    kick_default="{nick} no puede salir de la sala {room}, la de entrada.",
    room_invited="{nick} te invita a la sala {room}: /unirse {room}",
    salas="Salas ({count}): {rooms}",
    sala="Sala {room} ({count}): {nicks}",
    tema="Tema: {topic}",
    no_topic="La sala {room} no tiene tema.",
    topic_set="{nick} ha cambiado el tema: {topic}",
    room_usage="Uso: /unirse SALA",
    room_invalid=(
        "Nombre de sala no válido: {room} (de 1 a 32 letras, dígitos, _ o -, empezando por "
        "una letra o un dígito)"
    ),
    rooms_full="No se pueden crear más salas (máximo {max}). Únete a una de /salas.",
    topic_too_long="El tema es demasiado largo ({length} caracteres; máximo {max}).",
    topic_control="El tema no puede contener caracteres de control.",
    topic_denied=(
        "Solo el operador de la sala ({room}) o un operador del servidor puede cambiar el tema."
    ),
    topic_denied_permanent="Solo un operador del servidor puede cambiar el tema de la sala {room}.",
    history_kept="Los mensajes públicos se guardan {days} días; /olvidar borra los tuyos.",
    history_off="Los mensajes públicos no se guardan.",
    history_missed="Hay {count} mensajes más desde que te fuiste: /historial {n} antes {cursor}",
    history_header="Últimos {count} mensajes de {room}:",
    history_empty="No hay mensajes guardados en {room}.",
    history_more="Mensajes anteriores: /historial {n} antes {cursor}",
    history_usage="Uso: /historial [N] [antes CURSOR], N de 1 a {max}.",
    history_bad_cursor="Cursor desconocido: {cursor}",
    history_disabled="La historia está desactivada en este servidor.",
    history_unavailable=(
        "La historia no está disponible ahora (la base de datos no responde); inténtalo más tarde."
    ),
    search_header="{count} mensajes de {room} con «{text}»:",
    search_none="Ningún mensaje de {room} contiene «{text}».",
    search_short="La búsqueda necesita al menos {min} caracteres: /buscar TEXTO",
    search_wait="Espera {seconds} s antes de otra búsqueda.",
    recados_header="Tienes {count} recados:",
    recado_header_one="Tienes un recado:",
    recado_usage="Uso: /recado NICK TEXTO",
    recado_password="Solo quien entra con contraseña puede dejar recados.",
    recado_unregistered=(
        "{nick} no es un nickname registrado: los recados son para nicknames registrados."
    ),
    recado_bad_nick="Nickname no válido: {nick}",
    recado_self="No puedes dejarte un recado a ti mismo.",
    recado_empty="El recado está vacío: /recado NICK TEXTO",
    recado_stored="Recado guardado para {nick}; lo recibirá al entrar.",
    recado_delivered="Recado entregado a {nick}.",
    recado_read="{nick} ha recibido tu recado.",
    recado_sender_limit="Ya tienes {max} recados pendientes para {nick}.",
    recado_recipient_limit="{nick} tiene ya {max} recados pendientes.",
    recado_unavailable=(
        "No se pudo guardar el recado: la base de datos no responde; inténtalo más tarde."
    ),
    private_offline_memo="{nick} no está conectado; déjale un recado: /recado {nick} TEXTO",
    forget_ask=(
        "Esto borrará todos tus mensajes guardados y tus recados pendientes. Para confirmarlo: "
        "/olvidar confirmar"
    ),
    forget_done="Borrados: {messages} mensajes y {recados} recados.",
    forget_password="Solo quien entra con contraseña puede usar /olvidar.",
    forget_usage="Uso: /olvidar, y después /olvidar confirmar",
    forget_unavailable="No se pudo borrar: la base de datos no responde; inténtalo más tarde.",
    irc_help_header="Comandos de la charla desde IRC (también en inglés; entre paréntesis, "
    "la forma de IRC):",
    irc_help_line="{words}{usage}: {help}{irc}",
    irc_which_room="Di en qué canal: {command} #canal ... (estás en {rooms}).",
    irc_no_room="No estás en ningún canal: {command} #canal ..., o antes JOIN #canal.",
    renamed="{nick} ahora se llama {new}.",
    rename_same="Ya te llamas {nick}.",
    rename_usage="Uso: /nick NUEVO",
    rename_invalid=(
        "Nickname no válido: {nick} (de 1 a 20 letras, dígitos, _ o -, empezando por una letra)."
    ),
    rename_taken="El nickname {nick} ya está conectado; sigues siendo {old}.",
    rename_banned="El nickname {nick} está baneado ({until}); sigues siendo {old}.",
    rename_registered=(
        "El nickname {nick} está registrado (reservado): solo puede tomarlo quien haya entrado "
        "con su contraseña en esta conexión."
    ),
    rename_too_soon=("Como mucho un cambio de nickname cada {interval} s: espera {remaining} más."),
    rename_unavailable=(
        "El chat no puede cambiar nicknames ahora mismo; inténtalo de nuevo en unos segundos."
    ),
)

ENGLISH: Final = Catalogue(
    lang="en",
    prompt="Welcome to twisted-chat. Choose a nickname:",
    nick_invalid=(
        "Invalid nickname: 1 to 20 letters, digits, _ or -, starting with a letter. "
        "Choose another nickname:"
    ),
    nick_taken="The nickname {nick} is already connected. Choose another nickname:",
    welcome="Welcome, {nick}. Type /help for the list of commands.",
    last_seen="Your last connection was on {when}.",
    first_visit="This is your first connection.",
    joined="{nick} joined the chat.",
    left="{nick} left the chat.",
    listar="Connected ({count}): {nicks}",
    salir="Goodbye, {nick}.",
    username="Your nickname is {nick}.",
    ayuda_header="Commands (Spanish names work too):",
    hora="Server time: {time}",
    unknown_command="Unknown command: /{name}. Type /help for the list of commands.",
    empty_command="Missing command name after /. Type /help for the list of commands.",
    private_offline="{nick} is not connected.",
    private_empty="Empty private message. Usage: #nick text",
    private_self="You cannot send a private message to yourself.",
    private_bad_nick="Invalid nickname in private message: {nick}",
    line_too_long="Line too long (at most {limit} bytes): discarded.",
    bad_utf8="The line is not valid UTF-8: discarded.",
    control_chars="The line contains control characters: discarded.",
    usage_me="Usage: /me TEXT",
    ctcp_not_delivered="{nick} is not on IRC: the CTCP {command} request is not delivered.",
    help_line="{words}{usage}: {help}",
    message_help="#nick text: private message to nick; any other line goes to everyone.",
    pong="pong",
    sendq_exceeded="Too much output pending (you are not reading): disconnected.",
    too_many_strikes="Too many invalid lines in a row: disconnected.",
    flood_dropped="Too fast: lines are being dropped (at most {rate} per second).",
    flood_kicked="Too fast for too long: disconnected.",
    server_full="The server is full; try again later.",
    too_many_from_ip="Too many connections from your address; try again later.",
    login_timeout="No nickname chosen in time: disconnected.",
    idle_timeout="Idle for too long: disconnected.",
    shutting_down="The server is shutting down. Goodbye.",
    starting_up="The server is starting up; try again in a moment. Choose a nickname:",
    password_needed="The nickname {nick} is registered and needs a password: type {nick} PASSWORD",
    login_refused="Wrong nickname or password. Choose a nickname:",
    registered="Nickname {nick} registered: from now on log in with {nick} PASSWORD.",
    password_changed="Password changed.",
    already_registered="The nickname {nick} is already registered; use /password to change it.",
    not_registered="Your nickname is not registered; use /register PASSWORD.",
    password_length="The password must be 4 to 1000 characters long, without spaces.",
    wrong_password="Wrong current password.",
    storage_unavailable="The database is unavailable; try again later.",
    usage_registrar="Usage: /register PASSWORD",
    usage_password="Usage: /password OLD NEW",
    cluster_unavailable=(
        "The chat cannot take new users right now; try again in a few seconds. Choose a nickname:"
    ),
    nick_lost="Another user of the chat now holds the nickname {nick}: disconnected.",
    operators_only="/{name} is for operators only.",
    not_yourself="You cannot do that to yourself.",
    no_reason="no reason given",
    permanent="permanent",
    until="until {when}",
    usage_expulsar="Usage: /kick NICK [REASON]",
    usage_silenciar="Usage: /mute NICK MINUTES (0 lifts it)",
    usage_banear="Usage: /ban NICK|IP|CIDR [MINUTES] [REASON]",
    usage_desbanear="Usage: /unban NICK|IP|CIDR",
    usage_anuncio="Usage: /announce TEXT",
    kicked="{by} kicked you: {reason}",
    kick_done="{nick} kicked.",
    muted="You are muted: you cannot send messages for another {remaining}.",
    room_moderated="The room {room} is moderated: only its operator and voiced users speak.",
    room_modes="{nick} changed the modes of the room {room}: {modes}",
    mute_done="{nick} muted for {minutes} min.",
    mute_lifted="{nick} is no longer muted.",
    banned="Your address is banned from this chat.",
    nick_banned="The nickname {nick} is banned ({until}). Choose another nickname:",
    banned_now="{by} banned you ({until}): {reason}",
    ban_done="Banned {target} ({until}).",
    ban_lifted="Ban of {target} lifted.",
    ban_not_found="There is no ban of {target}.",
    bans_header="Bans ({count}):",
    bans_none="No bans.",
    ban_line="{target} ({until}), by {by}: {reason}",
    announcement="Announcement from {by}: {text}",
    room_joined="{nick} joined the room {room}.",
    room_left="{nick} left the room {room} (still in the chat).",
    room_kicked="{by} sent {nick} out of the room {room}: {reason}",
    kick_default="{nick} cannot leave the room {room}, where everyone enters.",
    room_invited="{nick} invites you to the room {room}: /join {room}",
    salas="Rooms ({count}): {rooms}",
    sala="Room {room} ({count}): {nicks}",
    tema="Topic: {topic}",
    no_topic="The room {room} has no topic.",
    topic_set="{nick} set the topic: {topic}",
    room_usage="Usage: /join ROOM",
    room_invalid=(
        "Invalid room name: {room} (1 to 32 letters, digits, _ or -, starting with a letter "
        "or a digit)"
    ),
    rooms_full="No more rooms can be created (at most {max}). Join one of /rooms.",
    topic_too_long="The topic is too long ({length} characters; at most {max}).",
    topic_control="The topic may not contain control characters.",
    topic_denied="Only the room's operator ({room}) or a server operator may set the topic.",
    topic_denied_permanent="Only a server operator may set the topic of the room {room}.",
    history_kept="Public messages are kept for {days} days; /forget erases yours.",
    history_off="Public messages are not kept.",
    history_missed="{count} more messages since you left: /history {n} before {cursor}",
    history_header="Last {count} messages of {room}:",
    history_empty="No stored messages in {room}.",
    history_more="Older messages: /history {n} before {cursor}",
    history_usage="Usage: /history [N] [before CURSOR], N from 1 to {max}.",
    history_bad_cursor="Unknown cursor: {cursor}",
    history_disabled="History is off on this server.",
    history_unavailable=(
        "History is not available now (the database does not answer); try again later."
    ),
    search_header="{count} messages of {room} matching “{text}”:",
    search_none="No message of {room} matches “{text}”.",
    search_short="A search needs at least {min} characters: /search TEXT",
    search_wait="Wait {seconds} s before another search.",
    recados_header="You have {count} memos:",
    recado_header_one="You have one memo:",
    recado_usage="Usage: /memo NICK TEXT",
    recado_password="Only users logged in with a password may leave memos.",
    recado_unregistered="{nick} is not a registered nickname: memos are for registered ones.",
    recado_bad_nick="Invalid nickname: {nick}",
    recado_self="You cannot leave a memo to yourself.",
    recado_empty="The memo is empty: /memo NICK TEXT",
    recado_stored="Memo stored for {nick}; they get it when they log in.",
    recado_delivered="Memo delivered to {nick}.",
    recado_read="{nick} has received your memo.",
    recado_sender_limit="You already have {max} memos pending for {nick}.",
    recado_recipient_limit="{nick} already has {max} memos pending.",
    recado_unavailable="The memo was not stored: the database does not answer; try again later.",
    private_offline_memo="{nick} is not connected; leave a memo: /memo {nick} TEXT",
    forget_ask=(
        "This erases every stored message of yours and your pending memos. To confirm: "
        "/forget confirm"
    ),
    forget_done="Erased: {messages} messages and {recados} memos.",
    forget_password="Only users logged in with a password may use /forget.",
    forget_usage="Usage: /forget, then /forget confirm",
    forget_unavailable="Nothing was erased: the database does not answer; try again later.",
    irc_help_header="The chat's commands from IRC (Spanish names work too; in brackets, "
    "IRC's own form):",
    irc_help_line="{words}{usage}: {help}{irc}",
    irc_which_room="Say which channel: {command} #channel ... (you are in {rooms}).",
    irc_no_room="You are in no channel: {command} #channel ..., or JOIN #channel first.",
    renamed="{nick} is now known as {new}.",
    rename_same="You are {nick} already.",
    rename_usage="Usage: /nick NEW",
    rename_invalid=(
        "Invalid nickname: {nick} (1 to 20 letters, digits, _ or -, starting with a letter)."
    ),
    rename_taken="The nickname {nick} is already connected; you are still {old}.",
    rename_banned="The nickname {nick} is banned ({until}); you are still {old}.",
    rename_registered=(
        "The nickname {nick} is registered (reserved): only a connection logged in with its "
        "password may take it."
    ),
    rename_too_soon="At most one nickname change every {interval} s: wait {remaining} more.",
    rename_unavailable="The chat cannot change nicknames right now; try again in a few seconds.",
)

#: The catalogues by ``--lang`` value.
CATALOGUES: Final = {c.lang: c for c in (SPANISH, ENGLISH)}


class Language:
    """The server's language of the moment (``--lang``; a configuration reload may change it),
    shared by every renderer and by whatever else speaks to people (the web page, logs that
    quote what users read)."""

    __slots__ = ("texts",)

    def __init__(self, texts: Catalogue) -> None:
        #: The catalogue in use.
        self.texts = texts

    @property
    def lang(self) -> str:
        """The language's code (``es``, ``en``)."""
        return self.texts.lang

    def use(self, texts: Catalogue) -> None:
        """Speak ``texts`` from now on."""
        self.texts = texts

    def say(self, text: Text) -> str:
        """``text`` in this language."""
        return localise(self.texts, text)


def localise(texts: Catalogue, text: Text) -> str:
    """``text`` in the language of ``texts``: its catalogue entry, formatted with its arguments
    (themselves localised when they are :class:`~twisted_chat.events.Text` or
    :class:`~twisted_chat.events.ByLang`)."""
    template: str = getattr(texts, text.key)
    args = text.args
    if not args:
        return template
    for value in args.values():
        if isinstance(value, Text | ByLang):
            return template.format_map(
                {name: _argument(texts, value) for name, value in args.items()}
            )
    return template.format_map(args)


def _argument(texts: Catalogue, value: object) -> object:
    if isinstance(value, Text):
        return localise(texts, value)
    if isinstance(value, ByLang):
        return value.texts[texts.lang]
    return value


#: The catalogue's entries (what a :class:`~twisted_chat.events.Text` key may name).
KEYS: Final = frozenset(entry.name for entry in fields(Catalogue)) - {"lang"}


def knows(key: str) -> bool:
    """Whether ``key`` is an entry of this release's catalogue (a notice from a node of a newer
    release may name one it lacks)."""
    return key in KEYS
