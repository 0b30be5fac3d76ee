"""The commands that install watchd as a service: ``unit``, ``completion`` and ``man``."""

from __future__ import annotations

import argparse
import sys

from watchd.cli.arguments import CommandParser, command
from watchd.cli.reference import SHELLS, completion, manual
from watchd.core.context import Registry
from watchd.core.errors import EXIT_OK
from watchd.core.plugins import PluginHost


def add_service_commands(
    commands: argparse._SubParsersAction[CommandParser], common: CommandParser
) -> None:
    """Add ``unit``, ``completion`` and ``man``: what installing watchd as a service takes."""
    unit = command(
        commands,
        "unit",
        common,
        "print the systemd unit",
        "Print watchd's systemd unit (Type=notify, watchdog, reload, hardened), running\n"
        "this installation's watchd with /etc/watchd/watchd.toml; --template prints\n"
        "watchd@.service, whose watchd@NAME.service reads /etc/watchd/NAME.toml.",
        examples=(
            "watchd unit > /etc/systemd/system/watchd.service",
            "watchd unit --template > /etc/systemd/system/watchd@.service",
        ),
    )
    unit.add_argument("--template", action="store_true", help="the template unit watchd@.service")
    unit.add_argument(
        "--read-any",
        action="store_true",
        help="let it read any file, whatever its mode (CAP_DAC_READ_SEARCH, nothing more)",
    )
    unit.add_argument("--exec", dest="command_path", metavar="COMMAND", help="ExecStart's watchd")
    unit.set_defaults(handler=_cmd_unit)
    completion = command(
        commands,
        "completion",
        common,
        "print the shell completion",
        "Print the completion script of a shell, made from this installation's parser\n"
        "(its plugins' source, sink, filter and format names included).",
        examples=(
            "watchd completion bash > /etc/bash_completion.d/watchd",
            "watchd completion zsh > ~/.zfunc/_watchd",
            "watchd completion fish > ~/.config/fish/completions/watchd.fish",
        ),
    )
    completion.add_argument("shell", choices=SHELLS, help="bash, zsh or fish")
    completion.set_defaults(handler=_cmd_completion)
    manual_page = command(
        commands,
        "man",
        common,
        "print the man page",
        "Print watchd's man page (roff), made from its parser: every command and option.",
        examples=("watchd man > /usr/local/share/man/man1/watchd.1", "watchd man | man -l -"),
    )
    manual_page.set_defaults(handler=_cmd_man)


def _cmd_unit(host: PluginHost, registry: Registry, ns: argparse.Namespace) -> int:  # noqa: ARG001
    from watchd.service.unit import installed_command, unit_text, unreachable  # noqa: PLC0415 - only this command needs it

    command = ns.command_path or installed_command()
    text = unit_text(template=ns.template, read_any=ns.read_any, command=command)
    why = unreachable(command)
    if why is not None:
        program = command.split(maxsplit=1)[0]
        print(
            f"watchd: warning: ExecStart={program} cannot run as the service: {why}; "
            "install watchd where the service can reach it (python3 -m venv /opt/watchd)",
            file=sys.stderr,
        )
    sys.stdout.write(text)
    return EXIT_OK


def _cmd_completion(host: PluginHost, registry: Registry, ns: argparse.Namespace) -> int:  # noqa: ARG001
    sys.stdout.write(completion(ns.parser, registry, ns.shell))
    return EXIT_OK


def _cmd_man(host: PluginHost, registry: Registry, ns: argparse.Namespace) -> int:  # noqa: ARG001
    sys.stdout.write(manual(ns.parser))
    return EXIT_OK
