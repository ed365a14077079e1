"""IRCv3 ``CHATHISTORY`` and ``batch`` (:mod:`twisted_chat.irc.chathistory`) and the chat's v1
commands as raw IRC commands (:mod:`twisted_chat.irc.raw_commands`), on recording transports
over a whole chat assembled as a server assembles it, with history in the in-memory double
(:class:`~tests.support.history.MemoryHistoryStorage`) and a room buffer of 5 messages, so that
pages come from the buffer or from the storage as the test says. No sockets."""

from __future__ import annotations

import re

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.support.fakes import EPOCH, RecordingTransport, decode_lines, peer_address
from tests.support.history import MemoryHistoryStorage
from twisted_chat.assembly import assemble
from twisted_chat.history import HistoryPlan
from twisted_chat.irc.chathistory import (
    MAX_LIMIT,
    Refused,
    parse_limit,
    parse_selector,
    parse_timestamp,
)
from twisted_chat.irc.commands import IrcCommands
from twisted_chat.irc.protocol import IrcFactory, IrcProtocol
from twisted_chat.irc.render import server_time
from twisted_chat.limits import Limits
from twisted_chat.text import SPANISH

SERVER = "irc.test"
#: Every capability of a history client.
HISTORY_CAPS = "batch server-time message-tags draft/chathistory"
_BATCH_START = re.compile(rf":{re.escape(SERVER)} BATCH \+(\S+) chathistory (\S+)")
_IN_BATCH = re.compile(r"@batch=([^;]+);time=([^;]+);msgid=(\S+) :(\S+)!\S+ PRIVMSG (\S+) :(.*)")


class ParsingTests(SynchronousTestCase):
    """Selectors, timestamps and limits."""

    def test_timestamps(self) -> None:
        self.assertEqual(parse_timestamp("1970-01-01T00:00:01.5Z"), 1500)
        self.assertEqual(parse_timestamp("2026-12-06T12:42:08.123Z"), 1796560928123)
        self.assertEqual(parse_timestamp(server_time(1796560928123)), 1796560928123)
        self.assertEqual(parse_timestamp("2026-12-06T12:42:08Z"), 1796560928000)
        for bad in ("2026-12-06", "2026-12-06T12:42:08.123", "2026-13-06T12:42:08Z", "x", ""):
            self.assertIsNone(parse_timestamp(bad), bad)

    def test_selectors(self) -> None:
        self.assertEqual(parse_selector("msgid=abc0x1f").msgid, "abc0x1f")
        self.assertEqual(parse_selector("timestamp=1970-01-01T00:00:02.000Z").time, 2000)
        for bad, code in (
            ("*", "INVALID_PARAMS"),
            ("msgid=", "INVALID_PARAMS"),
            ("msgid=a;b", "INVALID_PARAMS"),
            ("timestamp=ayer", "INVALID_PARAMS"),
            ("reference=x", "INVALID_MSGREFTYPE"),
        ):
            with self.assertRaises(Refused) as raised:
                parse_selector(bad)
            self.assertEqual(raised.exception.code, code, bad)

    def test_limits(self) -> None:
        self.assertEqual(parse_limit("7"), 7)
        self.assertEqual(parse_limit("100000"), MAX_LIMIT)
        for bad in ("0", "-1", "x", "", "٣"):
            with self.assertRaises(Refused):
                parse_limit(bad)


