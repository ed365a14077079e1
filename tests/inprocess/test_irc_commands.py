"""IRC's commands beyond the first slice (issue 16) over real loopback sockets in one reactor:
``WHO`` (and WHOX), ``WHOIS``, ``LIST``, ``AWAY``, ``LUSERS``, ``MODE``, ``KICK``, ``KILL`` and
``--motd``, with IRC and line users together.

The server and clients are those of :mod:`tests.inprocess.test_irc_sockets` (whose helpers are
imported, not copied); ``PING``/``PONG`` (IRC) and ``/username`` (v1) are the barriers that
prove nothing else reached a client. No test sleeps.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import pytest_twisted

from tests.inprocess.test_irc_sockets import PASSWORD, numeric, register_ana
from tests.support.chatclient import ChatClient
from tests.support.expected import (
    FIRST_VISIT,
    RETENTION,
    joined,
    left,
    registered,
    room_joined,
)
from tests.support.ircclient import (
    END_OF_MOTD,
    SERVER,
    IrcClient,
    IrcServer,
    start_irc_server,
)
from tests.support.ircfuzz import draw_batches, fuzz_beside_lina, fuzz_lines

pytestmark = pytest.mark.timeout(60, method="thread")


async def replies(client: IrcClient, end: str) -> list[str]:
    """The lines up to the numeric ``end`` to ``client`` (included), then a ``PING`` barrier."""
    lines = await client.until(rf"{re.escape(':' + SERVER)} {end} .*")
    await client.pong()
    return lines


async def room_of_three(server: IrcServer) -> tuple[IrcClient, IrcClient, ChatClient]:
    """``lina`` (a line user, in ``#general``), ``ana`` (IRC, operator of ``#juegos``, topic
    ``cartas``) and ``bob`` (IRC, in ``#juegos``)."""
    lina = await server.chat.login("lina")
    ana = await server.user("ana")
    assert await lina.line() == joined("ana")
    bob = await server.user("bob")
    assert await lina.line() == joined("bob")
    await ana.join("#juegos")
    ana.say("TOPIC #juegos :cartas")
    assert await ana.line() == ":ana!ana@irc.test TOPIC #juegos :cartas"
    await bob.join("#juegos")
    assert await ana.line() == ":bob!bob@irc.test JOIN #juegos"
    return ana, bob, lina


# -- who is who --------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_who_by_channel_nickname_and_mask() -> None:
    async with await start_irc_server() as server:
        ana, _, _ = await room_of_three(server)
        ana.say("WHO #juegos")
        assert await replies(ana, "315") == [
            numeric("352", "ana", "#juegos ~ana irc.test irc.test ana H@ :0 ana real"),
            numeric("352", "ana", "#juegos ~bob irc.test irc.test bob H :0 bob real"),
            numeric("315", "ana", "#juegos :End of WHO list"),
        ]
        ana.say("WHO #General")  # a line user; any case
        assert await replies(ana, "315") == [
            numeric("352", "ana", "#general lina irc.test irc.test lina H :0 lina"),
            numeric("315", "ana", "#General :End of WHO list"),
        ]
        ana.say("WHO BOB")
        assert await replies(ana, "315") == [
            numeric("352", "ana", "* ~bob irc.test irc.test bob H :0 bob real"),
            numeric("315", "ana", "BOB :End of WHO list"),
        ]
        ana.say("WHO *")
        lines = await replies(ana, "315")
        assert [line.split()[7] for line in lines[:-1]] == ["ana", "bob", "lina"]
        ana.say("WHO ?o*")
        lines = await replies(ana, "315")
        assert [line.split()[7] for line in lines[:-1]] == ["bob"]
        for mask in ("nadie", "#nada", "a*z"):
            ana.say(f"WHO {mask}")
            assert await replies(ana, "315") == [numeric("315", "ana", f"{mask} :End of WHO list")]
        ana.say("WHO #juegos o")  # server operators only: none
        assert await replies(ana, "315") == [numeric("315", "ana", "#juegos :End of WHO list")]


@pytest_twisted.ensureDeferred
async def test_whox_fields_and_token() -> None:
    async with await start_irc_server() as server:
        ana, _, _ = await room_of_three(server)
        ana.say("WHO #juegos %tcnf,42")
        assert await replies(ana, "315") == [
            f":{SERVER} 354 ana 42 #juegos ana H@",
            f":{SERVER} 354 ana 42 #juegos bob H",
            numeric("315", "ana", "#juegos :End of WHO list"),
        ]
        ana.say("WHO bob %nuhsdlaor")
        assert await replies(ana, "315") == [
            f":{SERVER} 354 ana ~bob irc.test irc.test bob 0 0 0 n/a :bob real",
            numeric("315", "ana", "bob :End of WHO list"),
        ]
        ana.say("WHO lina %ti,toolong")  # a bad token is 0
        assert (await replies(ana, "315"))[0] == f":{SERVER} 354 ana 0 255.255.255.255"


@pytest_twisted.ensureDeferred
async def test_whois() -> None:
    async with await start_irc_server() as server:
        ana, bob, lina = await room_of_three(server)
        bob.say("WHOIS ana")
        assert await replies(bob, "318") == [
            numeric("311", "bob", "ana ~ana irc.test * :ana real"),
            numeric("319", "bob", "ana :@#juegos"),
            numeric("312", "bob", "ana irc.test :twisted-chat"),
            numeric("318", "bob", "ana :End of /WHOIS list"),
        ]
        bob.say("WHOIS irc.test LINA")  # with a server; any case
        assert await replies(bob, "318") == [
            numeric("311", "bob", "lina lina irc.test * :lina"),
            numeric("319", "bob", "lina :#general"),
            numeric("312", "bob", "lina irc.test :twisted-chat"),
            numeric("318", "bob", "lina :End of /WHOIS list"),
        ]
        bob.say("PART #juegos")
        assert await bob.line() == ":bob!bob@irc.test PART #juegos"
        assert await ana.line() == ":bob!bob@irc.test PART #juegos"
        ana.say("WHOIS bob")  # in no room: no 319
        assert [line.split()[1] for line in await replies(ana, "318")] == ["311", "312", "318"]
        ana.say("WHOIS nadie")
        assert await replies(ana, "318") == [
            numeric("401", "ana", "nadie :No such nick/channel"),
            numeric("318", "ana", "nadie :End of /WHOIS list"),
        ]
        ana.say("WHOIS")
        assert await ana.line() == numeric("431", "ana", ":No nickname given")
        await lina.sync()  # line users were told nothing


@pytest_twisted.ensureDeferred
async def test_list_and_lusers() -> None:
    async with await start_irc_server() as server:
        ana, _, _ = await room_of_three(server)
        ana.say("LIST")
        assert await replies(ana, "323") == [
            numeric("321", "ana", "Channel :Users  Name"),
            numeric("322", "ana", "#general 1 :"),
            numeric("322", "ana", "#juegos 2 :cartas"),
            numeric("323", "ana", ":End of /LIST"),
        ]
        ana.say("LIST #Juegos,#nada,#juegos")
        assert await replies(ana, "323") == [
            numeric("321", "ana", "Channel :Users  Name"),
            numeric("322", "ana", "#juegos 2 :cartas"),
            numeric("323", "ana", ":End of /LIST"),
        ]
        ana.say("LUSERS")
        assert await replies(ana, "266") == [
            numeric("251", "ana", ":There are 3 users and 0 invisible on 1 servers"),
            numeric("252", "ana", "0 :operator(s) online"),
            numeric("254", "ana", "2 :channels formed"),
            numeric("255", "ana", ":I have 3 clients and 0 servers"),
            numeric("265", "ana", "3 3 :Current local users 3, max 3"),
            numeric("266", "ana", "3 3 :Current global users 3, max 3"),
        ]


@pytest_twisted.ensureDeferred
async def test_away() -> None:
    async with await start_irc_server() as server:
        ana, bob, _ = await room_of_three(server)
        ana.say("AWAY :comiendo")
        assert await ana.line() == numeric("306", "ana", ":You have been marked as being away")
        bob.say("PRIVMSG ana :hola")
        assert await ana.line() == ":bob!bob@irc.test PRIVMSG ana :hola"
        assert await bob.line() == numeric("301", "bob", "ana :comiendo")
        bob.say("NOTICE ana :aviso")  # a NOTICE is never answered
        assert await ana.line() == ":bob!bob@irc.test NOTICE ana :aviso"
        await bob.pong()
        bob.say("WHO ana")
        assert (await replies(bob, "315"))[0] == numeric(
            "352", "bob", "* ~ana irc.test irc.test ana G :0 ana real"
        )
        bob.say("WHOIS ana")
        assert numeric("301", "bob", "ana :comiendo") in await replies(bob, "318")
        ana.say("AWAY")
        assert await ana.line() == numeric("305", "ana", ":You are no longer marked as being away")
        bob.say("PRIVMSG ana :otra vez")
        assert await ana.line() == ":bob!bob@irc.test PRIVMSG ana :otra vez"
        await bob.pong()


# -- modes -------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_mode_queries_and_refused_changes() -> None:
    async with await start_irc_server() as server:
        ana, bob, _ = await room_of_three(server)
        ana.say("MODE ana")
        assert await ana.line() == f":{SERVER} 221 ana +"
        ana.say("MODE ana +w")  # +i is a mode (tests/inprocess/test_irc_queries.py)
        assert await ana.line() == numeric("501", "ana", ":Unknown MODE flag")
        ana.say("MODE bob")
        assert await ana.line() == numeric(
            "502", "ana", ":Can't view or change the modes of other users"
        )
        ana.say("MODE nadie")
        assert await ana.line() == numeric("401", "ana", "nadie :No such nick/channel")
        ana.say("MODE #Juegos")
        assert await ana.line() == f":{SERVER} 324 ana #juegos +nt"
        ana.say("MODE #juegos b")
        assert await ana.line() == numeric("368", "ana", "#juegos :End of channel ban list")
        ana.say("MODE #juegos +nt")  # set already: nothing to say
        await ana.pong()
        ana.say("MODE #juegos -t+xo bob")
        assert await ana.line() == numeric("472", "ana", "t :cannot be changed on this server")
        assert await ana.line() == numeric("472", "ana", "x :is unknown mode char to me")
        assert await ana.line() == numeric("472", "ana", "o :cannot be changed on this server")
        bob.say("MODE #juegos +o bob")
        assert await bob.line() == numeric("482", "bob", "#juegos :You're not channel operator")
        bob.say("MODE #nada +n")
        assert await bob.line() == numeric("403", "bob", "#nada :No such channel")
        bob.say("MODE")
        assert await bob.line() == numeric("461", "bob", "MODE :Not enough parameters")
        await ana.pong()


@pytest_twisted.ensureDeferred
async def test_secret_moderated_and_voice() -> None:
    """``MODE #room +s``, ``+m`` and ``+v NICK`` by the room's operator (docs/IRC.md, "Channel
    modes"): a secret room is hidden from outsiders (``LIST``, ``NAMES``, ``WHO``, ``WHOIS``,
    ``/salas``) and named with ``@`` in ``353``; in a moderated one only the operator and
    voiced members speak, line users included; IRC members read ``MODE``, line users a
    notice."""
    async with await start_irc_server() as server:
        ana, bob, lina = await room_of_three(server)
        cris = await server.user("cris")
        assert await lina.line() == joined("cris")
        ana.say("MODE #juegos +s")
        assert await ana.line() == ":ana!ana@irc.test MODE #juegos +s"
        assert await bob.line() == ":ana!ana@irc.test MODE #juegos +s"
        ana.say("MODE #juegos +s")  # set already: nothing
        ana.say("MODE #juegos")
        assert await ana.line() == f":{SERVER} 324 ana #juegos +nts"
        bob.say("NAMES #juegos")
        assert await replies(bob, "366") == [
            numeric("353", "bob", "@ #juegos :@ana bob"),
            numeric("366", "bob", "#juegos :End of /NAMES list"),
        ]
        # outsiders see nothing of it
        cris.say("LIST")
        assert await replies(cris, "323") == [
            numeric("321", "cris", "Channel :Users  Name"),
            numeric("322", "cris", "#general 1 :"),
            numeric("323", "cris", ":End of /LIST"),
        ]
        cris.say("LIST #juegos")
        assert [line.split()[1] for line in await replies(cris, "323")] == ["321", "323"]
        cris.say("NAMES #juegos")
        assert await replies(cris, "366") == [numeric("366", "cris", "#juegos :End of /NAMES list")]
        cris.say("WHO #juegos")
        assert await replies(cris, "315") == [numeric("315", "cris", "#juegos :End of WHO list")]
        cris.say("WHOIS ana")
        assert "319" not in [line.split()[1] for line in await replies(cris, "318")]
        lina.say("/salas")
        assert await lina.line() == "* Salas (1): general (1)"
        bob.say("WHOIS ana")
        assert numeric("319", "bob", "ana :@#juegos") in await replies(bob, "318")
        # only its operator changes its modes
        bob.say("MODE #juegos -s")
        assert await bob.line() == numeric("482", "bob", "#juegos :You're not channel operator")
        cris.say("MODE #juegos +m")
        assert await cris.line() == numeric("482", "cris", "#juegos :You're not channel operator")
        # moderated, a voice, and a line user in it
        lina.say("/unirse juegos")
        assert (await lina.line()).startswith("* Sala juegos (3): @ana, bob, lina")
        assert await lina.line() == "* Tema: cartas"
        await ana.until(r":lina!lina@irc\.test JOIN #juegos")
        await bob.until(r":lina!lina@irc\.test JOIN #juegos")
        ana.say("MODE #juegos +mv-s bob")
        change = ":ana!ana@irc.test MODE #juegos +mv-s bob"
        assert await ana.line() == change
        assert await bob.line() == change
        assert await lina.line() == "* ana ha cambiado los modos de la sala juegos: +mv-s bob"
        ana.say("MODE #juegos +v nadie")
        assert await ana.line() == numeric("401", "ana", "nadie :No such nick/channel")
        ana.say("MODE #juegos +v cris")
        assert await ana.line() == numeric(
            "441", "ana", "cris #juegos :They aren't on that channel"
        )
        ana.say("NAMES #juegos")
        assert (await replies(ana, "366"))[0] == numeric("353", "ana", "= #juegos :@ana +bob lina")
        lina.say("hola")
        assert await lina.line() == (
            "! La sala juegos es moderada: solo hablan su operador y quien tiene voz."
        )
        bob.say("PRIVMSG #juegos :tengo voz")
        assert await ana.line() == ":bob!bob@irc.test PRIVMSG #juegos :tengo voz"
        assert await lina.line() == "<bob> tengo voz"
        ana.say("MODE #juegos -v bob")
        assert await ana.line() == ":ana!ana@irc.test MODE #juegos -v bob"
        assert await bob.line() == ":ana!ana@irc.test MODE #juegos -v bob"
        assert await lina.line() == "* ana ha cambiado los modos de la sala juegos: -v bob"
        bob.say("PRIVMSG #juegos :ya no")
        assert await bob.line() == numeric("404", "bob", "#juegos :Cannot send to channel (+m)")
        bob.say("NOTICE #juegos :ya no")  # a NOTICE: never an error, and not said
        ana.say("PRIVMSG #juegos :yo sí")
        assert await bob.line() == ":ana!ana@irc.test PRIVMSG #juegos :yo sí"
        assert await lina.line() == "<ana> yo sí"
        # voice goes with the member: bob parts and comes back without it
        ana.say("MODE #juegos +v bob")
        assert await ana.line() == ":ana!ana@irc.test MODE #juegos +v bob"
        assert await bob.line() == ":ana!ana@irc.test MODE #juegos +v bob"
        bob.say("PART #juegos")
        await bob.until(r":bob!bob@irc\.test PART #juegos")
        await bob.join("#juegos")
        bob.say("PRIVMSG #juegos :otra vez")
        lines = await bob.until(r":irc\.test 404 .*")  # after the room's replay
        assert lines[-1] == numeric("404", "bob", "#juegos :Cannot send to channel (+m)")
        assert await ana.line() == ":bob!bob@irc.test PART #juegos"
        assert await ana.line() == ":bob!bob@irc.test JOIN #juegos"
        await ana.pong()  # and no "otra vez"


# -- kicks -------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_kick_by_the_room_s_operator() -> None:
    async with await start_irc_server() as server:
        ana, bob, lina = await room_of_three(server)
        lina.say("/unirse juegos")
        assert (await lina.line()).startswith("* Sala juegos (3): @ana, bob, lina")
        assert await lina.line() == "* Tema: cartas"
        assert await ana.line() == ":lina!lina@irc.test JOIN #juegos"
        assert await bob.line() == ":lina!lina@irc.test JOIN #juegos"
        bob.say("KICK #juegos ana")
        assert await bob.line() == numeric("482", "bob", "#juegos :You're not channel operator")
        ana.say("KICK #nada bob")
        assert await ana.line() == numeric("403", "ana", "#nada :No such channel")
        ana.say("KICK #juegos nadie")
        assert await ana.line() == numeric(
            "441", "ana", "nadie #juegos :They aren't on that channel"
        )
        ana.say("KICK #juegos")
        assert await ana.line() == numeric("461", "ana", "KICK :Not enough parameters")
        # an IRC user leaves the room and stays in the chat
        ana.say("KICK #juegos BOB :fuera")
        kick = ":ana!ana@irc.test KICK #juegos bob :fuera"
        assert await ana.line() == kick
        assert await bob.line() == kick
        assert await lina.line() == "* ana ha echado a bob de la sala juegos: fuera"
        bob.say("PRIVMSG #juegos :hola")
        assert await bob.line() == numeric("404", "bob", "#juegos :Cannot send to channel")
        bob.say("NAMES #juegos")
        assert await bob.line() == numeric("353", "bob", "= #juegos :@ana lina")
        assert await bob.line() == numeric("366", "bob", "#juegos :End of /NAMES list")
        await bob.join("#general")
        # a line user goes back to the default room
        ana.say("KICK #juegos lina")
        assert await ana.line() == ":ana!ana@irc.test KICK #juegos lina :ana"
        assert await lina.line() == "* ana ha echado a lina de la sala juegos: sin motivo"
        assert (await lina.line()).startswith("* Sala general (2): bob, lina")
        assert await bob.line() == ":lina!lina@irc.test JOIN #general"
        await lina.sync()
        lina.say("de vuelta")
        assert await bob.line() == ":lina!lina@irc.test PRIVMSG #general :de vuelta"
        ana.say("NAMES #juegos")
        assert await ana.line() == numeric("353", "ana", "= #juegos :@ana")
        await ana.until(r":irc\.test 366 .*")
        # not a member: 442
        bob.say("KICK #juegos ana")
        assert await bob.line() == numeric("442", "bob", "#juegos :You're not on that channel")
        await ana.pong()


# -- server operators --------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_server_operator_kill_kick_and_what_others_see() -> None:
    async with await start_irc_server("--operator", "ana") as server:
        await register_ana(server)
        lina = await server.chat.login("lina")
        ana = await server.connect("ana")
        await ana.register("ana", password=PASSWORD)
        assert await lina.line() == joined("ana")
        bob = await server.user("bob")
        assert await lina.line() == joined("bob")
        bob.say("KILL ana :no")
        assert await bob.line() == numeric(
            "481", "bob", ":Permission Denied- You're not an IRC operator"
        )
        ana.say("MODE ana")
        assert await ana.line() == f":{SERVER} 221 ana +o"
        bob.say("WHOIS ana")
        lines = await replies(bob, "318")
        assert numeric("313", "bob", "ana :is an IRC operator") in lines
        assert numeric("330", "bob", "ana ana :is logged in as") in lines
        bob.say("WHO ana")
        assert (await replies(bob, "315"))[0] == numeric(
            "352", "bob", "* ~ana irc.test irc.test ana H* :0 ana real"
        )
        bob.say("LUSERS")
        assert numeric("252", "bob", "1 :operator(s) online") in await replies(bob, "266")
        # a server operator may kick in any room, but a line user never leaves the default one
        await ana.join("#general")
        assert await lina.line() == room_joined("ana", "general")
        ana.say("KICK #general lina")
        assert await ana.line() == (
            f":{SERVER} NOTICE ana :lina no puede salir de la sala general, la de entrada."
        )
        await bob.join("#juegos")
        await ana.join("#juegos")
        assert await bob.line() == ":ana!ana@irc.test JOIN #juegos"
        ana.say("KICK #juegos bob :por probar")  # not the room's operator: a server operator
        assert await ana.line() == ":ana!ana@irc.test KICK #juegos bob :por probar"
        assert await bob.line() == ":ana!ana@irc.test KICK #juegos bob :por probar"
        # KILL is /expulsar
        ana.say("KILL nadie :x")
        assert await ana.line() == numeric("401", "ana", "nadie :No such nick/channel")
        ana.say("KILL bob :spam")
        assert await ana.line() == f":{SERVER} NOTICE ana :bob expulsado."
        assert await bob.line() == f":{SERVER} NOTICE bob :ana te ha expulsado: spam"
        assert await bob.line() == "ERROR :Closing link (kicked)"
        await bob.wait_closed()
        assert await lina.line() == left("bob")  # from no room: line users read it left
        ana.say("KILL lina")
        assert await ana.line() == f":{SERVER} NOTICE ana :lina expulsado."
        assert await lina.line() == "! ana te ha expulsado: sin motivo"
        await lina.wait_closed()
        assert await ana.line() == ":lina!lina@irc.test QUIT :Quit"
        await ana.pong()


# -- the message of the day --------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_motd_file(tmp_path: Path) -> None:
    motd = tmp_path / "motd.txt"
    long = "ñ" * 100
    motd.write_text(f"Bienvenidos a la prueba\n\tcon tabulador\x07\n{long}\n", encoding="utf-8")
    async with await start_irc_server("--motd", str(motd)) as server:
        ana = await server.connect("ana")
        lines = await ana.register("ana")
        expected_motd = [
            numeric("372", "ana", ":- Bienvenidos a la prueba"),
            numeric("372", "ana", ":-     con tabulador"),
            numeric("372", "ana", ":- " + "ñ" * 80),
        ]
        motd_start = next(i for i, line in enumerate(lines) if line.split()[1] == "375")
        assert lines[motd_start:] == [
            numeric("375", "ana", f":- {SERVER} Message of the day -"),
            *expected_motd,
            numeric("372", "ana", ":- " + RETENTION[2:]),
            numeric("372", "ana", ":- " + FIRST_VISIT[2:]),
            numeric("376", "ana", ":End of /MOTD command."),
        ]
        ana.say("MOTD")
        assert await replies(ana, "376") == [
            numeric("375", "ana", f":- {SERVER} Message of the day -"),
            *expected_motd,
            numeric("376", "ana", ":End of /MOTD command."),
        ]


@pytest_twisted.ensureDeferred
async def test_no_motd_file_is_422() -> None:
    async with await start_irc_server() as server:
        ana = await server.user("ana")
        ana.say("MOTD")
        assert await ana.line() == numeric("422", "ana", ":MOTD File is missing")
        await ana.pong()


@pytest_twisted.ensureDeferred
async def test_oper_with_an_operator_s_password() -> None:
    async with await start_irc_server("--operator", "ana") as server:
        await register_ana(server)
        bob = await server.user("bob")
        cris = await server.user("cris")
        bob.say("OPER ana wrong-password")
        assert await bob.line() == numeric("464", "bob", ":Password incorrect")
        bob.say("OPER bob whatever")  # not an operator (nor registered): the same answer
        assert await bob.line() == numeric("464", "bob", ":Password incorrect")
        bob.say("OPER ana")
        assert await bob.line() == numeric("461", "bob", "OPER :Not enough parameters")
        bob.say("KILL cris :no")
        assert await bob.line() == numeric(
            "481", "bob", ":Permission Denied- You're not an IRC operator"
        )
        bob.say(f"OPER ana {PASSWORD}")
        assert await bob.line() == numeric("381", "bob", ":You are now an IRC operator")
        assert await bob.line() == ":bob!bob@irc.test MODE bob :+o"
        bob.say("MODE bob")
        assert await bob.line() == f":{SERVER} 221 bob +o"
        cris.say("WHO bob")
        assert (await replies(cris, "315"))[0] == numeric(
            "352", "cris", "* ~bob irc.test irc.test bob H* :0 bob real"
        )
        bob.say("KILL cris :por probar")
        assert await bob.line() == f":{SERVER} NOTICE bob :cris expulsado."
        assert await cris.line() == f":{SERVER} NOTICE cris :bob te ha expulsado: por probar"


# -- the fixes of irctest's run (QUIT, SASL numerics, NAMES, user mode +i) ----------------------


@pytest_twisted.ensureDeferred
async def test_quit_reason_reaches_a_reader_of_several_rooms_once() -> None:
    async with await start_irc_server() as server:
        lina = await server.chat.login("lina")
        ana = await server.user("ana")
        bob = await server.user("bob")
        assert await lina.line() == joined("ana")
        assert await lina.line() == joined("bob")
        for channel in ("#uno", "#dos", "#general"):
            await ana.join(channel)
            await bob.join(channel)
            await ana.until(rf":bob!bob@irc\.test JOIN {channel}")
        assert await lina.line() == room_joined("ana", "general")
        assert await lina.line() == room_joined("bob", "general")
        await lina.sync()
        bob.say("QUIT :hasta mañana")
        assert await bob.line() == "ERROR :Quit: hasta mañana"
        await bob.wait_closed()
        assert await ana.line() == ":bob!bob@irc.test QUIT :Quit: hasta mañana"
        await ana.pong()  # one QUIT, not three
        assert await lina.line() == left("bob")  # the line user's notice, as before
        await lina.sync()


@pytest_twisted.ensureDeferred
async def test_sasl_numerics_after_registration_and_for_a_long_payload() -> None:
    async with await start_irc_server() as server:
        await register_ana(server)
        ana = await server.connect("ana")
        await ana.register("ana", sasl=("ana", PASSWORD))
        ana.say("AUTHENTICATE PLAIN")  # no SASL after registration
        assert await ana.line() == numeric("462", "ana", ":You may not reregister")
        long = await server.connect("long")
        long.say("CAP REQ sasl")
        assert await long.line() == f":{SERVER} CAP * ACK :sasl"
        long.say("AUTHENTICATE PLAIN")
        assert await long.line() == "AUTHENTICATE +"
        long.say("AUTHENTICATE " + "x" * 401)  # one line over 400 bytes: 905
        assert await long.line() == numeric("905", "*", ":SASL message too long")
        long.say("AUTHENTICATE PLAIN")
        assert await long.line() == "AUTHENTICATE +"
        for _ in range(6):  # a payload that keeps growing past 2000 bytes: 904
            long.say("AUTHENTICATE " + "x" * 400)
        assert await long.line() == numeric("904", "*", ":SASL authentication failed")
        await long.pong()


@pytest_twisted.ensureDeferred
async def test_sasl_with_a_long_password() -> None:
    """Passwords of up to 1000 characters (docs/PROTOCOL.md, "Version 1.3"): one of 600
    registered by a line user is proved by SASL (a payload of two lines; ``PASS`` carries only
    what IRC's 512-byte line holds)."""
    long = "Lp-9" * 150
    async with await start_irc_server() as server:
        lina = await server.chat.login("lina")
        lina.say(f"/registrar {long}")
        assert await lina.line() == registered("lina")
        lina.say("/salir")
        await lina.wait_closed()
        await server.chat.server_closed(lina)
        by_sasl = await server.user("lina", sasl=("lina", long))
        by_sasl.say("WHOIS lina")
        assert numeric("330", "lina", "lina lina :is logged in as") in await replies(by_sasl, "318")
        wrong = await server.connect("wrong")
        wrong.say("CAP REQ sasl")
        assert await wrong.line() == f":{SERVER} CAP * ACK :sasl"
        wrong.authenticate("lina", long[:-1])
        assert await wrong.line() == "AUTHENTICATE +"
        assert await wrong.line() == numeric("904", "*", ":SASL authentication failed")


async def refused_for_the_server_password(server: IrcServer, client: IrcClient) -> None:
    """``client`` (which sent ``NICK``/``USER``) gets ``464``, then ``ERROR``, and is closed."""
    assert await client.line() == numeric("464", "*", ":Password incorrect")
    assert await client.line() == "ERROR :Closing link (bad_server_password)"
    await client.wait_closed()
    await server.server_closed(client)


@pytest_twisted.ensureDeferred
async def test_server_password() -> None:
    """``--irc-password``: ``PASS`` must be it before registration (``464``, ``ERROR`` and the
    close otherwise, also for a ``PASS`` after ``NICK``/``USER``); accounts log in with SASL
    (``PASS`` is no account's password then), and SASL waits for the server password."""
    async with await start_irc_server("--irc-password", "s3rv3r-Ñ") as server:
        await register_ana(server)
        bob = await server.user("bob", password="s3rv3r-Ñ")
        for sent in ([], ["PASS s3rv3r"], ["PASS s3rv3r-Ñx"], ["PASS ana", "PASS " + PASSWORD]):
            client = await server.connect("refused")
            for line in sent:
                client.say(line)
            client.say("NICK carol")
            client.say("USER carol 0 * :Carol")
            client.say("PASS s3rv3r-Ñ")  # too late: the registration was tried
            await refused_for_the_server_password(server, client)
        # The account's password in PASS is not the server's: refused, however right it is.
        ana = await server.connect("ana")
        ana.say(f"PASS {PASSWORD}")
        ana.say("NICK ana")
        ana.say("USER ana 0 * :Ana")
        await refused_for_the_server_password(server, ana)
        # The server password and SASL for the account.
        early = await server.connect("early")
        early.say("CAP REQ sasl")
        assert await early.line() == f":{SERVER} CAP * ACK :sasl"
        early.say("AUTHENTICATE PLAIN")  # no PASS yet: no account is checked
        assert await early.line() == numeric("904", "*", ":SASL authentication failed")
        early.say("PASS s3rv3r-Ñ")
        early.authenticate("ana", PASSWORD)
        assert await early.line() == "AUTHENTICATE +"
        await early.expect(f":{SERVER} 900 ")
        await early.expect(f":{SERVER} 903 ")
        early.say("NICK ana")
        early.say("USER ana 0 * :Ana")
        early.say("CAP END")
        await early.until(END_OF_MOTD.pattern)
        early.say("WHOIS ana")
        assert numeric("330", "ana", "ana ana :is logged in as") in await replies(early, "318")
        # With the server password but no SASL, a registered nickname needs its password.
        early.say("QUIT")
        await early.wait_closed()
        await server.server_closed(early)
        other = await server.connect("other")
        other.say("PASS s3rv3r-Ñ")
        other.say("NICK ana")
        other.say("USER ana 0 * :Ana")
        assert await other.line() == numeric(
            "464",
            "*",
            ":El nickname ana está registrado y necesita contraseña: escribe ana CONTRASEÑA",
        )
        await bob.pong()


@pytest_twisted.ensureDeferred
async def test_sasl_for_another_nickname_s_account_is_undone_at_registration() -> None:
    async with await start_irc_server() as server:
        await register_ana(server)
        other = await server.connect("other")
        other.say("CAP REQ sasl")
        assert await other.line() == f":{SERVER} CAP * ACK :sasl"
        other.authenticate("ana", PASSWORD)
        assert await other.line() == "AUTHENTICATE +"
        await other.expect(f":{SERVER} 900 ")
        await other.expect(f":{SERVER} 903 ")
        other.say("NICK bea")
        other.say("USER bea 0 * :Bea")
        other.say("CAP END")
        lines = await other.until(rf":{re.escape(SERVER)} 376 .*")
        assert (
            numeric(
                "901",
                "bea",
                "bea!bea@127.0.0.1 :You are now logged out: the account ana is its nickname's",
            )
            in lines
        )
        other.say("WHOIS bea")
        assert "330" not in [line.split()[1] for line in await replies(other, "318")]


@pytest_twisted.ensureDeferred
async def test_names_of_several_rooms_ends_once() -> None:
    async with await start_irc_server() as server:
        ana = await server.user("ana")
        await ana.join("#uno")
        await ana.join("#dos")
        ana.say("NAMES #uno,#nada,#dos")
        assert await replies(ana, "366") == [
            numeric("353", "ana", "= #uno :@ana"),
            numeric("353", "ana", "= #dos :@ana"),
            numeric("366", "ana", "#uno,#nada,#dos :End of /NAMES list"),
        ]
        many = ",".join(f"#sala{number}" for number in range(60))  # 419 bytes
        ana.say(f"NAMES {many}")
        assert await replies(ana, "366") == [numeric("366", "ana", "* :End of /NAMES list")]


# -- fuzz --------------------------------------------------------------------------------------

#: The words of these commands, so that fuzzed lines often reach them.
WORDS = [
    "WHO",
    "WHOIS",
    "LIST",
    "AWAY",
    "LUSERS",
    "MODE",
    "KICK",
    "KILL",
    "MOTD",
    "JOIN",
    "PRIVMSG",
    "#general",
    "#x",
    "#",
    "ana",
    "lina",
    "fuzz",
    "*",
    "?",
    "o",
    "+o",
    "-nt+b",
    "b",
    "%tcuihsnfdlaor,1",
    "%",
    ",",
    ":",
    ":a b",
]

command_lines = fuzz_lines(WORDS, max_text=12, max_words=6)


def command_batches(count: int) -> list[list[str]]:
    """``count`` batches of lines drawn by Hypothesis (generation only)."""
    return draw_batches(command_lines, count, max_lines=6)


@pytest_twisted.ensureDeferred
async def test_fuzzed_commands_never_crash() -> None:
    assert await fuzz_beside_lina(command_batches(40)) > 20
