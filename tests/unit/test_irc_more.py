"""The pieces of IRC's later commands that need no sockets: a ``KICK`` as each renderer writes
it, ``--motd``'s file, the ``005`` and ``004`` that describe the channel modes, and the peak of
users that ``LUSERS`` shows."""

from __future__ import annotations

import tempfile
from pathlib import Path

from twisted.internet.task import Clock
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from twisted_chat.commands import CommandTable
from twisted_chat.events import EventSource
from twisted_chat.irc.commands import IrcCommands, _mode_changes, prefix
from twisted_chat.irc.render import IrcRenderer
from twisted_chat.room import ChatRoom, Room
from twisted_chat.roomnames import DEFAULT_MAX_CHANNELS
from twisted_chat.settings import MOTD_LINE, MOTD_LINES, validate
from twisted_chat.text import ENGLISH, SPANISH, Language
from twisted_chat.wire import LineRenderer

SERVER = "irc.test"


class KickRenderTests(SynchronousTestCase):
    """A user sent out of a room (``Left.by``)."""

    def setUp(self) -> None:
        self.events = EventSource(Clock())

    def kick(self, reason: str | None) -> object:
        event = self.events.left("juegos", "bob", "Juegos")
        event.by = "ana"
        event.reason = reason
        return event

    def test_irc_kick_line_with_and_without_reason(self) -> None:
        renderer = IrcRenderer(Language(SPANISH), SERVER)
        self.assertEqual(
            renderer.render(self.kick("fuera")),  # type: ignore[arg-type]
            b":ana!ana@irc.test KICK #juegos bob :fuera\r\n",
        )
        self.assertEqual(
            renderer.render(self.kick(None)),  # type: ignore[arg-type]
            b":ana!ana@irc.test KICK #juegos bob :ana\r\n",
        )

    def test_irc_kick_tagged(self) -> None:
        renderer = IrcRenderer(Language(SPANISH), SERVER, {"message-tags"})
        event = self.kick("fuera")
        line = renderer.render(event)  # type: ignore[arg-type]
        self.assertEqual(
            line,
            f"@msgid={event.id} :ana!ana@irc.test KICK #juegos bob :fuera\r\n".encode(),  # type: ignore[attr-defined]
        )

    def test_line_users_read_who_and_why(self) -> None:
        spanish = LineRenderer(Language(SPANISH))
        english = LineRenderer(Language(ENGLISH))
        self.assertEqual(
            spanish.render(self.kick("fuera")),  # type: ignore[arg-type]
            b"* ana ha echado a bob de la sala Juegos: fuera\r\n",
        )
        self.assertEqual(
            spanish.render(self.kick(None)),  # type: ignore[arg-type]
            b"* ana ha echado a bob de la sala Juegos: sin motivo\r\n",
        )
        self.assertEqual(
            english.render(self.kick(None)),  # type: ignore[arg-type]
            b"* ana sent bob out of the room Juegos: no reason given\r\n",
        )


class MotdOptionTests(SynchronousTestCase):
    """``--motd FILE``: read once, checked, cleaned."""

    def file(self, data: bytes) -> str:
        directory = Path(tempfile.mkdtemp(prefix="motd-test-"))
        path = directory / "motd.txt"
        path.write_bytes(data)
        return str(path)

    def test_none_by_default(self) -> None:
        self.assertIsNone(validate({}).irc.motd)

    def test_lines_cleaned_and_cut(self) -> None:
        path = self.file(b"uno\r\n\tdos\x1b[1m\n\n" + "ñ".encode() * 200 + b"\n")
        self.assertEqual(
            validate({"motd": path}).irc.motd, ("uno", "    dos[1m", "", "ñ" * MOTD_LINE)
        )

    def test_refused_files(self) -> None:
        missing = str(Path(tempfile.mkdtemp(prefix="motd-test-")) / "none.txt")
        for path, why in (
            (missing, "No such file"),
            (self.file(b"\xff\xfe hola"), "not UTF-8"),
            (self.file(b"x\n" * (MOTD_LINES + 1)), f"more than {MOTD_LINES} lines"),
            (self.file(b"x" * 70000), "more than 65536 bytes"),
        ):
            with self.subTest(why=why):
                with self.assertRaises(usage.UsageError) as raised:
                    validate({"motd": path})
                self.assertIn("bad --motd", str(raised.exception))
                self.assertIn(why, str(raised.exception))