class _IrcChat(SynchronousTestCase):
    """IRC users of a chat whose history is in memory (buffers of 5 messages)."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(EPOCH.timestamp())
        self.storage = MemoryHistoryStorage()
        self.parts = assemble(
            SPANISH,
            self.clock,
            limits=Limits(flood_rate=0, max_strikes=0, login_timeout=0),
            history=self.storage,
            history_plan=HistoryPlan(replay=3, buffer=5),
        )
        self.irc = IrcCommands(self.parts.core, self.parts.rooms, self.parts.language, SERVER)
        self.factory = IrcFactory(self.parts.server, self.irc)
        self.port = 40000

    def user(self, nick: str, caps: str = "") -> tuple[IrcProtocol, RecordingTransport]:
        """A registered IRC user with ``caps``."""
        self.port += 1
        address = peer_address("198.51.100.7", self.port)
        transport = RecordingTransport(peerAddress=address)
        proto = self.factory.buildProtocol(address)
        proto.makeConnection(transport)
        request = f"CAP REQ :{caps}\r\n" if caps else ""
        end = "CAP END\r\n" if caps else ""
        proto.dataReceived(f"{request}NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n{end}".encode())
        got = self.received(transport)
        self.assertTrue(any(f" 001 {nick} " in line for line in got), got)
        return proto, transport

    @staticmethod
    def received(transport: RecordingTransport) -> list[str]:
        """What ``transport`` was written since the last call."""
        data = transport.value()
        transport.clear()
        return decode_lines(data)

    def say(self, proto: IrcProtocol, transport: RecordingTransport, line: str) -> list[str]:
        """Send ``line``; what came back."""
        proto.dataReceived(line.encode() + b"\r\n")
        return self.received(transport)


class IrcHistoryTests(_IrcChat):
    """``CHATHISTORY`` and the JOIN replay."""

    def talk(self, count: int, write: bool = True) -> tuple[IrcProtocol, RecordingTransport]:
        """``bob`` says ``m0``... in ``#sala``, a second apart (``write``: the storage wrote
        them); ``ana`` (every history capability) is in ``#sala`` too. ``ana`` is returned."""
        bob, bob_t = self.user("bob")
        self.say(bob, bob_t, "JOIN #sala")
        ana, ana_t = self.user("ana", HISTORY_CAPS)
        self.say(ana, ana_t, "JOIN #sala")
        for number in range(count):
            self.clock.advance(1)
            self.say(bob, bob_t, f"PRIVMSG #sala :m{number}")
        if write:
            self.storage.write()
        self.received(ana_t)
        return ana, ana_t

    def batch(self, lines: list[str], target: str = "#sala") -> list[str]:
        """The texts of the one ``chathistory`` batch of ``lines``, checked."""
        start = _BATCH_START.fullmatch(lines[0])
        self.assertIsNotNone(start, lines)
        assert start is not None
        ref = start.group(1)
        self.assertEqual(start.group(2), target)
        self.assertEqual(lines[-1], f":{SERVER} BATCH -{ref}")
        texts = []
        for line in lines[1:-1]:
            inner = _IN_BATCH.fullmatch(line)
            self.assertIsNotNone(inner, line)
            assert inner is not None
            self.assertEqual(inner.group(1), ref)
            self.assertEqual(inner.group(5), target)
            texts.append(inner.group(6))
        return texts

    def stored(self) -> list[tuple[str, str]]:
        """(msgid, time tag) of each message of ``#sala`` (written or not), oldest first."""
        rows = {m.id: m for m in self.storage.room("sala")}
        for event in self.storage.queued:
            rows.setdefault(event.id, event)  # type: ignore[arg-type]
        ordered = sorted(rows.values(), key=lambda m: (m.time, m.id))
        return [(m.id, server_time(m.time)) for m in ordered]

    # -- CHATHISTORY --------------------------------------------------------------------------

    def test_latest_from_the_buffer_and_from_the_storage(self) -> None:
        ana, ana_t = self.talk(12)
        self.storage.calls.clear()
        got = self.say(ana, ana_t, "CHATHISTORY LATEST #sala * 3")
        self.assertEqual(self.batch(got), ["m9", "m10", "m11"])
        self.assertEqual(self.storage.called("between"), [])  # the buffer holds the last 5
        got = self.say(ana, ana_t, "CHATHISTORY LATEST #SALA * 100")
        self.assertEqual(self.batch(got), [f"m{n}" for n in range(12)])
        self.assertEqual(len(self.storage.called("between")), 1)
        ids = self.stored()
        # paging back across the buffer and the storage, by msgid and by timestamp
        got = self.say(ana, ana_t, f"CHATHISTORY BEFORE #sala msgid={ids[9][0]} 4")
        self.assertEqual(self.batch(got), ["m5", "m6", "m7", "m8"])
        got = self.say(ana, ana_t, f"CHATHISTORY BEFORE #sala timestamp={ids[5][1]} 4")
        self.assertEqual(self.batch(got), ["m1", "m2", "m3", "m4"])
        got = self.say(ana, ana_t, f"CHATHISTORY LATEST #sala msgid={ids[7][0]} 100")
        self.assertEqual(self.batch(got), ["m8", "m9", "m10", "m11"])
        got = self.say(ana, ana_t, f"CHATHISTORY LATEST #sala timestamp={ids[7][1]} 2")
        self.assertEqual(self.batch(got), ["m10", "m11"])

    def test_after_between_around(self) -> None:
        ana, ana_t = self.talk(10)
        ids = self.stored()
        say = self.say
        self.assertEqual(
            self.batch(say(ana, ana_t, f"CHATHISTORY AFTER #sala msgid={ids[3][0]} 3")),
            ["m4", "m5", "m6"],
        )
        self.assertEqual(
            self.batch(say(ana, ana_t, f"CHATHISTORY AFTER #sala timestamp={ids[6][1]} 9")),
            ["m7", "m8", "m9"],
        )
        forward = f"CHATHISTORY BETWEEN #sala msgid={ids[0][0]} msgid={ids[9][0]}"
        self.assertEqual(self.batch(say(ana, ana_t, forward + " 3")), ["m1", "m2", "m3"])
        backward = f"CHATHISTORY BETWEEN #sala timestamp={ids[9][1]} timestamp={ids[0][1]}"
        self.assertEqual(self.batch(say(ana, ana_t, backward + " 3")), ["m6", "m7", "m8"])
        self.assertEqual(
            self.batch(say(ana, ana_t, backward + " 100")), [f"m{n}" for n in range(1, 9)]
        )
        around = f"CHATHISTORY AROUND #sala msgid={ids[7][0]}"
        self.assertEqual(self.batch(say(ana, ana_t, around + " 1")), ["m7"])
        self.assertEqual(self.batch(say(ana, ana_t, around + " 3")), ["m6", "m7", "m8"])
        around = f"CHATHISTORY AROUND #sala timestamp={ids[2][1]} 4"
        self.assertEqual(self.batch(say(ana, ana_t, around)), ["m1", "m2", "m3", "m4"])
        # a msgid that is not the room's: an empty batch
        self.assertEqual(self.batch(say(ana, ana_t, "CHATHISTORY AFTER #sala msgid=nada 5")), [])

    def test_messages_not_written_yet(self) -> None:
        ana, ana_t = self.talk(8, write=False)
        self.storage.write()  # m0..m7 stored
        bob = self.parts.room.find("bob")
        assert bob is not None
        for number in (8, 9):
            self.clock.advance(1)
            self.irc.line_received(bob, f"PRIVMSG #sala :m{number}")  # type: ignore[arg-type]
        self.received(ana_t)
        self.assertEqual(len(self.storage.queued), 2)  # on their way to the database
        got = self.say(ana, ana_t, "CHATHISTORY LATEST #sala * 7")
        self.assertEqual(self.batch(got), [f"m{n}" for n in range(3, 10)])

    def test_tags_follow_the_capabilities(self) -> None:
        ana, ana_t = self.talk(2)
        (first_id, first_time), (second_id, second_time) = self.stored()
        got = self.say(ana, ana_t, "CHATHISTORY LATEST #sala * 10")
        ref = got[0].split()[2][1:]
        self.assertEqual(
            got[1:],
            [
                f"@batch={ref};time={first_time};msgid={first_id} :bob!bob@irc.test PRIVMSG"
                " #sala :m0",
                f"@batch={ref};time={second_time};msgid={second_id} :bob!bob@irc.test PRIVMSG"
                " #sala :m1",
                f":{SERVER} BATCH -{ref}",
            ],
        )
        # without batch, server-time nor message-tags: the messages alone, as the replay
        # shows them without server-time
        carla, carla_t = self.user("carla")
        self.say(carla, carla_t, "JOIN #sala")
        got = self.say(carla, carla_t, "CHATHISTORY LATEST #sala * 1")
        self.assertEqual(len(got), 1)
        self.assertRegex(
            got[0], rf"^:{SERVER} NOTICE #sala :\[\d{{4}}-\d\d-\d\dT[\d:]+Z\] <bob> m1$"
        )

    def test_a_message_longer_than_an_irc_line_is_split(self) -> None:
        # a line user may say 1024 bytes: stored whole, shown in IRC lines of 512 at most
        text = " ".join(["ñandú"] * 150).encode()[:1000].decode(errors="ignore").strip()
        self.storage.add("larga", "m1", int(self.clock.seconds() * 1000) - 5000, "lina", text)
        ana, ana_t = self.user("ana", HISTORY_CAPS)
        self.say(ana, ana_t, "JOIN #larga")
        got = self.say(ana, ana_t, "CHATHISTORY LATEST #larga * 10")
        self.assertRegex(got[0], _BATCH_START)
        ref = got[0].split()[2][1:]
        self.assertEqual(got[-1], f":{SERVER} BATCH -{ref}")
        pieces = []
        for line in got[1:-1]:
            self.assertTrue(line.startswith(f"@batch={ref};time="), line)
            self.assertIn(" :lina!lina@irc.test PRIVMSG #larga :", line)
            pieces.append(line.split(" PRIVMSG #larga :", 1)[1])
        self.assertGreater(len(pieces), 2)
        self.assertEqual(" ".join(pieces), text)  # cut at spaces, nothing lost
        for line in got:
            body = line.split(" ", 1)[1] if line.startswith("@") else line
            self.assertLessEqual(len(body.encode()) + 2, 512, line)
        self.assertIn("msgid=m1", got[1])
        self.assertTrue(all("msgid=" not in line for line in got[2:]))
        # without server-time: the server's NOTICEs saying when, split alike
        carla, carla_t = self.user("carla")
        self.say(carla, carla_t, "JOIN #larga")
        got = self.say(carla, carla_t, "CHATHISTORY LATEST #larga * 10")
        self.assertGreater(len(got), 2)
        for line in got:
            self.assertTrue(line.startswith(f":{SERVER} NOTICE #larga :"), line)
            self.assertLessEqual(len(line.encode()) + 2, 512, line)

    def test_refusals(self) -> None:
        ana, ana_t = self.talk(1)
        carla, carla_t = self.user("carla", HISTORY_CAPS)
        fail = f":{SERVER} FAIL CHATHISTORY"
        for line, answer in (
            ("CHATHISTORY", f"{fail} NEED_MORE_PARAMS * :Missing parameters"),
            ("CHATHISTORY LATEST #sala *", f"{fail} NEED_MORE_PARAMS LATEST :Missing parameters"),
            (
                "CHATHISTORY SIDEWAYS #sala * 5",
                f"{fail} INVALID_PARAMS SIDEWAYS :Unknown subcommand",
            ),
            ("CHATHISTORY LATEST #sala * diez", f"{fail} INVALID_PARAMS diez :Invalid limit"),
            ("CHATHISTORY BEFORE #sala * 5", f"{fail} INVALID_PARAMS * :Invalid message reference"),
            (
                "CHATHISTORY AFTER #sala timestamp=ayer 5",
                f"{fail} INVALID_PARAMS timestamp=ayer :Invalid timestamp",
            ),
            (
                "CHATHISTORY AFTER #sala ref=1 5",
                f"{fail} INVALID_MSGREFTYPE ref=1 :Unknown message reference type",
            ),
            (
                "CHATHISTORY LATEST #nada * 5",
                f"{fail} INVALID_TARGET LATEST #nada :Messages could not be retrieved",
            ),
            (
                "CHATHISTORY LATEST bad!nick * 5",
                f"{fail} INVALID_TARGET LATEST bad!nick :Messages could not be retrieved",
            ),
        ):
            self.assertEqual(self.say(ana, ana_t, line), [answer], line)
        # a room one is not in: refused, never read
        self.storage.calls.clear()
        self.assertEqual(
            self.say(carla, carla_t, "CHATHISTORY LATEST #sala * 5"),
            [f"{fail} INVALID_TARGET LATEST #sala :Messages could not be retrieved"],
        )
        self.assertEqual(self.storage.calls, [])
        # private messages are never stored: a nickname, or *, is an empty batch
        for target in ("bob", "*"):
            self.assertEqual(
                self.batch(self.say(ana, ana_t, f"CHATHISTORY LATEST {target} * 5"), target), []
            )

    def test_a_failing_storage(self) -> None:
        ana, ana_t = self.talk(8)
        self.storage.failing = True
        self.assertEqual(
            self.say(ana, ana_t, "CHATHISTORY LATEST #sala * 50"),
            [
                f":{SERVER} FAIL CHATHISTORY MESSAGE_ERROR LATEST #sala"
                " :Messages could not be retrieved"
            ],
        )
        # the buffer answers what it holds exactly
        self.assertEqual(
            self.batch(self.say(ana, ana_t, "CHATHISTORY LATEST #sala * 2")), ["m6", "m7"]
        )

    def test_later_lines_wait_for_a_database_read(self) -> None:
        ana, ana_t = self.talk(8)
        self.storage.holding = True  # the database answers when the test says
        got = self.say(ana, ana_t, "CHATHISTORY LATEST #sala * 50\r\nPING barrera")
        self.assertEqual(got, [])
        self.storage.release()
        got = self.received(ana_t)
        self.assertEqual(self.batch(got[:-1]), [f"m{n}" for n in range(8)])
        self.assertEqual(got[-1], f":{SERVER} PONG {SERVER} barrera")
        # from the buffer: at once
        self.assertEqual(len(self.say(ana, ana_t, "CHATHISTORY LATEST #sala * 2")), 4)

    def test_targets(self) -> None:
        ana, ana_t = self.talk(2)
        self.say(ana, ana_t, "JOIN #otra")
        self.say(ana, ana_t, "JOIN #vacia")
        self.clock.advance(1)
        self.say(ana, ana_t, "PRIVMSG #otra :hola")
        self.storage.write()
        sala_time = self.stored()[-1][1]
        otra_time = server_time(self.storage.room("otra")[0].time)
        window = "timestamp=2020-01-01T00:00:00.000Z timestamp=2262-01-01T00:00:00.000Z"
        got = self.say(ana, ana_t, f"CHATHISTORY TARGETS {window} 10")
        ref = got[0].split()[2][1:]
        self.assertEqual(
            got,
            [
                f":{SERVER} BATCH +{ref} draft/chathistory-targets",
                f"@batch={ref} :{SERVER} CHATHISTORY TARGETS #sala {sala_time}",
                f"@batch={ref} :{SERVER} CHATHISTORY TARGETS #otra {otra_time}",
                f":{SERVER} BATCH -{ref}",
            ],
        )
        got = self.say(
            ana,
            ana_t,
            f"CHATHISTORY TARGETS timestamp={sala_time} timestamp=2262-01-01T00:00:00.000Z 10",
        )
        self.assertEqual([line.split()[-2] for line in got[1:-1]], ["#otra"])
        self.assertEqual(
            self.say(ana, ana_t, f"CHATHISTORY TARGETS msgid=x {window.split()[1]} 1")[0].split()[
                3
            ],
            "INVALID_PARAMS",
        )

    def test_join_replay(self) -> None:
        ana, ana_t = self.talk(4)
        # a client with batch: the replay (the last 3) in a chathistory batch
        dora, dora_t = self.user("dora", "batch server-time message-tags")
        got = self.say(dora, dora_t, "JOIN #sala")
        end = next(i for i, line in enumerate(got) if " 366 " in line)
        self.assertEqual(self.batch(got[end + 1 :]), ["m1", "m2", "m3"])
        # with draft/chathistory: none (the client asks for what it wants)
        self.say(ana, ana_t, "PART #sala")
        got = self.say(ana, ana_t, "JOIN #sala")
        self.assertIn(" 366 ", got[-1])
        # without batch: the replay as before
        eva, eva_t = self.user("eva", "server-time")
        got = self.say(eva, eva_t, "JOIN #sala")
        self.assertEqual([line.rsplit(" :", 1)[1] for line in got[-3:]], ["m1", "m2", "m3"])
        self.assertTrue(got[-1].startswith("@time="))


