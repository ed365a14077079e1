"""Unit tests of the option declarations (:mod:`twisted_chat.settings`) and of the reloader's
registry (:mod:`twisted_chat.reload`).

Every option is declared once; ``--help``, the README's option table, ``docs/chat.example.toml``
and the restart list of ``docs/OPERATIONS.md`` must say what the declarations say.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from tests.support.logs import record_logs
from twisted_chat.limits import Limits
from twisted_chat.reload import Reloader
from twisted_chat.settings import (
    OPTIONS,
    ChatSettings,
    DatabaseSettings,
    ListenerSettings,
    Option,
    Settings,
    WebSettings,
    keep_restart_options,
    validate,
)
from twisted_chat.storage.url import SqliteURL
from twisted_chat.tap import Options

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
EXAMPLE = ROOT / "docs" / "chat.example.toml"
OPERATIONS = ROOT / "docs" / "OPERATIONS.md"
#: The options that have a place in the settings (all but ``--config``).
SETTINGS_OPTIONS = [option for option in OPTIONS if option.section is not None]


def words(text: str) -> str:
    """``text`` with every run of white space made one space."""
    return " ".join(text.split())


def shown_default(option: Option) -> str:
    """What the README's "default" cell must say for ``option``."""
    if option.shown_default is not None:
        return option.shown_default
    default = option.default
    if isinstance(default, tuple):
        return ", ".join(f"`{value}`" for value in default)
    return f"`{default}`"


class DeclarationTests(SynchronousTestCase):
    """The declarations themselves hang together."""

    def test_names_and_fields_are_unique(self) -> None:
        names = [option.name for option in OPTIONS]
        flags = [option.flag for option in OPTIONS]
        self.assertEqual(len(set(names)), len(names))
        self.assertEqual(len(set(flags)), len(flags))
        fields = [(option.section, option.field) for option in SETTINGS_OPTIONS]
        self.assertEqual(len(set(fields)), len(fields))

    def test_every_field_of_a_section_is_an_option(self) -> None:
        declared = {(option.section, option.field) for option in SETTINGS_OPTIONS}
        for section in dataclasses.fields(Settings):
            kind = type(getattr(Settings(), section.name))
            if section.name == "cluster":
                from twisted_chat.settings import ClusterSettings

                kind = ClusterSettings
            for field in dataclasses.fields(kind):
                if (section.name, field.name) == ("limits", "max_line"):
                    continue  # not an option: the protocol's line limit
                self.assertIn((section.name, field.name), declared)

    def test_defaults_make_the_default_settings(self) -> None:
        self.assertEqual(validate({}), Settings())
        self.assertEqual(validate({}).limits, Limits())


class HelpTests(SynchronousTestCase):
    """``twistd chat --help`` (the usage text of :class:`Options`)."""

    def test_every_option_with_its_help_and_default(self) -> None:
        usage = Options().getUsage()
        text = words(usage)
        for option in OPTIONS:
            with self.subTest(option=option.name):
                spelled = f"--{option.flag}="
                if option.short is not None:
                    spelled = f"-{option.short}, {spelled}"
                self.assertIn(spelled, usage)
                if option.repeatable or option.default is None:
                    self.assertIn(words(option.help), text)
                    self.assertNotIn(f"{words(option.help)} [default:", text)
                else:
                    self.assertIn(f"{words(option.help)} [default: {option.default}]", text)

    def test_no_other_option(self) -> None:
        listed = set(re.findall(r"--([a-z][a-z-]*)", Options().getUsage()))
        declared = {option.flag for option in OPTIONS}
        # Names mentioned inside help texts (--max-per-ip, --port...) are declared ones too.
        self.assertEqual(listed - declared, {"help", "version"})


class ReadmeTests(SynchronousTestCase):
    """The README's option table: one row per option, with the declared default."""

    def rows(self) -> dict[str, str]:
        """The table's default cells by option; the table ends at its first non-row line."""
        lines = README.read_text(encoding="utf-8").splitlines()
        start = lines.index("| option | default | meaning |") + 2
        rows: dict[str, str] = {}
        for line in lines[start:]:
            if not line.startswith("| "):
                break
            matched = re.match(r"\| `--([a-z][a-z-]*)[^`]*` \| (.*?) \| ", line)
            assert matched is not None, line
            self.assertNotIn(matched.group(1), rows)
            rows[matched.group(1)] = matched.group(2)
        return rows

    def test_every_option_once_with_its_default(self) -> None:
        rows = self.rows()
        self.assertEqual(set(rows), {option.flag for option in OPTIONS})
        for option in OPTIONS:
            self.assertEqual(rows[option.flag], shown_default(option), option.name)