class IsupportTests(SynchronousTestCase):
    """``005`` says what the commands do."""

    def test_tokens(self) -> None:
        room = Room()
        events = EventSource(Clock())
        parts = {"room": room, "events": events, "commands": CommandTable(events)}
        core = type("Core", (), parts)()
        irc = IrcCommands(core, None, Language(SPANISH), SERVER)  # type: ignore[arg-type]
        tokens = irc.isupport()
        # (a client takes at most 15 parameters: 005 is sent in lines of 13 tokens, see
        # tests/inprocess/test_irc_raw.py and tests/unit/test_irc_queries.py)
        self.assertEqual(len(tokens), len(set(tokens)))
        self.assertIn("CHATHISTORY=100", tokens)
        self.assertIn("MSGREFTYPES=timestamp,msgid", tokens)
        self.assertIn(f"CHANLIMIT=#:{DEFAULT_MAX_CHANNELS}", tokens)
        self.assertIn("CHANMODES=,,,mnst", tokens)
        self.assertIn("WHOX", tokens)
        self.assertIn("PREFIX=(ov)@+", tokens)
        targmax = next(t for t in tokens if t.startswith("TARGMAX="))
        self.assertIn("WHOIS:1", targmax)
        self.assertIn("KICK:", targmax)


class _Member:
    """The least of a member that the registry needs."""

    def __init__(self, nickname: str, renderer: LineRenderer) -> None:
        self.nickname = nickname
        self.renderer = renderer


class MostUsersTests(SynchronousTestCase):
    """The peak of users at once (``LUSERS``' ``265``/``266``)."""

    def test_peak_stays(self) -> None:
        room = Room()
        renderer = LineRenderer(Language(SPANISH))
        clients = [_Member(f"u{number}", renderer) for number in range(3)]
        for client in clients:
            self.assertTrue(room.add(client, client.nickname))  # type: ignore[arg-type]
        self.assertEqual(room.most_users, 3)
        room.remove(clients[0])  # type: ignore[arg-type]
        self.assertEqual((len(room), room.most_users), (2, 3))


class ModeChangesTests(SynchronousTestCase):
    """:func:`_mode_changes`: what a room's ``MODE`` asks for, and what it refuses."""

    def test_flags_voice_and_refusals(self) -> None:
        lists = ("b", "e", "I")
        args = ["bob", "ana", "x!*@*", "carol", "dave"]
        wanted, refused = _mode_changes("+sm-v+nto+b-s+xv-t+v", args, lists)
        self.assertEqual(
            wanted,
            [
                (True, "s", None),
                (True, "m", None),
                (False, "v", "bob"),
                (False, "s", None),
                (True, "v", "carol"),
                (True, "v", "dave"),
            ],
        )
        # o and b took their parameters (ana, the mask); n and t are set already
        self.assertEqual(refused, ["o", "b", "x", "t"])
        self.assertEqual(args, [])

    def test_voice_without_a_nickname_is_nothing(self) -> None:
        self.assertEqual(_mode_changes("+v", [], ()), ([], []))

    def test_prefixes(self) -> None:
        chatroom = ChatRoom("juegos")
        chatroom.users = {"ana": "ana", "bob": "bob", "cris": "cris"}
        chatroom.operator = "ana"
        chatroom.voiced = {"ana", "bob"}
        self.assertEqual(prefix(chatroom, "ana", multi=True), "@+")
        self.assertEqual(prefix(chatroom, "ana", multi=False), "@")
        self.assertEqual(prefix(chatroom, "bob", multi=False), "+")
        self.assertEqual(prefix(chatroom, "cris", multi=True), "")
        self.assertEqual(chatroom.modes(), "+nt")
        chatroom.secret = chatroom.moderated = True
        self.assertEqual(chatroom.modes(), "+mnts")
        self.assertTrue(chatroom.may_speak("bob"))
        self.assertFalse(chatroom.may_speak("cris"))