class RawCommandTests(_IrcChat):
    """The v1 commands under their own names."""

    def test_v1_commands_by_name_in_any_case(self) -> None:
        ana, ana_t = self.user("ana")
        notice = f":{SERVER} NOTICE ana :"
        self.assertEqual(self.say(ana, ana_t, "username"), [notice + "Tu nickname es ana."])
        self.assertEqual(self.say(ana, ana_t, "WhoAmI"), [notice + "Tu nickname es ana."])
        self.assertEqual(self.say(ana, ana_t, "LISTAR"), [notice + "Conectados (1): ana"])
        self.assertEqual(self.say(ana, ana_t, "SALAS"), [notice + "Salas (1): general (0)"])
        self.assertEqual(
            self.say(ana, ana_t, "NADA 1 2"), [f":{SERVER} 421 ana NADA :Unknown command"]
        )
        got = self.say(ana, ana_t, "TIME")
        self.assertRegex(got[0], rf"^:{SERVER} 391 ana {SERVER} :\d{{4}}-")
        self.assertEqual(len(got), 1)
        # IRC's own commands win: LIST is IRC's (the rooms), not /list (the users)
        self.assertEqual(self.say(ana, ana_t, "LIST")[0].split()[1], "321")
        # an operators' command: refused by the chat's table, as for line users
        got = self.say(ana, ana_t, "BANEAR bob 1h")
        self.assertEqual(len(got), 1)
        self.assertTrue(got[0].startswith(notice), got)

    def test_room_commands_take_a_channel(self) -> None:
        ana, ana_t = self.user("ana")
        notice = f":{SERVER} NOTICE ana :"
        self.assertEqual(
            self.say(ana, ana_t, "HISTORIAL 5"),
            [notice + "No estás en ningún canal: HISTORIAL #canal ..., o antes JOIN #canal."],
        )
        got = self.say(ana, ana_t, "UNIRSE juegos")
        self.assertEqual(got[0], ":ana!ana@irc.test JOIN #juegos")
        self.say(ana, ana_t, "JOIN #cartas")
        self.assertEqual(
            self.say(ana, ana_t, "sala"),
            [notice + "Di en qué canal: SALA #canal ... (estás en #juegos, #cartas)."],
        )
        self.assertEqual(
            self.say(ana, ana_t, "SALA #juegos"),
            [notice + "Sala juegos (1): @ana", notice + "La sala juegos no tiene tema."],
        )
        self.assertEqual(
            self.say(ana, ana_t, "TEMA #juegos :a las cartas")[0],
            ":ana!ana@irc.test TOPIC #juegos :a las cartas",
        )
        self.assertEqual(
            self.say(ana, ana_t, "SALA #nada"), [f":{SERVER} 403 ana #nada :No such channel"]
        )
        self.say(ana, ana_t, "PART #cartas")
        # in one channel: it may be left out
        got = self.say(ana, ana_t, "HISTORIAL")
        self.assertEqual(got, [notice + "No hay mensajes guardados en juegos."])
        # a room one is not in: 442, history never read
        bob, bob_t = self.user("bob")
        self.assertEqual(
            self.say(bob, bob_t, "HISTORIAL #juegos 10"),
            [f":{SERVER} 442 bob #juegos :You're not on that channel"],
        )
        self.assertEqual(
            self.say(bob, bob_t, "BUSCAR #juegos cartas"),
            [f":{SERVER} 442 bob #juegos :You're not on that channel"],
        )

    def test_help_and_quit(self) -> None:
        ana, ana_t = self.user("ana")
        got = self.say(ana, ana_t, "HELP")
        self.assertTrue(all(line.startswith(f":{SERVER} NOTICE ana :") for line in got), got)
        texts = [line.split(" :", 1)[1] for line in got]
        self.assertIn(
            "HISTORIAL, HISTORY [#sala] [N] [antes CURSOR]: muestra los últimos N mensajes de"
            " tu sala (50; antes CURSOR: los anteriores)",
            texts,
        )
        self.assertTrue(
            any(t.startswith("LISTAR: ") and t.endswith(" (WHO *)") for t in texts), texts
        )
        self.assertTrue(
            any(t.startswith("SALIR: ") and t.endswith("(QUIT [:motivo])") for t in texts), texts
        )
        self.assertFalse(any(t.startswith("EXPULSAR") for t in texts))  # operators only
        self.assertEqual(self.say(ana, ana_t, "AYUDA"), got)
        ana.dataReceived(b"SALIR :hasta luego\r\n")
        self.assertEqual(self.received(ana_t)[-1], "ERROR :Quit: hasta luego")
