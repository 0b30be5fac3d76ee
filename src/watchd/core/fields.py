"""Reading WatchEvent fields by name, as filters and formats address them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from watchd.core.errors import UsageError
from watchd.core.event import WatchEvent
from watchd.core.jsonform import dumps_compact

#: The fields a user can name: the JSON form's keys, without ``extra``.
FIELD_NAMES: tuple[str, ...] = tuple(
    name for name in WatchEvent.__struct_fields__ if name != "extra"
)


def as_text(value: object) -> str:
    """Return *value* as text: strings as they are, null as empty, the rest as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return dumps_compact(value).decode()


def field_reader(path: str, where: str) -> Callable[[WatchEvent], str | None]:
    """Return a function reading *path* (``action``, ``extra.key.sub``) from an event as text.

    The function returns None when an ``extra`` key is absent.
    """
    name, _, rest = path.partition(".")
    if name == "extra" and rest:
        keys = rest.split(".")

        def read_extra(event: WatchEvent) -> str | None:
            value: Any = event.extra
            for key in keys:
                if not isinstance(value, dict) or key not in value:
                    return None
                value = value[key]
            return as_text(value)

        return read_extra
    if name in FIELD_NAMES and not rest:
        return lambda event: getattr(event, name)
    raise UsageError(
        f"{where}: unknown field {path!r} (fields: {', '.join(FIELD_NAMES)}, extra.KEY)"
    )
