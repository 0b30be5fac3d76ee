"""The systemd unit shipped with watchd, printed by ``watchd unit``.

One text serves both units: ``watchd.service`` reads ``/etc/watchd/watchd.toml``;
the template ``watchd@.service`` makes ``watchd@NAME.service`` read
``/etc/watchd/NAME.toml`` and keep its checkpoints in ``/var/lib/watchd/NAME``.
``ExecStart=`` names the ``watchd`` this command belongs to, so the unit
printed runs the installation that printed it.
"""

from __future__ import annotations

import shutil
import sys
from importlib.resources import files
from pathlib import Path

#: What ``--read-any`` adds: reading every file, whatever its mode (and nothing else).
_READ_ANY = (
    "# Reads any file, whatever its mode (asked for with --read-any); nothing else.\n"
    "CapabilityBoundingSet=CAP_DAC_READ_SEARCH\n"
    "AmbientCapabilities=CAP_DAC_READ_SEARCH"
)
_NO_CAPABILITY = (
    "# No capability: the adm group reads /var/log (watchd unit --read-any for more).\n"
    "CapabilityBoundingSet="
)


def installed_command() -> str:
    """Return the command that runs this installation of watchd, for ``ExecStart=``."""
    beside = Path(sys.executable).parent / "watchd"  # the script of this environment
    if beside.is_file():
        return str(beside)
    found = shutil.which("watchd")
    return found if found is not None else f"{sys.executable} -m watchd"


#: Where a unit's ExecStart= cannot run from, and why: the unit's own sandbox hides it.
_UNREACHABLE = (
    ("/tmp/", "PrivateTmp= gives the service a /tmp of its own"),  # noqa: S108 - a name checked, not used
    ("/var/tmp/", "PrivateTmp= gives the service a /var/tmp of its own"),  # noqa: S108
    ("/root/", "/root is its owner's alone, and the service runs as a user of its own"),
    ("/home/", "ProtectHome= and DynamicUser=: a home directory is not the service's"),
    ("/run/user/", "ProtectHome= hides /run/user"),
)


def unreachable(command: str) -> str | None:
    """Return why the service could not run *command* (its program's path), None when it can."""
    program = command.split(maxsplit=1)[0] if command.strip() else ""
    for prefix, why in _UNREACHABLE:
        if program.startswith(prefix):
            return why
    return None


def unit_text(*, template: bool = False, read_any: bool = False, command: str = "") -> str:
    """Return the unit: the template instance's with *template*, ``ExecStart`` running *command*."""
    text = files("watchd.service").joinpath("unit.in").read_text(encoding="utf-8")
    values = {
        "@WHAT@": " %i" if template else "",
        "@NAME@": "%i" if template else "watchd",
        "@STATE@": "watchd/%i" if template else "watchd",
        "@EXEC@": command or installed_command(),
        "@CAPABILITIES@": _READ_ANY if read_any else _NO_CAPABILITY,
    }
    for key, value in values.items():
        text = text.replace(key, value)
    if template:
        text = text.replace(
            "`watchd unit > /etc/systemd/system/watchd.service`.\n"
            "# Its configuration is /etc/watchd/watchd.toml",
            "`watchd unit --template > /etc/systemd/system/watchd@.service`.\n"
            "# watchd@NAME.service reads /etc/watchd/NAME.toml",
        )
    return text
