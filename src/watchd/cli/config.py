"""``--config FILE``: a command's options in TOML, the command line winning over the file.

Every long option of ``run``, ``query`` and ``summary`` is a key, spelled with
``-`` or ``_`` (``state-dir = "/var/lib/watchd"``, ``from_beginning = true``,
``action = ["deny", "blocked"]``). ``source``, ``sink`` and ``apply`` take
specs as strings, or as tables::

    [[sink]]
    type = "syslog"
    target = "tls://logs.example.net:6514"
    ca = "/etc/ssl/our-ca.pem"

The file becomes command-line options placed before the real ones; an option
given on the command line replaces what the file says of it. A key no option
has is an error naming the key and its line.
"""

from __future__ import annotations

import argparse
import re
import tomllib
from collections.abc import Sequence
from typing import Any

from watchd.core.errors import UsageError
from watchd.core.spec import TableSpec

#: The commands that take ``--config``.
CONFIGURABLE = ("run", "validate", "query", "summary")
#: The options whose values are specs: a table of theirs is written as TYPE:TARGET,K=V.
SPEC_KEYS = frozenset(("source", "sink", "apply"))


def config_path(args: Sequence[str]) -> tuple[str | None, list[str]]:
    """Return the ``--config`` value and *args* without it."""
    rest: list[str] = []
    path: str | None = None
    items = iter(args)
    for arg in items:
        if arg == "--config":
            path = next(items, None)
            if path is None:
                raise UsageError("--config needs a FILE")
        elif arg.startswith("--config="):
            path = arg.partition("=")[2]
        else:
            rest.append(arg)
    return path, rest


def _load(path: str) -> tuple[str, dict[str, Any]]:
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8", "replace")
    except OSError as exc:
        raise UsageError(f"--config {path}: {exc.strerror}") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None


def read_ahead_plugins(args: list[str]) -> list[str]:
    """Return *args* with the file's ``plugin`` list as ``-p`` options, unless ``-p`` is given.

    Plugins add options to the command line, so they must be known before it
    is parsed, like ``-p`` itself.
    """
    path, _ = config_path(args)
    if (
        path is None
        or not args
        or args[0] not in CONFIGURABLE
        or any(a == "-p" or a.startswith(("-p", "--plugin")) for a in args)
    ):
        return args
    _, table = _load(path)
    names = table.get("plugin", [])
    names = names if isinstance(names, list) else [names]
    extra = [token for name in names for token in ("-p", str(name))]
    return [*args[:1], *extra, *args[1:]]


def expand(args: Sequence[str], command: argparse.ArgumentParser) -> list[str]:
    """Return *args* with ``--config FILE`` replaced by the options the file sets."""
    path, rest = config_path(args)
    if path is None:
        return list(rest)
    text, table = _load(path)
    options = _long_options(command)
    given = {arg.partition("=")[0] for arg in rest if arg.startswith("--")}
    tokens: list[str] = []
    problems: list[str] = []  # every key's, one per line: a deploy check wants them all
    for key, value in table.items():
        name = key.replace("_", "-")
        action = options.get(name)
        if action is None:
            known = ", ".join(sorted(options))
            problems.append(f"{path}:{_line_of(text, key)}: unknown key {key!r} (known: {known})")
            continue
        flag = action.option_strings[-1] if action.option_strings[-1].startswith("--") else name
        if set(action.option_strings) & given or name == "plugin":
            continue  # the command line says otherwise; plugins were read ahead
        try:
            tokens += _tokens(flag, action, value, path, _line_of(text, key))
        except UsageError as exc:
            problems.append(str(exc))
    if problems:
        raise UsageError("\n".join(problems))
    # The command word first, then the file's options, then the command line's.
    return [*rest[:1], *tokens, *rest[1:]]


def origins(args: Sequence[str]) -> dict[tuple[str, str], str]:
    """Return where the file of ``--config`` sets each spec: (key, spec text) -> ``FILE:LINE``."""
    path, _ = config_path(args)
    if path is None:
        return {}
    text, table = _load(path)
    found: dict[tuple[str, str], str] = {}
    for key in sorted(SPEC_KEYS):
        value = table.get(key)
        values = value if isinstance(value, list) else [] if value is None else [value]
        headers = [m.start() for m in re.finditer(rf"^[ \t]*\[\[[ \t]*{key}[ \t]*\]\]", text, re.M)]
        for index, item in enumerate(values):
            try:
                spec = _text(item, True, "")
            except UsageError:
                continue  # reported by expand, with its line
            if isinstance(item, dict) and index < len(headers):
                line = text.count("\n", 0, headers[index]) + 1
            else:
                at = text.find(str(item)) if isinstance(item, str) else -1
                line = text.count("\n", 0, at) + 1 if at >= 0 else _line_of(text, key)
            found[(key, spec)] = f"{path}:{line}: {key}"
    return found


