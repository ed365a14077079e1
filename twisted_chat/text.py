"""What the server says, in Spanish (the default) and English (``--lang en``).

Each entry is a :meth:`str.format` template; the ``* ``/``! `` prefixes are added by
:mod:`twisted_chat.wire`, never here. Commands accept both languages' names whatever the catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


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
    # The last line of /ayuda: how to send messages
    message_help: str


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
    message_help="#nick texto: mensaje privado a nick; cualquier otra línea va a todos.",
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
    message_help="#nick text: private message to nick; any other line goes to everyone.",
)

#: The catalogues by ``--lang`` value.
CATALOGUES: Final = {c.lang: c for c in (SPANISH, ENGLISH)}