class ExampleFileTests(SynchronousTestCase):
    """``docs/chat.example.toml``: each key at its default, ``restart`` where it needs one."""

    def entries(self) -> dict[str, tuple[bool, str, str]]:
        """``{key: (commented out, value, the comment above it)}``."""
        entries: dict[str, tuple[bool, str, str]] = {}
        comment: list[str] = []
        for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
            matched = re.fullmatch(r"(# )?([a-z][a-z-]*) = (.*)", line)
            if matched is not None:
                entries[matched.group(2)] = (
                    matched.group(1) is not None,
                    matched.group(3),
                    " ".join(comment),
                )
                comment = []
            elif line.startswith("#"):
                comment.append(line)
            else:
                comment = []
        return entries

    def test_each_key_at_its_default(self) -> None:
        entries = self.entries()
        self.assertEqual(set(entries), {option.name for option in SETTINGS_OPTIONS})
        for option in SETTINGS_OPTIONS:
            commented, value, _ = entries[option.name]
            with self.subTest(option=option.name):
                self.assertEqual(commented, option.default is None)
                if option.default is None:
                    continue
                parsed = tomllib.loads(f"value = {value}")["value"]
                expected: Any = option.default
                if option.kind == "number":
                    expected = float(option.default)  # type: ignore[arg-type]
                elif option.kind == "list":
                    expected = list(option.default)
                self.assertEqual(parsed, expected)

    def test_restart_marks(self) -> None:
        for key, (_, _, comment) in self.entries().items():
            option = next(option for option in OPTIONS if option.name == key)
            self.assertEqual("restart" in comment, not option.live, key)


class OperationsTests(SynchronousTestCase):
    """``docs/OPERATIONS.md`` names the options that need a restart, all of them."""

    def test_restart_list(self) -> None:
        text = words(OPERATIONS.read_text(encoding="utf-8"))
        matched = re.search(r"Settings that need a restart \(([^)]*)\)", text)
        assert matched is not None
        listed = set(re.findall(r"`([a-z-]+)`", matched.group(1)))
        self.assertEqual(listed, {option.name for option in SETTINGS_OPTIONS if not option.live})


class ValidateTests(SynchronousTestCase):
    """:func:`validate`: values to settings, errors naming the option and its source."""

    def test_values(self) -> None:
        settings = validate(
            {"port": ["tcp:0", "unix:/tmp/x.sock"], "flood-rate": "2.5", "operators": ["ana"]}
        )
        self.assertEqual(settings.listeners, ListenerSettings(("tcp:0", "unix:/tmp/x.sock")))
        self.assertEqual(settings.limits.flood_rate, 2.5)
        self.assertEqual(settings.chat, ChatSettings(operators=("ana",)))

    def test_error_from_the_command_line(self) -> None:
        with self.assertRaises(UsageError) as caught:
            validate({"max-per-ip": "-3"}, from_file={"flood-rate"}, path="chat.toml")
        self.assertEqual(str(caught.exception), "bad --max-per-ip '-3': must be at least 0")

    def test_error_from_the_file(self) -> None:
        with self.assertRaises(UsageError) as caught:
            validate({"operators": ["1ana"]}, from_file={"operators"}, path="chat.toml")
        self.assertEqual(
            str(caught.exception),
            "--config chat.toml: 'operators': bad --operator '1ana': not a valid nickname",
        )

    def test_a_web_origin_from_the_file_is_checked_too(self) -> None:
        with self.assertRaises(UsageError) as caught:
            validate({"web-origin": ["example.org"]}, from_file={"web-origin"}, path="c.toml")
        self.assertIn("--config c.toml: 'web-origin': bad --web-origin", str(caught.exception))

    def test_cluster_options_without_redis(self) -> None:
        self.assertIsNone(validate({"cluster-ttl": "-1", "redis-prefix": ""}).cluster)
        with self.assertRaises(UsageError) as caught:
            validate({"node-id": "n1"})
        self.assertEqual(str(caught.exception), "--node-id needs --redis")

    def test_irc_options(self) -> None:
        settings = validate({"irc": ["tcp:0", "haproxy:tcp:0"], "server-name": "chat.example.org"})
        self.assertEqual(settings.irc.listeners, ("tcp:0", "haproxy:tcp:0"))
        self.assertEqual(settings.irc.server_name, "chat.example.org")
        self.assertTrue(validate({}).irc.server_name)  # the host name
        with self.assertRaises(UsageError) as caught:
            validate({"server-name": "bad name"})
        self.assertIn("bad --server-name 'bad name'", str(caught.exception))
        # IRC works in a cluster (docs/IRC.md, "In a cluster").
        clustered = validate({"irc": ["tcp:0"], "redis": "redis://127.0.0.1:6379"})
        self.assertEqual(clustered.irc.listeners, ("tcp:0",))

    def test_irc_password(self) -> None:
        """``--irc-password``, else ``$CHAT_IRC_PASSWORD``, else none; one printable word of
        at most 200 characters; never shown in an error nor in the settings' repr."""
        self.patch(os, "environ", {})
        self.assertIsNone(validate({}).irc.password)
        settings = validate({"irc": ["tcp:0"], "irc-password": "s3cr3t-Ñ"})
        self.assertEqual(settings.irc.password, "s3cr3t-Ñ")
        self.assertNotIn("s3cr3t", repr(settings))
        self.patch(os, "environ", {"CHAT_IRC_PASSWORD": "from-env"})
        self.assertEqual(validate({}).irc.password, "from-env")
        self.assertEqual(validate({"irc-password": "given"}).irc.password, "given")
        for bad in ["two words", "tab\there", ":colon", "", "x" * 201, "bell\x07"]:
            with self.assertRaises(UsageError) as caught:
                validate({"irc-password": bad})
            message = str(caught.exception)
            self.assertTrue(message.startswith("bad --irc-password"), message)
            if bad:
                self.assertNotIn(bad, message)

    def test_keep_restart_options(self) -> None:
        running = Settings()
        new = Settings(
            database=DatabaseSettings(SqliteURL("other.db"), queue=5),
            chat=ChatSettings(lang="en"),
            web=WebSettings(ping=3.0),
        )
        kept = keep_restart_options(running, new)
        self.assertEqual(kept.database, DatabaseSettings(queue=5))
        self.assertEqual(kept.chat, ChatSettings(lang="en"))
        self.assertEqual(kept.web, WebSettings())


