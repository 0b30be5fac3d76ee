"""Shell completion and the man page, both made from the parser itself (shtab, argparse-manpage).

Made from the parser of this installation, with the plugins it loads: the
completion of ``--source``, ``--sink``, ``--apply`` and ``--format`` offers
the type names registered here, third parties' included.
"""

from __future__ import annotations

import argparse
import shlex

import shtab
from argparse_manpage.manpage import Manpage

from watchd._version import __version__
from watchd.core.context import Registry

SHELLS = ("bash", "zsh", "fish")


def completion(parser: argparse.ArgumentParser, registry: Registry, shell: str) -> str:
    """Return the completion script of *parser* for *shell*."""
    preambles: dict[str, str] = {}  # bash's functions, by name: each written once
    kinds = {
        "--source": [f"{name}:" for name in registry.sources.names()],
        "--sink": [f"{name}:" for name in registry.sinks.names()],
        "--apply": [f"{name}:" for name in registry.filters.names()],
        "--format": list(registry.formats.names()),
    }
    for command in _commands(parser).values():
        for action in command._actions:
            for option, words in kinds.items():
                if option in action.option_strings:
                    action.complete = _words(option, words, preambles)  # type: ignore[attr-defined]
            if action.dest in ("config", "state_dir", "http_token_file", "http_cert", "http_key"):
                kind = shtab.DIRECTORY if action.dest == "state_dir" else shtab.FILE
                action.complete = kind  # type: ignore[attr-defined]
    preamble = "\n".join(preambles.values()) if shell == "bash" else ""
    return shtab.complete(parser, shell=shell, preamble=preamble)


def _words(option: str, words: list[str], preambles: dict[str, str]) -> dict[str, str]:
    """Return shtab's completion of *option* by *words*, for each shell."""
    function = "_watchd_" + option.strip("-").replace("-", "_")
    preambles[function] = (
        f'{function}() {{\n  compgen -W {shlex.quote(" ".join(words))} -- "$1"\n}}'
    )
    zsh = " ".join(word.replace(":", r"\:") for word in words)
    # Type names are words (letters, digits, . _ -): fish splits the list as it is.
    return {"bash": function, "zsh": f"({zsh})", "fish": " ".join(words)}


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    commands: dict[str, argparse.ArgumentParser] = getattr(parser, "commands", {})
    return {"": parser, **commands}


def manual(parser: argparse.ArgumentParser) -> str:
    """Return the man page of *parser*, in roff: every command, option and example."""
    page = Manpage(
        parser,
        _data={
            "project_name": "watchd",
            "version": __version__,
            "description": "follow audit trails and route every record",
            "url": "",
            "author": "The watchd developers",
            "prog": "watchd",
            "manual_title": "watchd manual",
        },
    )
    return str(page)
