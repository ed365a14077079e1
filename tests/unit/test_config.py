"""Unit tests of ``--config FILE`` (:mod:`twisted_chat.config`), of the log level and format
(:mod:`twisted_chat.logsetup`) and of the log summaries (:mod:`twisted_chat.logsummary`). Reloading
the file in a real service tree is in-process: :mod:`tests.inprocess.test_reload`.

A bad file is a usage error naming the file and the key, never a traceback; the command line
wins over the file; ``docs/chat.example.toml`` has every key and loads to the defaults.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

from twisted.internet.task import Clock
from twisted.logger import (
    LogBeginner,
    Logger,
    LogLevel,
    LogPublisher,
    formatEvent,
    textFileLogObserver,
)
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from tests.support.logs import record_logs
from tests.support.options import ConfigFileTestCase
from twisted_chat.config import OptionKinds
from twisted_chat.logsetup import LogSetup
from twisted_chat.logsummary import LogSummary
from twisted_chat.settings import OPTIONS

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "chat.example.toml"


class FileTests(ConfigFileTestCase):
    """Values from the file, command line first."""

    def test_values_from_the_file(self) -> None:
        path = self.write(
            'port = ["tcp:0", "tcp:0:interface=127.0.0.2"]\n'
            'db = "sqlite:other.sqlite3"\n'
            "flood-rate = 2.5\n"
            "max-per-ip = 3\n"
            'lang = "en"\n'
            'operators = ["Ana", "bob"]\n'
            'exempt = ["10.0.0.0/8"]\n'
            'log-level = "warn"\n'
        )
        options = self.parse("--config", path)
        self.assertEqual(options["port"], ["tcp:0", "tcp:0:interface=127.0.0.2"])
        settings = options.settings
        self.assertEqual(len(settings.listeners.ports), 2)
        self.assertEqual(options["db"], "sqlite:other.sqlite3")
        self.assertEqual(settings.limits.flood_rate, 2.5)
        self.assertEqual(settings.limits.max_per_ip, 3)
        self.assertEqual(settings.chat.lang, "en")
        self.assertEqual(options["operators"], ["Ana", "bob"])
        self.assertEqual(settings.chat.operators, ("Ana", "bob"))
        self.assertEqual(len(settings.limits.exempt), 3)  # the defaults and 10/8
        self.assertEqual(settings.log.level, "warn")

    def test_command_line_wins(self) -> None:
        path = self.write('port = ["tcp:0"]\nflood-rate = 2\nmax-per-ip = 3\noperators = ["ana"]\n')
        options = self.parse("--flood-r=7", "--config", path, "-p", "tcp:1", "--operator", "carol")
        self.assertEqual(options.settings.limits.flood_rate, 7)  # abbreviated, still given
        self.assertEqual(options["port"], ["tcp:1"])
        self.assertEqual(options["operators"], ["carol"])
        self.assertEqual(options.settings.limits.max_per_ip, 3)

    def test_command_line_default_value_still_wins(self) -> None:
        """Given on the command line, even with the default value: not "compared to defaults"."""
        path = self.write("flood-rate = 2\n")
        options = self.parse("--config", path, "--flood-rate", "10")
        self.assertEqual(options.settings.limits.flood_rate, 10)

    def test_operator_option_is_repeatable(self) -> None:
        self.assertEqual(self.parse("--operator", "a", "--operator", "b")["operators"], ["a", "b"])
        self.assertEqual(self.parse()["operators"], [])

    def test_unknown_key(self) -> None:
        message, _ = self.assertUsageError("flood-rat = 3\n")
        self.assertIn("'flood-rat'", message)
        self.assertIn("unknown key", message)
        self.assertIn("flood-rate", message)  # the suggestion

    def test_table_is_an_unknown_key(self) -> None:
        message, _ = self.assertUsageError("[limits]\nflood-rate = 3\n")
        self.assertIn("'limits'", message)

    def test_config_key_is_refused(self) -> None:
        message, _ = self.assertUsageError('config = "other.toml"\n')
        self.assertIn("'config'", message)

    def test_wrong_types(self) -> None:
        for text, key in [
            ('flood-rate = "fast"\n', "flood-rate"),
            ("flood-rate = true\n", "flood-rate"),
            ("db = 5\n", "db"),
            ('port = "tcp:1234"\n', "port"),
            ("port = [1234]\n", "port"),
            ('operators = "ana"\n', "operators"),
            ('lang = ["es"]\n', "lang"),
        ]:
            message, _ = self.assertUsageError(text)
            self.assertIn(f"'{key}'", message)
            self.assertIn("wrong type", message)

    def test_bad_values_get_the_command_line_error_with_key_and_file(self) -> None:
        for text, key, also in [
            ("flood-rate = -1\n", "flood-rate", "at least 0"),
            ("flood-burst = 2.5\n", "flood-burst", "not a number"),
            ('lang = "fr"\n', "lang", "fr"),
            ('db = "bogus:x"\n', "db", "bogus"),
            ('port = ["bogus:1"]\n', "port", "bogus:1"),
            ('exempt = ["nonsense"]\n', "exempt", "nonsense"),
            ('log-level = "loud"\n', "log-level", "loud"),
            ('log-format = "xml"\n', "log-format", "xml"),
            ('node-id = "a"\n', "node-id", "--redis"),
        ]:
            message, _ = self.assertUsageError(text)
            self.assertIn(f"'{key}'", message)
            self.assertIn(also, message)

    def test_bad_command_line_value_is_not_blamed_on_the_file(self) -> None:
        path = self.write("flood-rate = 2\n")
        with self.assertRaises(UsageError) as caught:
            self.parse("--config", path, "--max-per-ip", "-3")
        self.assertNotIn(path, str(caught.exception))
        self.assertIn("--max-per-ip", str(caught.exception))

    def test_not_toml(self) -> None:
        message, _ = self.assertUsageError("flood-rate = \n")
        self.assertIn("TOML", message)

    def test_missing_file(self) -> None:
        with self.assertRaises(UsageError) as caught:
            self.parse("--config", "/nonexistent/chat.toml")
        self.assertIn("/nonexistent/chat.toml", str(caught.exception))


class ExampleFileTests(ConfigFileTestCase):
    """``docs/chat.example.toml``: every key, each at its default."""

    def test_example_has_every_key(self) -> None:
        text = EXAMPLE.read_text(encoding="utf-8")
        present = set(re.findall(r"^#? ?([a-z][a-z-]*) = ", text, re.MULTILINE))
        self.assertEqual(present, OptionKinds.from_options(OPTIONS).names())

    def test_example_loads_to_the_defaults(self) -> None:
        from_file = self.parse("--config", str(EXAMPLE))
        defaults = self.parse()
        self.assertEqual(from_file["config"], str(EXAMPLE))
        self.assertEqual(from_file.settings, defaults.settings)
        self.assertIsNone(from_file.settings.cluster)


class LogSetupTests(SynchronousTestCase):
    """The level filter and the JSON format, on a beginner of the test's own."""

    def begin(self, setup: LogSetup) -> tuple[Logger, io.StringIO]:
        publisher = LogPublisher()
        beginner = LogBeginner(publisher, io.StringIO(), _FakeSys(), _FakeWarnings())
        setup.install(beginner)
        out = io.StringIO()
        beginner.beginLoggingTo([textFileLogObserver(out)], redirectStandardIO=False)
        return Logger(namespace="test", observer=publisher), out

    def test_level_filters_and_changes_at_runtime(self) -> None:
        setup = LogSetup("warn")
        log, out = self.begin(setup)
        log.info("hidden info")
        log.warn("shown warning")
        setup.set_level("debug")
        log.debug("shown debug")
        lines = out.getvalue().splitlines()
        self.assertEqual(len(lines), 2, lines)
        self.assertIn("shown warning", lines[0])
        self.assertIn("shown debug", lines[1])

    def test_json_lines(self) -> None:
        log, out = self.begin(LogSetup("info", "json"))
        log.info("hello {who}", who="ana")
        log.info("two\nlines")
        log.debug("hidden")
        text = out.getvalue()
        self.assertNotIn("\x1e", text)
        lines = text.splitlines()
        self.assertEqual(len(lines), 2, lines)
        events = [json.loads(line) for line in lines]
        self.assertEqual(events[0]["who"], "ana")
        self.assertEqual(formatEvent(events[0]), "hello ana")
        self.assertEqual(events[1]["log_level"]["name"], "info")


