"""``--config FILE``: the options of ``twistd chat`` read from a TOML file.

The file's keys are the long option names (``flood-rate = 10``, ``db = "mysql://..."``,
``port = ["tcp:1234", ...]`` for a repeatable option, ``operators = ["ana"]`` for
``--operator``). :func:`read_config` reads the file and checks each key and the type of each
value (as :data:`twisted_chat.settings.OPTIONS` declares them), and gives back the values as the
command line would have given them (strings; a list of strings for a repeatable option), so that
:func:`twisted_chat.settings.validate` checks both alike and a bad value gets the same usage
error. Options given on the command line win over the file.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twisted.python.usage import UsageError

if TYPE_CHECKING:
    from twisted_chat.settings import Option


@dataclass(frozen=True)
class OptionKinds:
    """What the file may contain: string options, numeric ones, repeatable ones, and the keys
    that are options but have no place in a file."""

    strings: frozenset[str]
    numbers: frozenset[str]
    repeatable: frozenset[str]
    not_in_file: frozenset[str] = frozenset()

    @classmethod
    def from_options(cls, options: Iterable[Option]) -> OptionKinds:
        """Kinds from the option declarations (:data:`twisted_chat.settings.OPTIONS`): each
        option's ``kind``; an option of no section (``config``) is not allowed in a file."""
        kinds: dict[str, set[str]] = {"string": set(), "number": set(), "list": set()}
        not_in_file: set[str] = set()
        for option in options:
            if option.section is None:
                not_in_file.add(option.name)
            else:
                kinds[option.kind].add(option.name)
        return cls(
            frozenset(kinds["string"]),
            frozenset(kinds["number"]),
            frozenset(kinds["list"]),
            frozenset(not_in_file),
        )

    def names(self) -> set[str]:
        """Every key the file may have."""
        return set(self.strings | self.numbers | self.repeatable)


def config_error(path: str, key: str | None, message: str) -> UsageError:
    """The usage error for a problem with ``key`` (or the whole file) of ``path``."""
    where = f"{path}: {key!r}" if key is not None else path
    return UsageError(f"--config {where}: {message}")


def read_config(path: str, kinds: OptionKinds) -> dict[str, Any]:
    """The options set in the TOML file ``path``: ``{key: str or list[str]}``.

    Raises :class:`~twisted.python.usage.UsageError` naming the file (and the key) for a file
    that cannot be read or parsed, an unknown key, or a value of the wrong type.
    """
    try:
        with Path(path).open("rb") as f:
            table = tomllib.load(f)
    except OSError as e:
        raise config_error(path, None, f"cannot read it ({e.strerror or e})") from None
    except tomllib.TOMLDecodeError as e:
        raise config_error(path, None, f"not valid TOML ({e})") from None
    return check_table(path, table, kinds)


def check_table(path: str, table: Mapping[str, Any], kinds: OptionKinds) -> dict[str, Any]:
    """Check the keys and types of a parsed file; see :func:`read_config`."""
    known = kinds.names()
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            raise _unknown_key(path, key, known, kinds)
        values[key] = _checked_value(path, key, value, kinds)
    return values


def _unknown_key(path: str, key: str, known: set[str], kinds: OptionKinds) -> UsageError:
    if key in kinds.not_in_file:
        return config_error(path, key, "unknown key: not allowed in a configuration file")
    hint = difflib.get_close_matches(key, sorted(known), n=1)
    return config_error(
        path, key, "unknown key" + (f" (did you mean {hint[0]!r}?)" if hint else "")
    )


def _checked_value(path: str, key: str, value: object, kinds: OptionKinds) -> str | list[str]:
    """``value`` of ``key`` as the command line would give it (a string, or a list of them for
    a repeatable option); a usage error if it has the wrong type."""
    if key in kinds.repeatable:
        if not isinstance(value, list):
            raise _wrong_type(path, key, "a list of strings", value)
        for item in value:
            if not isinstance(item, str):
                raise _wrong_type(path, key, "a list of strings", item, "an item is ")
        return list(value)
    if key in kinds.numbers:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _wrong_type(path, key, "a number", value)
        return str(value)
    if not isinstance(value, str):
        raise _wrong_type(path, key, "a string", value)
    return value


def _wrong_type(path: str, key: str, wanted: str, value: object, what: str = "") -> UsageError:
    return config_error(
        path, key, f"wrong type: must be {wanted}, {what or 'not '}{_toml_type(value)}"
    )


def _toml_type(value: object) -> str:
    """The TOML name of ``value``'s type, for messages."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date or time"
