"""Every view of the types from their declarations: usage lines, ``plugins NAME``, the reference.

Nothing here is written by hand per type: each view reads the type's
:class:`~watchd.core.options.OptionSet`, so a third party's type is shown as
fully as a built-in one, and ``docs/reference.md`` (:func:`reference`, printed
by ``watchd plugins --reference``) cannot drift from the code: a test keeps
them equal.
"""

from __future__ import annotations

from typing import Any

from watchd.core.context import Registry
from watchd.core.option_kinds import Choice, Duration, Flag, Number, Option, Size
from watchd.core.options import OptionSet
from watchd.core.registry import Registration

#: Each table's name for one of its entries, and which take a spec of their own.
KINDS = {
    "sources": "source",
    "sinks": "sink",
    "formats": "format",
    "filters": "filter",
    "dialects": "dialect",
    "routes": "route set",
}
#: The tables whose entries take no options (a dialect, a route set): no usage line.
UNDECLARED = frozenset(("dialects", "routes"))
#: The tables whose entries a ``--source``/``--sink``/``--apply`` spec names.
SPEC_TABLES = {"sources": "source", "sinks": "sink", "filters": "apply"}


def placeholder(option: Option[Any]) -> str:
    """Return how a value of *option* is written in a usage line."""
    if option.metavar:
        return option.metavar
    if isinstance(option, Choice):
        return "|".join(option.choices)
    if isinstance(option, Flag):
        return "yes|no"
    kinds: tuple[tuple[type, str], ...] = (
        (Number, "N"),
        (Duration, "DURATION"),
        (Size, "SIZE"),
    )
    return next((word for kind, word in kinds if isinstance(option, kind)), "TEXT")


def usage(name: str, options: type[OptionSet]) -> str:
    """Return the spec's whole grammar: ``audit:PATH|GLOB|DIR[,from=end|beginning]...``."""
    head = name
    form = options.target_form
    if form is not None:
        head += f":{form}" if options.target_required else f"[:{form}]"
    return head + "".join(f"[,{o.key}={placeholder(o)}]" for o in options.declared())


def _nested_note(kind: str, options: type[OptionSet]) -> str | None:
    keys = {option.key for option in options.declared()}
    if kind == "sink" and "format" in keys:
        return "It also takes the options of the format it writes (see Formats)."
    if kind == "sink" and "body" in keys:
        return "It also takes the options of its body's format (see Formats)."
    return None


def describe(table_name: str, entry: Registration[Any]) -> list[str]:
    """Return the lines ``watchd plugins NAME`` prints of one type: help, usage, every option."""
    options = entry.options
    kind = KINDS[table_name]
    lines = [f"{entry.name}  ({kind}, from {entry.plugin})", f"    {entry.help}"]
    if table_name in UNDECLARED:
        return lines
    lines.append(f"    usage: {usage(entry.name, options)}")
    if options.example:
        lines.append(f"    e.g.   {options.example}")
    for option in options.declared():
        lines.append(f"    {option.key}={placeholder(option)}")
        lines.append(f"        {option.help} (default: {option.default_written()})")
    note = _nested_note(kind, options)
    if note:
        lines.append(f"    {note}")
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def reference(registry: Registry) -> str:
    """Return ``docs/reference.md``: every type of *registry* with every option it takes."""
    out = [
        "# Reference: every type and its options",
        "",
        "Made by `WATCHD_DISABLE_PLUGIN_AUTOLOAD=1 watchd plugins --reference` from each",
        "type's declared options (a test keeps this page equal to them); `watchd plugins",
        "NAME` shows the same for any installed type, a third party's too.",
        "",
        "A duration is written `250ms`, `5s`, `2m`, `1h` or `7d` (a bare number is in the",
        "unit the option names); a size `512`, `64KiB`, `10MiB` or `1GB`; a yes/no `yes`,",
        "`no`, `true`, `false`, `on`, `off`, `1` or `0`. In a TOML table each option has",
        "its TOML type: a number is an integer, a yes/no a boolean, the rest strings (a",
        "duration or a size may also be a number). `watchd schema` prints all of this as",
        "a JSON Schema for editors.",
    ]
    for table_name, table in registry.tables().items():
        kind = KINDS[table_name]
        out += ["", f"## {table_name.capitalize()}"]
        for entry in table:
            out += ["", f"### {entry.name}", "", entry.help + "."]
            if table_name in UNDECLARED:
                continue
            out += ["", f"    {usage(entry.name, entry.options)}"]
            declared = list(entry.options.declared())
            if declared:
                out += ["", "| option | value | default | what it does |", "|---|---|---|---|"]
                out += [
                    f"| `{o.key}` | {_cell(o.form())} | `{_cell(o.default_written())}` "
                    f"| {_cell(o.help)} |"
                    for o in declared
                ]
            note = _nested_note(kind, entry.options)
            if note:
                out += ["", note]
    return "\n".join(out) + "\n"


def _spec_schema(table_name: str, registry: Registry) -> dict[str, Any]:
    """Return the schema of one spec: a string, or a table of one of the types."""
    table = registry.tables()[table_name]
    format_options: dict[str, Any] = {}
    for entry in registry.formats:
        for option in entry.options.declared():
            format_options.setdefault(option.key, option.schema())
    tables = []
    for entry in table:
        properties: dict[str, Any] = {
            "type": {"const": entry.name, "description": entry.help},
            "target": {"type": "string", "description": entry.options.target_form or ""},
        }
        keys = {option.key for option in entry.options.declared()}
        if table_name == "sinks" and keys & {"format", "body"}:
            properties.update(format_options)
        properties.update({o.key: o.schema() for o in entry.options.declared()})
        tables.append(
            {
                "type": "object",
                "properties": properties,
                "required": ["type", *(["target"] if entry.options.target_required else [])],
                "additionalProperties": False,
            }
        )
    one = {"anyOf": [{"type": "string", "description": "TYPE[:TARGET][,KEY=VALUE]..."}, *tables]}
    return {"anyOf": [one, {"type": "array", "items": one}]}


def schema(registry: Registry, keys: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Return the JSON Schema of a configuration file (``watchd schema``), for editors.

    *keys* are the command's own options, each with its schema; ``source``,
    ``sink`` and ``apply`` take the declared types' tables.
    """
    properties = dict(keys)
    for table_name, key in SPEC_TABLES.items():
        properties[key] = _spec_schema(table_name, registry)
    properties["plugin"] = {
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        "description": "plugins to load (read ahead, like -p)",
    }
    both = {**properties, **{k.replace("-", "_"): v for k, v in properties.items() if "-" in k}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "watchd configuration (watchd run --config FILE)",
        "type": "object",
        "properties": dict(sorted(both.items())),
        "additionalProperties": False,
    }
