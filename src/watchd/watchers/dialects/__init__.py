"""Built-in record dialects: watchd, terok, lokt, loki, ito, generic, and auto."""

from __future__ import annotations

from watchd.core.hookspecs import hookimpl
from watchd.core.interfaces import Dialect
from watchd.core.registry import TypeTable
from watchd.watchers.dialects.auto import AutoDialect
from watchd.watchers.dialects.generic import GenericDialect
from watchd.watchers.dialects.ito import ItoDialect
from watchd.watchers.dialects.loki import LokiDialect
from watchd.watchers.dialects.lokt import LoktDialect
from watchd.watchers.dialects.terok import TerokDialect
from watchd.watchers.dialects.watchd import WatchdDialect


@hookimpl
def watchd_register_dialects(dialects: TypeTable[Dialect]) -> None:
    """Register the built-in dialects."""
    dialects.add("terok", TerokDialect(), help="terok-shield audit.jsonl")
    dialects.add("lokt", LoktDialect(), help="lokt audit.log (locks)")
    dialects.add("loki", LokiDialect(), help="loki-mode dashboard and agent audit trails")
    dialects.add("ito", ItoDialect(), help="ito events.jsonl (per worktree)")
    dialects.add(
        "watchd", WatchdDialect(), help="watchd's own event JSON (one watchd forwarding to another)"
    )
    dialects.add("generic", GenericDialect(), help="any JSON object, by common key names")
    dialects.add("auto", AutoDialect(dialects), help="recognise each record by its keys (default)")