class ReloaderTests(SynchronousTestCase):
    """The registry: each changed section to its callbacks, and nothing else."""

    def setUp(self) -> None:
        self.next = Settings()
        self.reloader = Reloader(Settings(), lambda: self.next, "chat.toml")
        self.heard: list[tuple[str, Any]] = []
        self.reloader.register(Limits, lambda limits: self.heard.append(("limits", limits)))
        self.reloader.register(ChatSettings, lambda chat: self.heard.append(("chat", chat)))
        self.reloader.register(ChatSettings, lambda chat: self.heard.append(("web", chat.lang)))
        self.reloader.register(WebSettings, lambda web: self.heard.append(("web ping", web)))
        self.events = record_logs(self)

    def lines(self) -> list[str]:
        from twisted.logger import formatEvent

        return [formatEvent(e) for e in self.events.events if e.get("log_source") is self.reloader]

    def test_nothing_changed(self) -> None:
        self.assertTrue(self.reloader.reload())
        self.assertEqual(self.heard, [])
        self.assertEqual(self.lines(), ["Configuration reloaded from chat.toml: no change applied"])

    def test_each_changed_section_to_its_callbacks(self) -> None:
        self.next = Settings(chat=ChatSettings(lang="en"), web=WebSettings(ping=5.0))
        self.assertTrue(self.reloader.reload())
        self.assertEqual(
            self.heard, [("chat", ChatSettings(lang="en")), ("web", "en")]
        )  # the web section's change needs a restart: not handed
        self.assertEqual(
            self.lines(),
            [
                "Configuration reloaded from chat.toml: lang changed",
                "Configuration: web-ping changed in chat.toml but only take effect after a "
                "restart; still running with the old values",
            ],
        )
        self.assertEqual(self.reloader.settings.web, WebSettings())
        self.assertEqual(self.reloader.settings.chat, ChatSettings(lang="en"))

    def test_a_failing_callback_does_not_stop_the_others(self) -> None:
        def fail(limits: Limits) -> None:
            raise RuntimeError("no")

        reloader = Reloader(Settings(), lambda: Settings(limits=Limits(sendq=5)))
        heard: list[Limits] = []
        reloader.register(Limits, fail)
        reloader.register(Limits, heard.append)
        self.assertTrue(reloader.reload())
        self.assertEqual(heard, [Limits(sendq=5)])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_bad_settings_change_nothing(self) -> None:
        def bad() -> Settings:
            raise UsageError("bad --flood-rate '-1': must be at least 0")

        reloader = Reloader(Settings(), bad)
        self.assertFalse(reloader.reload())
        self.assertEqual(reloader.settings, Settings())