class _FakeSys:
    stdout = io.StringIO()
    stderr = io.StringIO()


class _FakeWarnings:
    def showwarning(self, *args: Any, **kwargs: Any) -> None:
        pass


class LogSummaryTests(SynchronousTestCase):
    """One line per window, counts by cause, no timer when idle."""

    def test_one_line_per_window(self) -> None:
        events = record_logs(self)
        clock = Clock()
        summary = LogSummary("disconnects", clock, interval=5)
        self.assertEqual(clock.getDelayedCalls(), [])
        for cause in ["flood", "flood", "sendq", "flood"]:
            summary.count(cause)
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        clock.advance(4.9)
        lines = [formatEvent(e) for e in events.events if e.get("log_source") is summary]
        self.assertEqual(lines, [])
        clock.advance(0.1)
        lines = [formatEvent(e) for e in events.events if e.get("log_source") is summary]
        self.assertEqual(lines, ["disconnects in the last 5s: flood=3 sendq=1"])
        self.assertEqual(clock.getDelayedCalls(), [])  # nothing more to say: no timer
        summary.count("strikes")
        summary.flush()
        self.assertEqual(clock.getDelayedCalls(), [])
        lines = [formatEvent(e) for e in events.events if e.get("log_source") is summary]
        self.assertEqual(lines[-1], "disconnects in the last 5s: strikes=1")
        self.assertEqual(
            [e["log_level"] for e in events.events if e.get("log_source") is summary],
            [LogLevel.info, LogLevel.info],
        )