def _long_options(command: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    found: dict[str, argparse.Action] = {}
    for action in command._actions:
        for option in action.option_strings:
            hidden = action.help == argparse.SUPPRESS
            if option.startswith("--") and option not in ("--help", "--config") and not hidden:
                found[option[2:]] = action
    return found


def key_schemas(command: argparse.ArgumentParser) -> dict[str, dict[str, Any]]:
    """Return the JSON Schema of each key the file may set for *command* (``watchd schema``)."""
    schemas: dict[str, dict[str, Any]] = {}
    for name, action in _long_options(command).items():
        if name in SPEC_KEYS or name == "plugin":
            continue  # the types' own schemas
        one: dict[str, Any]
        if isinstance(action, argparse._CountAction):
            one = {"type": "integer", "minimum": 0}
        elif action.nargs == 0:
            one = {"type": "boolean"}
        elif action.choices is not None:
            one = {"enum": list(action.choices)}
        else:  # a converter takes a number as its text (a duration's bare number, a count)
            one = {"type": ["string", "number"] if action.type is not None else "string"}
        one["description"] = action.help or ""
        if isinstance(action, argparse._AppendAction):
            one = {
                "anyOf": [one, {"type": "array", "items": one}],
                "description": one["description"],
            }
        schemas[name] = one
    return schemas


def _tokens(flag: str, action: argparse.Action, value: Any, path: str, line: int) -> list[str]:  # noqa: ANN401 - any TOML value
    where = f"{path}:{line}: {flag[2:]}"
    if action.nargs == 0:  # store_true, store_const, count
        if isinstance(action, argparse._CountAction):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise UsageError(f"{where}: expected a number of times")
            return [flag] * int(value)
        if not isinstance(value, bool):
            raise UsageError(f"{where}: expected true or false")
        return [flag] if value else []
    values = value if isinstance(value, list) else [value]
    if not isinstance(action, argparse._AppendAction) and len(values) != 1:
        raise UsageError(f"{where}: expected one value, not a list")
    tokens: list[str] = []
    spec = flag[2:] in SPEC_KEYS
    for item in values:
        if (
            action.type is None
            and not isinstance(item, str)
            and not (spec and isinstance(item, dict))
        ):
            # A path, a name, a spec: TOML's 5 is no text (state-dir = 5 is a slip, not "5").
            raise UsageError(f"{where}: expected a string, not {_toml_type(item)}")
        token = _text(item, spec, where)
        _check_value(action, token, where)
        tokens += [flag, token]
    return tokens


def _check_value(action: argparse.Action, token: str, where: str) -> None:
    """Refuse a value the option's type or choices refuse, naming the file's key and line."""
    if action.choices is not None and token not in action.choices:
        raise UsageError(f"{where}: {token!r} is not one of {', '.join(map(str, action.choices))}")
    convert = action.type
    if not callable(convert):
        return
    try:
        convert(token)
    except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
        raise UsageError(f"{where}: {exc}") from None


def _text(value: Any, spec: bool, where: str) -> str:  # noqa: ANN401, FBT001 - any TOML value
    if spec and isinstance(value, dict):
        return _spec_of(value, where)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float | str):
        return str(value)
    raise UsageError(f"{where}: expected a string or a number")


def _spec_of(table: dict[str, Any], where: str) -> TableSpec:
    """Return the spec of a table: ``TYPE[:TARGET][,KEY=VALUE]...`` with the typed values.

    The values keep their TOML types, so the type's declared options check them.
    """
    table = dict(table)
    kind = table.pop("type", None)
    if not isinstance(kind, str):
        raise UsageError(f'{where}: a table needs type = "..." (or write the spec as a string)')
    target = table.pop("target", "")
    if not isinstance(target, str):
        raise UsageError(f"{where}: target: expected a string, not {_toml_type(target)}")
    text = f"{kind}:{target}" if target else kind
    for key, value in table.items():
        shown = _text(value, False, where) if isinstance(value, int | float | str) else "…"
        text += f",{key}={shown}"
    return TableSpec(text, kind, target, table)


def _toml_type(value: Any) -> str:  # noqa: ANN401 - any TOML value
    """Return what TOML calls *value*'s type, for a message."""
    if isinstance(value, bool):
        return "a boolean"
    kinds = ((int, "an integer"), (float, "a float"), (list, "an array"), (dict, "a table"))
    return next((name for kind, name in kinds if isinstance(value, kind)), "a date or time")


def _line_of(text: str, key: str) -> int:
    """Return the line where *key* is set (1 when it cannot be told)."""
    name = re.escape(key)
    pattern = re.compile(
        rf"^[ \t]*[\"']?{name}[\"']?[ \t]*=|^[ \t]*\[\[?[ \t]*{name}[ \t]*\]", re.MULTILINE
    )
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else 1


def with_config(parser: argparse.ArgumentParser, args: list[str]) -> list[str]:
    """Return *args* with ``--config FILE`` expanded into the options the file sets."""
    if not any(arg == "--config" or arg.startswith("--config=") for arg in args):
        return args
    command = args[0] if args else ""
    if command not in CONFIGURABLE:
        raise UsageError(f"--config is an option of {', '.join(CONFIGURABLE)}")
    commands: dict[str, argparse.ArgumentParser] = getattr(parser, "commands", {})
    return expand(args, commands[command])
